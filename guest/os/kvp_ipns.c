/* GET/SET_IP_INFO of an adapter in another network namespace. See
 * kvp_ipinfo.h (struct kvp_ip_netns).
 *
 * setns(2) changes the namespace of the calling thread only, and a
 * thread made for the request ends with it: the caller's thread (a
 * channel worker) never changes namespace, so nothing else it does can
 * land in the adapter's, and no way back has to be found if returning
 * failed. The request's caller waits for it, as it waits for the helper
 * scripts anyway. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "kvp_ipinfo.h"

struct ns_job {
	const struct kvp_ip_config *cfg;
	const struct kvp_ip_netns *ns;
	const char *adapter_id;		/* GET */
	struct kvp_ip_info *out;	/* GET */
	const struct kvp_ip_info *in;	/* SET */
	char *ifname, *why;
	size_t why_cap;
};

/* In the namespace: the adapter's interface by index, then the request. */
static int ns_job_run(void *arg)
{
	struct ns_job *j = arg;

	if (!if_indextoname((unsigned)j->ns->ifindex, j->ifname)) {
		snprintf(j->why, j->why_cap, "the adapter's interface (index "
			 "%d) is gone from its namespace", j->ns->ifindex);
		return KVP_IP_ENOIF;
	}
	if (j->in)
		return kvp_ip_set_info(j->cfg, j->ifname, j->in, j->why,
				       j->why_cap);
	return kvp_ip_get_info_if(j->cfg, j->ifname, j->adapter_id, j->out);
}

struct ns_call {
	int ns_fd;
	int (*fn)(void *);
	void *arg;
	int rc, err;
};

static void *ns_thread(void *arg)
{
	struct ns_call *c = arg;

	if (setns(c->ns_fd, CLONE_NEWNET)) {
		c->err = errno;
		c->rc = KVP_IP_EIO;
	} else {
		c->rc = c->fn(c->arg);
	}
	return NULL;
}

int kvp_ip_in_netns(int ns_fd, int (*fn)(void *), void *arg, int *sys_err)
{
	struct ns_call c = {.ns_fd = ns_fd, .fn = fn, .arg = arg};
	pthread_t t;
	int rc = pthread_create(&t, NULL, ns_thread, &c);

	if (rc) {
		*sys_err = rc;
		return KVP_IP_EIO;
	}
	pthread_join(t, NULL);
	*sys_err = c.err;
	return c.rc;
}

static int ns_run(struct ns_job *j)
{
	int err, rc = kvp_ip_in_netns(j->ns->ns_fd, ns_job_run, j, &err);

	if (err)
		snprintf(j->why, j->why_cap, "cannot enter the adapter's "
			 "network namespace: %s", strerror(err));
	return rc;
}

int kvp_ip_get_info_ns(const struct kvp_ip_config *cfg,
		       const struct kvp_ip_netns *ns, const char *adapter_id,
		       struct kvp_ip_info *out)
{
	char ifname[IF_NAMESIZE], why[8];
	struct ns_job j = {.cfg = cfg, .ns = ns, .adapter_id = adapter_id,
			   .out = out, .ifname = ifname, .why = why,
			   .why_cap = sizeof(why)};

	memset(out, 0, sizeof(*out));
	return ns_run(&j);
}

int kvp_ip_set_info_ns(const struct kvp_ip_config *cfg,
		       const struct kvp_ip_netns *ns,
		       const struct kvp_ip_info *in, char ifname[IF_NAMESIZE],
		       char *why, size_t why_cap)
{
	char sink[8];
	struct ns_job j = {.cfg = cfg, .ns = ns, .in = in, .ifname = ifname,
			   .why = why ? why : sink,
			   .why_cap = why ? why_cap : sizeof(sink)};

	ifname[0] = '\0';
	return ns_run(&j);
}
