/* Fuzz the guest's RNDIS engine (core/net/rndis_guest.h) as netvsc
 * drives it: init steps answered by the real host engine, interleaved
 * with hostile host messages (each copied to a heap buffer of exactly
 * its length), later requests and abandoned ones. Checked: every
 * request the engine builds fits, says its own length and carries a
 * non-zero id; the aggregation limits and RSS figures it reports stay in
 * range; the state only moves forward; and an init step answered by the
 * host engine is never refused.
 *
 * Input: byte 0 picks the configuration (bits 0-2 the NVSP version,
 * bits 3-5 the channels wanted, bit 6 RSC); byte 1 the host's queues;
 * then records of [u8 op][u16 length][bytes], little-endian. op mod 6:
 * 0 one init step through the host engine (with bytes, the request only:
 * left unanswered for the records after it), 1 the bytes as a host
 * message (if byte 11 is 0xEE, the id becomes the pending one byte 8
 * picks), 2 SET of the filter, 3 SET of RSS, 4 KEEPALIVE, 5 abandon. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/rndis_guest.h"
#include "net/rndis_host.h"

static const uint32_t nvsp[8] = {
	0x2, 0x30002, NVSP_VERSION_4, NVSP_VERSION_5, 0x60000,
	NVSP_VERSION_61, NVSP_VERSION_61, 0xFFFFFFFF,
};

static void check_req(const uint8_t *out, uint32_t n)
{
	if (!n)
		return;
	if (n > RNDIS_GUEST_MSG_MAX || n < 12 || rndis_rd32(out + 4) != n ||
	    !rndis_rd32(out + 8))
		abort();
}

static void check(const struct rndis_guest *g,
		  enum rndis_guest_state before)
{
	const struct rndis_guest_info *i = &g->info;
	uint32_t ch = g->cfg.channels > 1 ? g->cfg.channels : 1;

	if (g->state < before || i->align < 4 || i->align > 4096 ||
	    (i->align & (i->align - 1)) || !i->max_pkts ||
	    i->rss_queues < 1 || i->rss_queues > ch)
		abort();
	if (i->rss_queues > 1 && (i->rss_entries < NDIS_RSS_TABLE_MIN ||
				  i->rss_entries > NDIS_RSS_TABLE_MAX))
		abort();
}

static uint64_t bad_total(const struct rndis_guest *g)
{
	uint64_t n = 0;

	for (int i = 0; i < RNDIS_GBAD__COUNT; i++)
		n += g->st.bad[i];
	return n;
}

static void step(struct rndis_guest *g, struct rndis_host *h, bool answer)
{
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	struct rndis_host_act a;
	struct rndis_guest_ev ev;
	uint32_t n = rndis_guest_next(g, out);
	uint64_t bad = bad_total(g);

	check_req(out, n);
	if (!n || !answer)
		return;
	rndis_host_rx(h, out, n, &a);
	if (!a.reply_len)
		abort();
	rndis_guest_rx(g, a.reply, a.reply_len, &ev);
	if (bad_total(g) != bad)
		abort();
}

static void hostile(struct rndis_guest *g, const uint8_t *d, uint32_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct rndis_guest_ev ev;

	if (!copy)
		return;
	memcpy(copy, d, len);
	if (len >= 12 && copy[11] == 0xEE) {
		uint32_t id = g->pend[copy[8] % RNDIS_GUEST_PENDING].id;

		memcpy(copy + 8, &id, 4);
	}
	rndis_guest_rx(g, copy, len, &ev);
	free(copy);
}

static void op(struct rndis_guest *g, struct rndis_host *h, uint8_t o,
	       const uint8_t *d, uint32_t len)
{
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	uint32_t f = 0;

	switch (o % 6) {
	case 0:
		step(g, h, len == 0);
		break;
	case 1:
		hostile(g, d, len);
		break;
	case 2:
		memcpy(&f, d, len < 4 ? len : 4);
		check_req(out, rndis_guest_set_filter(g, f, out));
		break;
	case 3:
		check_req(out, rndis_guest_set_rss(g, NULL, out));
		break;
	case 4:
		check_req(out, rndis_guest_keepalive(g, out));
		break;
	default:
		rndis_guest_abandon(g);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rndis_host_cfg hc = { .mtu = 1500, .link_speed = 100000,
				     .link_up = true, .backend = 0xFF,
				     .offer_udp_csum = true, .offer_lso = true,
				     .offer_rsc = true };
	struct rndis_guest_cfg gc = { 0 };
	struct rndis_guest g;
	struct rndis_host h;

	if (size < 2)
		return 0;
	gc.nvsp_version = nvsp[data[0] & 7];
	gc.channels = (data[0] >> 3) & 7;
	gc.want_rsc = data[0] & 0x40;
	hc.max_queues = data[1] % 9;
	rndis_guest_init(&g, &gc);
	rndis_host_init(&h, &hc);
	for (size_t i = 2; i + 3 <= size;) {
		uint8_t o = data[i];
		uint32_t len = data[i + 1] | (uint32_t)data[i + 2] << 8;
		enum rndis_guest_state before = g.state;

		i += 3;
		if (len > size - i)
			break;
		op(&g, &h, o, data + i, len);
		check(&g, before);
		i += len;
	}
	return 0;
}
