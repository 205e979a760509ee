/* Fuzz the host's RNDIS device (core/net/rndis_host.h) as netvsp drives
 * it: one engine per input, a stream of control messages from the guest,
 * each copied to a heap buffer of exactly its length (so that any read
 * past it is caught) and handed in. Whatever the engine answers is
 * checked against what it promises: a completion that fits and says its
 * own length, of the request's kind, an RSS table naming only queues
 * that exist, the current MAC unicast, offloads only among those
 * offered, the filter 0 after HALT.
 *
 * Input: byte 0 picks the configuration (bits 0-2 the queues, bit 3 MAC
 * changes allowed, bits 4-6 what is offered); byte 1 the backend's
 * abilities; then records of [u16 length][message bytes], little-endian. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/rndis_host.h"

static void check_offload(const struct rndis_host *h)
{
	const struct rndis_offload_state *s = &h->offload;
	uint32_t o = h->offered;

	if (((s->tx_tcp4 || s->rx_tcp4) && !(o & RNDIS_HCAP_CSUM_TCP4)) ||
	    ((s->tx_udp6 || s->rx_udp6) && !(o & RNDIS_HCAP_CSUM_UDP6)) ||
	    (s->lso4 && !(o & RNDIS_HCAP_LSO4)) ||
	    (s->lso4 && !(o & RNDIS_HCAP_CSUM_IP4)) ||
	    ((s->rsc4 || s->rsc6) && !(o & RNDIS_HCAP_RSC)))
		abort();
}

static void check(const struct rndis_host *h, const struct rndis_host_act *a,
		  uint32_t type)
{
	if (a->reply_len > RNDIS_HOST_REPLY_MAX)
		abort();
	if (a->reply_len &&
	    (rndis_rd32(a->reply) != (type | RNDIS_MSG_CMPLT) ||
	     rndis_rd32(a->reply + 4) != a->reply_len))
		abort();
	for (unsigned i = 0; h->rss.enabled && i < NDIS_RSS_TABLE_MAX; i++)
		if (h->rss.table[i] >= h->cfg.max_queues)
			abort();
	if ((h->mac[0] & 1) || (a->ev == RNDIS_HE_HALT && h->filter))
		abort();
	check_offload(h);
}

static void one(struct rndis_host *h, const uint8_t *msg, uint32_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct rndis_host_act a;

	if (!copy)
		return;
	memcpy(copy, msg, len);
	rndis_host_rx(h, copy, len, &a);
	check(h, &a, len >= 4 ? rndis_rd32(msg) : 0);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rndis_host_cfg c = { .mtu = 1500, .link_speed = 100000000,
				    .link_up = true,
				    .mac = { 0x00, 0x15, 0x5d, 1, 2, 3 } };
	struct rndis_host h;
	uint8_t out[RNDIS_HOST_REPLY_MAX];

	if (size < 2)
		return 0;
	c.max_queues = (data[0] & 7) + 1;
	c.mac_change = data[0] & 8;
	c.offer_udp_csum = data[0] & 0x10;
	c.offer_lso = data[0] & 0x20;
	c.offer_rsc = data[0] & 0x40;
	c.backend = data[1];
	rndis_host_init(&h, &c);
	for (size_t i = 2; i + 2 <= size;) {
		uint32_t len = data[i] | (uint32_t)data[i + 1] << 8;

		i += 2;
		if (len > size - i)
			break;
		one(&h, data + i, len);
		i += len;
	}
	if (rndis_host_indicate(RNDIS_ST_LINK_SPEED_CHANGE, 1, out) != 24)
		abort();
	return 0;
}
