/* storvsc's LUN scan, on the loop thread, one step per tick: REPORT LUNS
 * to LUN 0, then for each LUN listed INQUIRY (a direct-access device is
 * there), READ CAPACITY(16) and MODE SENSE(6) (write protection); then
 * a new LUN gets its NBD export, a resized one a new size, and one no
 * longer listed loses its export. A scan runs when the controller is
 * ready and again whenever the host says the bus changed (or an I/O met
 * a unit attention or an absent LUN). Every answer is the host's and is
 * checked before use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gstor_priv.h"
#include "rt_log.h"
#include "scsi/scsi_disk.h"

/* Times one step is repeated after BUSY or a unit attention. */
#define GSCAN_ATTEMPTS 5u

static void sio_cmd(struct gstor_ctrl *ctrl, uint8_t lun, const uint8_t *cdb,
		    uint8_t cdb_len, uint32_t len, enum gstor_scan next)
{
	struct gstor_sio *s = &ctrl->sio;

	s->lun = lun;
	memcpy(s->cdb, cdb, cdb_len);
	s->cdb_len = cdb_len;
	s->len = len;
	ctrl->scan = next;
	if (gstor_sio_send(ctrl)) {
		rt_warn("scsi", "controller %u: scan stopped: channel full "
			"or closed; retrying", ctrl->index);
		atomic_store(&ctrl->rescan, true);
		ctrl->scan = GSCAN_IDLE;
	}
}

static void send_report(struct gstor_ctrl *ctrl)
{
	uint8_t cdb[12] = {SCSI_OP_REPORT_LUNS};

	vmb_put_be32(cdb + 6, 8 + 8 * GSTOR_LUNS);
	sio_cmd(ctrl, 0, cdb, 12, 8 + 8 * GSTOR_LUNS, GSCAN_REPORT);
}

static void send_lun_step(struct gstor_ctrl *ctrl, enum gstor_scan step)
{
	uint8_t cdb[16] = {0}, lun = ctrl->found[ctrl->at];

	if (step == GSCAN_INQUIRY) {
		cdb[0] = SCSI_OP_INQUIRY;
		cdb[4] = 36;
		sio_cmd(ctrl, lun, cdb, 6, 36, step);
	} else if (step == GSCAN_CAPACITY) {
		cdb[0] = SCSI_OP_SERVICE_ACTION_IN16;
		cdb[1] = 0x10; /* READ CAPACITY(16) */
		vmb_put_be32(cdb + 10, 32);
		sio_cmd(ctrl, lun, cdb, 16, 32, step);
	} else {
		cdb[0] = SCSI_OP_MODE_SENSE6;
		cdb[2] = 0x08; /* caching page: the header carries WP */
		cdb[4] = 255;
		sio_cmd(ctrl, lun, cdb, 6, 255, step);
	}
}

/* ---- exports ---- */

static void lun_log(const struct gstor_lun *l, const char *what)
{
	rt_info("scsi", "controller %u LUN %u %s: %llu MiB, %u-byte blocks%s%s"
		", NBD export %s", l->ctrl->index, l->lun, what,
		(unsigned long long)((l->blocks * l->block_size) >> 20),
		l->block_size, l->read_only ? ", read-only" : "",
		l->unmap ? ", thin" : "", l->exp ? l->name : "(none)");
}

static void lun_export(struct gstor_lun *l)
{
	struct nbdx_export_cfg ec = {
		.name = l->name, .desc = "Msft Virtual Disk (storvsc)",
		.size = l->blocks * l->block_size,
		.block_size = l->block_size, .max_payload = GSTOR_NBD_MAX,
		.read_only = l->read_only, .can_trim = l->unmap,
		.can_zero = true, .ops = &gstor_nbd_ops, .disk = l,
	};
	int rc;

	if (!gstor_nbd)
		return;
	rc = nbdx_add(gstor_nbd, &ec, &l->exp);
	if (rc) {
		rt_warn("scsi", "export %s not added: %s", l->name,
			strerror(-rc));
		l->exp = NULL;
		return;
	}
	gstor_ctrl_get(l->ctrl);
}

static void lun_found(struct gstor_ctrl *ctrl, uint8_t n, uint64_t blocks,
		      uint32_t bs, bool unmap, bool ro)
{
	struct gstor_lun *l = ctrl->lun[n];

	if (l) {
		l->seen = true;
		if (l->blocks != blocks && l->block_size == bs) {
			l->blocks = blocks;
			if (l->exp)
				nbdx_resize(l->exp, blocks * bs);
			lun_log(l, "resized");
		}
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return;
	*l = (struct gstor_lun){.ctrl = ctrl, .lun = n, .block_size = bs,
				.blocks = blocks, .read_only = ro,
				.unmap = unmap, .seen = true};
	snprintf(l->name, sizeof(l->name), "scsi%u-lun%u", ctrl->index, n);
	lun_export(l);
	ctrl->lun[n] = l;
	lun_log(l, "found");
}

/* Ends l's export unless nbdx let go of it already (it stopped); l is
 * freed by whichever of the two lets go last. */
static void lun_drop(struct gstor_ctrl *ctrl, unsigned n)
{
	struct gstor_lun *l = ctrl->lun[n];
	struct nbdx_export *exp = l->exp;

	ctrl->lun[n] = NULL;
	rt_info("scsi", "controller %u LUN %u removed%s%s", ctrl->index, n,
		exp ? ", export ended: " : "", exp ? l->name : "");
	if (!gstor_lun_unref(l, false) && exp)
		nbdx_remove(exp);
}

static void reconcile(struct gstor_ctrl *ctrl)
{
	for (unsigned i = 0; i < GSTOR_LUNS; i++)
		if (ctrl->lun[i] && !ctrl->lun[i]->seen)
			lun_drop(ctrl, i);
	ctrl->scan = GSCAN_IDLE;
}

void gstor_scan_stop(struct gstor_ctrl *ctrl)
{
	for (unsigned i = 0; i < GSTOR_LUNS; i++)
		if (ctrl->lun[i])
			lun_drop(ctrl, i);
	ctrl->scan = GSCAN_IDLE;
}

/* ---- steps ---- */

static bool sio_ok(const struct gstor_sio *s)
{
	return s->srb_status == SCSI_SRB_SUCCESS && s->scsi_status == 0;
}

static void next_lun(struct gstor_ctrl *ctrl)
{
	if (ctrl->at < ctrl->nfound)
		send_lun_step(ctrl, GSCAN_INQUIRY);
	else
		reconcile(ctrl);
}

static void got_report(struct gstor_ctrl *ctrl)
{
	uint32_t len = vmb_be32(ctrl->sbuf), moved = ctrl->sio.moved;

	ctrl->nfound = ctrl->at = 0;
	if (moved > 8 + 8 * GSTOR_LUNS)
		moved = 8 + 8 * GSTOR_LUNS;
	if (len > moved - 8)
		len = moved < 8 ? 0 : (moved - 8) & ~7u;
	for (uint32_t off = 8; off < 8 + len; off += 8) {
		uint16_t lun = vmb_be16(ctrl->sbuf + off) & 0x3FFF;

		if (lun < GSTOR_LUNS && ctrl->nfound < GSTOR_LUNS)
			ctrl->found[ctrl->nfound++] = (uint8_t)lun;
	}
	next_lun(ctrl);
}

static void got_inquiry(struct gstor_ctrl *ctrl)
{
	/* peripheral qualifier 0 (connected), type 0 (direct access) */
	if (ctrl->sio.moved >= 1 && ctrl->sbuf[0] == 0) {
		send_lun_step(ctrl, GSCAN_CAPACITY);
		return;
	}
	ctrl->at++;
	next_lun(ctrl);
}

/* READ CAPACITY's answer stays in sbuf's second half while MODE SENSE
 * fills the first. */
static void got_capacity(struct gstor_ctrl *ctrl)
{
	uint32_t bs = vmb_be32(ctrl->sbuf + 8);

	if (ctrl->sio.moved >= 32 && (bs == 512 || bs == 4096) &&
	    vmb_be64(ctrl->sbuf) < (UINT64_MAX >> 12)) {
		memcpy(ctrl->sbuf + 2048, ctrl->sbuf, 32);
		send_lun_step(ctrl, GSCAN_MODE);
		return;
	}
	rt_warn("scsi", "controller %u LUN %u: capacity not understood; "
		"LUN left out", ctrl->index, ctrl->found[ctrl->at]);
	ctrl->at++;
	next_lun(ctrl);
}

static void got_mode(struct gstor_ctrl *ctrl)
{
	const uint8_t *cap = ctrl->sbuf + 2048;
	bool ro = sio_ok(&ctrl->sio) && ctrl->sio.moved >= 4 &&
		  (ctrl->sbuf[2] & 0x80);

	lun_found(ctrl, ctrl->found[ctrl->at], vmb_be64(cap) + 1,
		  vmb_be32(cap + 8), cap[14] & 0x80, ro);
	ctrl->at++;
	next_lun(ctrl);
}

static bool sio_again(const struct gstor_sio *s)
{
	return s->srb_status == SCSI_SRB_BUSY || s->scsi_status == SCSI_ST_BUSY ||
	       s->key == SCSI_SK_UNIT_ATTENTION;
}

static void step(struct gstor_ctrl *ctrl)
{
	struct gstor_sio *s = &ctrl->sio;

	if (!sio_ok(s) && sio_again(s) && ++ctrl->attempts < GSCAN_ATTEMPTS) {
		sio_cmd(ctrl, s->lun, s->cdb, s->cdb_len, s->len, ctrl->scan);
		return;
	}
	ctrl->attempts = 0;
	if (!sio_ok(s) && ctrl->scan == GSCAN_REPORT) {
		rt_warn("scsi", "controller %u: REPORT LUNS failed (SRB %#x, "
			"status %#x)", ctrl->index, s->srb_status,
			s->scsi_status);
		ctrl->scan = GSCAN_IDLE;
		return;
	}
	if (!sio_ok(s) && ctrl->scan != GSCAN_MODE) {
		ctrl->at++;
		next_lun(ctrl);
	} else if (ctrl->scan == GSCAN_REPORT) {
		got_report(ctrl);
	} else if (ctrl->scan == GSCAN_INQUIRY) {
		got_inquiry(ctrl);
	} else if (ctrl->scan == GSCAN_CAPACITY) {
		got_capacity(ctrl);
	} else {
		got_mode(ctrl);
	}
}

void gstor_scan_tick(struct gstor_ctrl *ctrl)
{
	if (ctrl->scan == GSCAN_IDLE) {
		if (!atomic_load(&ctrl->ready) ||
		    !atomic_exchange(&ctrl->rescan, false))
			return;
		for (unsigned i = 0; i < GSTOR_LUNS; i++)
			if (ctrl->lun[i])
				ctrl->lun[i]->seen = false;
		send_report(ctrl);
		return;
	}
	if (atomic_load_explicit(&ctrl->sio.done, memory_order_acquire))
		step(ctrl);
}
