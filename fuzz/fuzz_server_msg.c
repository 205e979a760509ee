/* Fuzzes the host channel-management state machine (vmb_server).
 *
 * The server starts with three offers (one a sub-channel), a 5.3 guest
 * connected by script that has requested offers and created a 4-page
 * GPADL (id 1) on relid 1; then the input is read as chunks:
 *   [op][len][len bytes]
 * op 0-0xef: deliver the bytes as a guest message on connection id
 * 0x800074 (op < 0xc0), 1, 4 or the op value; op 0xf0-0xff: host action
 * (rescind, offer, reset, release of a held-back GPADL) on relid or GPADL
 * id bytes[0]. Teardowns of even GPADL ids are held back, as a host whose
 * device still uses the buffer does. The GPADL map callback checks
 * what the server hands it; any inconsistency traps.
 *
 * One server serves every input: vmb_server_reinit() at the end of each
 * frees all the input allocated (libFuzzer looks for leaks when an input
 * allocates more than it frees) and leaves the state init left: every input
 * starts alike and a crash reproduces from that input alone. Set-up per
 * input is the script alone, not a new 32 KiB relid table. */
#include <stddef.h>
#include <stdint.h>

#include "vmbus/vmb_msg.h"
#include "vmbus/vmb_server.h"

struct fz {
	struct vmb_server s;
	unsigned maps;
};

static int f_post(void *ctx, const void *msg, uint32_t len)
{
	(void)ctx;
	(void)msg;
	if (len < 8 || len > VMB_MSG_MAX)
		__builtin_trap();
	return VMB_OK;
}

/* The ranges must account for exactly pfn_count pages. */
static uint32_t f_map(void *ctx, struct vmb_server_gpadl *g)
{
	struct fz *f = ctx;
	uint64_t pages = 0;

	for (uint32_t i = 0; i < g->range_count; i++) {
		if (g->range_len[i] == 0 || g->range_off[i] >= VMB_PAGE_SIZE)
			__builtin_trap();
		pages += ((uint64_t)g->range_off[i] + g->range_len[i] +
			  VMB_PAGE_SIZE - 1) / VMB_PAGE_SIZE;
	}
	if (pages != g->pfn_count || g->complete)
		__builtin_trap();
	for (uint32_t i = 0; i < g->pfn_count; i++)
		f->maps += (unsigned)(g->pfns[i] & 1);
	/* Refuse some, as a host short of memory would. */
	return g->pfn_count == 5 ? 0xc000009au : 0;
}

/* A GPADL torn down twice, or unmapped while complete, traps. */
static bool f_teardown(void *ctx, struct vmb_server_gpadl *g)
{
	(void)ctx;
	if (!g->complete || g->tearing || g->users)
		__builtin_trap();
	return g->id & 1;
}

static uint32_t f_open(void *ctx, const struct vmb_server_open *o)
{
	(void)ctx;
	if (!o->ring || o->downstream_pgoff == 0 ||
	    o->downstream_pgoff >= o->ring->pfn_count)
		__builtin_trap();
	return o->target_vp == 7 ? 1 : 0;
}

static uint32_t f_modify(void *ctx, uint32_t relid, uint32_t vp)
{
	(void)ctx;
	(void)relid;
	return vp & 1;
}

static const struct vmb_server_ops ops = {
	.post = f_post,
	.gpadl_map = f_map,
	.gpadl_teardown = f_teardown,
	.open = f_open,
	.modify = f_modify,
};

static void offer(struct fz *f, uint32_t relid, uint16_t sub)
{
	struct vmb_msg_offer o = {0};

	o.offer.sub_channel_index = sub;
	vmb_server_offer(&f->s, &o, &relid);
}

static void script(struct fz *f)
{
	union vmb_msg_buf b;
	uint64_t pfn[4] = {1, 2, 3, 4};
	uint32_t len;

	offer(f, 0, 0);
	offer(f, 0, 0);
	offer(f, 0, 1);
	len = vmb_msg_enc_initiate_contact(&b, VMB_VERSION_WIN10_V5_3, 0, 0, 0,
					   0);
	vmb_server_input(&f->s, VMB_MSG_CONNECTION_ID_4, b.raw, len);
	len = vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS);
	vmb_server_input(&f->s, VMB_MSG_REDIRECT_CONNECTION_ID, b.raw, len);
	len = vmb_msg_enc_gpadl_header(&b, 1, 1, 4, pfn, 4);
	vmb_server_input(&f->s, VMB_MSG_REDIRECT_CONNECTION_ID, b.raw, len);
}

static uint32_t conn_of(unsigned op)
{
	if (op < 0xc0)
		return VMB_MSG_REDIRECT_CONNECTION_ID;
	if (op < 0xd0)
		return VMB_MSG_CONNECTION_ID;
	if (op < 0xe0)
		return VMB_MSG_CONNECTION_ID_4;
	return op;
}

static void action(struct fz *f, unsigned op, const uint8_t *p, size_t n)
{
	uint32_t relid = n ? p[0] : 1;

	switch (op % 5) {
	case 0:
		vmb_server_rescind(&f->s, relid);
		break;
	case 1:
		offer(f, relid, n > 1 ? p[1] : 0);
		break;
	case 2:
		vmb_server_reset(&f->s);
		break;
	case 3:
		vmb_server_chan(&f->s, relid);
		break;
	default:
		vmb_server_gpadl_release(&f->s, relid);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;

	if (!f.s.chans && vmb_server_init(&f.s, &ops, &f, 0) != VMB_OK)
		return 0;
	f.maps = 0;
	script(&f);
	while (size >= 2) {
		unsigned op = data[0];
		size_t len = data[1];
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (op >= 0xf0)
			action(&f, op, data, len);
		else
			vmb_server_input(&f.s, conn_of(op), data, (uint32_t)len);
		data += len;
		size -= len;
	}
	vmb_server_reinit(&f.s);
	return 0;
}
