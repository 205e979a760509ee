/* storvsp's controllers and LUNs (Add-/Remove-VMHardDiskDrive, resize),
 * on the loop thread. A LUN is published to the channel workers with one
 * release store and taken away with another; removal then waits for the
 * I/O each channel still has on it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hstor_priv.h"
#include "rt_log.h"

struct hstor_ctrl *hstor_ctrl_of(struct hvm *vm, unsigned index)
{
	for (struct hdev *d = vm->devs; d; d = d->next)
		if (d->cls == &hstor_class &&
		    ((struct hstor_ctrl *)d->priv)->index == index)
			return d->priv;
	return NULL;
}

/* Controllers are numbered in the order they were added, the lowest
 * free number first, as Hyper-V numbers them. */
static int ctrl_add(struct hvm *vm, struct hstor_ctrl **out)
{
	unsigned index = 0;
	struct hdev *d;
	int rc;

	while (index < HSTOR_CONTROLLERS && hstor_ctrl_of(vm, index))
		index++;
	if (index == HSTOR_CONTROLLERS)
		return -ENOSPC;
	rc = hvm_add_device(vm, &hstor_class, HSTOR_MAX_SUB, NULL, &d);
	if (rc)
		return rc;
	*out = d->priv;
	(*out)->index = index;
	return 0;
}

static struct hstor_ctrl *ctrl_get(struct hvm *vm, unsigned index,
				   char *why, size_t n)
{
	struct hstor_ctrl *ctrl = NULL;
	int rc;

	if (index >= HSTOR_CONTROLLERS) {
		snprintf(why, n, "controller %u: a VM has SCSI controllers "
			 "0 to %u", index, HSTOR_CONTROLLERS - 1);
		return NULL;
	}
	while (!(ctrl = hstor_ctrl_of(vm, index))) {
		rc = ctrl_add(vm, &ctrl);
		if (rc) {
			snprintf(why, n, "cannot add SCSI controller: %s",
				 strerror(-rc));
			return NULL;
		}
	}
	return ctrl;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

/* The serial and identifier stay the same for the same image path, so a
 * guest's /dev/disk/by-id names survive a restart. */
static void lun_desc(const struct hstor_lun *l, struct scsi_disk_desc *d)
{
	uint64_t h = fnv1a(l->path);

	memset(d, 0, sizeof(*d));
	d->block_size = l->info.block_size;
	d->block_count = l->info.size / l->info.block_size;
	d->max_xfer = HSTOR_MAX_TRANSFER;
	d->unmap_gran = 4096u / l->info.block_size;
	d->read_only = l->info.read_only;
	d->write_cache = true;
	d->unmap = l->info.can_discard;
	d->serial_len = (uint8_t)snprintf(d->serial, sizeof(d->serial),
					  "%016llx", (unsigned long long)h);
	d->id[0] = 0x60; /* NAA 6 */
	for (unsigned i = 0; i < 8; i++) {
		d->id[1 + i] = (uint8_t)(h >> (8 * i));
		d->id[9 + i % 7] ^= (uint8_t)(h >> (8 * (7 - i)));
	}
}

void hstor_lun_free(struct hstor_lun *l)
{
	if (!l)
		return;
	if (l->bk)
		hbk_close(l->bk);
	free(l->path);
	free(l);
}

static struct hstor_lun *lun_open(const struct hstor_disk_cfg *cfg,
				  char *why, size_t n)
{
	struct hstor_lun *l = calloc(1, sizeof(*l));
	struct hbk_cfg bc = {.read_only = cfg->read_only,
			     .no_direct = cfg->no_direct};
	struct scsi_disk_desc desc;
	int rc;

	if (!l || !(l->path = strdup(cfg->path))) {
		snprintf(why, n, "out of memory");
		free(l);
		return NULL;
	}
	rc = hbk_open(&l->bk, cfg->path, &bc, why, n);
	if (rc)
		goto fail;
	hbk_info(l->bk, &l->info);
	lun_desc(l, &desc);
	if (scsi_disk_init(&l->disk, &desc, l->st, HSTOR_QUEUES)) {
		snprintf(why, n, "%s: %llu bytes is not a disk (at least one "
			 "%u-byte block)", cfg->path,
			 (unsigned long long)l->info.size, desc.block_size);
		goto fail;
	}
	return l;
fail:
	hstor_lun_free(l);
	return NULL;
}

/* ENUMERATE_BUS on the primary channel: the guest rescans. The loop
 * thread never waits on the guest: if the ring is full the message is
 * dropped, and the guest still finds the change at its next scan. */
static void announce(struct hvm *vm, struct hstor_ctrl *ctrl)
{
	struct hvm_chan *p = ctrl->d->primary_relid
				     ? vm->chans[ctrl->d->primary_relid] : NULL;
	struct vstor_host h = {0};
	uint8_t out[VSTOR_PKT_LEN];
	struct vmb_iov iov = {out, 0};
	uint32_t v;

	if (!p || !p->rt)
		return;
	v = atomic_load(&p->dev_version);
	h.version = (uint16_t)((v >> 16) << 8 | (v & 0xff));
	iov.len = vstor_host_enumerate(&h, out);
	if (iov.len && rt_chan_send_inband(p->rt, 0, 0, &iov, 1, true))
		rt_warn("scsi", "controller %u: bus change not announced "
			"(ring full)", ctrl->index);
}

static int lun_pick(struct hstor_ctrl *ctrl, int want, char *why, size_t n)
{
	if (want >= (int)HSTOR_LUNS) {
		snprintf(why, n, "LUN %d: a controller has LUNs 0 to %u", want,
			 HSTOR_LUNS - 1);
		return -EINVAL;
	}
	if (want >= 0) {
		if (!atomic_load(&ctrl->luns[want]))
			return want;
		snprintf(why, n, "controller %u LUN %d is in use; remove it "
			 "first or pick another LUN", ctrl->index, want);
		return -EBUSY;
	}
	for (unsigned i = 0; i < HSTOR_LUNS; i++)
		if (!atomic_load(&ctrl->luns[i]))
			return (int)i;
	snprintf(why, n, "controller %u has no free LUN", ctrl->index);
	return -ENOSPC;
}

int hstor_add_disk(struct hvm *vm, const struct hstor_disk_cfg *cfg,
		   unsigned *ctrl_out, unsigned *lun_out, char *why, size_t n)
{
	struct hstor_ctrl *ctrl;
	struct hstor_lun *l;
	int lun;

	ctrl = ctrl_get(vm, cfg->controller < 0 ? 0 : (unsigned)cfg->controller,
			why, n);
	if (!ctrl)
		return -EINVAL;
	lun = lun_pick(ctrl, cfg->lun, why, n);
	if (lun < 0)
		return lun;
	l = lun_open(cfg, why, n);
	if (!l)
		return -EINVAL;
	l->ctrl = ctrl;
	l->lun = (uint8_t)lun;
	atomic_store_explicit(&ctrl->luns[lun], l, memory_order_release);
	rt_info("scsi", "controller %u LUN %d: %s (%s, %llu bytes%s)",
		ctrl->index, lun, l->path, l->info.kind,
		(unsigned long long)l->info.size,
		l->info.read_only ? ", read-only" : "");
	announce(vm, ctrl);
	*ctrl_out = ctrl->index;
	*lun_out = (unsigned)lun;
	return 0;
}

static struct hstor_lun *lun_find(struct hvm *vm, unsigned ctrl_index,
				  unsigned lun, char *why, size_t n)
{
	struct hstor_ctrl *ctrl = hstor_ctrl_of(vm, ctrl_index);
	struct hstor_lun *l = ctrl && lun < HSTOR_LUNS
				      ? atomic_load(&ctrl->luns[lun]) : NULL;

	if (!l)
		snprintf(why, n, "no disk at controller %u LUN %u (see: "
			 "hvis-ctl disk list)", ctrl_index, lun);
	return l;
}

/* Each open channel gives up its queue on l between two batches (the
 * worker never holds its lock while it waits for the guest); the
 * queues then finish apart from the loop thread (hstor_gone.c). */
static void lun_drain(struct hvm *vm, struct hstor_lun *l)
{
	struct hstor_q *q;

	for (uint32_t r = 1; r < VMB_RELID_MAX; r++) {
		struct hvm_chan *c = vm->chans[r];
		struct hstor_chan *ch;

		if (!c || c->dev != l->ctrl->d || !(ch = c->priv))
			continue;
		pthread_mutex_lock(&ch->lock);
		q = ch->q[l->lun];
		ch->q[l->lun] = NULL;
		pthread_mutex_unlock(&ch->lock);
		if (!q)
			continue;
		l->refs++;
		hstor_gone_add(ch, q);
	}
}

/* A removed LUN's last reference: its backend closes. Completions were
 * dropped only for a guest that left its ring full. */
void hstor_lun_put(struct hstor_lun *l)
{
	uint64_t dropped = rt_ctr_get(&l->dropped);

	if (--l->refs)
		return;
	if (dropped)
		rt_warn("scsi", "%s: %llu completions dropped after its removal "
			"(the guest did not read its ring)", l->path,
			(unsigned long long)dropped);
	hstor_lun_free(l);
}

int hstor_remove_disk(struct hvm *vm, unsigned ctrl, unsigned lun,
		      char *why, size_t n)
{
	struct hstor_lun *l = lun_find(vm, ctrl, lun, why, n);

	if (!l)
		return -ENOENT;
	atomic_store_explicit(&l->ctrl->luns[lun], NULL, memory_order_release);
	l->refs = 1;
	lun_drain(vm, l);
	rt_info("scsi", "controller %u LUN %u: %s removed", ctrl, lun,
		l->path);
	announce(vm, l->ctrl);
	hstor_lun_put(l);
	return 0;
}

int hstor_resize_disk(struct hvm *vm, unsigned ctrl, unsigned lun,
		      uint64_t size, char *why, size_t n)
{
	struct hstor_lun *l = lun_find(vm, ctrl, lun, why, n);
	uint64_t now;
	int rc;

	if (!l)
		return -ENOENT;
	rc = hbk_resize(l->bk, size, &now);
	if (rc) {
		snprintf(why, n, "%s: cannot resize: %s", l->path,
			 strerror(-rc));
		return rc;
	}
	if (scsi_disk_resize(&l->disk, now / l->info.block_size)) {
		snprintf(why, n, "%s: %llu bytes is not a disk size", l->path,
			 (unsigned long long)now);
		return -EINVAL;
	}
	l->info.size = now;
	return 0;
}
