/* netvsc adapters by MAC, for KVP's GET/SET_IP_INFO (gic_kvp.c): the
 * host names an adapter by the MAC it gave it, and the adapter's TAP
 * device lives in the --netns namespace, not in this process's. Each
 * adapter is listed from the moment its TAP device is made until it
 * goes, with a descriptor of its namespace of its own, so a lookup
 * never uses one that the adapter's rt_tap_close has closed. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "gnet_priv.h"
#include "rt_log.h"

#define LOOKUP_MAX 64u

struct entry {
	const struct gnet_nic *n; /* NULL: free */
	uint8_t mac[6];
	int ifindex;
	int ns_fd;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry tab[LOOKUP_MAX];

void gnet_lookup_add(const struct gnet_nic *n)
{
	int fd = fcntl(n->tap.ns_fd, F_DUPFD_CLOEXEC, 0);
	unsigned i = 0;

	pthread_mutex_lock(&lock);
	while (fd >= 0 && i < LOOKUP_MAX && tab[i].n)
		i++;
	if (fd >= 0 && i < LOOKUP_MAX) {
		tab[i] = (struct entry){.n = n, .ifindex = n->tap.ifindex,
					.ns_fd = fd};
		memcpy(tab[i].mac, n->rndis.info.mac, 6);
	}
	pthread_mutex_unlock(&lock);
	if (fd >= 0 && i < LOOKUP_MAX)
		return;
	rt_warn("net", "%s: KVP's IP requests will not find it (%s)",
		n->tap.name, fd < 0 ? strerror(errno) : "too many adapters");
	if (fd >= 0)
		close(fd);
}

void gnet_lookup_del(const struct gnet_nic *n)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < LOOKUP_MAX; i++)
		if (tab[i].n == n) {
			close(tab[i].ns_fd);
			tab[i] = (struct entry){0};
		}
	pthread_mutex_unlock(&lock);
}

int gnet_lookup_mac(const uint8_t mac[6], struct gnet_where *w)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < LOOKUP_MAX && rc == -ENOENT; i++) {
		if (!tab[i].n || (mac && memcmp(tab[i].mac, mac, 6)))
			continue;
		w->ifindex = tab[i].ifindex;
		w->ns_fd = fcntl(tab[i].ns_fd, F_DUPFD_CLOEXEC, 0);
		rc = w->ns_fd < 0 ? -errno : 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}
