/* VMBus ring: property tests against a model (random sizes across
 * wraparound, full and empty), exact signal counts, and a corrupt peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmbus/vmb_ring.h"

#define PG VMB_PAGE_SIZE
#define DESC ((uint32_t)sizeof(struct vmb_pktdesc))

/* Writer and reader each attach their own view to one shared mapping. */
struct tring {
	uint8_t *mem;
	uint32_t size;
	struct vmb_ring w;
	struct vmb_ring r;
};

static void tr_open(struct tring *t, unsigned pages, bool pendsz)
{
	t->mem = aligned_alloc(PG, (size_t)pages * PG);
	assert_non_null(t->mem);
	memset(t->mem, 0xA5, (size_t)pages * PG);
	assert_int_equal(vmb_ring_attach(&t->w, t->mem, (uint64_t)pages * PG),
			 VMB_OK);
	assert_int_equal(vmb_ring_attach(&t->r, t->mem, (uint64_t)pages * PG),
			 VMB_OK);
	vmb_ring_init_shared(&t->w, pendsz);
	t->size = t->w.size;
	assert_int_equal(t->size, (pages - 1) * PG);
}

static void tr_close(struct tring *t)
{
	free(t->mem);
}

static struct vmb_ring_hdr *hdr(struct tring *t)
{
	return (struct vmb_ring_hdr *)t->mem;
}

static uint8_t *data(struct tring *t)
{
	return t->mem + PG;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static uint8_t pat(uint64_t seq, uint32_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (i >> 8));
}

/* A packet: a valid inband descriptor (xid = seq) then plen bytes. */
static int put_pkt(struct tring *t, uint64_t seq, uint32_t plen, bool *sig)
{
	static uint8_t body[64 * 1024];
	uint32_t len = DESC + plen;
	struct vmb_pktdesc d = {
		.type = VMB_PKT_INBAND,
		.offset8 = 2,
		.len8 = (uint16_t)(VMB_ALIGN8(len) / 8),
		.xid = seq,
	};
	struct vmb_iov iov[2] = { { &d, DESC }, { body, plen } };

	assert_true(plen <= sizeof(body));
	for (uint32_t i = 0; i < plen; i++)
		body[i] = pat(seq, i);
	return vmb_ring_write(&t->w, iov, 2, sig);
}

static void put_ok(struct tring *t, uint64_t seq, uint32_t plen)
{
	bool sig;

	assert_int_equal(put_pkt(t, seq, plen, &sig), VMB_OK);
}

static void check_pkt(const uint8_t *buf, uint32_t len, uint64_t seq,
		      uint32_t plen)
{
	struct vmb_pktdesc d;

	assert_int_equal(len, VMB_ALIGN8(DESC + plen));
	memcpy(&d, buf, sizeof(d));
	assert_int_equal(d.xid, seq);
	assert_int_equal(d.len8 * 8u, len);
	for (uint32_t i = 0; i < plen; i++)
		if (buf[DESC + i] != pat(seq, i))
			fail_msg("seq %llu byte %u corrupt",
				 (unsigned long long)seq, i);
	for (uint32_t i = DESC + plen; i < len; i++)
		assert_int_equal(buf[i], 0); /* padding */
}

static void get_ok(struct tring *t, uint64_t seq, uint32_t plen)
{
	static uint64_t buf[64 * 1024 / 8];
	uint32_t len;
	bool sig;

	assert_int_equal(vmb_ring_read(&t->r, buf, sizeof(buf), &len, &sig),
			 VMB_OK);
	check_pkt((uint8_t *)buf, len, seq, plen);
}

/* The trailer after the packet starting at pos holds pos in its upper
 * half; the padding before it is zero. */
static void check_trailer(struct tring *t, uint32_t pos, uint32_t plen)
{
	uint32_t len = VMB_ALIGN8(DESC + plen);
	uint32_t at = (pos + len) % t->size;
	uint64_t tr;

	memcpy(&tr, data(t) + at, 8);
	assert_int_equal(tr, (uint64_t)pos << 32);
	for (uint32_t i = DESC + plen; i < len; i++)
		assert_int_equal(data(t)[(pos + i) % t->size], 0);
}

/* ---- property test against a model ---- */

struct model {
	uint64_t seq[4096];
	uint32_t plen[4096];
	uint32_t head, tail; /* queue of written, unread packets */
	uint32_t used;
	uint64_t next_seq;
	uint64_t signals;
};

static uint32_t rnd_plen(uint32_t size)
{
	uint32_t k = rnd_below(100);

	if (k < 70)
		return rnd_below(200);
	if (k < 95)
		return rnd_below(1500);
	return rnd_below(size); /* sometimes too large to ever fit */
}

static void model_write(struct tring *t, struct model *m)
{
	uint32_t plen = rnd_plen(t->size);
	uint32_t need = vmb_ring_pkt_space(DESC + plen);
	uint32_t wpos = hdr(t)->write_index;
	bool empty = m->head == m->tail;
	bool sig;
	int rc = put_pkt(t, m->next_seq, plen, &sig);

	if (need >= t->size) {
		assert_int_equal(rc, VMB_EMSGSIZE);
	} else if (t->size - m->used <= need) {
		assert_int_equal(rc, VMB_EAGAIN);
		assert_int_equal(hdr(t)->write_index, wpos);
	} else {
		assert_int_equal(rc, VMB_OK);
		assert_int_equal(sig, empty);
		m->signals += sig;
		check_trailer(t, wpos, plen);
		m->seq[m->tail % 4096] = m->next_seq++;
		m->plen[m->tail % 4096] = plen;
		m->tail++;
		m->used += need;
		assert_int_equal(hdr(t)->write_index,
				 (wpos + need) % t->size);
	}
}

static void model_read(struct tring *t, struct model *m)
{
	static uint64_t buf[64 * 1024 / 8];
	uint32_t want = 1 + rnd_below(6), got = 0, len;
	uint32_t rpos = hdr(t)->read_index;
	struct vmb_ring_rd b;
	struct vmb_pktdesc d;

	vmb_ring_rd_begin(&t->r, &b);
	while (got < want) {
		int rc = vmb_ring_rd_peek(&t->r, &b, &d);

		if (m->head + got == m->tail) {
			assert_int_equal(rc, VMB_EAGAIN);
			break;
		}
		assert_int_equal(rc, VMB_OK);
		assert_int_equal(d.xid, m->seq[(m->head + got) % 4096]);
		assert_int_equal(vmb_ring_rd_next(&t->r, &b, buf, sizeof(buf),
						  &len), VMB_OK);
		check_pkt((uint8_t *)buf, len, m->seq[(m->head + got) % 4096],
			  m->plen[(m->head + got) % 4096]);
		m->used -= len + 8;
		got++;
		/* Nothing is published before the batch ends. */
		assert_int_equal(hdr(t)->read_index, rpos);
	}
	assert_false(vmb_ring_rd_end(&t->r, &b));
	m->head += got;
	if (got)
		assert_int_not_equal(hdr(t)->read_index, rpos);
}

static void run_model(unsigned pages, uint64_t seed, unsigned ops)
{
	struct model *m = calloc(1, sizeof(*m));
	struct tring t;

	assert_non_null(m);
	rng_state = seed;
	tr_open(&t, pages, true);
	for (unsigned i = 0; i < ops; i++) {
		if (rnd_below(100) < 55)
			model_write(&t, m);
		else
			model_read(&t, m);
		assert_int_equal(vmb_ring_free(&t.w), t.size - m->used);
		assert_int_equal(vmb_ring_has_data(&t.r), m->head != m->tail);
	}
	while (m->head != m->tail)
		model_read(&t, m);
	assert_int_equal(t.w.st.packets, m->next_seq);
	assert_int_equal(t.r.st.packets, m->next_seq);
	assert_int_equal(t.w.st.bytes, t.r.st.bytes);
	assert_int_equal(t.w.st.signals, m->signals);
	assert_int_equal(t.r.st.signals, 0);
	assert_int_equal(t.w.st.bad + t.r.st.bad, 0);
	assert_true(t.w.st.full > 0);
	assert_true(m->next_seq > 1000);
	tr_close(&t);
	free(m);
}

static void test_model_small(void **state)
{
	(void)state;
	run_model(2, 0x1234567887654321ull, 40000);
}

static void test_model_large(void **state)
{
	(void)state;
	run_model(5, 0x0badc0ffee15600dull, 40000);
}

/* ---- full and empty edges ---- */

static void test_fill_exact(void **state)
{
	struct tring t;
	uint32_t big;
	bool sig;

	(void)state;
	tr_open(&t, 2, false);
	/* Largest packet: occupies size - 8, leaving exactly 8 free. */
	big = t.size - 8 - 8 - DESC;
	assert_int_equal(put_pkt(&t, 1, big + 8, &sig), VMB_EMSGSIZE);
	assert_int_equal(put_pkt(&t, 1, big, &sig), VMB_OK);
	assert_true(sig);
	assert_int_equal(vmb_ring_free(&t.w), 8);
	assert_int_equal(put_pkt(&t, 2, 0, &sig), VMB_EAGAIN);
	assert_int_equal(t.w.st.full, 1);
	check_trailer(&t, 0, big);
	get_ok(&t, 1, big);
	assert_false(vmb_ring_has_data(&t.r));
	assert_int_equal(vmb_ring_free(&t.w), t.size);

	/* The same from a position that makes the packet wrap. */
	put_ok(&t, 3, 1000);
	get_ok(&t, 3, 1000);
	assert_int_equal(hdr(&t)->read_index, 1016);
	assert_int_equal(put_pkt(&t, 4, big, &sig), VMB_OK);
	assert_int_equal(hdr(&t)->write_index, 1008);
	check_trailer(&t, 1016, big);
	assert_int_equal(put_pkt(&t, 5, 0, &sig), VMB_EAGAIN);
	get_ok(&t, 4, big);

	/* Several packets, the last ending on the last writable byte; a
	 * packet needing exactly the free space is refused. */
	put_ok(&t, 6, 500);
	put_ok(&t, 7, 1200);
	{
		uint32_t fr = vmb_ring_free(&t.w);
		uint32_t fit = fr - 8 - 8 - DESC;

		assert_int_equal(put_pkt(&t, 8, fit + 8, &sig), VMB_EAGAIN);
		assert_int_equal(vmb_ring_free(&t.w), fr);
		assert_int_equal(put_pkt(&t, 8, fit, &sig), VMB_OK);
		assert_false(sig);
		assert_int_equal(vmb_ring_free(&t.w), 8);
		get_ok(&t, 6, 500);
		get_ok(&t, 7, 1200);
		get_ok(&t, 8, fit);
	}
	assert_int_equal(vmb_ring_free(&t.w), t.size);
	assert_int_equal(t.w.st.bad + t.r.st.bad, 0);
	tr_close(&t);
}

static void test_empty_and_api(void **state)
{
	uint64_t buf[16];
	struct vmb_iov iov = { buf, 0 };
	struct vmb_ring_rd b;
	struct vmb_pktdesc d;
	struct tring t;
	struct vmb_ring x;
	uint32_t len = 77;
	bool sig = true;

	(void)state;
	tr_open(&t, 2, false);
	assert_int_equal(vmb_ring_read(&t.r, buf, sizeof(buf), &len, &sig),
			 VMB_EAGAIN);
	assert_false(sig);
	vmb_ring_rd_begin(&t.r, &b);
	assert_int_equal(vmb_ring_rd_peek(&t.r, &b, &d), VMB_EAGAIN);
	assert_false(vmb_ring_rd_end(&t.r, &b));
	assert_int_equal(vmb_ring_write(&t.w, &iov, 0, &sig), VMB_EINVAL);
	assert_int_equal(vmb_ring_write(&t.w, &iov, 1, &sig), VMB_EINVAL);
	assert_int_equal(t.w.st.batches + t.r.st.batches, 0);

	assert_int_equal(vmb_ring_attach(&x, t.mem, PG), VMB_EINVAL);
	assert_int_equal(vmb_ring_attach(&x, t.mem, PG + 100), VMB_EINVAL);
	assert_int_equal(vmb_ring_attach(&x, t.mem + 4, 2 * PG), VMB_EINVAL);
	assert_int_equal(vmb_ring_attach(&x, NULL, 2 * PG), VMB_EINVAL);
	tr_close(&t);
}

static void test_msgsize_peek(void **state)
{
	uint64_t buf[512];
	struct vmb_ring_rd b;
	struct vmb_pktdesc d;
	struct tring t;
	uint32_t len = 0;
	bool sig;

	(void)state;
	tr_open(&t, 2, false);
	put_ok(&t, 9, 100);
	vmb_ring_rd_begin(&t.r, &b);
	assert_int_equal(vmb_ring_rd_peek(&t.r, &b, &d), VMB_OK);
	assert_int_equal(d.type, VMB_PKT_INBAND);
	assert_int_equal(d.offset8, 2);
	assert_int_equal(d.len8, VMB_ALIGN8(DESC + 100) / 8);
	assert_int_equal(d.xid, 9);
	assert_int_equal(vmb_ring_rd_next(&t.r, &b, buf, 64, &len),
			 VMB_EMSGSIZE);
	assert_int_equal(len, VMB_ALIGN8(DESC + 100));
	assert_false(vmb_ring_rd_end(&t.r, &b));
	assert_int_equal(hdr(&t)->read_index, 0);
	assert_int_equal(vmb_ring_read(&t.r, buf, 64, &len, &sig),
			 VMB_EMSGSIZE);
	assert_true(vmb_ring_has_data(&t.r));
	get_ok(&t, 9, 100);
	assert_int_equal(t.r.st.packets, 1);
	assert_int_equal(t.r.st.batches, 1);
	tr_close(&t);
}

/* ---- signalling ---- */

static void drain(struct tring *t)
{
	uint64_t buf[8192];
	struct vmb_ring_rd b;
	uint32_t len;

	vmb_ring_rd_begin(&t->r, &b);
	while (vmb_ring_rd_next(&t->r, &b, buf, sizeof(buf), &len) == VMB_OK)
		;
	vmb_ring_rd_end(&t->r, &b);
}

/* put_pkt without the commit: the packet joins the writer's burst. */
static int burst_pkt(struct tring *t, uint64_t seq, uint32_t plen)
{
	static uint8_t body[4096];
	struct vmb_pktdesc d = {
		.type = VMB_PKT_INBAND,
		.offset8 = 2,
		.len8 = (uint16_t)(VMB_ALIGN8(DESC + plen) / 8),
		.xid = seq,
	};
	struct vmb_iov iov[2] = { { &d, DESC }, { body, plen } };

	assert_true(plen <= sizeof(body));
	for (uint32_t i = 0; i < plen; i++)
		body[i] = pat(seq, i);
	return vmb_ring_put(&t->w, iov, 2);
}

/* A burst is invisible until its commit, which signals at most once and
 * only if the ring was empty with the mask clear. */
static void test_burst(void **state)
{
	struct tring t;
	uint64_t n = 0;
	bool sig;

	(void)state;
	tr_open(&t, 3, true);
	for (int i = 0; i < 5; i++)
		assert_int_equal(burst_pkt(&t, n++, 40), VMB_OK);
	assert_int_equal(hdr(&t)->write_index, 0);
	assert_false(vmb_ring_has_data(&t.r));
	assert_int_equal(vmb_ring_commit(&t.w, &sig), VMB_OK);
	assert_true(sig);
	assert_int_equal(hdr(&t)->write_index, 5 * 64);
	assert_int_equal(vmb_ring_commit(&t.w, &sig), VMB_OK);
	assert_false(sig); /* nothing new */
	for (int i = 0; i < 3; i++)
		assert_int_equal(burst_pkt(&t, n++, 40), VMB_OK);
	assert_int_equal(vmb_ring_commit(&t.w, &sig), VMB_OK);
	assert_false(sig); /* not empty */
	assert_int_equal(t.w.st.signals, 1);
	for (uint64_t i = 0; i < n; i++)
		get_ok(&t, i, 40);

	/* Until the ring is full: still nothing visible, then all of it. */
	while (burst_pkt(&t, n, 1000) == VMB_OK)
		n++;
	assert_int_equal(t.w.st.full, 1);
	assert_false(vmb_ring_has_data(&t.r));
	vmb_ring_mask(&t.r);
	assert_int_equal(vmb_ring_commit(&t.w, &sig), VMB_OK);
	assert_false(sig); /* masked */
	for (uint64_t i = 8; i < n; i++)
		get_ok(&t, i, 1000);
	assert_false(vmb_ring_has_data(&t.r));
	tr_close(&t);
}

static void test_signal_writer(void **state)
{
	struct vmb_ring_rd b;
	uint64_t buf[64];
	struct tring t;
	uint32_t len;
	bool sig;

	(void)state;
	tr_open(&t, 2, false);
	assert_int_equal(put_pkt(&t, 1, 10, &sig), VMB_OK);
	assert_true(sig);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(put_pkt(&t, 2, 10, &sig), VMB_OK);
		assert_false(sig);
	}
	assert_int_equal(t.w.st.signals, 1);

	/* Until the reader publishes, the ring is not empty to the writer. */
	vmb_ring_rd_begin(&t.r, &b);
	while (vmb_ring_rd_next(&t.r, &b, buf, sizeof(buf), &len) == VMB_OK)
		;
	assert_int_equal(put_pkt(&t, 3, 10, &sig), VMB_OK);
	assert_false(sig);
	vmb_ring_rd_end(&t.r, &b);
	drain(&t);
	assert_int_equal(put_pkt(&t, 4, 10, &sig), VMB_OK);
	assert_true(sig);
	assert_int_equal(t.w.st.signals, 2);
	assert_int_equal(t.r.st.signals, 0);
	tr_close(&t);
}

static void test_signal_masked(void **state)
{
	struct tring t;
	bool sig;

	(void)state;
	tr_open(&t, 2, false);
	assert_false(vmb_ring_unmask(&t.r));
	vmb_ring_mask(&t.r);
	assert_int_equal(hdr(&t)->interrupt_mask, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(put_pkt(&t, i, 40, &sig), VMB_OK);
		assert_false(sig);
	}
	drain(&t);
	assert_false(vmb_ring_has_data(&t.r));
	/* Data races in while the reader is still masked. */
	assert_int_equal(put_pkt(&t, 9, 40, &sig), VMB_OK);
	assert_false(sig);
	assert_true(vmb_ring_unmask(&t.r));
	assert_int_equal(hdr(&t)->interrupt_mask, 0);
	drain(&t);
	assert_false(vmb_ring_unmask(&t.r));
	assert_int_equal(put_pkt(&t, 10, 40, &sig), VMB_OK);
	assert_true(sig);
	assert_int_equal(t.w.st.signals, 1);
	tr_close(&t);
}

/* Fill with 256-byte-payload packets (280 ring bytes each). */
static unsigned fill(struct tring *t)
{
	unsigned n = 0;
	bool sig;

	while (put_pkt(t, n, 256, &sig) == VMB_OK)
		n++;
	return n;
}

static bool read_one(struct tring *t)
{
	uint64_t buf[64];
	uint32_t len;
	bool sig;

	assert_int_equal(vmb_ring_read(&t->r, buf, sizeof(buf), &len, &sig),
			 VMB_OK);
	return sig;
}

static void test_pending_send_sz(void **state)
{
	struct tring t;
	unsigned n, sigs = 0, first = 0;
	uint32_t need = 1000;

	(void)state;
	tr_open(&t, 2, true);
	n = fill(&t);
	assert_true(n > 10);
	assert_true(vmb_ring_free(&t.w) <= 280);
	assert_false(vmb_ring_want_space(&t.w, need));
	assert_int_equal(hdr(&t)->pending_send_sz, need);
	for (unsigned i = 0; i < n; i++) {
		uint32_t before = vmb_ring_free(&t.w);

		if (read_one(&t)) {
			sigs++;
			first = i;
			assert_true(before <= need);
			assert_true(vmb_ring_free(&t.w) > need);
		}
	}
	assert_int_equal(sigs, 1);
	assert_true(first >= 2);
	assert_int_equal(t.r.st.signals, 1);
	vmb_ring_clear_want(&t.w);

	/* Already above the request: want_space says retry, no signal. */
	put_ok(&t, 1, 256);
	put_ok(&t, 2, 256);
	assert_true(vmb_ring_want_space(&t.w, 280));
	assert_false(read_one(&t));
	assert_false(read_one(&t));
	vmb_ring_clear_want(&t.w);
	assert_int_equal(hdr(&t)->pending_send_sz, 0);

	/* Free space exactly equal to the request still counts as short. */
	n = fill(&t);
	{
		uint32_t fr = vmb_ring_free(&t.w);

		assert_false(vmb_ring_want_space(&t.w, fr));
		assert_true(read_one(&t));
		assert_false(read_one(&t));
	}
	vmb_ring_clear_want(&t.w);
	/* A batch crossing the threshold signals once, at rd_end. */
	drain(&t);
	n = fill(&t);
	assert_false(vmb_ring_want_space(&t.w, 2000));
	{
		uint64_t buf[64];
		struct vmb_ring_rd b;
		uint32_t len;
		unsigned k = 0;

		vmb_ring_rd_begin(&t.r, &b);
		while (vmb_ring_rd_next(&t.r, &b, buf, sizeof(buf), &len) ==
		       VMB_OK)
			k++;
		assert_int_equal(k, n);
		assert_true(vmb_ring_rd_end(&t.r, &b));
	}
	assert_int_equal(t.r.st.signals, 3);
	tr_close(&t);
}

static void test_pending_feature_off(void **state)
{
	struct tring t;
	unsigned n;

	(void)state;
	tr_open(&t, 2, false);
	n = fill(&t);
	assert_false(vmb_ring_want_space(&t.w, 1000));
	assert_int_equal(hdr(&t)->pending_send_sz, 0);
	/* Even a pending size the peer wrote is ignored without the bit. */
	hdr(&t)->pending_send_sz = 1000;
	for (unsigned i = 0; i < n; i++)
		assert_false(read_one(&t));
	assert_int_equal(t.r.st.signals, 0);
	tr_close(&t);
}

/* ---- a corrupt peer ---- */

static void expect_bad_read(struct tring *t, uint64_t bad_before)
{
	uint64_t buf[1024];
	struct vmb_ring_rd b;
	struct vmb_pktdesc d;
	uint32_t rpos = hdr(t)->read_index, len;
	bool sig;

	vmb_ring_rd_begin(&t->r, &b);
	assert_int_equal(vmb_ring_rd_peek(&t->r, &b, &d), VMB_EPROTO);
	assert_int_equal(vmb_ring_rd_next(&t->r, &b, buf, sizeof(buf), &len),
			 VMB_EPROTO);
	assert_false(vmb_ring_rd_end(&t->r, &b));
	assert_int_equal(vmb_ring_read(&t->r, buf, sizeof(buf), &len, &sig),
			 VMB_EPROTO);
	assert_false(sig);
	assert_int_equal(t->r.st.bad, bad_before + 3);
	assert_int_equal(hdr(t)->read_index, rpos);
	(void)vmb_ring_has_data(&t->r);
	(void)vmb_ring_unmask(&t->r);
}

/* A corrupt write_index misleads only the reader: the writer never reads
 * its index back and publishes its own again at the next commit. */
static void test_bad_write_index(void **state)
{
	uint32_t bad_w[] = { 0, 12, 4, 1, 0xFFFFFFF8u };
	struct tring t;

	(void)state;
	tr_open(&t, 2, true);
	bad_w[0] = t.size;
	put_ok(&t, 1, 24);
	for (unsigned i = 0; i < VMB_ARRAY_LEN(bad_w); i++) {
		hdr(&t)->write_index = bad_w[i];
		expect_bad_read(&t, t.r.st.bad);
	}
	assert_int_equal(vmb_ring_free(&t.w), t.size - 48);
	put_ok(&t, 2, 8);
	assert_int_equal(hdr(&t)->write_index, 48 + 32);
	get_ok(&t, 1, 24);
	get_ok(&t, 2, 8);
	assert_int_equal(t.w.st.bad, 0);

	/* A writer's first write takes the index from the header, so a
	 * corrupt one there is refused. */
	{
		struct vmb_ring w2;
		bool sig;

		assert_int_equal(vmb_ring_attach(&w2, t.mem, 2 * PG), VMB_OK);
		hdr(&t)->write_index = 12;
		t.w = w2;
		assert_int_equal(put_pkt(&t, 9, 8, &sig), VMB_EPROTO);
		assert_int_equal(t.w.st.bad, 1);
	}
	tr_close(&t);
}

/* A corrupt read_index: the writer finds it when it next takes the
 * reader's progress (here, deciding on a signal after publishing). */
static void test_bad_read_index(void **state)
{
	uint32_t bad_r[] = { 0, 8, 7, 0x80000000u };
	struct tring t;
	bool sig;

	(void)state;
	tr_open(&t, 2, true);
	bad_r[0] = t.size;
	bad_r[1] = t.size + 8;
	put_ok(&t, 1, 24);
	for (unsigned i = 0; i < VMB_ARRAY_LEN(bad_r); i++) {
		uint64_t wb = t.w.st.bad;

		hdr(&t)->read_index = bad_r[i];
		expect_bad_read(&t, t.r.st.bad);
		assert_int_equal(put_pkt(&t, 2 + i, 8, &sig), VMB_EPROTO);
		assert_false(sig);
		assert_int_equal(t.w.st.bad, wb + 1);
		assert_int_equal(vmb_ring_free(&t.w), 0);
		(void)vmb_ring_want_space(&t.w, 100);
		hdr(&t)->read_index = 0;
	}
	/* Restored: every packet is there, intact, in order. */
	get_ok(&t, 1, 24);
	for (unsigned i = 0; i < VMB_ARRAY_LEN(bad_r); i++)
		get_ok(&t, 2 + i, 8);
	put_ok(&t, 9, 24);
	get_ok(&t, 9, 24);
	tr_close(&t);
}

struct desc_case {
	uint16_t offset8;
	uint16_t len8;
};

static void test_bad_descriptors(void **state)
{
	struct desc_case cases[] = {
		{ 2, 100 },    /* past the bytes available */
		{ 2, 7 },      /* no room left for the trailer */
		{ 2, 0xFFFF }, /* past the ring */
		{ 7, 6 },      /* payload starts past the packet */
		{ 1, 6 },      /* header shorter than a descriptor */
		{ 0, 6 },
		{ 0, 0 },      /* zero length */
		{ 2, 0 },      /* len8 < offset8 */
		{ 2, 1 },
	};
	struct tring t;
	struct vmb_pktdesc good;

	(void)state;
	tr_open(&t, 2, false);
	put_ok(&t, 1, 32);
	assert_int_equal(hdr(&t)->write_index, 56);
	memcpy(&good, data(&t), sizeof(good));
	assert_int_equal(good.len8, 6);
	for (unsigned i = 0; i < VMB_ARRAY_LEN(cases); i++) {
		struct vmb_pktdesc d = good;

		d.offset8 = cases[i].offset8;
		d.len8 = cases[i].len8;
		memcpy(data(&t), &d, sizeof(d));
		expect_bad_read(&t, t.r.st.bad);
	}
	/* Fewer bytes available than a descriptor and trailer. */
	memcpy(data(&t), &good, sizeof(good));
	hdr(&t)->write_index = 16;
	expect_bad_read(&t, t.r.st.bad);
	hdr(&t)->write_index = 56;
	assert_int_equal(t.r.st.bad, 3 * (VMB_ARRAY_LEN(cases) + 1));
	get_ok(&t, 1, 32);

	/* A descriptor split by the wraparound is checked the same way. */
	put_ok(&t, 2, t.size - 88);
	get_ok(&t, 2, t.size - 88);
	assert_int_equal(hdr(&t)->read_index, t.size - 8);
	put_ok(&t, 3, 32);
	{
		struct vmb_pktdesc d;

		memcpy(&d, data(&t) + t.size - 8, 8);
		memcpy((uint8_t *)&d + 8, data(&t), 8);
		assert_int_equal(d.xid, 3);
		d.len8 = 300;
		memcpy(data(&t) + t.size - 8, &d, 8);
		expect_bad_read(&t, t.r.st.bad);
		d.len8 = 6;
		memcpy(data(&t) + t.size - 8, &d, 8);
	}
	get_ok(&t, 3, 32);
	tr_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_small),
		cmocka_unit_test(test_model_large),
		cmocka_unit_test(test_fill_exact),
		cmocka_unit_test(test_empty_and_api),
		cmocka_unit_test(test_msgsize_peek),
		cmocka_unit_test(test_signal_writer),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_signal_masked),
		cmocka_unit_test(test_pending_send_sz),
		cmocka_unit_test(test_pending_feature_off),
		cmocka_unit_test(test_bad_write_index),
		cmocka_unit_test(test_bad_read_index),
		cmocka_unit_test(test_bad_descriptors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
