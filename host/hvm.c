/* The emulated host's VM: the guest transport, the vmb_server callbacks
 * and the channel objects behind each relid. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hvm_priv.h"
#include "rt_log.h"
#include "rt_xport.h"
#include "vmbus/vmb_client.h"

/* Instance GUIDs: this prefix, the device serial in the last two bytes. */
#define HVM_INSTANCE_BASE "b4a0c8d2-5f1e-4e6a-8c3d-686f73740000"

static void guest_gone(struct hvm *vm, const char *why);

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- channels ---- */

static void chan_close_fds(struct hvm_chan *c)
{
	if (c->efd_g2h >= 0)
		close(c->efd_g2h);
	if (c->efd_h2g >= 0)
		close(c->efd_h2g);
	c->efd_g2h = c->efd_h2g = -1;
}

/* Stop the worker first: the device's state and the ring mapping must
 * outlive every receive callback. */
static void chan_stop(struct hvm_chan *c, const char *why)
{
	if (!c->rt)
		return;
	rt_chan_get_stats(c->rt, &c->last);
	/* A broken ring stays counted after its channel is gone. */
	c->vm->ring_bad += c->last.bad;
	if (c->dev->cls->quiesce) {
		rt_chan_stop_begin(c->rt);
		c->dev->cls->quiesce(c);
	}
	rt_chan_stop(c->rt);
	c->rt = NULL;
	c->dev->cls->close(c);
	rt_info("chan", "relid %u closed (%s): guest->host %llu packets, "
		"host->guest %llu packets",
		c->relid, why, (unsigned long long)c->last.rx_packets,
		(unsigned long long)c->last.tx_packets);
}

static unsigned dev_chan_count(struct hvm *vm, const struct hdev *d)
{
	unsigned n = 0;

	for (uint32_t r = 1; r < VMB_RELID_MAX; r++)
		if (vm->chans[r] && vm->chans[r]->dev == d)
			n++;
	return n;
}

static void dev_free(struct hvm *vm, struct hdev *d)
{
	struct hdev **pp;

	for (pp = &vm->devs; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	d->cls->destroy(d);
	free(d);
}

static void chan_free(struct hvm *vm, struct hvm_chan *c)
{
	struct hdev *d = c->dev;

	chan_stop(c, "freed");
	chan_close_fds(c);
	vm->chans[c->relid] = NULL;
	if (c->sub_index == 0)
		d->primary_relid = 0;
	else if (d->nsub)
		d->nsub--;
	free(c);
	if (d->primary_relid == 0 && dev_chan_count(vm, d) == 0) {
		rt_info("dev", "device %u (%s) removed", d->id, d->cls->name);
		dev_free(vm, d);
	}
}

/* Free every channel whose relid the server has let go of. */
static void reap(struct hvm *vm)
{
	for (uint32_t r = 1; r < VMB_RELID_MAX; r++)
		if (vm->chans[r] && !vmb_server_chan(&vm->srv, r))
			chan_free(vm, vm->chans[r]);
}

static uint32_t free_relid(const struct hvm *vm)
{
	for (uint32_t r = 1; r < VMB_RELID_MAX; r++)
		if (!vm->chans[r] && !vmb_server_chan(&vm->srv, r))
			return r;
	return 0;
}

static int offer_chan(struct hvm *vm, struct hdev *d, uint16_t sub_index,
		      uint32_t *relid_out)
{
	struct vmb_msg_offer o;
	struct hvm_chan *c;
	uint32_t relid = free_relid(vm);
	int rc;

	if (!relid)
		return -ENOSPC;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->vm = vm;
	c->dev = d;
	c->relid = relid;
	c->sub_index = sub_index;
	c->efd_g2h = c->efd_h2g = -1;
	c->cpu = -1;
	memset(&o, 0, sizeof(o));
	o.hdr.type = vmb_le32(VMB_MSG_OFFERCHANNEL);
	if (!vmb_guid_parse(&o.offer.if_type, d->cls->class_guid)) {
		free(c);
		return -EINVAL;
	}
	o.offer.if_instance = d->instance;
	o.offer.sub_channel_index = vmb_le16(sub_index);
	o.dedicated_interrupt = vmb_le16(1);
	/* The post callback looks the channel up by relid to attach its
	 * eventfds, so it must be in place before the offer goes out. */
	vm->chans[relid] = c;
	rc = vmb_server_offer(&vm->srv, &o, &relid);
	if (rc != VMB_OK || relid != c->relid) {
		vm->chans[c->relid] = NULL;
		free(c);
		rt_err("dev", "offer of device %u failed: %s", d->id,
		       vmb_strerror(rc));
		return rc == VMB_ENOMEM ? -ENOMEM : -EIO;
	}
	rt_info("dev", "offered relid %u: %s device %u sub-channel %u", relid,
		d->cls->name, d->id, sub_index);
	if (relid_out)
		*relid_out = relid;
	return 0;
}

/* ---- vmb_server callbacks ---- */

static int srv_post(void *ctx, const void *msg, uint32_t len)
{
	struct hvm *vm = ctx;
	const struct vmb_msg_hdr *h = msg;
	int fds[2], rc;
	unsigned nfds = 0;

	if (!vm->xc)
		return VMB_ESHUTDOWN;
	if (len >= sizeof(struct vmb_msg_offer) &&
	    vmb_le32(h->type) == VMB_MSG_OFFERCHANNEL) {
		const struct vmb_msg_offer *o = msg;
		uint32_t relid = vmb_le32(o->child_relid);
		struct hvm_chan *c =
			relid < VMB_RELID_MAX ? vm->chans[relid] : NULL;

		/* Fresh eventfds for each offer: nothing a previous guest
		 * left in them can reach this one. */
		if (c) {
			chan_close_fds(c);
			c->efd_g2h = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			c->efd_h2g = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (c->efd_g2h < 0 || c->efd_h2g < 0) {
				chan_close_fds(c);
				return VMB_ENOMEM;
			}
			fds[0] = c->efd_g2h;
			fds[1] = c->efd_h2g;
			nfds = 2;
		}
	}
	/* Never blocks: a guest that does not read is dropped instead
	 * (guest_gone, from the loop, once the queue overflowed). */
	rc = rt_xport_post(vm->xc, RT_FRAME_MSG, vm->sint, msg, len, fds,
			   nfds);
	return rc ? VMB_ESHUTDOWN : VMB_OK;
}

static void srv_connected(void *ctx, uint32_t version,
			  const struct vmb_msg_initiate_contact *req)
{
	struct hvm *vm = ctx;

	vm->version = version;
	if (version >= VMB_VERSION_WIN10_V5 && req->msg_sint)
		vm->sint = req->msg_sint;
	rt_info("vm", "guest connected: VMBus version %s",
		vmb_version_name(version));
}

/* The ring GPADL must be one whole-page range: the guest's outbound ring
 * from page 0, the host->guest ring from downstream_pgoff, each at least
 * a header page and a data page. */
static bool ring_layout_ok(const struct vmb_server_open *o, uint64_t *split)
{
	const struct vmb_server_gpadl *g = o->ring;
	const struct rt_gmap *m = g ? hvm_gpadl_gmap(g) : NULL;

	if (!m || g->range_count != 1 || g->range_off[0] != 0 ||
	    (uint64_t)g->range_len[0] != m->len)
		return false;
	*split = (uint64_t)o->downstream_pgoff << VMB_PAGE_SHIFT;
	return *split >= 2 * VMB_PAGE_SIZE && *split < m->len &&
	       m->len - *split >= 2 * VMB_PAGE_SIZE;
}

static uint32_t srv_open(void *ctx, const struct vmb_server_open *o)
{
	struct hvm *vm = ctx;
	struct hvm_chan *c = o->relid < VMB_RELID_MAX ? vm->chans[o->relid]
						      : NULL;
	struct rt_chan_cfg cfg;
	char name[32];
	uint64_t split;
	uint8_t *va;
	uint32_t st;
	int rc;

	if (!c || c->rt || c->efd_g2h < 0)
		return HVM_ST_UNSUCCESSFUL;
	if (!ring_layout_ok(o, &split)) {
		rt_warn("chan", "relid %u: open refused: bad ring layout",
			o->relid);
		return HVM_ST_INVALID_PARAMETER;
	}
	va = hvm_gpadl_gmap(o->ring)->va;
	c->g2h_len = split;
	c->h2g_len = hvm_gpadl_gmap(o->ring)->len - split;
	c->cpu = (int)(o->target_vp % (uint32_t)vm->ncpu);
	c->gen = vm->gen;
	memset(&c->last, 0, sizeof(c->last));
	atomic_store(&c->dev_version, 0);
	st = c->dev->cls->open(c);
	if (st)
		return st;
	snprintf(name, sizeof(name), "h-relid%u", c->relid);
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = name;
	cfg.tx_ring = va + split;
	cfg.tx_len = c->h2g_len;
	cfg.rx_ring = va;
	cfg.rx_len = c->g2h_len;
	cfg.sig_out_fd = c->efd_h2g;
	cfg.sig_in_fd = c->efd_g2h;
	cfg.mode = vm->cfg.poll ? RT_CHAN_POLL : RT_CHAN_INTERRUPT;
	cfg.cpu = c->cpu;
	cfg.rx = c->dev->cls->rx;
	cfg.batch_end = c->dev->cls->batch_end;
	cfg.aux = c->dev->cls->aux;
	cfg.aux_fd = c->aux_fd;
	cfg.aux_level = c->dev->cls->aux_level;
	cfg.arg = c;
	rc = rt_chan_start(&c->rt, &cfg);
	if (rc) {
		c->rt = NULL;
		c->dev->cls->close(c);
		rt_err("chan", "relid %u: channel start failed: %s", c->relid,
		       strerror(-rc));
		return HVM_ST_NO_RESOURCES;
	}
	c->state = HVM_CHAN_OPEN;
	if (c->dev->cls->started)
		c->dev->cls->started(c);
	rt_info("chan", "relid %u opened: target VP %u -> CPU %d, rings "
		"%llu/%llu KiB", c->relid, o->target_vp, c->cpu,
		(unsigned long long)(c->g2h_len >> 10),
		(unsigned long long)(c->h2g_len >> 10));
	return 0;
}

static void srv_close(void *ctx, uint32_t relid)
{
	struct hvm *vm = ctx;
	struct hvm_chan *c = relid < VMB_RELID_MAX ? vm->chans[relid] : NULL;

	if (!c)
		return;
	chan_stop(c, c->state == HVM_CHAN_RESCINDED ? "rescinded"
			: vm->xc ? "closed by guest" : "guest gone");
	if (c->state == HVM_CHAN_OPEN)
		c->state = HVM_CHAN_OFFERED;
}

static void srv_released(void *ctx, uint32_t relid)
{
	struct hvm *vm = ctx;
	struct hvm_chan *c = relid < VMB_RELID_MAX ? vm->chans[relid] : NULL;

	rt_info("chan", "relid %u released%s", relid,
		vm->xc ? " by guest" : " (no guest)");
	if (c)
		chan_free(vm, c);
}

static uint32_t srv_modify(void *ctx, uint32_t relid, uint32_t target_vp)
{
	struct hvm *vm = ctx;
	struct hvm_chan *c = relid < VMB_RELID_MAX ? vm->chans[relid] : NULL;
	int cpu = (int)(target_vp % (uint32_t)vm->ncpu);

	if (!c || !c->rt)
		return HVM_ST_UNSUCCESSFUL;
	if (rt_chan_set_cpu(c->rt, cpu))
		return HVM_ST_UNSUCCESSFUL;
	c->cpu = cpu;
	rt_info("chan", "relid %u moved to VP %u (CPU %d)", relid, target_vp,
		cpu);
	return 0;
}

static void srv_closing_all(void *ctx)
{
	struct hvm *vm = ctx;

	for (uint32_t r = 1; r < VMB_RELID_MAX; r++)
		if (vm->chans[r] && vm->chans[r]->rt)
			rt_chan_stop_begin(vm->chans[r]->rt);
}

static void srv_unloaded(void *ctx)
{
	struct hvm *vm = ctx;

	vm->version = 0;
	rt_info("vm", "guest unloaded VMBus");
}

static const struct vmb_server_ops srv_ops = {
	.post = srv_post,
	.connected = srv_connected,
	.gpadl_map = hvm_gpadl_map,
	.gpadl_unmap = hvm_gpadl_unmap,
	.gpadl_teardown = hvm_gpadl_teardown,
	.open = srv_open,
	.close = srv_close,
	.released = srv_released,
	.modify = srv_modify,
	.unloaded = srv_unloaded,
	.closing_all = srv_closing_all,
};

/* ---- transport ---- */

static int take_memory(struct hvm *vm, struct rt_frame *f)
{
	struct rt_frame_memory m;
	int rc;

	if (vm->have_gmem || f->nfds != 1 || f->hdr.len != sizeof(m))
		return -EPROTO;
	memcpy(&m, f->payload, sizeof(m));
	if (vmb_le32(m.version) != RT_XPORT_VERSION)
		return -EPROTO;
	rc = rt_gmem_adopt(&vm->gmem, f->fds[0]);
	f->nfds = 0; /* adopted, or closed by rt_gmem_adopt */
	if (rc)
		return rc;
	if (vm->gmem.size != vmb_le64(m.size)) {
		rt_gmem_destroy(&vm->gmem);
		return -EPROTO;
	}
	vm->have_gmem = true;
	rt_info("vm", "guest memory: %llu MiB",
		(unsigned long long)(vm->gmem.size >> 20));
	return 0;
}

static void handle_frame(struct hvm *vm, struct rt_frame *f)
{
	uint16_t type = vmb_le16(f->hdr.type);
	int rc;

	if (type == RT_FRAME_MEMORY) {
		rc = take_memory(vm, f);
		if (rc) {
			vm->xport_bad++;
			guest_gone(vm, "invalid guest memory frame");
		}
		return;
	}
	if (type != RT_FRAME_MSG || f->nfds || !vm->have_gmem) {
		/* Messages carry no descriptors, and nothing but memory may
		 * come before the memory. */
		vm->xport_bad++;
		rt_warn("xport", "dropped frame type %u (%u fds) from guest",
			type, f->nfds);
		return;
	}
	vmb_server_input(&vm->srv, vmb_le32(f->hdr.conn_id), f->payload,
			 vmb_le32(f->hdr.len));
}

static void on_frame(void *arg, struct rt_frame *f)
{
	handle_frame(arg, f);
}

static void on_gone(void *arg, const char *why)
{
	guest_gone(arg, why);
}

/* Sub-channels exist for the guest that asked for them. */
static void drop_subchannels(struct hvm *vm)
{
	for (uint32_t r = 1; r < VMB_RELID_MAX; r++) {
		struct hvm_chan *c = vm->chans[r];

		if (c && c->sub_index) {
			c->state = HVM_CHAN_RESCINDED;
			vmb_server_rescind(&vm->srv, r);
		}
	}
}

static void guest_gone(struct hvm *vm, const char *why)
{
	struct rt_xport_stats st;

	if (!vm->xc)
		return;
	rt_warn("vm", "guest disconnected: %s", why);
	rt_xport_get_stats(vm->xc, &st);
	vm->xport_stalled += st.overflows;
	rt_xport_close(vm->xc);
	vm->xc = NULL;
	if (vm->guest_pidfd >= 0)
		close(vm->guest_pidfd);
	vm->guest_pidfd = -1;
	vm->guest_pid = 0;
	/* The server closes open channels and unmaps GPADLs through the
	 * ops; only then may guest memory go. */
	vmb_server_reset(&vm->srv);
	for (uint32_t r = 1; r < VMB_RELID_MAX; r++) {
		struct hvm_chan *c = vm->chans[r];

		if (!c)
			continue;
		chan_stop(c, "guest gone");
		chan_close_fds(c);
		if (c->state == HVM_CHAN_OPEN)
			c->state = HVM_CHAN_OFFERED;
		/* What `channels` shows belongs to the guest that left. */
		memset(&c->last, 0, sizeof(c->last));
		c->g2h_len = c->h2g_len = 0;
	}
	drop_subchannels(vm);
	reap(vm);
	if (vm->have_gmem) {
		rt_gmem_destroy(&vm->gmem);
		vm->have_gmem = false;
	}
	vm->version = 0;
	vm->sint = VMB_MSG_SINT;
	vm->gen++;
	if (vm->cfg.once && !vm->stopping) {
		rt_info("vm", "--once: exiting");
		rt_loop_stop(vm->loop);
	} else if (!vm->stopping) {
		rt_info("vm", "waiting for a guest on %s", vm->cfg.vmbus_path);
	}
}

/* One guest at a time: a second one is told why before it is let go
 * (a refusal frame, sent only if the socket takes it at once). */
static void refuse_guest(struct hvm *vm, int s)
{
	char why[160];
	int n = snprintf(why, sizeof(why), "VM '%s' already has a guest "
			 "attached (pid %d); one guest at a time",
			 vm->cfg.name, (int)vm->guest_pid);

	rt_warn("vm", "refused a second guest: one is connected");
	rt_xport_send_nowait(s, RT_FRAME_REFUSED, 0, why,
			     (uint32_t)(n > 0 ? n : 0));
	close(s);
}

static void accept_event(struct rt_loop *l, int fd, uint32_t events,
			 void *arg)
{
	struct hvm *vm = arg;
	const struct rt_xport_peer guest = {
		.name = "guest", .bad = &vm->xport_bad, .frame = on_frame,
		.gone = on_gone, .arg = vm,
	};
	int s;

	(void)events;
	s = rt_xport_accept(fd);
	if (s < 0) {
		rt_warn("vm", "accept failed: %s", strerror(-s));
		return;
	}
	if (vm->xc) {
		refuse_guest(vm, s);
		return;
	}
	vm->xc = rt_xport_open(s, l, &guest);
	if (!vm->xc) {
		rt_err("vm", "cannot watch guest socket: out of memory");
		close(s);
		return;
	}
	vm->guest_pid = 0;
	rt_unix_peer(s, NULL, &vm->guest_pid);
	/* Held from now: the pid cannot name another process later. */
	vm->guest_pidfd = vm->guest_pid > 0 ? (int)syscall(SYS_pidfd_open,
						 vm->guest_pid, 0) : -1;
	vm->guest_since_ns = mono_ns();
	vm->guests_served++;
	rt_info("vm", "guest attached (pid %d)", (int)vm->guest_pid);
}

/* ---- work from channel workers ---- */

int hvm_defer(struct hvm *vm, hvm_work_fn *fn, struct hdev *d, uint32_t gen,
	      uint32_t arg)
{
	struct hvm_work *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->dev_id = d->id;
	w->gen = gen;
	w->arg = arg;
	hvm_work_queue(vm, w);
	return 0;
}

void hvm_work_queue(struct hvm *vm, struct hvm_work *w)
{
	struct hvm_work **pp;
	uint64_t one = 1;

	w->next = NULL;
	pthread_mutex_lock(&vm->work_lock);
	for (pp = &vm->work; *pp; pp = &(*pp)->next)
		;
	*pp = w;
	pthread_mutex_unlock(&vm->work_lock);
	/* A failed write means the counter is saturated: a wakeup is
	 * pending anyway. */
	(void)!write(vm->work_fd, &one, sizeof(one));
}

static void work_event(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	struct hvm *vm = arg;
	struct hvm_work *w, *next;
	uint64_t v;

	(void)l;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&vm->work_lock);
	w = vm->work;
	vm->work = NULL;
	pthread_mutex_unlock(&vm->work_lock);
	for (; w; w = next) {
		struct hdev *d;

		next = w->next;
		for (d = vm->devs; d && d->id != w->dev_id; d = d->next)
			;
		if (d && w->gen == vm->gen && vm->xc)
			w->fn(vm, d, w->arg);
		free(w);
	}
}

/* ---- devices ---- */

int hvm_add_device(struct hvm *vm, const struct hdev_class *cls,
		   uint32_t max_sub, const struct vmb_guid *instance,
		   struct hdev **out)
{
	struct hdev *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->cls = cls;
	d->vm = vm;
	d->id = ++vm->next_dev_id;
	d->max_sub = max_sub;
	if (instance) {
		d->instance = *instance;
	} else {
		vmb_guid_parse(&d->instance, HVM_INSTANCE_BASE);
		d->instance.b[14] = (uint8_t)(d->id >> 8);
		d->instance.b[15] = (uint8_t)d->id;
	}
	rc = cls->create(d);
	if (rc) {
		free(d);
		return rc;
	}
	d->next = vm->devs;
	vm->devs = d;
	rc = offer_chan(vm, d, 0, &d->primary_relid);
	if (rc) {
		dev_free(vm, d);
		return rc;
	}
	if (out)
		*out = d;
	return 0;
}

int hvm_offer_subchannels(struct hvm *vm, struct hdev *d, uint32_t count)
{
	int rc;

	if (!d->primary_relid || d->nsub + count > d->max_sub ||
	    vm->version < VMB_VERSION_WIN8)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		rc = offer_chan(vm, d, (uint16_t)(d->nsub + 1), NULL);
		if (rc)
			return rc;
		d->nsub++;
	}
	return 0;
}

/* c may be gone on return: an offer the guest never saw is released at
 * once (srv_released frees it). Its relid goes into gone[*n] if room. */
static void rescind_one(struct hvm *vm, struct hvm_chan *c, uint32_t *gone,
			unsigned max, unsigned *n)
{
	uint32_t relid = c->relid;
	int rc;

	if (*n < max)
		gone[(*n)++] = relid;
	c->state = HVM_CHAN_RESCINDED;
	rc = vmb_server_rescind(&vm->srv, relid);
	if (rc != VMB_OK)
		rt_warn("chan", "rescind of relid %u: %s", relid,
			vmb_strerror(rc));
	else
		rt_info("chan", "relid %u rescinded", relid);
}

unsigned hvm_remove_channel(struct hvm *vm, uint32_t relid, uint32_t *gone,
			    unsigned max)
{
	struct hvm_chan *c = relid && relid < VMB_RELID_MAX ? vm->chans[relid]
							    : NULL;
	unsigned n = 0;

	if (!c || c->state == HVM_CHAN_RESCINDED)
		return 0;
	/* The primary last, as a device goes: its sub-channels first. */
	if (c->sub_index == 0) {
		for (uint32_t r = 1; r < VMB_RELID_MAX; r++) {
			struct hvm_chan *s = vm->chans[r];

			if (s && s != c && s->dev == c->dev &&
			    s->state != HVM_CHAN_RESCINDED)
				rescind_one(vm, s, gone, max, &n);
		}
	}
	rescind_one(vm, c, gone, max, &n);
	reap(vm);
	return n;
}

bool hvm_dev_live(const struct hvm *vm, const struct hdev *d)
{
	const struct hvm_chan *c = d->primary_relid ? vm->chans[d->primary_relid]
						    : NULL;

	return c && c->state != HVM_CHAN_RESCINDED;
}

void hvm_turn_off(struct hvm *vm)
{
	guest_gone(vm, "turned off (Stop-VM -TurnOff)");
}

/* ---- life cycle ---- */

int hvm_init(struct hvm *vm, const struct hvm_cfg *cfg, struct rt_loop *l)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->loop = l;
	vm->lfd = vm->ctl_fd = vm->work_fd = vm->guest_pidfd = -1;
	vm->gmem.fd = -1;
	vm->sint = VMB_MSG_SINT;
	vm->ncpu = n > 0 ? (int)n : 1;
	pthread_mutex_init(&vm->work_lock, NULL);
	pthread_mutex_init(&vm->gpadl_lock, NULL);
	vm->chans = calloc(VMB_RELID_MAX, sizeof(*vm->chans));
	if (!vm->chans)
		return -ENOMEM;
	rc = vmb_server_init(&vm->srv, &srv_ops, vm, cfg->max_version);
	if (rc != VMB_OK) {
		free(vm->chans);
		vm->chans = NULL;
		return -ENOMEM;
	}
	vm->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->work_fd < 0)
		return -errno;
	rc = rt_loop_add(l, vm->work_fd, EPOLLIN, work_event, vm);
	if (rc)
		return rc;
	vm->lfd = rt_xport_listen(cfg->vmbus_path);
	if (vm->lfd == -EADDRINUSE) {
		rt_err("vm", "VM '%s' is already running: a host listens on %s "
		       "(stop it first, or pick another --name)", cfg->name,
		       cfg->vmbus_path);
		return vm->lfd;
	}
	if (vm->lfd < 0) {
		rt_err("vm", "cannot listen on %s: %s", cfg->vmbus_path,
		       strerror(-vm->lfd));
		return vm->lfd;
	}
	rc = rt_loop_add(l, vm->lfd, EPOLLIN, accept_event, vm);
	if (rc)
		return rc;
	rc = hvm_ctl_start(vm);
	if (rc)
		return rc;
	rt_info("vm", "VM '%s' waiting for a guest on %s (control %s)",
		cfg->name, cfg->vmbus_path, cfg->ctl_path);
	return 0;
}

void hvm_fini(struct hvm *vm)
{
	struct hvm_work *w, *next;

	vm->stopping = true;
	guest_gone(vm, "host shutting down");
	hvm_ctl_stop(vm);
	if (vm->lfd >= 0) {
		rt_loop_del(vm->loop, vm->lfd);
		close(vm->lfd);
		unlink(vm->cfg.vmbus_path);
	}
	if (vm->chans) {
		for (uint32_t r = 1; r < VMB_RELID_MAX; r++)
			if (vm->chans[r])
				chan_free(vm, vm->chans[r]);
		vmb_server_fini(&vm->srv);
	}
	while (vm->devs)
		dev_free(vm, vm->devs);
	free(vm->chans);
	vm->chans = NULL;
	if (vm->work_fd >= 0) {
		rt_loop_del(vm->loop, vm->work_fd);
		close(vm->work_fd);
	}
	for (w = vm->work; w; w = next) {
		next = w->next;
		free(w);
	}
	vm->work = NULL;
	pthread_mutex_destroy(&vm->work_lock);
	pthread_mutex_destroy(&vm->gpadl_lock);
}
