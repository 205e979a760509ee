/* TAP devices (see rt_tap.h). A device made in another namespace is made
 * from this thread after setns(2) into it, and this thread goes back at
 * once: a network namespace binds sockets and devices when they are
 * made, so the queues and the device stay there while we leave. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "rt_tap.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* ---- namespaces ---- */

static bool ns_name_ok(const char *s)
{
	return *s && strlen(s) < 64 && !strchr(s, '/') && strcmp(s, ".") &&
	       strcmp(s, "..");
}

/* A namespace file only root (or we) could have bound there: nsfs, as
 * `ip netns add` leaves it; setns checks that it is a network one. */
static int ns_open(const char *name, char *why, size_t n)
{
	char path[96];
	struct statfs sfs;
	struct stat st;
	int fd;

	if (!name)
		return open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (!ns_name_ok(name)) {
		snprintf(why, n, "network namespace '%s': not a name (see: ip "
			 "netns list)", name);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, n, "%s: %s (make it with: ip netns add %s)", path,
			 strerror(errno), name);
		return -errno;
	}
	if (fstatfs(fd, &sfs) || sfs.f_type != NSFS_MAGIC || fstat(fd, &st) ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		snprintf(why, n, "%s: not a namespace made by root or you; "
			 "refused", path);
		close(fd);
		return -EPERM;
	}
	return fd;
}

int rt_tap_in_ns(const struct rt_tap *t, int (*fn)(void *), void *arg)
{
	int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int rc;

	if (home < 0)
		return -errno;
	if (setns(t->ns_fd, CLONE_NEWNET)) {
		rc = -errno;
		close(home);
		return rc;
	}
	rc = fn(arg);
	/* Leaving cannot fail where entering worked (same privileges). */
	if (setns(home, CLONE_NEWNET))
		rc = -errno;
	close(home);
	return rc;
}

/* ---- the device ---- */

static int queue_open(struct rt_tap *t, const struct rt_tap_cfg *cfg)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE};
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int sz = RT_TAP_VNET_HDR_LEN;

	if (fd < 0)
		return -errno;
	if (cfg->vnet_hdr)
		ifr.ifr_flags |= IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
	if (ioctl(fd, TUNSETIFF, &ifr) ||
	    (cfg->vnet_hdr && ioctl(fd, TUNSETVNETHDRSZ, &sz))) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	/* a pattern such as "hn%d" is named by the first queue */
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->fd[t->queues++] = fd;
	return 0;
}

static int ifreq_io(const struct rt_tap *t, unsigned long req,
		    struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", t->name);
	if (ioctl(s, req, ifr))
		rc = -errno;
	close(s);
	return rc;
}

static int link_setup(struct rt_tap *t, const struct rt_tap_cfg *cfg)
{
	struct ifreq ifr = {0};
	int rc;

	if (cfg->have_mac) {
		ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		memcpy(ifr.ifr_hwaddr.sa_data, cfg->mac, 6);
		if ((rc = ifreq_io(t, SIOCSIFHWADDR, &ifr)))
			return rc;
	}
	if (cfg->mtu) {
		ifr.ifr_mtu = (int)cfg->mtu;
		if ((rc = ifreq_io(t, SIOCSIFMTU, &ifr)))
			return rc;
	}
	if ((rc = ifreq_io(t, SIOCGIFINDEX, &ifr)))
		return rc;
	t->ifindex = ifr.ifr_ifindex;
	if ((rc = ifreq_io(t, SIOCGIFFLAGS, &ifr)))
		return rc;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_io(t, SIOCSIFFLAGS, &ifr);
}

struct make {
	struct rt_tap *t;
	const struct rt_tap_cfg *cfg;
	const char *step;
};

static int make_in_ns(void *arg)
{
	struct make *m = arg;
	int rc = 0;

	m->step = "cannot make its queues";
	while (!rc && m->t->queues < m->cfg->queues)
		rc = queue_open(m->t, m->cfg);
	if (!rc) {
		m->step = "cannot set its address, MTU or state";
		rc = link_setup(m->t, m->cfg);
	}
	return rc;
}

static void why_failed(const struct rt_tap *t, const struct make *m, int rc,
		       char *why, size_t n)
{
	const char *hint = rc == -EBUSY || rc == -EINVAL
				   ? " (a device of that name exists and is "
				     "not a free multi-queue TAP)"
			   : rc == -EPERM ? " (needs CAP_NET_ADMIN)" : "";

	snprintf(why, n, "TAP %s: %s: %s%s", t->name, m->step, strerror(-rc),
		 hint);
}

int rt_tap_open(struct rt_tap *t, const struct rt_tap_cfg *cfg, char *why,
		size_t n)
{
	struct make m = {t, cfg, "cannot enter its namespace"};
	int rc;

	memset(t, 0, sizeof(*t));
	t->ns_fd = -1;
	if (!cfg->name || !*cfg->name || strlen(cfg->name) >= IFNAMSIZ ||
	    !cfg->queues || cfg->queues > RT_TAP_QUEUES_MAX) {
		snprintf(why, n, "TAP: a name of 1 to %d characters and 1 to "
			 "%u queues", IFNAMSIZ - 1, RT_TAP_QUEUES_MAX);
		return -EINVAL;
	}
	snprintf(t->name, sizeof(t->name), "%s", cfg->name);
	t->ns_fd = ns_open(cfg->netns, why, n);
	if (t->ns_fd < 0)
		return t->ns_fd;
	rc = rt_tap_in_ns(t, make_in_ns, &m);
	if (rc) {
		why_failed(t, &m, rc, why, n);
		rt_tap_close(t);
	}
	return rc;
}

void rt_tap_close(struct rt_tap *t)
{
	for (unsigned i = 0; i < t->queues; i++)
		close(t->fd[i]);
	t->queues = 0;
	if (t->ns_fd >= 0)
		close(t->ns_fd);
	t->ns_fd = -1;
}

int rt_tap_set_offload(struct rt_tap *t, unsigned tun_flags)
{
	return ioctl(t->fd[0], TUNSETOFFLOAD, tun_flags) ? -errno : 0;
}

int rt_tap_queue_enable(struct rt_tap *t, unsigned q, bool on)
{
	struct ifreq ifr;

	if (q >= t->queues)
		return -EINVAL;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	return ioctl(t->fd[q], TUNSETQUEUE, &ifr) ? -errno : 0;
}

int rt_tap_set_carrier(struct rt_tap *t, bool up)
{
	int on = up;

	return ioctl(t->fd[0], TUNSETCARRIER, &on) ? -errno : 0;
}

struct mtu_arg {
	struct rt_tap *t;
	uint32_t mtu;
};

static int mtu_in_ns(void *arg)
{
	struct mtu_arg *a = arg;
	struct ifreq ifr = {.ifr_mtu = (int)a->mtu};

	return ifreq_io(a->t, SIOCSIFMTU, &ifr);
}

int rt_tap_set_mtu(struct rt_tap *t, uint32_t mtu)
{
	struct mtu_arg a = {t, mtu};

	return rt_tap_in_ns(t, mtu_in_ns, &a);
}

/* ---- the GSO size limit (rtnetlink: no ioctl sets it) ---- */

struct gso_arg {
	const struct rt_tap *t;
	uint32_t bytes;
};

/* RTM_NEWLINK carrying IFLA_GSO_MAX_SIZE, and the kernel's ack. */
static int gso_in_ns(void *arg)
{
	const struct gso_arg *a = arg;
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		struct rtattr rta;
		uint32_t v;
	} req = {
		.nh = {.nlmsg_len = sizeof(req), .nlmsg_type = RTM_NEWLINK,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 1},
		.ifi = {.ifi_family = AF_UNSPEC, .ifi_index = a->t->ifindex},
		.rta = {.rta_len = RTA_LENGTH(sizeof(uint32_t)),
			.rta_type = IFLA_GSO_MAX_SIZE},
		.v = a->bytes,
	};
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n = 0;
	int rc;

	if (s < 0)
		return -errno;
	if (send(s, &req, sizeof(req), 0) < 0 ||
	    (n = recv(s, &ack, sizeof(ack), 0)) < 0)
		rc = -errno;
	else if (n < (ssize_t)sizeof(ack) || ack.nh.nlmsg_type != NLMSG_ERROR)
		rc = -EIO;
	else
		rc = ack.err.error;
	close(s);
	return rc;
}

int rt_tap_set_gso_max(struct rt_tap *t, uint32_t bytes)
{
	struct gso_arg a = {t, bytes};

	return rt_tap_in_ns(t, gso_in_ns, &a);
}
