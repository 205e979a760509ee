/* TAP devices for the synthetic network's two ends: the host's switch port
 * (netvsp's backend) and the guest's adapter (netvsc's hn0). A device has
 * one queue (file descriptor) per channel (IFF_MULTI_QUEUE) and, with
 * vnet_hdr, a virtio-net header before every frame in both directions,
 * so checksum and segmentation offloads cross it as requests instead of
 * work. It may be made in a named network namespace (/run/netns/NAME, as
 * `ip netns add` makes them): the queues keep working from any thread
 * and namespace once open.
 *
 * Nothing here waits: the queues are non-blocking; reading and writing
 * them is the caller's (batched, e.g. through io_uring). Calls from any
 * thread; one device's calls not at the same time. */
#ifndef HVIS_RT_TAP_H
#define HVIS_RT_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_TAP_QUEUES_MAX 64u
/* The virtio-net header with num_buffers (VIRTIO_NET_F_MRG_RXBUF's
 * layout), as TUNSETVNETHDRSZ is told. */
#define RT_TAP_VNET_HDR_LEN 12u

struct rt_tap_cfg {
	const char *name;     /* interface name (IFNAMSIZ - 1 at most) */
	const char *netns;    /* NULL: this process's namespace */
	unsigned queues;      /* 1..RT_TAP_QUEUES_MAX */
	bool vnet_hdr;
	bool have_mac;
	uint8_t mac[6];
	uint32_t mtu;         /* 0: the kernel's default */
};

struct rt_tap {
	char name[16];
	int ifindex;
	unsigned queues;
	int fd[RT_TAP_QUEUES_MAX];
	int ns_fd;            /* the device's namespace, for later changes */
};

/* Make (or attach to a free TAP device of that name) with cfg->queues
 * queues, set its MAC and MTU, bring it up. 0, or -errno with one line
 * in why saying what is wrong and what to do. */
int rt_tap_open(struct rt_tap *t, const struct rt_tap_cfg *cfg, char *why,
		size_t n);
void rt_tap_close(struct rt_tap *t);

/* Offloads the kernel may hand us in the virtio-net header (TUN_F_*
 * bits: CSUM, TSO4, TSO6, TSO_ECN, UFO...). 0 or -errno. */
int rt_tap_set_offload(struct rt_tap *t, unsigned tun_flags);
/* Queue q in (on) or out of the kernel's choice of queue for the frames
 * it sends through the device: a queue nobody reads is taken out, or
 * the frames of the flows the kernel puts on it are lost. Queue 0 must
 * stay in. 0 or -errno. */
int rt_tap_queue_enable(struct rt_tap *t, unsigned q, bool on);
/* The largest frame the kernel's segmentation offload hands over (the
 * peer's LSO limit). 0 or -errno. */
int rt_tap_set_gso_max(struct rt_tap *t, uint32_t bytes);
/* Carrier (the link as the other end's stack sees it). 0 or -errno. */
int rt_tap_set_carrier(struct rt_tap *t, bool up);
int rt_tap_set_mtu(struct rt_tap *t, uint32_t mtu);

/* Run fn(arg) in t's network namespace, on this thread (e.g. to set an
 * address); this thread's namespace is back as it was after. fn's
 * result, or -errno if the namespace could not be entered. */
int rt_tap_in_ns(const struct rt_tap *t, int (*fn)(void *), void *arg);

#endif
