/* Fuzz the NVSP host engine (core/net/nvsp_host.h) and the receive-buffer
 * tracker (core/net/nvsp_rxbuf.h) as netvsp drives them. The harness
 * first runs a real guest engine's init against the host up to a chosen
 * point, so that every state meets the fuzzer's packets: fresh, the
 * version agreed, the NDIS messages in, the receive buffer being mapped,
 * ready, and a sub-channel engine attached to a ready primary. Then a
 * stream of guest packets, each copied to an aligned private buffer and
 * parsed, goes in; a mapping asked for is done with a size from the
 * record. Whatever the engine accepts is checked against what it
 * promises: RNDIS bytes inside the send buffer or in at most 32 ranges
 * inside the packet, sub-channel counts within the configuration, a
 * layout inside the mapped buffer, replies only where a completion was
 * asked; a receive buffer given back goes to the tracker (chains, runs
 * and singles joined as a multi-range packet's), which must never free
 * more than the guest holds.
 *
 * Input: byte 0 picks the configuration (bits 0-2 the host's highest
 * version, bits 3-5 the point to reach, bits 6-7 the tracker's queues
 * - 1); then records of [u8 map][u16 length][packet bytes],
 * little-endian: map picks the size a mapping gets (0 fails, 1 the
 * smallest that works, 2 one byte short of it, 3 the full buffer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/nvsp_rxbuf.h"
#include "nvsp_fuzz.h"

#define RECV_SIZE (256u * 1024)
#define SEND_SIZE (64u * 1024)
#define SUB 1808u /* the sub-allocation at MTU 1514 */

static const uint32_t versions[8] = {
	NVSP_VERSION_1, NVSP_VERSION_2, NVSP_VERSION_4, NVSP_VERSION_5,
	NVSP_VERSION_6, NVSP_VERSION_61, 0, 0x7FFFFFFF,
};

static _Alignas(8) uint8_t copy[VMB_PKT_MAX_LEN / 64];

struct fz {
	struct nvsp_host h, *eng;  /* eng: the engine fed (h or sub) */
	struct nvsp_host sub;
	struct nvsp_rxbuf rb;
	uint32_t link[RECV_SIZE / SUB];
	bool rb_on;
	unsigned nq;
};

static uint32_t map_size(uint8_t sel, bool recv)
{
	static const uint32_t recv_sizes[4] = {
		0, (NVSP_RXBUF_CONTROL + 1) * SUB,
		(NVSP_RXBUF_CONTROL + 1) * SUB - 1, RECV_SIZE };
	static const uint32_t send_sizes[4] = {
		0, NVSP_HOST_SEND_SECTION, NVSP_HOST_SEND_SECTION - 1, SEND_SIZE };

	return recv ? recv_sizes[sel & 3] : send_sizes[sel & 3];
}

/* Three singles of queue q joined as netvsp sends a burst's frames in
 * one packet: one completion of the first gives back all. */
static void joined(struct fz *f, uint32_t q)
{
	uint32_t ids[3];

	for (unsigned i = 0; i < 3; i++)
		if (nvsp_rxbuf_alloc(&f->rb, q, 1, ids + i))
			return;
	if (nvsp_rxbuf_join(&f->rb, q, ids, 3))
		abort();
}

/* The receive buffer just mapped: a tracker over it, with chains, runs
 * and joined singles the guest holds so that its completions find
 * some. */
static void track(struct fz *f)
{
	uint32_t ids[4], n = f->h.layout.num_sub_allocs;

	f->rb_on = n <= VMB_ARRAY_LEN(f->link) &&
		   !nvsp_rxbuf_init(&f->rb, f->link, n, SUB, f->nq);
	for (uint32_t q = 0; f->rb_on && q < f->nq; q++) {
		(void)nvsp_rxbuf_alloc(&f->rb, q, 1 + q % 3, ids);
		(void)nvsp_rxbuf_alloc_run(&f->rb, q, 2, ids);
		joined(f, q);
	}
}

static void mapped(struct fz *f, struct nvsp_host_act *a, uint8_t sel)
{
	if (a->kind == NVSP_HA_MAP_RECV) {
		nvsp_host_recv_mapped(f->eng, map_size(sel, true), a);
		if (f->eng->recv == NVSP_HB_MAPPED)
			track(f);
	} else if (a->kind == NVSP_HA_MAP_SEND) {
		nvsp_host_send_mapped(f->eng, map_size(sel, false), a);
	}
}

/* Whether the init has come as far as point. */
static bool reached(const struct fz *f, const struct nvsp_guest *g,
		    unsigned point)
{
	switch (point) {
	case 0:
		return true;
	case 1:
		return f->h.version != 0;
	case 2:
	case 3:
		return g->state >= NVSP_GS_RECV_BUF;
	default:
		return g->state >= NVSP_GS_READY;
	}
}

/* A guest's init against the host up to point (3: the receive buffer's
 * mapping left pending; 5: a sub-channel engine attached). */
static void reach(struct fz *f, unsigned point)
{
	struct nvsp_guest g;
	struct nvsp_guest_out o;

	nvsp_guest_init(&g, &(struct nvsp_guest_cfg){
		.max_version = NVSP_VERSION_61, .mtu = 1500,
		.recv_gpadl = 1, .recv_size = RECV_SIZE,
		.send_gpadl = 2, .send_size = SEND_SIZE, .sriov = true });
	while (!reached(f, &g, point) && nvsp_guest_next(&g, &o))
		nvsp_fz_exchange(&g, &f->h, &o, RECV_SIZE, SEND_SIZE, true,
				 copy);
	if (point == 3 && nvsp_guest_next(&g, &o))
		nvsp_fz_exchange(&g, &f->h, &o, 0, 0, false, copy);
	if (f->h.recv == NVSP_HB_MAPPED)
		track(f);
	f->eng = &f->h;
	if (point == 5) {
		nvsp_host_attach(&f->sub, &f->h);
		f->eng = &f->sub;
	}
}

static void check_rndis(const struct nvsp_host *h, const struct vmb_pkt *p,
			const struct nvsp_host_rndis *r)
{
	if (r->channel_type > NVSP_CHANNEL_CONTROL || h->recv != NVSP_HB_MAPPED)
		abort();
	if (r->section != NVSP_SECTION_NONE) {
		if (r->section >= h->send_sections || !r->size ||
		    r->size > NVSP_HOST_SEND_SECTION ||
		    r->offset != r->section * NVSP_HOST_SEND_SECTION)
			abort();
		return;
	}
	if (!r->nranges || r->nranges > VMB_PKT_MAX_GPA_RANGES)
		abort();
	for (uint32_t i = 0; i < r->nranges; i++)
		if ((const uint8_t *)r->ranges[i].pfn < p->raw ||
		    (const uint8_t *)(r->ranges[i].pfn + r->ranges[i].pfn_count) >
			    p->raw + p->len)
			abort();
}

/* The tracker's books balance on every queue. */
static void check_rb(const struct fz *f)
{
	const struct nvsp_rxq *c = &f->rb.ctl;

	if (!f->rb_on)
		return;
	if (c->nfree + c->held != c->end - c->first)
		abort();
	for (unsigned q = 0; q < f->nq; q++)
		if (f->rb.q[q].nfree + f->rb.q[q].held !=
		    f->rb.q[q].end - f->rb.q[q].first)
			abort();
}

static void give_back(struct fz *f, uint64_t xid)
{
	uint32_t n, q = 0;
	int rc;

	if (!f->rb_on)
		return;
	rc = nvsp_rxbuf_free(&f->rb, q, xid, &n);
	if (rc == VMB_EAGAIN) {
		q = nvsp_rxbuf_owner(&f->rb, (uint32_t)xid);
		rc = nvsp_rxbuf_free(&f->rb, q, xid, &n);
	}
	if ((rc == VMB_OK) != (n > 0) || rc == VMB_EAGAIN)
		abort();
	check_rb(f);
}

static void check(struct fz *f, const struct vmb_pkt *p,
		  struct nvsp_host_act *a)
{
	const struct nvsp_host *h = f->eng;

	if (a->reply_due && !(p->flags & VMB_PKT_FLAG_COMPLETION_REQUESTED))
		abort();
	if (a->reply_len > sizeof(a->reply) ||
	    (h->version && (!nvsp_version_known(h->version) ||
			    h->version > h->cfg.max_version)))
		abort();
	if (a->kind == NVSP_HA_RNDIS)
		check_rndis(h, p, &a->rndis);
	if (a->kind == NVSP_HA_SUBCHANNELS &&
	    (!h->cfg.primary || !a->subchannels ||
	     a->subchannels > h->cfg.max_subchannels))
		abort();
	if (h->recv == NVSP_HB_MAPPED &&
	    ((uint64_t)h->layout.num_sub_allocs * h->layout.sub_alloc_size >
		     h->recv_size ||
	     h->layout.num_sub_allocs <= NVSP_RXBUF_CONTROL))
		abort();
	if (a->kind == NVSP_HA_RX_DONE)
		give_back(f, a->xid);
}

static void one(void *ctx, uint8_t sel, const uint8_t *pkt, uint32_t len)
{
	struct fz *f = ctx;
	struct nvsp_host_act a;
	struct vmb_pkt p;

	memcpy(copy, pkt, len);
	if (vmb_pkt_parse(copy, len, &p))
		return;
	nvsp_host_rx(f->eng, &p, &a);
	check(f, &p, &a);
	mapped(f, &a, sel);
}

/* The messages the host starts, at whatever state it is in. */
static void host_messages(const struct nvsp_host *h)
{
	uint8_t table[NVSP_TX_TABLE_MSG_LEN];
	union nvsp_msg m;

	if (nvsp_host_send_table(h, 3, table) > sizeof(table) ||
	    nvsp_host_vf_association(h, true, 1, &m) > sizeof(m) ||
	    nvsp_host_switch_datapath(h, false, &m) > sizeof(m) ||
	    nvsp_host_rndis_pkt(h, NVSP_CHANNEL_DATA, &m) > sizeof(m) ||
	    nvsp_host_rndis_done(h, NVSP_STATUS_SUCCESS, &m) > sizeof(m))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;

	if (!size)
		return 0;
	memset(&f, 0, sizeof(f));
	f.nq = 1 + (data[0] >> 6);
	nvsp_host_init(&f.h, &(struct nvsp_host_cfg){
		.max_version = versions[data[0] & 7], .max_subchannels = 3,
		.primary = true });
	reach(&f, data[0] >> 3 & 7);
	nvsp_fz_records(data, size, sizeof(copy), one, &f);
	host_messages(f.eng);
	return 0;
}
