/* Buffers shared by GPADL beyond the ring, and transfer-page packets, end
 * to end in one process: the real emulated host (hvm) and the real guest
 * VMBus (gvb) on one event loop, over a real socket, eventfds and guest
 * memory, with a test device class on the host and a test driver in the
 * guest. The test thread plays the host device's own thread (its holds
 * and transfer-page sends) and has the loop thread run everything that
 * must run there (on_loop). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "gvb.h"
#include "hvm.h"
#include "rt_log.h"
#include "vmbus/vmb_msg.h"

#define CLASS_GUID "6e1f4b1a-3c2d-4e5f-9a8b-7c6d5e4f3a2b"
#define SET_ID 0xcafe
#define BIG (16u << 20)
#define SMALL (1u << 20)
#define MAXRELID 16

/* ---- the host's test device: counts the guest's completions ---- */

struct hd_chan {
	_Atomic uint32_t comps, bad;
	_Atomic uint32_t xfers_in; /* transfer-page packets from the guest */
};

static int hd_create(struct hdev *d)
{
	(void)d;
	return 0;
}

static void hd_destroy(struct hdev *d)
{
	(void)d;
}

static uint32_t hd_open(struct hvm_chan *c)
{
	c->priv = calloc(1, sizeof(struct hd_chan));
	return c->priv ? 0 : 1;
}

static void hd_close(struct hvm_chan *c)
{
	free(c->priv);
	c->priv = NULL;
}

/* The device's choice: a transfer-page packet from the guest is taken
 * if its header parses and names the test's page set. */
static void hd_xfer_in(struct hd_chan *s, const struct vmb_pkt *pkt)
{
	const struct vmb_xfer_range *rg;
	uint16_t set;
	uint32_t n;

	if (vmb_pkt_xfer_ranges(pkt, &set, &rg, &n) == VMB_OK &&
	    set == SET_ID && n == 2)
		atomic_fetch_add(&s->xfers_in, 1);
	else
		atomic_fetch_add(&s->bad, 1);
}

/* Completions arrive in the order the transfers were sent: xid = n. */
static void hd_rx(struct rt_chan *ch, const struct vmb_pkt *pkt, void *arg)
{
	struct hd_chan *s = ((struct hvm_chan *)arg)->priv;
	uint32_t st;

	(void)ch;
	if (pkt->type == VMB_PKT_XFER_PAGES) {
		hd_xfer_in(s, pkt);
		return;
	}
	if (pkt->type != VMB_PKT_COMP || pkt->payload_len < 4 ||
	    pkt->xid != atomic_load(&s->comps))
		atomic_fetch_add(&s->bad, 1);
	else if (memcpy(&st, pkt->payload, 4), st != 1)
		atomic_fetch_add(&s->bad, 1);
	atomic_fetch_add(&s->comps, 1);
}

static const struct hdev_class hd_class = {
	.name = "gpadl-test", .class_guid = CLASS_GUID,
	.create = hd_create, .destroy = hd_destroy,
	.open = hd_open, .close = hd_close, .rx = hd_rx,
};

/* ---- the guest's test driver: checks transfers against its buffer ---- */

struct gd_chan {
	_Atomic bool opened, stopped;
	_Atomic(uint8_t *) buf;  /* receive buffer, set by the test */
	_Atomic uint32_t xfers, bad;
};

static struct gd_chan gds[MAXRELID];

static uint8_t host_byte(uint32_t i)
{
	return (uint8_t)(i * 13u + 5u + (i >> 12));
}

static uint8_t guest_byte(uint32_t i)
{
	return (uint8_t)(i * 7u + (i >> 12));
}

static int gd_prepare(struct gvb_chan *c)
{
	if (c->relid >= MAXRELID)
		return -1;
	memset(&gds[c->relid], 0, sizeof(gds[0]));
	c->priv = &gds[c->relid];
	return 0;
}

static void gd_opened(struct gvb_chan *c)
{
	atomic_store(&((struct gd_chan *)c->priv)->opened, true);
}

static bool range_ok(const uint8_t *buf, const struct vmb_xfer_range *r)
{
	uint32_t off, cnt;

	memcpy(&off, &r->byte_offset, 4);
	memcpy(&cnt, &r->byte_count, 4);
	off = vmb_le32(off);
	cnt = vmb_le32(cnt);
	if (!buf || (uint64_t)off + cnt > BIG)
		return false;
	for (uint32_t i = 0; i < cnt; i++)
		if (buf[off + i] != host_byte(off + i))
			return false;
	return true;
}

static bool xfer_ok(struct gd_chan *s, const struct vmb_pkt *pkt)
{
	const struct vmb_xfer_range *rg;
	uint16_t set;
	uint32_t n;

	if (vmb_pkt_xfer_ranges(pkt, &set, &rg, &n) || set != SET_ID || !n)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!range_ok(atomic_load(&s->buf), &rg[i]))
			return false;
	return true;
}

static void gd_rx(struct gvb_chan *c, const struct vmb_pkt *pkt)
{
	struct gd_chan *s = c->priv;
	uint32_t st = 1;

	if (pkt->type != VMB_PKT_XFER_PAGES || !xfer_ok(s, pkt) ||
	    gvb_send_comp(c, pkt->xid, &st, sizeof(st), false))
		atomic_fetch_add(&s->bad, 1);
	atomic_fetch_add(&s->xfers, 1);
}

static void gd_stopped(struct gvb_chan *c, const char *why)
{
	(void)why;
	atomic_store(&((struct gd_chan *)c->priv)->stopped, true);
}

static const struct gvb_driver gd_driver = {
	.name = "gpadl-test", .class_guid = CLASS_GUID,
	.prepare = gd_prepare, .opened = gd_opened, .rx = gd_rx,
	.stopped = gd_stopped,
};

/* ---- the world: host and guest on one loop thread ---- */

struct world;
typedef int loop_fn(struct world *w, void *arg);

struct world {
	struct rt_loop *loop;
	pthread_t thread;
	struct hvm vm;
	struct gvb vb;
	bool vb_live;
	int call_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	loop_fn *call;
	void *call_arg;
	int call_rc;
	bool call_done;
	char dir[64], vmbus[96], ctl[96];
	uint32_t relid[2];
};

static void call_event(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	struct world *w = arg;
	uint64_t v;

	(void)l;
	(void)events;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	pthread_mutex_lock(&w->lock);
	w->call_rc = w->call(w, w->call_arg);
	w->call_done = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Run fn on the loop thread and wait for its result. */
static int on_loop(struct world *w, loop_fn *fn, void *arg)
{
	uint64_t one = 1;
	int rc;

	pthread_mutex_lock(&w->lock);
	w->call = fn;
	w->call_arg = arg;
	w->call_done = false;
	assert_int_equal(write(w->call_fd, &one, sizeof(one)), sizeof(one));
	while (!w->call_done)
		pthread_cond_wait(&w->cond, &w->lock);
	rc = w->call_rc;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Poll fn on the loop thread until it returns nonzero, for ms at most. */
static bool wait_loop(struct world *w, loop_fn *fn, void *arg, int ms)
{
	for (int i = 0; i < ms; i += 5) {
		if (on_loop(w, fn, arg))
			return true;
		usleep(5000);
	}
	return false;
}

static void *loop_thread(void *arg)
{
	rt_loop_run(arg);
	return NULL;
}

static int start_guest(struct world *w, void *arg)
{
	static const struct gvb_driver *const drivers[] = { &gd_driver };
	struct gvb_cfg cfg = {
		.vmbus_path = w->vmbus, .mem_size = 64u << 20,
		.ring_size = 64u << 10, .host_uid = geteuid(),
	};

	(void)arg;
	w->vb_live = true;
	return gvb_start(&w->vb, &cfg, w->loop, drivers, 1);
}

static int stop_guest(struct world *w, void *arg)
{
	(void)arg;
	if (w->vb_live)
		gvb_stop(&w->vb, "test over");
	w->vb_live = false;
	return 0;
}

/* Both ends of a channel open: the guest's driver told, the host's
 * channel running. */
static int both_open(struct world *w, void *arg)
{
	uint32_t relid = *(uint32_t *)arg;
	struct hvm_chan *hc = w->vm.chans[relid];

	return relid < MAXRELID && atomic_load(&gds[relid].opened) && hc &&
	       hc->state == HVM_CHAN_OPEN && hc->rt;
}

static void world_start(struct world *w)
{
	struct hvm_cfg cfg = { .name = "vmbnet" };
	struct hdev *d;

	memset(w, 0, sizeof(*w));
	strcpy(w->dir, "/tmp/hvis-vmbnet.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->vmbus, sizeof(w->vmbus), "%s/vmbus.sock", w->dir);
	snprintf(w->ctl, sizeof(w->ctl), "%s/ctl.sock", w->dir);
	cfg.vmbus_path = w->vmbus;
	cfg.ctl_path = w->ctl;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->loop = rt_loop_new();
	assert_non_null(w->loop);
	assert_int_equal(hvm_init(&w->vm, &cfg, w->loop), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(hvm_add_device(&w->vm, &hd_class, 0, NULL, &d),
				 0);
		w->relid[i] = d->primary_relid;
	}
	w->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(w->call_fd >= 0);
	assert_int_equal(rt_loop_add(w->loop, w->call_fd, EPOLLIN, call_event,
				     w), 0);
	assert_int_equal(pthread_create(&w->thread, NULL, loop_thread,
					w->loop), 0);
	assert_int_equal(on_loop(w, start_guest, NULL), 0);
	for (int i = 0; i < 2; i++)
		assert_true(wait_loop(w, both_open, &w->relid[i], 10000));
}

static void world_stop(struct world *w)
{
	on_loop(w, stop_guest, NULL);
	rt_loop_stop(w->loop);
	pthread_join(w->thread, NULL);
	hvm_fini(&w->vm);
	rt_loop_del(w->loop, w->call_fd);
	close(w->call_fd);
	rt_loop_free(w->loop);
	rmdir(w->dir);
}

/* ---- the guest driver's GPADLs, as the test sees them ---- */

/* Each test's gbuf is static: should an assertion end the test early,
 * the guest still reports to it when world_stop stops the guest. */

struct gbuf {
	struct world *w;
	uint32_t relid;
	uint8_t *p;
	uint32_t pages;
	uint32_t id;
	/* set on the loop thread, read under w->lock (on_loop) */
	int created;  /* 0 waiting, 1 created, -1 failed */
	bool released;
};

static void gbuf_event(struct gvb_chan *c, uint32_t id, enum gvb_gpadl_ev ev,
		       uint32_t status, void *arg)
{
	struct gbuf *b = arg;

	assert_int_equal(id, b->id);
	if (ev == GVB_GPADL_CREATED) {
		assert_int_equal(status, 0);
		b->created = 1;
		return;
	}
	/* The last word on id: the buffer is ours again. */
	if (ev == GVB_GPADL_FAILED)
		b->created = -1;
	else
		b->released = true;
	rt_gmem_free(&c->vb->gmem, b->p, b->pages);
	b->p = NULL;
}

static int gbuf_create(struct world *w, void *arg)
{
	struct gbuf *b = arg;
	struct gvb_chan *c = w->vb.chans[b->relid];
	size_t len = (size_t)b->pages << 12;

	b->p = rt_gmem_alloc(&w->vb.gmem, b->pages);
	if (!c || !b->p)
		return VMB_ENOMEM;
	for (size_t i = 0; i < len; i++)
		b->p[i] = guest_byte((uint32_t)i);
	if (b->pages == BIG >> 12)
		atomic_store(&gds[b->relid].buf, b->p);
	return gvb_gpadl_create(c, b->p, len, gbuf_event, b, &b->id);
}

static int gbuf_created(struct world *w, void *arg)
{
	(void)w;
	return ((struct gbuf *)arg)->created;
}

static int gbuf_released(struct world *w, void *arg)
{
	(void)w;
	return ((struct gbuf *)arg)->released;
}

static int gbuf_teardown(struct world *w, void *arg)
{
	struct gbuf *b = arg;

	return gvb_gpadl_teardown(w->vb.chans[b->relid], b->id);
}

/* A GPADL of pages pages on the guest's channel relid, created. */
static void gbuf_new(struct world *w, struct gbuf *b, uint32_t relid,
		     uint32_t pages)
{
	memset(b, 0, sizeof(*b));
	b->w = w;
	b->relid = relid;
	b->pages = pages;
	assert_int_equal(on_loop(w, gbuf_create, b), VMB_OK);
	assert_true(wait_loop(w, gbuf_created, b, 10000));
	assert_int_equal(on_loop(w, gbuf_created, b), 1);
}

/* ---- host-side views ---- */

static struct hvm_chan *host_chan(struct world *w, uint32_t relid)
{
	struct hvm_chan *hc = w->vm.chans[relid];

	/* Read on the test thread: the channel is open and stays so until
	 * the test itself closes it. */
	assert_non_null(hc);
	return hc;
}

static uint64_t vm_read(struct world *w, const uint64_t *v)
{
	uint64_t x;

	pthread_mutex_lock(&w->vm.gpadl_lock);
	x = *v;
	pthread_mutex_unlock(&w->vm.gpadl_lock);
	return x;
}

static uint32_t map_runs(struct world *w)
{
	uint32_t x;

	pthread_mutex_lock(&w->vm.gpadl_lock);
	x = w->vm.map_runs;
	pthread_mutex_unlock(&w->vm.gpadl_lock);
	return x;
}

static bool host_sees_guest_bytes(const struct hvm_gpadl_ref *r)
{
	for (uint64_t i = 0; i < r->len; i++)
		if (r->va[i] != guest_byte((uint32_t)i))
			return false;
	return true;
}

static int guest_sees_host_bytes(struct world *w, void *arg)
{
	const struct gbuf *b = arg;

	(void)w;
	for (uint32_t i = 0; i < b->pages << 12; i++)
		if (b->p[i] != host_byte(i))
			return 0;
	return 1;
}

/* Packet k: 1-4 ranges spread over the buffer, the last one ending at
 * its last byte. */
static unsigned xfer_ranges(uint32_t k, uint32_t npkt,
			    struct vmb_xfer_range *rg)
{
	unsigned n = 1 + k % 4;

	for (unsigned j = 0; j < n; j++) {
		uint32_t off = (k * 40961u + j * 1531u) % (BIG - 2048);
		uint32_t cnt = 1 + (k * 31u + j * 17u) % 1500;

		if (k == npkt - 1 && j == n - 1) {
			off = BIG - 100;
			cnt = 100;
		}
		rg[j] = (struct vmb_xfer_range){ .byte_count = vmb_le32(cnt),
						 .byte_offset = vmb_le32(off) };
	}
	return n;
}

static bool wait_atomic(_Atomic uint32_t *v, uint32_t want, int ms)
{
	for (int i = 0; i < ms && atomic_load(v) < want; i++)
		usleep(1000);
	return atomic_load(v) >= want;
}

static void teardown_and_wait(struct world *w, struct gbuf *b)
{
	assert_int_equal(on_loop(w, gbuf_teardown, b), VMB_OK);
	assert_true(wait_loop(w, gbuf_released, b, 10000));
}

/* A 16 MiB receive buffer: created by the guest (header and 146 bodies),
 * found by id on the host, the same bytes seen both ways; then
 * transfer-page packets into it, each read by the guest and completed,
 * every completion reaching the host's device. */
static void test_big_buffer(void **state)
{
	const uint16_t fl = VMB_PKT_FLAG_COMPLETION_REQUESTED;
	const uint32_t npkt = 500, relid = ((struct world *)*state)->relid[0];
	struct world *w = *state;
	struct vmb_xfer_range rg[4];
	struct hvm_gpadl_ref r;
	struct hvm_chan *hc;
	struct hd_chan *hs;
	static struct gbuf b;

	gbuf_new(w, &b, relid, BIG >> 12);
	hc = host_chan(w, relid);
	hs = hc->priv;
	assert_int_equal(hvm_gpadl_get(hc, b.id, &r), 0);
	assert_int_equal(r.len, BIG);
	assert_int_equal(r.id, b.id);
	assert_true(host_sees_guest_bytes(&r));
	for (uint32_t i = 0; i < BIG; i++)
		r.va[i] = host_byte(i);
	assert_int_equal(on_loop(w, guest_sees_host_bytes, &b), 1);
	for (uint32_t k = 0; k < npkt; k++) {
		unsigned n = xfer_ranges(k, npkt, rg);

		assert_int_equal(rt_chan_send_xfer(hc->rt, k, fl, SET_ID, rg, n,
						   "RNDIS msg here!", 16,
						   false), VMB_OK);
	}
	assert_true(wait_atomic(&hs->comps, npkt, 20000));
	assert_int_equal(atomic_load(&gds[relid].xfers), npkt);
	assert_int_equal(atomic_load(&gds[relid].bad), 0);
	assert_int_equal(atomic_load(&hs->bad), 0);
	hvm_gpadl_put(&r);
	assert_null(r.g);
	atomic_store(&gds[relid].buf, NULL);
	teardown_and_wait(w, &b);
}

static int ring_id(struct world *w, void *arg)
{
	return (int)w->vb.chans[*(uint32_t *)arg]->gpadl;
}

/* Another channel's GPADL (ring or buffer) or none at all: refused and
 * counted, nothing held. */
static void test_refused(void **state)
{
	struct world *w = *state;
	struct hvm_chan *ha = host_chan(w, w->relid[0]);
	struct hvm_chan *hb = host_chan(w, w->relid[1]);
	uint64_t before = vm_read(w, &w->vm.gpadl_refused);
	uint32_t ring_b = (uint32_t)on_loop(w, ring_id, &w->relid[1]);
	struct hvm_gpadl_ref r;
	static struct gbuf b;

	gbuf_new(w, &b, w->relid[0], SMALL >> 12);
	assert_int_equal(hvm_gpadl_get(hb, b.id, &r), -ENOENT);
	assert_null(r.g);
	assert_int_equal(hvm_gpadl_get(ha, 0x7fffffffu, &r), -ENOENT);
	assert_int_equal(hvm_gpadl_get(ha, ring_b, &r), -ENOENT);
	assert_int_equal(vm_read(w, &w->vm.gpadl_refused), before + 3);
	hvm_gpadl_put(&r); /* a zeroed ref is nothing */
	/* The right channel: held twice (holds nest), let go twice. */
	assert_int_equal(hvm_gpadl_get(ha, b.id, &r), 0);
	struct hvm_gpadl_ref r2;
	assert_int_equal(hvm_gpadl_get(ha, b.id, &r2), 0);
	hvm_gpadl_put(&r2);
	hvm_gpadl_put(&r);
	teardown_and_wait(w, &b);
	assert_int_equal(vm_read(w, &w->vm.gpadl_held), 0);
}

/* The guest tears a buffer down while the device holds it: the memory
 * stays mapped, no new hold is granted, and GPADL_TORNDOWN comes only
 * after the last put, from a thread that is not the loop's. */
static void test_teardown_held(void **state)
{
	struct world *w = *state;
	struct hvm_chan *hc = host_chan(w, w->relid[0]);
	uint32_t runs = map_runs(w);
	struct hvm_gpadl_ref r, r2, r3;
	static struct gbuf b;

	gbuf_new(w, &b, w->relid[0], SMALL >> 12);
	assert_int_equal(map_runs(w), runs + 1);
	assert_int_equal(hvm_gpadl_get(hc, b.id, &r), 0);
	assert_int_equal(hvm_gpadl_get(hc, b.id, &r2), 0);
	assert_int_equal(on_loop(w, gbuf_teardown, &b), VMB_OK);
	assert_int_equal(on_loop(w, gbuf_teardown, &b), VMB_EBUSY);
	usleep(200000);
	assert_int_equal(on_loop(w, gbuf_released, &b), 0);
	assert_int_equal(vm_read(w, &w->vm.gpadl_held), 1);
	assert_int_equal(hvm_gpadl_get(hc, b.id, &r3), -EBUSY);
	assert_true(host_sees_guest_bytes(&r));
	hvm_gpadl_put(&r2);
	usleep(100000);
	assert_int_equal(on_loop(w, gbuf_released, &b), 0);
	assert_int_equal(map_runs(w), runs + 1);
	hvm_gpadl_put(&r);
	assert_true(wait_loop(w, gbuf_released, &b, 10000));
	assert_int_equal(map_runs(w), runs);
}

static int remove_chan(struct world *w, void *arg)
{
	uint32_t gone[4];

	return (int)hvm_remove_channel(&w->vm, *(uint32_t *)arg, gone, 4);
}

static int relid_free(struct world *w, void *arg)
{
	uint32_t relid = *(uint32_t *)arg;

	return !w->vm.chans[relid] && !w->vb.chans[relid];
}

/* A buffer of relid's held by its device, then the device removed; back
 * once the guest stopped the channel and had time to tear down. */
static void rescind_held(struct world *w, struct gbuf *b, uint32_t relid,
			 struct hvm_gpadl_ref *r)
{
	struct hvm_chan *hc = host_chan(w, relid);

	gbuf_new(w, b, relid, SMALL >> 12);
	assert_int_equal(hvm_gpadl_get(hc, b->id, r), 0);
	assert_int_equal(on_loop(w, remove_chan, &relid), 1);
	for (int i = 0; i < 5000 && !atomic_load(&gds[relid].stopped); i++)
		usleep(1000);
	assert_true(atomic_load(&gds[relid].stopped));
	usleep(200000);
}

/* The host removes the device while it holds a buffer: the guest stops
 * the channel and tears everything down, but gives the relid back only
 * after the held buffer's GPADL_TORNDOWN, which waits for the put. */
static void test_rescind_held(void **state)
{
	struct world *w = *state;
	uint32_t relid = w->relid[0];
	struct hvm_gpadl_ref r;
	static struct gbuf b;

	rescind_held(w, &b, relid, &r);
	assert_int_equal(on_loop(w, gbuf_released, &b), 0);
	assert_int_equal(on_loop(w, relid_free, &relid), 0);
	assert_true(host_sees_guest_bytes(&r));
	hvm_gpadl_put(&r);
	assert_true(wait_loop(w, gbuf_released, &b, 10000));
	assert_true(wait_loop(w, relid_free, &relid, 10000));
}

/* A guest that gives the relid back without waiting for the held
 * buffer's GPADL_TORNDOWN, as a hostile one may: injected as if it came
 * from the guest. */
static int release_early(struct world *w, void *arg)
{
	union vmb_msg_buf m;
	uint32_t len = vmb_msg_enc_relid(&m, VMB_MSG_RELID_RELEASED,
					 *(uint32_t *)arg);

	return vmb_server_input(&w->vm.srv, VMB_MSG_REDIRECT_CONNECTION_ID,
				m.raw, len);
}

static int host_chan_gone(struct world *w, void *arg)
{
	return !w->vm.chans[*(uint32_t *)arg];
}

/* The channel, its device and the GPADL go on the host while the device
 * still holds the buffer: the mapping outlives them all until the put,
 * and no GPADL_TORNDOWN is sent for it. (The test's holds stand in for
 * a device thread that lets go late; a real device lets go before its
 * destroy returns.) */
static void test_released_early(void **state)
{
	struct world *w = *state;
	uint32_t relid = w->relid[0], runs = map_runs(w);
	struct hvm_gpadl_ref r;
	static struct gbuf b;

	rescind_held(w, &b, relid, &r);
	assert_int_equal(on_loop(w, release_early, &relid), VMB_OK);
	assert_int_equal(on_loop(w, host_chan_gone, &relid), 1);
	/* Ring and buffer off the server (runs counts both rings); the
	 * buffer still mapped, and counted. */
	assert_int_equal(map_runs(w), runs);
	assert_true(host_sees_guest_bytes(&r));
	hvm_gpadl_put(&r);
	assert_int_equal(map_runs(w), runs - 1);
	usleep(100000);
	/* The guest still waits for the answer; only its end ends that. */
	assert_int_equal(on_loop(w, gbuf_released, &b), 0);
	assert_int_equal(on_loop(w, stop_guest, NULL), 0);
	assert_true(b.released);
}

static int guest_detached(struct world *w, void *arg)
{
	(void)arg;
	return w->vm.xc == NULL;
}

/* The guest vanishes while the device holds a buffer: the host drops
 * the GPADL but keeps the memory mapped until the put; the guest's
 * driver hears RELEASED (nothing maps it on its side any more). */
static void test_guest_gone_held(void **state)
{
	struct world *w = *state;
	struct hvm_chan *hc = host_chan(w, w->relid[1]);
	struct hvm_gpadl_ref r;
	static struct gbuf b;

	gbuf_new(w, &b, w->relid[1], SMALL >> 12);
	assert_int_equal(hvm_gpadl_get(hc, b.id, &r), 0);
	assert_int_equal(on_loop(w, stop_guest, NULL), 0);
	assert_true(b.released);
	assert_true(wait_loop(w, guest_detached, NULL, 10000));
	assert_int_equal(map_runs(w), 1);
	assert_true(host_sees_guest_bytes(&r));
	hvm_gpadl_put(&r);
	assert_int_equal(map_runs(w), 0);
}

static int bad_creates(struct world *w, void *arg)
{
	static uint8_t outside[2 * 4096] __attribute__((aligned(4096)));
	struct gvb_chan *c = w->vb.chans[w->relid[0]];
	uint8_t *p = rt_gmem_alloc(&w->vb.gmem, 2);
	int refused = 0;
	uint32_t id;

	(void)arg;
	refused += gvb_gpadl_create(c, outside, 4096, gbuf_event, NULL, &id)
		   == VMB_EINVAL;
	refused += gvb_gpadl_create(c, p + 1, 4096, gbuf_event, NULL, &id)
		   == VMB_EINVAL;
	refused += gvb_gpadl_create(c, p, 0, gbuf_event, NULL, &id)
		   == VMB_EINVAL;
	refused += gvb_gpadl_create(c, p, w->vb.gmem.size, gbuf_event, NULL,
				    &id) == VMB_EINVAL;
	refused += gvb_gpadl_create(c, p, 4096, NULL, NULL, &id)
		   == VMB_EINVAL;
	refused += gvb_gpadl_teardown(c, 0x12345) == VMB_ENOENT;
	rt_gmem_free(&w->vb.gmem, p, 2);
	return refused;
}

static int create_then_remove(struct world *w, void *arg)
{
	struct gbuf *b = arg;
	uint32_t gone[4];
	int rc = gbuf_create(w, b);

	if (rc)
		return rc;
	return hvm_remove_channel(&w->vm, b->relid, gone, 4) == 1 ? 0 : -100;
}

static int created_state(struct world *w, void *arg)
{
	return gbuf_created(w, arg) == -1;
}

static int guest_rt(struct world *w, void *arg)
{
	*(struct rt_chan **)arg = w->vb.chans[w->relid[1]]->rt;
	return 0;
}

/* The guest side's refusals; a transfer-page packet the other way, taken
 * by the device; a GPADL whose channel is rescinded before the host
 * answered: FAILED, its buffer the driver's again, the relid given
 * back. */
static void test_guest_edges(void **state)
{
	struct world *w = *state;
	struct hd_chan *hs = host_chan(w, w->relid[1])->priv;
	struct vmb_xfer_range rg[2] = {
		{ .byte_count = vmb_le32(10), .byte_offset = 0 },
		{ .byte_count = vmb_le32(20), .byte_offset = vmb_le32(4096) },
	};
	struct rt_chan *gc;
	static struct gbuf b;

	assert_int_equal(on_loop(w, bad_creates, NULL), 6);
	on_loop(w, guest_rt, &gc);
	assert_int_equal(rt_chan_send_xfer(gc, 1, 0, SET_ID, rg, 2, "x", 1,
					   false), VMB_OK);
	assert_true(wait_atomic(&hs->xfers_in, 1, 5000));
	assert_int_equal(atomic_load(&hs->bad), 0);
	memset(&b, 0, sizeof(b));
	b.relid = w->relid[0];
	b.pages = 64;
	assert_int_equal(on_loop(w, create_then_remove, &b), 0);
	assert_true(wait_loop(w, created_state, &b, 10000));
	assert_null(b.p);
	assert_true(wait_loop(w, relid_free, &b.relid, 10000));
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	world_start(w);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	world_stop(*state);
	free(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_big_buffer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_teardown_held, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rescind_held, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_guest_gone_held, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_guest_edges, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_released_early, setup,
						teardown),
	};

	rt_log_init("test_vmbnet", getenv("HVIS_TEST_VERBOSE") ? RT_LOG_INFO
							  : RT_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
