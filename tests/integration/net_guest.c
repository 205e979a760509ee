/* A scripted netvsc against a real hvis-host with a NIC: raw VMBus, its
 * own rings, receive and send buffers it registers by GPADL, and
 * core/net's guest engines (nvsp_guest, rndis_guest) to bring the adapter
 * up: NVSP init at 6.1, RNDIS init and queries, packet filter. Then it
 * asks the host's kernel, at the other end of the NIC's TAP, for
 * 10.99.0.1: an ARP request (RNDIS PACKET in a send section) and an ICMP
 * echo request (RNDIS PACKET by GPA ranges straight from guest memory);
 * the kernel's answers must come back in transfer-page packets. Before
 * that, malformed sends the host must refuse (and count) without harm,
 * offload requests among them.
 * On an access VLAN, a frame it tagged itself must be dropped.
 * Then link changes while it holds every control answer: the one that
 * finds no control slot comes once they are given back. Then an RNDIS
 * INIT on a sub-channel, which must leave the NIC's filter alone.
 * Before those, a PACKET from a send section and REVOKE_SEND_BUF in one
 * ring burst: the frame must reach the TAP whole though the guest tears
 * the buffer down and scribbles over it once the revoke completed; then
 * a new send buffer. Then the same with a revoke that asks for no
 * completion, as Linux's netvsc sends it: the guest tears the buffer
 * down at once, and scribbles over it once GPADL_TORNDOWN came. The
 * buffer mapped last is the one the later steps use.
 * Last the device's counters in `hvis-ctl channels --json`.
 * Usage: net_guest VMBUS_SOCK CTL_SOCK MAC TAP */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "evil_util.h"
#include "net/ncsum.h"
#include "net/nvsp_guest.h"
#include "net/rndis_guest.h"
#include "net/rndis_ppi.h"
#include "rt_gmem.h"
#include "vmbus/vmb_msg.h"
#include "vmbus/vmb_pkt.h"

#define GMEM_SIZE (16u << 20)
#define RING_PAGES 16u
#define RECV_PAGES 64u  /* 256 KiB: the control reserve and data */
#define SEND_PAGES 8u   /* five 6144-byte sections */
#define RECV_GPADL 2u
#define SEND_GPADL 3u
#define SUB_GPADL 4u    /* the sub-channel's ring */
#define SEND2_GPADL 5u  /* the send buffers mapped after the revokes */
#define SEND3_GPADL 6u
#define REPLY_MS 5000
#define MAX_RANGES 64u
/* Data sub-allocations: the buffer's, less the host's control reserve
 * (16 by OpenVMM's convention) */
#define CTL_SUBS 16u
#define DATA_SUBS ((RECV_PAGES << VMB_PAGE_SHIFT) / 1808u - CTL_SUBS)
#define FLOOD (DATA_SUBS + 40u)
/* This guest's own buffer requests (the engine's ids are far above) */
#define REVOKE_XID 0x106u
#define MAP_XID 0x104u
/* An echo of well over a cache line of payload: netvsp writes a frame
 * from a send section to the TAP straight from the section (only the
 * headers an offload fixes are copied, and this one asks for none),
 * when the batch's frames are written. */
#define BIG_PAYLOAD 1200u
#define BIG_ID 0x5256
/* ARP requests by GPA range after the revoke in its burst: the host's
 * work on them between the revoke and the batch's end gives a guest
 * that reuses the revoked buffer at once the time to do it */
#define FILLERS 16u
/* How long a teardown goes ahead of the revoke's burst: the host's loop
 * thread takes it well before its worker reads the ring, even on a busy
 * machine under ASan */
#define TEARDOWN_AHEAD_US 100000u

static const uint8_t host_ip[4] = {10, 99, 0, 1};
static const uint8_t guest_ip[4] = {10, 99, 0, 2};

struct ng {
	const char *vmbus, *ctl;
	struct eu_vmb v;
	struct rt_gmem gmem;
	uint8_t *ring, *recv, *send, *frame;
	struct vmb_ring out, in;
	struct nvsp_guest nvsp;
	struct rndis_guest rndis;
	bool send_done;
	uint32_t want_status;   /* of the sends' completions */
	uint8_t host_mac[6];
	bool got_arp, got_echo;
	bool got_big, big_whole; /* the big echo's answer, its payload */
	/* REVOKE_SEND_BUF completed, and before the PACKET sent ahead of
	 * it; SEND_SEND_BUF of the new buffer answered, and accepted */
	bool revoked, revoked_early, remapped, remap_ok;
	uint32_t send_gpadl;    /* the send buffer's GPADL id */
	unsigned rx_frames;
	uint16_t seq;           /* of the next echo request */
	unsigned more_frames;   /* sent after the flood's count */
	/* holding receive buffers: their ids and offsets */
	bool hold;
	unsigned nheld, nsubs;  /* packets held, and their frames */
	uint64_t held[FLOOD];
	uint32_t held_off[FLOOD]; /* each frame's offset */
	/* holding control answers (the host's reserve: 16 slots) */
	bool hold_ctl;
	unsigned nheld_ctl;
	uint64_t held_ctl[CTL_SUBS];
};

/* A GPADL of pages consecutive pages at va: a header, then bodies. */
static void gpadl(struct ng *e, uint32_t relid, uint32_t id,
		  const uint8_t *va, uint32_t pages)
{
	uint64_t pfn[RECV_PAGES + 2 * RING_PAGES];
	uint64_t first = rt_gmem_gpa(&e->gmem, va) >> VMB_PAGE_SHIFT;
	uint32_t n = pages < VMB_GPADL_HEADER_PFNS ? pages
						    : VMB_GPADL_HEADER_PFNS;
	union vmb_msg_buf b, m;

	for (uint32_t i = 0; i < pages; i++)
		pfn[i] = first + i;
	eu_vmb_post(&e->v, &b, vmb_msg_enc_gpadl_header(&b, relid, id, pages,
							 pfn, n));
	for (uint32_t k = 1; n < pages; k++) {
		uint32_t c = pages - n < VMB_GPADL_BODY_PFNS
				     ? pages - n : VMB_GPADL_BODY_PFNS;

		eu_vmb_post(&e->v, &b,
			    vmb_msg_enc_gpadl_body(&b, k, id, pfn + n, c));
		n += c;
	}
	eu_vmb_expect(&e->v, VMB_MSG_GPADL_CREATED, &m);
	EU_CHECK(vmb_le32(m.gpadl_created.status) == 0, "GPADL %u refused",
		 id);
}

static void open_chan(struct ng *e)
{
	uint64_t len = RING_PAGES << VMB_PAGE_SHIFT;
	union vmb_msg_buf b, m;

	e->ring = rt_gmem_alloc(&e->gmem, 2 * RING_PAGES);
	e->recv = rt_gmem_alloc(&e->gmem, RECV_PAGES);
	e->send = rt_gmem_alloc(&e->gmem, SEND_PAGES);
	e->frame = rt_gmem_alloc(&e->gmem, 1);
	EU_CHECK(e->ring && e->recv && e->send && e->frame, "allocation");
	gpadl(e, e->v.relid, 1, e->ring, 2 * RING_PAGES);
	EU_CHECK(vmb_ring_attach(&e->out, e->ring, len) == VMB_OK &&
		 vmb_ring_attach(&e->in, e->ring + len, len) == VMB_OK,
		 "ring attach");
	vmb_ring_init_shared(&e->out, true);
	vmb_ring_init_shared(&e->in, true);
	eu_vmb_post(&e->v, &b, vmb_msg_enc_open(&b, e->v.relid, 1, 1, 0,
						RING_PAGES, NULL, 0));
	eu_vmb_expect(&e->v, VMB_MSG_OPENCHANNEL_RESULT, &m);
	EU_CHECK(vmb_le32(m.open_result.status) == 0, "open refused");
	gpadl(e, e->v.relid, RECV_GPADL, e->recv, RECV_PAGES);
	gpadl(e, e->v.relid, SEND_GPADL, e->send, SEND_PAGES);
	e->send_gpadl = SEND_GPADL;
}

/* ---- packets ---- */

static void sent(struct ng *e, int rc)
{
	EU_CHECK(rc == VMB_OK, "ring send: %d", rc);
	eu_signal(e->v.efd_tx);
}

static void send_nvsp(struct ng *e, const struct nvsp_guest_out *o)
{
	struct vmb_iov iov = {(void *)&o->msg, o->len};
	bool sig;

	sent(e, vmb_pkt_send_inband(&e->out, o->flags, o->xid, &iov, 1, &sig));
}

/* RNDIS bytes already in send section index (the previous send
 * completed). */
static void send_in(struct ng *e, uint32_t type, uint32_t index,
		    uint32_t len)
{
	union nvsp_msg m;
	uint32_t n = nvsp_rndis_pkt(&m, type, index, len);
	struct vmb_iov iov = {&m, n};
	bool sig;

	e->send_done = false;
	sent(e, vmb_pkt_send_inband(&e->out, VMB_PKT_FLAG_COMPLETION_REQUESTED,
				    1, &iov, 1, &sig));
}

static void send_section(struct ng *e, uint32_t type, uint32_t len)
{
	send_in(e, type, 0, len);
}

/* RNDIS bytes at e->frame, by GPA range (no send section); with sig
 * NULL only put into the ring's burst. */
static int put_gpa(struct ng *e, uint32_t len, bool *sig)
{
	uint64_t pfn = rt_gmem_gpa(&e->gmem, e->frame) >> VMB_PAGE_SHIFT;
	struct vmb_gpa_range r = {.byte_count = len, .byte_offset = 0,
				  .pfn_count = 1, .pfn = &pfn};
	union nvsp_msg m;
	uint32_t n = nvsp_rndis_pkt(&m, NVSP_CHANNEL_DATA, NVSP_SECTION_NONE,
				    0);

	return vmb_pkt_send_gpa(&e->out, VMB_PKT_FLAG_COMPLETION_REQUESTED, 2,
				&r, 1, &m, n, sig);
}

static void send_gpa(struct ng *e, uint32_t len)
{
	bool sig;

	e->send_done = false;
	sent(e, put_gpa(e, len, &sig));
}


/* The big echo's payload for sequence number seq. */
static void big_fill(uint8_t *p, uint16_t seq)
{
	for (uint32_t i = 0; i < BIG_PAYLOAD; i++)
		p[i] = (uint8_t)(i * 7u + seq);
}

/* The host's kernel echoes the payload back: the frame it got from the
 * TAP, byte for byte (the ICMP checksum already refused a changed one). */
static bool big_whole(const struct ng *e, const uint8_t *f, uint32_t len)
{
	uint8_t want[BIG_PAYLOAD];

	big_fill(want, e->seq);
	return len == 42 + BIG_PAYLOAD && vmb_be16(f + 40) == e->seq &&
	       memcmp(f + 42, want, BIG_PAYLOAD) == 0;
}

/* A frame from the host's kernel: the answers this guest waits for. */
static void frame_in(struct ng *e, const uint8_t *f, uint32_t len)
{
	e->rx_frames++;
	if (len >= 42 && vmb_be16(f + 12) == 0x0806 && vmb_be16(f + 20) == 2 &&
	    memcmp(f + 28, host_ip, 4) == 0) {
		memcpy(e->host_mac, f + 22, 6);
		e->got_arp = true;
	}
	if (len < 42 || vmb_be16(f + 12) != 0x0800 || f[23] != 1 ||
	    memcmp(f + 26, host_ip, 4) != 0 || f[34] != 0)
		return;
	if (vmb_be16(f + 38) == 0x4856)
		e->got_echo = true;
	if (vmb_be16(f + 38) == BIG_ID) {
		e->got_big = true;
		e->big_whole = big_whole(e, f, len);
	}
}

static void data_in(struct ng *e, const uint8_t *msg, uint32_t len)
{
	struct rndis_ppi_stats st = {0};
	struct rndis_pkt p;

	EU_CHECK(rndis_pkt_parse(msg, len, &p, &st) == 0,
		 "bad RNDIS PACKET from the host");
	frame_in(e, p.data, p.data_len);
}

static void control_in(struct ng *e, const uint8_t *msg, uint32_t len)
{
	struct rndis_guest_ev ev;

	rndis_guest_rx(&e->rndis, msg, len, &ev);
	EU_CHECK(e->rndis.state != RNDIS_GS_FAILED, "RNDIS init failed at %d: "
		 "status %#x", e->rndis.fail_step, e->rndis.fail_status);
}

/* A receive kept (a frame a range): the host must not have used its
 * buffer twice. */
static void hold(struct ng *e, uint64_t xid, const struct nvsp_range *r,
		 uint32_t n)
{
	uint32_t sub = e->nvsp.recv.sub_alloc_size;

	for (uint32_t k = 0; k < n; k++) {
		EU_CHECK(e->nsubs < FLOOD && e->nsubs < DATA_SUBS,
			 "more receives than the buffer holds");
		for (unsigned i = 0; i < e->nsubs; i++)
			EU_CHECK(e->held_off[i] / sub != r[k].offset / sub,
				 "sub-allocation at %u reused while held",
				 r[k].offset);
		e->held_off[e->nsubs++] = r[k].offset;
	}
	e->held[e->nheld++] = xid;
}

static void complete_all(struct ng *e, const uint64_t *xid, unsigned n)
{
	union nvsp_msg m;
	uint32_t len = nvsp_rndis_complete(&m, NVSP_STATUS_SUCCESS);
	bool sig;

	for (unsigned i = 0; i < n; i++)
		sent(e, vmb_pkt_send_comp(&e->out, xid[i], &m, len, &sig));
}

static void release(struct ng *e)
{
	complete_all(e, e->held, e->nheld);
	e->nheld = e->nsubs = 0;
	e->hold = false;
}

/* A transfer-page packet: its messages, then the buffer back. */
static void xfer_in(struct ng *e, const struct vmb_pkt *pkt)
{
	struct nvsp_range r[MAX_RANGES];
	uint32_t n, type;
	union nvsp_msg m;
	bool sig;

	EU_CHECK(nvsp_guest_recv(&e->nvsp, pkt, r, MAX_RANGES, &n, &type) ==
		 VMB_OK, "bad transfer-page packet");
	for (uint32_t i = 0; i < n; i++) {
		if (type == NVSP_CHANNEL_CONTROL)
			control_in(e, e->recv + r[i].offset, r[i].len);
		else
			data_in(e, e->recv + r[i].offset, r[i].len);
	}
	if (e->hold && type == NVSP_CHANNEL_DATA) {
		hold(e, pkt->xid, r, n);
		return;
	}
	if (e->hold_ctl && type == NVSP_CHANNEL_CONTROL) {
		EU_CHECK(e->nheld_ctl < CTL_SUBS, "a control answer past the "
			 "host's %u control slots", CTL_SUBS);
		e->held_ctl[e->nheld_ctl++] = pkt->xid;
		return;
	}
	sent(e, vmb_pkt_send_comp(&e->out, pkt->xid, &m,
				  nvsp_rndis_complete(&m, NVSP_STATUS_SUCCESS),
				  &sig));
}

/* The answer to one of this guest's own buffer requests: true if pkt
 * is one. The revoke's says whether the PACKET sent ahead of it was
 * done by then. */
static bool buf_answer(struct ng *e, const struct vmb_pkt *pkt)
{
	union nvsp_msg m = {.type = 0};

	if (pkt->type != VMB_PKT_COMP)
		return false;
	if (pkt->xid == REVOKE_XID) {
		e->revoked = true;
		e->revoked_early = !e->send_done;
		return true;
	}
	if (pkt->xid != MAP_XID)
		return false;
	memcpy(&m, pkt->payload,
	       pkt->payload_len < sizeof(m) ? pkt->payload_len : sizeof(m));
	e->remapped = true;
	e->remap_ok = pkt->payload_len >= sizeof(m.send_buf_complete) &&
		      vmb_le32(m.type) == NVSP_TYPE_SEND_SEND_BUF_COMPLETE &&
		      vmb_le32(m.send_buf_complete.status) ==
			      NVSP_STATUS_SUCCESS &&
		      vmb_le32(m.send_buf_complete.section_size) ==
			      e->nvsp.send_section_size;
	return true;
}

static void comp_in(struct ng *e, const struct vmb_pkt *pkt)
{
	struct nvsp_guest_ev ev;

	if (buf_answer(e, pkt))
		return;
	nvsp_guest_rx(&e->nvsp, pkt, &ev);
	EU_CHECK(ev.kind != NVSP_GE_FAILED, "NVSP init failed at %d: %#x",
		 e->nvsp.fail_step, e->nvsp.fail_status);
	if (ev.kind == NVSP_GE_SEND_DONE) {
		EU_CHECK(ev.status == e->want_status, "send %llu: status %u, "
			 "want %u", (unsigned long long)ev.xid, ev.status,
			 e->want_status);
		e->send_done = true;
	}
}

/* One packet from the host within ms: false if none came. */
static bool pump_within(struct ng *e, uint64_t ms)
{
	uint64_t buf[8192], t0 = eu_now_ms();
	struct vmb_pkt pkt;
	uint32_t len;
	bool sig;
	int rc;

	while ((rc = vmb_ring_read(&e->in, buf, sizeof(buf), &len, &sig)) ==
	       VMB_EAGAIN) {
		if (eu_now_ms() - t0 >= ms)
			return false;
		eu_wait_event(e->v.efd_rx, 10);
	}
	EU_CHECK(rc == VMB_OK && vmb_pkt_parse(buf, len, &pkt) == VMB_OK,
		 "bad packet from the host");
	if (sig)
		eu_signal(e->v.efd_tx);
	if (pkt.type == VMB_PKT_XFER_PAGES)
		xfer_in(e, &pkt);
	else
		comp_in(e, &pkt);
	return true;
}

static void pump(struct ng *e)
{
	EU_CHECK(pump_within(e, REPLY_MS), "the host is silent");
}

/* ---- bringing the adapter up ---- */

static void nvsp_up(struct ng *e)
{
	struct nvsp_guest_cfg cfg = {
		.max_version = NVSP_VERSION_61,
		.mtu = 1500,
		.subchannels = 1,
		.ncpus = 2,
		.recv_gpadl = RECV_GPADL,
		.recv_size = RECV_PAGES << VMB_PAGE_SHIFT,
		.send_gpadl = SEND_GPADL,
		.send_size = SEND_PAGES << VMB_PAGE_SHIFT,
	};
	struct nvsp_guest_out o;

	nvsp_guest_init(&e->nvsp, &cfg);
	while (e->nvsp.state != NVSP_GS_READY) {
		while (nvsp_guest_next(&e->nvsp, &o))
			send_nvsp(e, &o);
		if (e->nvsp.state != NVSP_GS_READY)
			pump(e);
	}
	EU_CHECK(e->nvsp.version == NVSP_VERSION_61, "NVSP version %#x",
		 e->nvsp.version);
}

/* One RNDIS request and its answer. */
static void control(struct ng *e, const uint8_t *msg, uint32_t len)
{
	uint64_t answered = e->rndis.st.completions;

	memcpy(e->send, msg, len);
	send_section(e, NVSP_CHANNEL_CONTROL, len);
	while (!e->send_done || e->rndis.st.completions == answered)
		pump(e);
}

static void rndis_up(struct ng *e)
{
	struct rndis_guest_cfg cfg = {.nvsp_version = e->nvsp.version,
				      .channels = 1};
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	uint32_t len;

	rndis_guest_init(&e->rndis, &cfg);
	while (e->rndis.state != RNDIS_GS_READY) {
		len = rndis_guest_next(&e->rndis, out);
		EU_CHECK(len, "RNDIS init stuck at %d", e->rndis.state);
		control(e, out, len);
	}
	/* as Linux on open: until then the host holds frames back */
	len = rndis_guest_set_filter(&e->rndis, RNDIS_GUEST_FILTER_OPEN, out);
	EU_CHECK(len, "no filter request");
	control(e, out, len);
	EU_CHECK(e->rndis.st.completions == e->rndis.next_id - 1,
		 "a request unanswered");
}

/* ---- frames ---- */

static uint32_t eth(const struct ng *e, uint8_t *f, const uint8_t *dst,
		    uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, e->rndis.info.mac, 6);
	vmb_put_be16(f + 12, type);
	return 14;
}

static uint32_t arp_request(const struct ng *e, uint8_t *f)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t head[8] = {0, 1, 8, 0, 6, 4, 0, 1};
	uint8_t *a = f + eth(e, f, bcast, 0x0806);

	memcpy(a, head, sizeof(head));
	memcpy(a + 8, e->rndis.info.mac, 6);
	memcpy(a + 14, guest_ip, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, host_ip, 4);
	return 42;
}

/* An ICMP echo request to the host with identifier id and data bytes
 * of payload the caller writes after the returned header; the caller
 * sets the checksum (icmp + 2) once it has. */
static uint8_t *echo_head(const struct ng *e, uint8_t *f, uint16_t id,
			  uint32_t data)
{
	uint8_t *ip = f + eth(e, f, e->host_mac, 0x0800), *icmp = ip + 20;

	memset(ip, 0, 28);
	ip[0] = 0x45;
	vmb_put_be16(ip + 2, (uint16_t)(28 + data));
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, guest_ip, 4);
	memcpy(ip + 16, host_ip, 4);
	vmb_put_be16(ip + 10, ncsum(ip, 20));
	icmp[0] = 8;
	vmb_put_be16(icmp + 4, id);
	vmb_put_be16(icmp + 6, e->seq);
	return icmp;
}

static uint32_t echo_request(const struct ng *e, uint8_t *f)
{
	uint8_t *icmp = echo_head(e, f, 0x4856, 8);

	memcpy(icmp + 8, "hvis-net", 8);
	vmb_put_be16(icmp + 2, ncsum(icmp, 16));
	return 14 + 36;
}

static uint32_t big_echo(const struct ng *e, uint8_t *f)
{
	uint8_t *icmp = echo_head(e, f, BIG_ID, BIG_PAYLOAD);

	big_fill(icmp + 8, e->seq);
	vmb_put_be16(icmp + 2, ncsum(icmp, 8 + BIG_PAYLOAD));
	return 14 + 28 + BIG_PAYLOAD;
}

/* An echo request the guest tagged for VLAN 9 itself. */
static uint32_t tagged_echo(const struct ng *e, uint8_t *f)
{
	uint32_t n = echo_request(e, f + 4);

	memmove(f, f + 4, 12);
	vmb_put_be16(f + 12, 0x8100);
	vmb_put_be16(f + 14, 9);
	return n + 4;
}

/* An RNDIS PACKET header with the PPIs meta names at buf, the frame
 * made right after it. */
static uint32_t packet_meta(const struct ng *e, uint8_t *buf,
			    uint32_t (*make)(const struct ng *, uint8_t *),
			    const struct rndis_pkt_meta *meta)
{
	uint32_t h = rndis_pkt_hdr_len(meta), n = make(e, buf + h);

	EU_CHECK(rndis_pkt_build(buf, 4096, meta, n) == h, "packet build");
	return h + n;
}

static uint32_t packet(const struct ng *e, uint8_t *buf,
		       uint32_t (*make)(const struct ng *, uint8_t *))
{
	static const struct rndis_pkt_meta none;

	return packet_meta(e, buf, make, &none);
}

/* Offload requests no frame they come with can honour: each frame is
 * dropped and counted (tx_bad, in "refused"), the message completed
 * with success (it was well-formed). */
static void hostile_offloads(struct ng *e)
{
	const struct rndis_pkt_meta bad[] = {
		{.present = RNDIS_META_CSUM,
		 .csum = rndis_csum_tx(RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_TCP,
				       14)},
		{.present = RNDIS_META_LSO, .lso_mss = 0, .lso_thoff = 34},
		{.present = RNDIS_META_CSUM,
		 .csum = rndis_csum_tx(RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_UDP,
				       34)},
		{.present = RNDIS_META_LSO, .lso_mss = 1448, .lso_thoff = 34,
		 .lso_ipv6 = true},
	};
	static const char *const what[] = {
		"a TCP checksum request for an ARP frame",
		"LSO with an MSS of 0",
		"a UDP checksum request for an ICMP echo",
		"LSO over IPv6 for an IPv4 ICMP echo",
	};

	for (unsigned i = 0; i < VMB_ARRAY_LEN(bad); i++) {
		eu_step("%s", what[i]);
		send_section(e, NVSP_CHANNEL_DATA,
			     packet_meta(e, e->send, i ? echo_request
						       : arp_request, &bad[i]));
		while (!e->send_done)
			pump(e);
	}
}

/* What no netvsc sends: each refused with a failure status (the guest
 * never waits) or, for a completion, ignored; counted as "refused". */
static void hostile(struct ng *e)
{
	union nvsp_msg m;
	uint32_t len = packet(e, e->send, arp_request);
	uint32_t bad = vmb_le32(len + 100);
	bool sig;

	eu_step("a PACKET whose msg_len runs past the section");
	e->want_status = NVSP_STATUS_INVALID_RNDIS_PKT;
	memcpy(e->send + 4, &bad, sizeof(bad)); /* msg_len */
	send_section(e, NVSP_CHANNEL_DATA, len);
	while (!e->send_done)
		pump(e);
	eu_step("a send section past the send buffer");
	e->want_status = NVSP_STATUS_FAIL;
	send_in(e, NVSP_CHANNEL_DATA, SEND_PAGES, 64);
	while (!e->send_done)
		pump(e);
	eu_step("a completion of a receive never sent");
	sent(e, vmb_pkt_send_comp(&e->out, 40, &m,
				  nvsp_rndis_complete(&m, NVSP_STATUS_SUCCESS),
				  &sig));
	e->want_status = NVSP_STATUS_SUCCESS;
	hostile_offloads(e);
}

static void ping(struct ng *e)
{
	eu_step("ARP request for 10.99.0.1 (send section)");
	send_section(e, NVSP_CHANNEL_DATA, packet(e, e->send, arp_request));
	while (!e->send_done || !e->got_arp)
		pump(e);
	eu_step("ICMP echo request to 10.99.0.1 (GPA range)");
	e->seq = 1;
	send_gpa(e, packet(e, e->frame, echo_request));
	while (!e->send_done || !e->got_echo)
		pump(e);
}

static void ctl_ok(struct ng *e, const char *req)
{
	char *r = eu_ctl(e->ctl, req);

	EU_CHECK(r && !strstr(r, "error"), "%s: %s", req, r ? r : "no reply");
	free(r);
}

/* Counter name of the one adapter, as `hvis-ctl nic list --json` has
 * it. */
static json_int_t nic_counter(struct ng *e, const char *name)
{
	char *r = eu_ctl(e->ctl, "nic list --json\n");
	json_t *j = r && strchr(r, '{') ? json_loads(strchr(r, '{'), 0, NULL)
					: NULL;
	json_t *v = json_object_get(json_object_get(json_array_get(
			json_object_get(j, "nics"), 0), "counters"), name);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;

	json_decref(j);
	free(r);
	return n;
}

/* On an access VLAN a frame the guest tagged itself is dropped (and
 * counted as tx_tagged), not sent with the port's tag in front of its
 * own, which would carry it into VLAN 9. */
static void vlan_hop(struct ng *e, const char *tap)
{
	char req[64];

	eu_step("a frame tagged for VLAN 9 on a port of VLAN 5: dropped");
	snprintf(req, sizeof(req), "nic set %s vlan=5\n", tap);
	ctl_ok(e, req);
	send_section(e, NVSP_CHANNEL_DATA, packet(e, e->send, tagged_echo));
	while (!e->send_done)
		pump(e);
	EU_CHECK(nic_counter(e, "tx_tagged") == 1, "nic list: tx_tagged");
	snprintf(req, sizeof(req), "nic set %s vlan=none\n", tap);
	ctl_ok(e, req);
}

/* ---- a sub-channel's own RNDIS engine ---- */

/* An ARP request (the host's kernel has long forgotten this guest,
 * which answers none of its own), an echo request, and up to ms for the
 * echo's answer (the kernel may have put it on the sub-channel's TAP
 * queue just before that went). */
static void echo_within(struct ng *e, uint64_t ms)
{
	uint64_t t0 = eu_now_ms();

	e->seq++;
	e->more_frames += 2;
	send_section(e, NVSP_CHANNEL_DATA, packet(e, e->send, arp_request));
	while (!e->send_done)
		pump(e);
	send_section(e, NVSP_CHANNEL_DATA, packet(e, e->send, echo_request));
	while (!e->send_done)
		pump(e);
	while (!e->got_echo && eu_now_ms() - t0 < ms)
		pump_within(e, 100);
}

/* A sub-channel: its rings and event descriptors. */
struct ng_sub {
	uint32_t relid;
	int efd_tx, efd_rx;
	struct vmb_ring out, in;
};

static void sub_ask(struct ng *e)
{
	struct nvsp_guest_out o;

	EU_CHECK(nvsp_guest_subchannels(&e->nvsp, 2, &o), "no SUBCHANNEL");
	send_nvsp(e, &o);
	while (e->nvsp.subch_waiting)
		pump(e);
	EU_CHECK(e->nvsp.subch_granted == 1, "%u sub-channels granted",
		 e->nvsp.subch_granted);
}

static void sub_open(struct ng *e, struct ng_sub *s)
{
	uint64_t len = RING_PAGES << VMB_PAGE_SHIFT;
	uint8_t *ring = rt_gmem_alloc(&e->gmem, 2 * RING_PAGES);
	union vmb_msg_buf b, m;
	struct rt_frame f;

	eu_vmb_expect_frame(&e->v, VMB_MSG_OFFERCHANNEL, &m, &f);
	EU_CHECK(f.nfds == 2 && ring, "sub-channel offer");
	s->relid = vmb_le32(m.offer.child_relid);
	s->efd_tx = f.fds[0];
	s->efd_rx = f.fds[1];
	gpadl(e, s->relid, SUB_GPADL, ring, 2 * RING_PAGES);
	EU_CHECK(vmb_ring_attach(&s->out, ring, len) == VMB_OK &&
		 vmb_ring_attach(&s->in, ring + len, len) == VMB_OK,
		 "sub-channel ring attach");
	vmb_ring_init_shared(&s->out, true);
	vmb_ring_init_shared(&s->in, true);
	eu_vmb_post(&e->v, &b, vmb_msg_enc_open(&b, s->relid, 2, SUB_GPADL, 0,
						RING_PAGES, NULL, 0));
	eu_vmb_expect(&e->v, VMB_MSG_OPENCHANNEL_RESULT, &m);
	EU_CHECK(vmb_le32(m.open_result.status) == 0, "sub-channel refused");
}

/* A transfer on the sub-channel, given back: true if it is the INIT
 * completion (frames the host's kernel sent to the sub-channel's TAP
 * queue may come too). */
static bool sub_answer(struct ng *e, struct ng_sub *s,
		       const struct vmb_pkt *pkt)
{
	struct nvsp_range r[MAX_RANGES];
	uint32_t n, type, msg = 0;
	union nvsp_msg m;
	bool sig;

	EU_CHECK(nvsp_guest_recv(&e->nvsp, pkt, r, MAX_RANGES, &n, &type) ==
			 VMB_OK && n >= 1, "bad transfer on the sub-channel");
	if (type == NVSP_CHANNEL_CONTROL)
		memcpy(&msg, e->recv + r[0].offset, sizeof(msg));
	EU_CHECK(type == NVSP_CHANNEL_DATA || vmb_le32(msg) == RNDIS_MSG_INIT_C,
		 "not an INIT completion on the sub-channel");
	EU_CHECK(vmb_pkt_send_comp(&s->out, pkt->xid, &m,
				   nvsp_rndis_complete(&m, NVSP_STATUS_SUCCESS),
				   &sig) == VMB_OK, "sub-channel completion");
	eu_signal(s->efd_tx);
	return type == NVSP_CHANNEL_CONTROL;
}

/* The sub-channel's packets until its send completed and its answer
 * came. */
static void sub_pump(struct ng *e, struct ng_sub *s)
{
	uint64_t buf[1024], t0 = eu_now_ms();
	bool done = false, answered = false;
	struct vmb_pkt pkt;
	uint32_t len;
	bool sig;
	int rc;

	while (!done || !answered) {
		rc = vmb_ring_read(&s->in, buf, sizeof(buf), &len, &sig);
		if (rc == VMB_EAGAIN) {
			EU_CHECK(eu_now_ms() - t0 < REPLY_MS,
				 "the sub-channel is silent");
			eu_wait_event(s->efd_rx, 10);
			continue;
		}
		EU_CHECK(rc == VMB_OK && vmb_pkt_parse(buf, len, &pkt) ==
			 VMB_OK, "bad packet on the sub-channel");
		if (sig)
			eu_signal(s->efd_tx);
		if (pkt.type == VMB_PKT_XFER_PAGES)
			answered |= sub_answer(e, s, &pkt);
		else
			done = true;
	}
}

/* The state hvis-ctl shows of channel relid. */
static bool chan_open(struct ng *e, uint32_t relid)
{
	char *r = eu_ctl(e->ctl, "channels --json\n");
	json_t *j = r && strchr(r, '{') ? json_loads(strchr(r, '{'), 0, NULL)
					: NULL, *c;
	size_t i;
	bool open = false;

	EU_CHECK(j, "channels --json: %s", r ? r : "nothing");
	json_array_foreach(json_object_get(j, "channels"), i, c) {
		const char *st = json_string_value(json_object_get(c, "state"));

		if (json_integer_value(json_object_get(c, "relid")) == relid)
			open = st && !strcmp(st, "open");
	}
	json_decref(j);
	free(r);
	return open;
}

/* Closed, and seen closed: its TAP queue is let go, so the host's kernel
 * sends every frame to the primary's. */
static void sub_close(struct ng *e, struct ng_sub *s)
{
	union vmb_msg_buf b;
	uint64_t t0 = eu_now_ms();

	eu_vmb_post(&e->v, &b, vmb_msg_enc_relid(&b, VMB_MSG_CLOSECHANNEL,
						 s->relid));
	while (chan_open(e, s->relid)) {
		EU_CHECK(eu_now_ms() - t0 < REPLY_MS, "sub-channel not closed");
		eu_sleep_ms(20);
	}
	close(s->efd_tx);
	close(s->efd_rx);
}

/* A guest's RNDIS INIT on a sub-channel (no netvsc sends one there)
 * starts that channel's engine over: filter 0, offloads and RSS off.
 * The NIC's stay the primary's, and frames keep coming. */
static void sub_init(struct ng *e)
{
	struct rndis_guest_cfg cfg = {.nvsp_version = e->nvsp.version,
				      .channels = 1};
	uint8_t *sec = e->send + e->nvsp.send_section_size;
	struct ng_sub s;
	struct rndis_guest g;
	union nvsp_msg m;
	struct vmb_iov iov = {&m, 0};
	bool sig;

	eu_step("a sub-channel, and an RNDIS INIT on it");
	sub_ask(e);
	sub_open(e, &s);
	rndis_guest_init(&g, &cfg);
	iov.len = nvsp_rndis_pkt(&m, NVSP_CHANNEL_CONTROL, 1,
				 rndis_guest_next(&g, sec));
	EU_CHECK(vmb_pkt_send_inband(&s.out, VMB_PKT_FLAG_COMPLETION_REQUESTED,
				     7, &iov, 1, &sig) == VMB_OK,
		 "sub-channel send");
	eu_signal(s.efd_tx);
	sub_pump(e, &s);
	sub_close(e, &s);
	eu_step("an echo still answered on the primary");
	e->got_echo = false;
	for (unsigned try = 0; try < 5 && !e->got_echo; try++)
		echo_within(e, 1000);
	EU_CHECK(e->got_echo, "no echo answered after the sub-channel's INIT");
}

/* More echo requests than the receive buffer has room for answers,
 * holding every receive: the host fills the buffer, drops the rest
 * (counted as rx_full) and never hands out a sub-allocation the guest
 * holds; given back, they carry answers again. */
static void flood(struct ng *e)
{
	eu_step("%u echo requests, no receive given back", FLOOD);
	e->hold = true;
	for (unsigned i = 0; i < FLOOD; i++) {
		e->seq++;
		send_section(e, NVSP_CHANNEL_DATA,
			     packet(e, e->send, echo_request));
		while (!e->send_done)
			pump(e);
	}
	while (pump_within(e, 300))
		;
	EU_CHECK(e->nsubs == DATA_SUBS, "%u receives held, want %u",
		 e->nsubs, (unsigned)DATA_SUBS);
	eu_step("given back: an echo answered again");
	release(e);
	e->got_echo = false;
	e->seq++;
	send_section(e, NVSP_CHANNEL_DATA, packet(e, e->send, echo_request));
	while (!e->send_done || !e->got_echo)
		pump(e);
}

/* ---- REVOKE_SEND_BUF in the batch of a send from the buffer ---- */

/* The PACKET (its RNDIS bytes in section 0), REVOKE_SEND_BUF and the
 * fillers (an ARP request at e->frame) put in one burst, for one commit
 * (revoke_commit): the host reads them in one batch, the revoke while
 * the frame is still queued for the TAP. */
static void revoke_burst(struct ng *e, uint32_t len, uint32_t arp_len,
			 uint16_t revoke_flags)
{
	union nvsp_msg pkt, rev = {.type = 0};
	struct vmb_iov a = {&pkt, nvsp_rndis_pkt(&pkt, NVSP_CHANNEL_DATA, 0,
						 len)},
		       b = {&rev, NVSP_MSG_LEN};

	rev.revoke.type = vmb_le32(NVSP_TYPE_REVOKE_SEND_BUF);
	e->send_done = false;
	EU_CHECK(vmb_pkt_send_inband(&e->out, VMB_PKT_FLAG_COMPLETION_REQUESTED,
				     1, &a, 1, NULL) == VMB_OK &&
		 vmb_pkt_send_inband(&e->out, revoke_flags, REVOKE_XID, &b, 1,
				     NULL) == VMB_OK,
		 "PACKET and REVOKE_SEND_BUF not put");
	for (unsigned i = 0; i < FILLERS; i++)
		EU_CHECK(put_gpa(e, arp_len, NULL) == VMB_OK, "filler not put");
}

static void revoke_commit(struct ng *e)
{
	bool sig;

	sent(e, vmb_ring_commit(&e->out, &sig));
}

/* The host's packets read as they come, without sleeping, until the
 * revoke's answer: the guest acts on it as close behind the host as it
 * can. */
static void revoke_wait(struct ng *e)
{
	uint64_t t0 = eu_now_ms();

	while (!e->revoked) {
		EU_CHECK(eu_now_ms() - t0 < REPLY_MS,
			 "REVOKE_SEND_BUF unanswered");
		pump_within(e, 0);
	}
}

/* The send buffer's GPADL torn down: asked for, then answered. */
static void send_buf_teardown(struct ng *e)
{
	union vmb_msg_buf b;

	eu_vmb_post(&e->v, &b, vmb_msg_enc_gpadl_teardown(&b, e->v.relid,
							   e->send_gpadl));
}

static void send_buf_torndown(struct ng *e)
{
	union vmb_msg_buf m;

	eu_vmb_expect(&e->v, VMB_MSG_GPADL_TORNDOWN, &m);
}

/* The send buffer's memory scribbled over and freed, as a guest may
 * once the host let go of it. */
static void send_buf_free(struct ng *e)
{
	memset(e->send, 0xa5, SEND_PAGES << VMB_PAGE_SHIFT);
	rt_gmem_free(&e->gmem, e->send, SEND_PAGES);
	e->send = NULL;
}

/* The burst published and the buffer let go. With a completion asked
 * for, as soon as the revoke's came: the memory scribbled over before
 * anything else, to meet a host that still reads it, then the GPADL
 * torn down. Without one, the guest's only word that the host let go is
 * GPADL_TORNDOWN; the teardown is asked for before the burst is
 * published, and goes well ahead of it, so that it meets a host that
 * still holds the buffer (as when the host reads the ring late);
 * answering it at once would let the guest scribble over the frame
 * still to be written. */
static void revoke_drop(struct ng *e, bool comp)
{
	if (comp) {
		revoke_commit(e);
		revoke_wait(e);
		memset(e->send, 0xa5, SEND_PAGES << VMB_PAGE_SHIFT);
		send_buf_teardown(e);
	} else {
		send_buf_teardown(e);
		usleep(TEARDOWN_AHEAD_US);
		revoke_commit(e);
	}
	send_buf_torndown(e);
	send_buf_free(e);
}

/* SEND_SEND_BUF of buf, another buffer: the host, its send buffer
 * revoked, must take it and give the same section size. */
static void send_buf_remap(struct ng *e, uint8_t *buf, uint32_t id)
{
	struct nvsp_guest_out o = {.len = NVSP_MSG_LEN, .xid = MAP_XID,
				   .flags = VMB_PKT_FLAG_COMPLETION_REQUESTED};

	gpadl(e, e->v.relid, id, buf, SEND_PAGES);
	e->remapped = false;
	o.msg.send_buf.type = vmb_le32(NVSP_TYPE_SEND_SEND_BUF);
	o.msg.send_buf.gpadl = vmb_le32(id);
	send_nvsp(e, &o);
	while (!e->remapped)
		pump(e);
	EU_CHECK(e->remap_ok, "SEND_SEND_BUF after the revoke refused");
	e->send = buf;
	e->send_gpadl = id;
}

/* The echo sent ahead of the revoke answered whole, its PACKET done
 * first, and no frame failed. */
static void revoke_check(struct ng *e, json_int_t tx_errors)
{
	uint64_t t0;

	for (t0 = eu_now_ms(); (!e->send_done || !e->got_big) &&
	     eu_now_ms() - t0 < REPLY_MS;)
		pump_within(e, 100);
	EU_CHECK(nic_counter(e, "tx_errors") == tx_errors, "the host failed "
		 "to write a frame (tx_errors)");
	EU_CHECK(e->got_big, "no answer to the echo sent before "
		 "REVOKE_SEND_BUF: its frame was lost or changed");
	EU_CHECK(e->big_whole, "the echo's answer differs from its request");
	EU_CHECK(!e->revoked_early, "REVOKE_SEND_BUF completed before the "
		 "PACKET sent ahead of it from that buffer");
}

/* netvsp writes a batch's frames from send sections at the batch's end
 * (hnet_tx_flush), from the buffer's view: a REVOKE_SEND_BUF in the same
 * batch must not let the view go before they are written. The guest
 * may reuse the memory once the revoke completed (comp) or, with no
 * completion asked for, once GPADL_TORNDOWN came; by then the PACKET
 * sent ahead of it must be done and its frame on the TAP as sent: the
 * echo's answer comes back whole. Then a new send buffer (GPADL
 * next_id), and an echo from it. */
static void revoke_in_batch(struct ng *e, bool comp, uint32_t next_id)
{
	uint8_t *next = rt_gmem_alloc(&e->gmem, SEND_PAGES);
	json_int_t tx_errors = nic_counter(e, "tx_errors");

	EU_CHECK(next, "allocation");
	eu_step("an echo request from a send section and REVOKE_SEND_BUF "
		"%s in one burst", comp ? "asking for a completion" : "alone");
	send_section(e, NVSP_CHANNEL_DATA, packet(e, e->send, arp_request));
	while (!e->send_done)
		pump(e);
	e->seq++;
	e->more_frames += 2 + FILLERS;
	e->got_big = e->big_whole = false;
	revoke_burst(e, packet(e, e->send, big_echo),
		     packet(e, e->frame, arp_request),
		     comp ? VMB_PKT_FLAG_COMPLETION_REQUESTED : 0);
	revoke_drop(e, comp);
	revoke_check(e, tx_errors);
	eu_step("a new send buffer, and an echo from it");
	send_buf_remap(e, next, next_id);
	e->got_echo = false;
	echo_within(e, REPLY_MS);
	EU_CHECK(e->got_echo, "no echo answered from the new send buffer");
}

/* ---- the link while every control slot is held ---- */

/* `hvis-ctl nic link TAP up|down`, and the guest's view of the link
 * once the indication came (up to 300 ms of the host's packets taken,
 * to see none comes). */
static void link_set(struct ng *e, const char *tap, bool up)
{
	char req[64];

	snprintf(req, sizeof(req), "nic link %s %s\n", tap, up ? "up" : "down");
	ctl_ok(e, req);
}

static void link_until(struct ng *e, bool up)
{
	while (e->rndis.info.link_up != up)
		pump(e);
}

/* Each change's indication takes a control slot the guest keeps; the
 * 17th finds none and is owed, not dropped: it arrives, with the link
 * as it is then, once the guest gives the slots back. */
static void link_starved(struct ng *e, const char *tap)
{
	eu_step("16 link changes, their indications held");
	e->hold_ctl = true;
	for (unsigned i = 0; i < CTL_SUBS; i++) {
		link_set(e, tap, i % 2);
		link_until(e, i % 2);
	}
	eu_step("a 17th with no control slot free: owed");
	link_set(e, tap, false);
	while (pump_within(e, 300))
		;
	EU_CHECK(e->rndis.info.link_up, "told with every control slot held");
	eu_step("the slots given back: the link down arrives");
	complete_all(e, e->held_ctl, e->nheld_ctl);
	e->nheld_ctl = 0;
	e->hold_ctl = false;
	link_until(e, false);
	link_set(e, tap, true);
	link_until(e, true);
}

/* ---- the host's counters ---- */

static json_int_t counter(json_t *dev, const char *name)
{
	json_t *v = json_object_get(dev, name);

	EU_CHECK(json_is_integer(v), "no %s in the device's counters", name);
	return json_integer_value(v);
}

static json_t *host_counters(struct ng *e, char **r)
{
	json_t *j;

	*r = eu_ctl(e->ctl, "channels --json\n");
	j = *r && strchr(*r, '{') ? json_loads(strchr(*r, '{'), 0, NULL) : NULL;
	EU_CHECK(j, "channels --json: %s", *r ? *r : "nothing");
	return j;
}

static json_t *primary_dev(json_t *j)
{
	return json_object_get(json_array_get(json_object_get(j, "channels"), 0),
			       "device");
}

/* The host's counters once every frame it counted for this guest has
 * come: one its kernel sent late (an ARP reply, a neighbour
 * solicitation) may still be in the ring when the steps end. */
static json_t *settled_counters(struct ng *e, char **r)
{
	json_t *j = host_counters(e, r);

	for (int i = 0; i < 30 && counter(primary_dev(j), "rx_frames") >
					  (json_int_t)e->rx_frames; i++) {
		pump_within(e, 100);
		json_decref(j);
		free(*r);
		j = host_counters(e, r);
	}
	return j;
}

static void counters(struct ng *e)
{
	char *r;
	json_t *j = settled_counters(e, &r), *dev = primary_dev(j);

	fprintf(stderr, "host counters: %s\n", r);
	EU_CHECK(counter(dev, "tx_frames") == FLOOD + 3 + e->more_frames,
		 "tx_frames");
	EU_CHECK(counter(dev, "rx_frames") == e->rx_frames, "rx_frames");
	EU_CHECK(counter(dev, "rx_full") >= FLOOD - DATA_SUBS, "rx_full");
	EU_CHECK(counter(dev, "refused") == 7, "refused");
	EU_CHECK(counter(dev, "tx_err") == 0, "tx_err");
	EU_CHECK(counter(dev, "tx_tagged") == 1, "tx_tagged");
	json_decref(j);
	free(r);
}

static void parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];

	EU_CHECK(sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3],
			&v[4], &v[5]) == 6, "MAC %s", s);
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
}

int main(int argc, char **argv)
{
	struct ng e = {.want_status = NVSP_STATUS_SUCCESS};
	uint8_t mac[6];

	if (argc != 5) {
		fprintf(stderr, "usage: net_guest VMBUS_SOCK CTL_SOCK MAC TAP\n");
		return 2;
	}
	e.vmbus = argv[1];
	e.ctl = argv[2];
	parse_mac(argv[3], mac);
	eu_vmb_attach(&e.v, e.vmbus, &e.gmem, GMEM_SIZE);
	open_chan(&e);
	eu_step("NVSP init");
	nvsp_up(&e);
	eu_step("RNDIS init");
	rndis_up(&e);
	EU_CHECK(memcmp(e.rndis.info.mac, mac, 6) == 0, "MAC not %s", argv[3]);
	EU_CHECK(e.rndis.info.link_up, "link down");
	hostile(&e);
	ping(&e);
	revoke_in_batch(&e, true, SEND2_GPADL);
	revoke_in_batch(&e, false, SEND3_GPADL);
	vlan_hop(&e, argv[4]);
	flood(&e);
	link_starved(&e, argv[4]);
	sub_init(&e);
	counters(&e);
	fprintf(stderr, "ok: %u frames from the host\n", e.rx_frames);
	close(e.v.sock);
	close(e.v.efd_tx);
	close(e.v.efd_rx);
	rt_gmem_destroy(&e.gmem);
	return 0;
}
