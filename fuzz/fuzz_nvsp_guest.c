/* Fuzz the NVSP guest engine (core/net/nvsp_guest.h) as netvsc drives
 * it. The harness first runs the init against the real host engine up
 * to a chosen state, so that every state meets the fuzzer's packets:
 * waiting for INIT's answer, for the receive buffer's, for the send
 * buffer's, READY, READY waiting for sub-channels or for a data-path
 * switch. Then a stream of host packets, each copied to an aligned
 * private buffer and parsed, goes to nvsp_guest_rx or nvsp_guest_recv.
 * Whatever the engine accepts is checked against what it promises: a
 * receive layout and send sections inside the buffers, a send table
 * naming open channels, no more sub-channels than asked, ranges inside
 * the receive buffer, the state only moving forward.
 *
 * Input: byte 0 picks the configuration (bits 0-2 the highest version
 * of guest and host, bits 3-5 the state to reach, bit 6 RSC and SR-IOV
 * wishes); then records of [u8 kind][u16 length][packet bytes],
 * little-endian (after each, the guest's next init messages are
 * taken): kind bit 0 sends the packet to nvsp_guest_recv, bits
 * 1-3 are the channels open (+1), bits 4-7 the receive ranges the
 * caller has room for (x 40, 0 meaning 600). A packet whose transaction
 * id has 0xEE as top byte gets one of the engine's own ids instead
 * (picked by its low byte). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nvsp_fuzz.h"

#define RECV_SIZE (256u * 1024)
#define SEND_SIZE (64u * 1024)
#define MAX_RANGES 600u

static const uint32_t versions[8] = {
	NVSP_VERSION_1, NVSP_VERSION_2, NVSP_VERSION_4, NVSP_VERSION_5,
	NVSP_VERSION_6, NVSP_VERSION_61, NVSP_VERSION_61, 0x50005,
};

static const uint32_t req_types[5] = {
	NVSP_TYPE_INIT, NVSP_TYPE_SEND_RECV_BUF, NVSP_TYPE_SEND_SEND_BUF,
	NVSP_TYPE_SUBCHANNEL, NVSP_TYPE_SWITCH_DATA_PATH,
};

static _Alignas(8) uint8_t copy[VMB_PKT_MAX_LEN / 64];
static struct nvsp_range ranges[MAX_RANGES];

/* Runs the init until the guest waits for stop's answer (0: to the
 * end). */
static void reach(struct nvsp_guest *g, uint32_t stop)
{
	struct nvsp_host h;
	struct nvsp_guest_out o;

	nvsp_host_init(&h, &(struct nvsp_host_cfg){
		.max_version = g->cfg.max_version, .max_subchannels = 4,
		.primary = true });
	while (nvsp_guest_next(g, &o) && o.msg.type != stop)
		nvsp_fz_exchange(g, &h, &o, RECV_SIZE, SEND_SIZE, true, copy);
}

static void start(struct nvsp_guest *g, uint8_t b)
{
	struct nvsp_guest_cfg c = {
		.max_version = versions[b & 7], .mtu = 1500, .ncpus = 4,
		.subchannels = NVSP_GUEST_SUBCH_AUTO,
		.recv_gpadl = 1, .recv_size = RECV_SIZE,
		.send_gpadl = 2, .send_size = SEND_SIZE,
		.sriov = b & 0x40, .rsc = b & 0x40,
	};
	static const uint32_t stops[8] = {
		NVSP_TYPE_INIT, NVSP_TYPE_SEND_RECV_BUF, NVSP_TYPE_SEND_SEND_BUF,
	};
	struct nvsp_guest_out o;
	unsigned s = b >> 3 & 7;

	nvsp_guest_init(g, &c);
	reach(g, stops[s]);
	if (s == 4)
		(void)nvsp_guest_subchannels(g, 8, &o);
	if (s == 5)
		(void)nvsp_guest_switch_datapath(g, true, &o);
}

static void check(const struct nvsp_guest *g, enum nvsp_guest_state before)
{
	const struct nvsp_recv_layout *l = &g->recv;

	if (g->state < before || (before == NVSP_GS_FAILED &&
				  g->state != NVSP_GS_FAILED))
		abort();
	if (g->subch_granted > g->subch_asked)
		abort();
	for (unsigned i = 0; i < NVSP_TX_TABLE_LEN; i++)
		if (g->tx_table[i] >= g->channels)
			abort();
	if (g->state != NVSP_GS_READY)
		return;
	if (!nvsp_version_known(g->version) || !l->sub_alloc_size ||
	    (uint64_t)l->sub_alloc_size * l->num_sub_allocs > RECV_SIZE ||
	    l->end_offset > RECV_SIZE)
		abort();
	if (!g->send_section_size || g->send_section_size % 4 ||
	    g->send_section_size > SEND_SIZE ||
	    g->send_sections != SEND_SIZE / g->send_section_size)
		abort();
}

static void check_recv(const struct nvsp_guest *g, int rc, uint32_t n,
		       uint32_t max)
{
	if (rc != VMB_OK) {
		if (n)
			abort();
		return;
	}
	if (!n || n > max || g->state != NVSP_GS_READY)
		abort();
	for (uint32_t i = 0; i < n; i++)
		if (!ranges[i].len || ranges[i].len > g->recv.sub_alloc_size ||
		    (uint64_t)ranges[i].offset + ranges[i].len > RECV_SIZE)
			abort();
}

static void one(void *ctx, uint8_t kind, const uint8_t *pkt, uint32_t len)
{
	struct nvsp_guest *g = ctx;
	enum nvsp_guest_state before = g->state;
	uint32_t max = (kind >> 4) ? (kind >> 4) * 40u : MAX_RANGES;
	struct nvsp_guest_ev ev;
	struct nvsp_guest_out o;
	struct vmb_pkt p;
	uint32_t n, ct;

	memcpy(copy, pkt, len);
	if (len >= 16 && copy[15] == 0xEE) {
		uint64_t xid = NVSP_GUEST_XID_BASE | req_types[copy[8] % 5];

		memcpy(copy + 8, &xid, 8);
	}
	if (vmb_pkt_parse(copy, len, &p))
		return;
	nvsp_guest_set_channels(g, (kind >> 1 & 7) + 1);
	if (kind & 1) {
		int rc = nvsp_guest_recv(g, &p, ranges, max, &n, &ct);

		check_recv(g, rc, n, max);
	} else {
		nvsp_guest_rx(g, &p, &ev);
	}
	check(g, before);
	while (nvsp_guest_next(g, &o))
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nvsp_guest g;

	if (!size)
		return 0;
	start(&g, data[0]);
	nvsp_fz_records(data, size, sizeof(copy), one, &g);
	return 0;
}
