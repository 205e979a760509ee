/* netvsp's switch port: what Hyper-V's virtual switch does to a
 * network adapter's frames, and the knobs hvis-ctl turns.
 *
 * - MAC address spoofing (Set-VMNetworkAdapter -MacAddressSpoofing): off,
 *   a frame from the guest whose source MAC is not the adapter's is
 *   dropped and counted (tx_spoofed); on, it passes, and frames to any
 *   unicast address pass the guest's directed filter (the port has
 *   learned the guest's other addresses).
 * - VLAN, access mode (Set-VMNetworkAdapterVlan -Access -VlanId N): the
 *   guest's frames reach the TAP tagged N; of the TAP's frames only those
 *   tagged N go to the guest, untagged (others: rx_vlan).
 * - The guest's packet filter (directed, multicast, all-multicast,
 *   broadcast, promiscuous, as RNDIS set it) picks the TAP's frames the
 *   guest gets (others: rx_filtered). No multicast list is kept:
 *   MULTICAST passes every multicast frame.
 * - The link (hvis-ctl nic link): down, the guest is told
 *   MEDIA_DISCONNECT, the TAP loses its carrier and frames both ways are
 *   dropped and counted (link_down).
 * - A capture (hnet_capture.c) of the frames crossing the adapter.
 *
 * Threads: settings are written on the loop thread and read by the
 * channels' workers with relaxed atomics (a frame sees the old or the new
 * setting, either is right); the counters are the workers'. */
#ifndef HVIS_HNET_SW_H
#define HVIS_HNET_SW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "rt_ctr.h"

struct hnet_nic;
struct hnet_chan;
struct hnet_nic_cfg;
struct hnet_cap;
struct hvm;
struct iovec;

#define HNET_VLAN_MAX 4094u

struct hnet_sw {
	_Atomic bool spoofing;
	_Atomic uint32_t vlan;     /* 0: untagged */
	_Atomic bool link_up;
	/* the guest's packet filter, as the primary's RNDIS engine has it */
	_Atomic uint32_t filter;
	/* the loop thread asks the primary channel's worker to tell the
	 * guest the link: the flag, then a write to wake_efd, which is in
	 * the worker's aux_fd (an epoll set with the TAP queue) */
	_Atomic bool wake_due;
	int wake_efd;
	_Atomic bool cap_on;       /* hnet_cap_frame's only cost when off */
	struct hnet_cap *cap;      /* loop thread; kept until destroy */
};

/* A channel's share: its worker's counters and its aux epoll set. */
struct hnet_sw_chan {
	rt_ctr tx_spoofed, tx_tagged, rx_vlan, rx_filtered, link_down;
	bool link_told;            /* the link the guest was last told */
	bool link_owed;            /* told, but no control slot was free */
	int epfd;                  /* -1: none (a sub-channel) */
};

/* hnet_sw.c */
/* --nic option o (mac-spoofing=on|off, vlan=N) into cfg: false if o is
 * not one of them. */
bool hnet_sw_opt(const char *o, struct hnet_nic_cfg *cfg);
/* The port of a new NIC as cfg says. 0, or -1 with why. Loop thread. */
int hnet_sw_init(struct hnet_nic *nic, const struct hnet_nic_cfg *cfg,
		   char *why, size_t n);
void hnet_sw_fini(struct hnet_nic *nic);
/* A channel opened (after its engines are set up, c->aux_fd its TAP
 * queue) and closed. Loop thread. */
void hnet_sw_open(struct hnet_chan *ch);
void hnet_sw_close(struct hnet_chan *ch);
/* The primary's RNDIS engine changed (its worker): the filter for all
 * channels. */
void hnet_sw_rndis(struct hnet_chan *ch);
/* The worker's share of an aux wakeup: tells the guest a link change. */
void hnet_sw_work(struct hnet_chan *ch);
/* After a batch of the guest's packets (its completions may have freed
 * a control slot): a link indication that found none goes now. */
void hnet_sw_link_retry(struct hnet_chan *ch);
/* Wake the primary channel's worker (hnet_sw_work). Loop thread. */
void hnet_sw_kick(struct hnet_nic *nic);
/* A frame from the guest of len bytes (frame: the worker's copy of its
 * first bytes), iov[0] its virtio-net header and iov[1..n) the frame:
 * the VLAN whose tag it goes to the TAP with (0: none; the header's
 * offsets then moved to match), or -1 when the port drops it
 * (counted). */
int32_t hnet_sw_tx(struct hnet_chan *ch, const uint8_t *frame, uint32_t len,
		   const struct iovec *iov, unsigned n);
/* The VLAN the TAP's frames must carry (0: none): a frame is read
 * 4 bytes early to leave room for its tag. */
uint32_t hnet_sw_rx_vlan(struct hnet_chan *ch);
/* A frame of n bytes read at p, behind virtio-net header vnet, with the
 * tag of vlan: the tag taken out (the frame then starts 4 bytes later,
 * the header's offsets fixed); its new length, or 0 when it is not of
 * that VLAN (counted). */
ssize_t hnet_sw_untag(struct hnet_chan *ch, uint32_t vlan, uint8_t *vnet,
		      uint8_t *p, ssize_t n);
/* A frame from the TAP, len bytes in sub-allocation id: true if the
 * guest takes it; else it is counted and id given back. */
bool hnet_sw_rx(struct hnet_chan *ch, uint32_t id, uint32_t len);
/* The same for a frame in pieces (a coalesced one: iov[0] holds its
 * Ethernet header); false: counted, the pieces still the caller's. */
bool hnet_sw_rx_iov(struct hnet_chan *ch, const struct iovec *iov,
		    unsigned n, uint32_t len);
/* " tx_spoofed=N ..." for hvis-ctl channels. */
void hnet_sw_describe(const struct hnet_chan *ch, FILE *out);

/* hnet_capture.c */
struct hnet_cap_cfg {
	const char *path;
	uint64_t count;     /* stop after this many frames; 0: no limit */
	uint64_t seconds;   /* stop after this long; 0: no limit */
};
/* The longest --seconds (a year): more is refused. */
#define HNET_CAP_SECONDS_MAX 31536000u
struct hnet_cap_info {
	bool running;
	const char *path;   /* NULL: never started */
	uint64_t frames, dropped;
};
/* Start writing the NIC's frames to cfg->path (pcap). 0, or -1 with
 * why. Loop thread. */
int hnet_cap_start(struct hnet_nic *nic, const struct hnet_cap_cfg *cfg,
		   char *why, size_t n);
/* Stop (what is buffered is written first); false if none ran. */
bool hnet_cap_stop(struct hnet_nic *nic, struct hnet_cap_info *info);
void hnet_cap_info(struct hnet_nic *nic, struct hnet_cap_info *info);
/* A frame crossing the NIC, on a channel's worker: into the channel's
 * buffer, or dropped and counted when it is full; never waits. */
void hnet_cap_put(struct hnet_chan *ch, const struct iovec *iov,
		  unsigned n, uint32_t len);
static inline void hnet_cap_frame(struct hnet_sw *p, struct hnet_chan *ch,
				  const struct iovec *iov, unsigned n,
				  uint32_t len)
{
	if (atomic_load_explicit(&p->cap_on, memory_order_relaxed))
		hnet_cap_put(ch, iov, n, len);
}
void hnet_cap_free(struct hnet_nic *nic);

/* hnet_cmd.c: nic add|remove|list|set|link|capture; HNET_CTL_NOT_MINE
 * when argv is no nic request. */
#define HNET_CTL_NOT_MINE 2
int hnet_ctl_exec(struct hvm *vm, char *const *argv, int argc, bool json,
		  FILE *out);

#endif
