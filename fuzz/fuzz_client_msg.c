/* Fuzzes the guest channel-management state machine (vmb_client).
 *
 * The client is first connected by script (5.3, one offer, all offers
 * delivered, a GPADL being created and a channel being opened), then the
 * input is read as a sequence of chunks:
 *   [op][len][len bytes]
 * op even: deliver the bytes as a host message. op odd: call the API
 * action op >> 1 (mod 8) on relid bytes[0], GPADL/open id bytes[1]. The
 * embedder callbacks act too (a rescind releases when it can), so the
 * fuzzer reaches re-entrant paths. No crash, no leak, no UB.
 *
 * One client serves every input: vmb_client_reinit() at the end of each
 * frees all the input allocated (libFuzzer looks for leaks when an input
 * allocates more than it frees) and leaves the state init left: every input
 * starts alike and a crash reproduces from that input alone. Set-up per
 * input is the script alone, not a new 32 KiB relid table. */
#include <stddef.h>
#include <stdint.h>

#include "vmbus/vmb_client.h"
#include "vmbus/vmb_msg.h"

struct fz {
	struct vmb_client c;
	unsigned posts;
};

/* PFNs for the GPADLs, filled once: a loop per action cost as much as the
 * action. */
static uint64_t pfn[64];

static int f_post(void *ctx, uint32_t conn_id, const void *msg, uint32_t len)
{
	struct fz *f = ctx;

	(void)conn_id;
	(void)msg;
	if (len < 8 || len > VMB_MSG_MAX)
		__builtin_trap();
	/* Now and then the transport is full. */
	return ++f->posts % 61 == 0 ? VMB_EAGAIN : VMB_OK;
}

static void f_rescind(void *ctx, uint32_t relid)
{
	struct fz *f = ctx;

	vmb_client_close(&f->c, relid);
	vmb_client_release(&f->c, relid);
}

static void f_torndown(void *ctx, uint32_t gpadl)
{
	(void)ctx;
	(void)gpadl;
}

static const struct vmb_client_ops ops = {
	.post = f_post,
	.rescind = f_rescind,
	.gpadl_torndown = f_torndown,
};

static void feed(struct fz *f, const union vmb_msg_buf *b, uint32_t len)
{
	vmb_client_input(&f->c, b->raw, len);
}

static void script(struct fz *f)
{
	struct vmb_msg_offer o = {0};
	union vmb_msg_buf b;
	uint32_t g;

	vmb_client_connect(&f->c);
	feed(f, &b, vmb_msg_enc_version_response(&b, true, 0, 0x800074));
	o.child_relid = 1;
	feed(f, &b, vmb_msg_enc_offer(&b, &o));
	feed(f, &b, vmb_msg_enc_empty(&b, VMB_MSG_ALLOFFERS_DELIVERED));
	vmb_client_gpadl_create(&f->c, 1, pfn, 30, &g);   /* id 1 */
	feed(f, &b, vmb_msg_enc_gpadl_created(&b, 1, g, 0));
	vmb_client_gpadl_create(&f->c, 1, pfn, 4, &g);    /* id 2, pending */
	vmb_client_open(&f->c, 1, 1, 2, 0, NULL, 0);      /* open id 1 */
}

static void action(struct fz *f, unsigned op, const uint8_t *p, size_t n)
{
	uint32_t relid = n > 0 ? p[0] : 1;
	uint32_t id = n > 1 ? p[1] : 1;
	uint32_t g;

	switch (op % 8) {
	case 0:
		vmb_client_gpadl_create(&f->c, relid, pfn, 1 + id % 64, &g);
		break;
	case 1:
		vmb_client_gpadl_teardown(&f->c, relid, id);
		break;
	case 2:
		vmb_client_open(&f->c, relid, id, 1 + (n > 2 ? p[2] : 0), 0,
				p, n < VMB_USERDEF_LEN ? (uint32_t)n : 0);
		break;
	case 3:
		vmb_client_close(&f->c, relid);
		break;
	case 4:
		vmb_client_release(&f->c, relid);
		break;
	case 5:
		vmb_client_modify(&f->c, relid, id);
		break;
	case 6:
		vmb_client_unload(&f->c);
		break;
	default:
		vmb_client_connect(&f->c);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct vmb_client_cfg cfg = {0};
	static struct fz f;

	if (!f.c.chans) {
		for (unsigned i = 0; i < 64; i++)
			pfn[i] = 0x1000 + i;
		if (vmb_client_init(&f.c, &ops, &f, &cfg) != VMB_OK)
			return 0;
	}
	f.posts = 0;
	script(&f);
	while (size >= 2) {
		unsigned op = data[0];
		size_t len = data[1];
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (op & 1) {
			action(&f, op >> 1, data, len);
		} else {
			vmb_client_input(&f.c, data, (uint32_t)len);
			vmb_client_offer(&f.c, len ? data[0] : 0);
		}
		data += len;
		size -= len;
	}
	vmb_client_reinit(&f.c);
	return 0;
}
