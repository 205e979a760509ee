/* netvsp's switch port (hnet_sw.h): MAC address spoofing, the access
 * VLAN, the guest's packet filter and the link, between the channel's
 * frames and the TAP. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hnet_priv.h"
#include "net/nframe.h"
#include "net/vnet_wire.h"
#include "rt_log.h"

#define ETH_HLEN NFRAME_ETH_LEN
#define VLAN_TAG NFRAME_TAG_LEN

static bool vlan_val(const char *s, uint32_t *vlan)
{
	unsigned long v = 0;

	if (!strcmp(s, "none")) {
		*vlan = 0;
		return true;
	}
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9' || v > HNET_VLAN_MAX)
			return false;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (!*s || v < 1 || v > HNET_VLAN_MAX)
		return false;
	*vlan = (uint32_t)v;
	return true;
}

bool hnet_sw_opt(const char *o, struct hnet_nic_cfg *cfg)
{
	if (!strcmp(o, "mac-spoofing=on") || !strcmp(o, "mac-spoofing=off")) {
		cfg->spoofing = !strcmp(o + 13, "on");
		return true;
	}
	return !strncmp(o, "vlan=", 5) && vlan_val(o + 5, &cfg->vlan);
}

int hnet_sw_init(struct hnet_nic *nic, const struct hnet_nic_cfg *cfg,
		   char *why, size_t n)
{
	struct hnet_sw *p = &nic->sw;

	atomic_init(&p->spoofing, cfg->spoofing);
	atomic_init(&p->vlan, cfg->vlan);
	atomic_init(&p->link_up, true);
	p->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_efd < 0) {
		snprintf(why, n, "no eventfd for the NIC: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void hnet_sw_fini(struct hnet_nic *nic)
{
	hnet_cap_free(nic);
	/* -1: hnet_sw_init never ran or failed */
	if (nic->sw.wake_efd >= 0)
		close(nic->sw.wake_efd);
}

/* ---- the link (loop thread asks, the primary's worker tells) ---- */

/* The worker's aux_fd becomes an epoll set of its TAP queue and the
 * NIC's wake eventfd: readable when either is. */
static bool watch_both(struct hnet_chan *ch)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0)
		return false;
	ev.data.fd = ch->c->aux_fd;
	if (epoll_ctl(fd, EPOLL_CTL_ADD, ch->c->aux_fd, &ev) == 0) {
		ev.data.fd = ch->nic->sw.wake_efd;
		if (epoll_ctl(fd, EPOLL_CTL_ADD, ev.data.fd, &ev) == 0) {
			ch->sw.epfd = ch->c->aux_fd = fd;
			return true;
		}
	}
	close(fd);
	return false;
}

void hnet_sw_open(struct hnet_chan *ch)
{
	bool up = atomic_load(&ch->nic->sw.link_up);

	ch->sw.epfd = -1;
	ch->sw.link_told = up;
	ch->sw.link_owed = false;
	rndis_host_set_link(&ch->rndis, up, ch->rndis.cfg.link_speed);
	if (ch->c->sub_index == 0 && !watch_both(ch))
		rt_warn("net", "relid %u: %s", ch->c->relid,
			"no epoll set: link changes will not reach the guest");
}

void hnet_sw_close(struct hnet_chan *ch)
{
	if (ch->sw.epfd >= 0)
		close(ch->sw.epfd);
	ch->sw.epfd = -1;
}

void hnet_sw_kick(struct hnet_nic *nic)
{
	uint64_t one = 1;

	/* the flag after the write: a worker that sees it reads the
	 * eventfd empty (see hnet_sw_work) */
	if (write(nic->sw.wake_efd, &one, sizeof(one)) != sizeof(one))
		rt_warn("net", "%s: worker not woken", nic->tap.name);
	atomic_store(&nic->sw.wake_due, true);
}

static void tell_link(struct hnet_chan *ch, bool up)
{
	uint8_t msg[RNDIS_HOST_REPLY_MAX];
	uint32_t len = rndis_host_indicate(up ? RNDIS_ST_MEDIA_CONNECT
					      : RNDIS_ST_MEDIA_DISCONNECT,
					   0, msg);

	/* later queries answer the same; a guest not yet READY asks; a
	 * guest holding every control slot is told once it gives one back
	 * (hnet_sw_link_retry), of the link as it is by then */
	rndis_host_set_link(&ch->rndis, up, ch->rndis.cfg.link_speed);
	ch->sw.link_told = up;
	ch->sw.link_owed = ch->rndis.state == RNDIS_HS_READY;
	if (ch->sw.link_owed && ch->nic->rxb.ctl.nfree)
		ch->sw.link_owed = !hnet_ctl_answer(ch, msg, len);
}

void hnet_sw_link_retry(struct hnet_chan *ch)
{
	if (ch->sw.link_owed && ch->nic->rxb.ctl.nfree)
		tell_link(ch, atomic_load(&ch->nic->sw.link_up));
}

void hnet_sw_rndis(struct hnet_chan *ch)
{
	atomic_store_explicit(&ch->nic->sw.filter, ch->rndis.filter,
			      memory_order_relaxed);
}

void hnet_sw_work(struct hnet_chan *ch)
{
	struct hnet_sw *p = &ch->nic->sw;
	uint64_t v;
	bool up;

	if (ch->sw.epfd < 0 ||
	    !atomic_load_explicit(&p->wake_due, memory_order_relaxed))
		return;
	atomic_store(&p->wake_due, false);
	if (read(p->wake_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		rt_warn("net", "%s: wake eventfd: %s", ch->nic->tap.name,
			strerror(errno));
	up = atomic_load(&p->link_up);
	if (up != ch->sw.link_told)
		tell_link(ch, up);
}

/* ---- frames ---- */

/* The guest's header, for the frame 4 bytes longer in front of its
 * transport headers. */
static void shift_vnet(void *vnet)
{
	struct vnet_hdr h;

	memcpy(&h, vnet, sizeof(h));
	if (h.flags & VNET_HDR_F_NEEDS_CSUM)
		h.csum_start = vmb_le16((uint16_t)(vmb_le16(h.csum_start) +
						   VLAN_TAG));
	if (h.gso_type != VNET_HDR_GSO_NONE)
		h.hdr_len = vmb_le16((uint16_t)(vmb_le16(h.hdr_len) +
						VLAN_TAG));
	memcpy(vnet, &h, sizeof(h));
}

/* The port's own tag on a frame the guest tagged itself would let it
 * reach the VLAN of its inner tag on a switch that strips the outer one
 * (VLAN hopping): an access port, a member of one VLAN (no trunk mode
 * here), drops it. */
static bool tagged(const uint8_t *frame)
{
	return nframe_is_tag(vmb_be16(frame + NFRAME_ETH_TYPE));
}

static int32_t drop(rt_ctr *why)
{
	rt_ctr_add(why, 1);
	return -1;
}

int32_t hnet_sw_tx(struct hnet_chan *ch, const uint8_t *frame, uint32_t len,
		   const struct iovec *iov, unsigned n)
{
	struct hnet_sw *p = &ch->nic->sw;
	uint32_t vlan;

	hnet_cap_frame(p, ch, iov + 1, n - 1, len);
	if (len < ETH_HLEN)
		return drop(&ch->tx_bad);
	if (!atomic_load_explicit(&p->link_up, memory_order_relaxed))
		return drop(&ch->sw.link_down);
	if (!atomic_load_explicit(&p->spoofing, memory_order_relaxed) &&
	    memcmp(frame + NFRAME_ETH_SRC, ch->nic->mac, 6))
		return drop(&ch->sw.tx_spoofed);
	vlan = atomic_load_explicit(&p->vlan, memory_order_relaxed);
	if (vlan && tagged(frame))
		return drop(&ch->sw.tx_tagged);
	if (vlan)
		shift_vnet(iov[0].iov_base);
	return (int32_t)vlan;
}

uint32_t hnet_sw_rx_vlan(struct hnet_chan *ch)
{
	return atomic_load_explicit(&ch->nic->sw.vlan, memory_order_relaxed);
}

/* The kernel's offsets counted the tag: the frame is 4 bytes shorter in
 * front of its transport headers now. */
static void unshift_vnet(uint8_t *vnet)
{
	struct vnet_hdr h;

	memcpy(&h, vnet, sizeof(h));
	if ((h.flags & VNET_HDR_F_NEEDS_CSUM) &&
	    vmb_le16(h.csum_start) >= ETH_HLEN + VLAN_TAG)
		h.csum_start = vmb_le16((uint16_t)(vmb_le16(h.csum_start) -
						   VLAN_TAG));
	if (h.gso_type != VNET_HDR_GSO_NONE &&
	    vmb_le16(h.hdr_len) >= ETH_HLEN + VLAN_TAG)
		h.hdr_len = vmb_le16((uint16_t)(vmb_le16(h.hdr_len) -
						VLAN_TAG));
	memcpy(vnet, &h, sizeof(h));
}

ssize_t hnet_sw_untag(struct hnet_chan *ch, uint32_t vlan, uint8_t *vnet,
		      uint8_t *p, ssize_t n)
{
	if (n < (ssize_t)(ETH_HLEN + VLAN_TAG) ||
	    vmb_be16(p + NFRAME_ETH_TYPE) != NFRAME_ETH_P_8021Q ||
	    (vmb_be16(p + NFRAME_ETH_TYPE + 2) & 0xfffu) != vlan) {
		rt_ctr_add(&ch->sw.rx_vlan, 1);
		return 0;
	}
	memmove(p + VLAN_TAG, p, NFRAME_ETH_TYPE);
	unshift_vnet(vnet);
	return n - (ssize_t)VLAN_TAG;
}

static bool all_ones(const uint8_t *a)
{
	return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff;
}

/* The guest's packet filter (and the port's learned addresses, with
 * spoofing on) on a frame to dst. */
static bool wanted(struct hnet_chan *ch, const uint8_t *dst, uint32_t len)
{
	uint32_t f = atomic_load_explicit(&ch->nic->sw.filter,
					  memory_order_relaxed);

	if (f & RNDIS_FILTER_PROMISCUOUS)
		return true;
	if (len < ETH_HLEN)
		return false;
	if (!(dst[0] & 1))
		return (f & RNDIS_FILTER_DIRECTED) &&
		       (!memcmp(dst, ch->nic->mac, 6) ||
			atomic_load_explicit(&ch->nic->sw.spoofing,
					     memory_order_relaxed));
	if (all_ones(dst))
		return f & RNDIS_FILTER_BROADCAST;
	return f & (RNDIS_FILTER_MULTICAST | RNDIS_FILTER_ALL_MULTICAST);
}

bool hnet_sw_rx_iov(struct hnet_chan *ch, const struct iovec *iov,
		    unsigned n, uint32_t len)
{
	struct hnet_sw *p = &ch->nic->sw;
	rt_ctr *why = NULL;

	if (!atomic_load_explicit(&p->link_up, memory_order_relaxed))
		why = &ch->sw.link_down;
	else if (!wanted(ch, iov[0].iov_base, (uint32_t)iov[0].iov_len))
		why = &ch->sw.rx_filtered;
	if (!why) {
		hnet_cap_frame(p, ch, iov, n, len);
		return true;
	}
	rt_ctr_add(why, 1);
	return false;
}

bool hnet_sw_rx(struct hnet_chan *ch, uint32_t id, uint32_t len)
{
	struct hnet_nic *nic = ch->nic;
	struct iovec iov = {nic->rbuf.va + (uint64_t)id * nic->rxb.sub_size +
				    NVSP_HOST_RX_HEADER,
			    len};
	uint32_t k;

	if (hnet_sw_rx_iov(ch, &iov, 1, len))
		return true;
	nvsp_rxbuf_free(&nic->rxb, ch->q, id, &k);
	return false;
}

#define PCTR(x) (unsigned long long)rt_ctr_get(&ch->sw.x)

void hnet_sw_describe(const struct hnet_chan *ch, FILE *out)
{
	fprintf(out, " tx_spoofed=%llu tx_tagged=%llu rx_vlan=%llu "
		"rx_filtered=%llu link_down=%llu", PCTR(tx_spoofed),
		PCTR(tx_tagged), PCTR(rx_vlan),
		PCTR(rx_filtered), PCTR(link_down));
}
