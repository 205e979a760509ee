/* VSS (live backup) service: the hot-backup check, freeze and thaw through
 * guest/os/fsfreeze. The fsfreeze object lives as long as the channel, so
 * a rescind or a lost host thaws whatever is still frozen.
 *
 * Nothing is written to the log while filesystems are frozen: it may be a
 * file on one of them, and a write there would block the writing thread
 * (this worker, or any other) until the watchdog thaws. Lines logged
 * meanwhile are held in memory (rt_log_hold) and written after the thaw.
 *
 * Answers (vss_wire.h): a FREEZE that froze nothing is answered
 * VSS_E_INCONSISTENT_SNAPSHOT, a THAW after the freeze timeout thawed
 * early VSS_E_WRITER_TIMEOUT, any other failure E_FAIL; the words of each
 * (which path, which hook) go to the HvisVssLastFailure item of the KVP
 * auto pool (gic.h), set before the answer is sent. */
#include <errno.h>
#include <string.h>

#include "fsfreeze.h"
#include "gic.h"
#include "rt_log.h"

#define VSS_REASON_MAX 256

/* Log lines wait in memory while filesystems are frozen: stderr may be a
 * file on one of them, and a write would block until the thaw. */
static void hold_logs(int frozen)
{
	if (frozen)
		rt_log_hold();
	else
		rt_log_release();
}

int gic_vss_open(struct gic_svc *s)
{
	const struct gic_cfg *c = s->cfg;
	struct fsfreeze_config fc = {
		.mounts = c->freeze,
		.n_mounts = c->n_freeze,
		.mountinfo = c->mountinfo,
		.pre_freeze_hook = c->pre_freeze,
		.post_thaw_hook = c->post_thaw,
		.timeout_ms = c->freeze_timeout_ms,
		.frozen = hold_logs,
	};
	char **paths;
	size_t n;
	int rc = fsfreeze_create(&fc, &s->fsf);

	if (rc) {
		rt_err(s->name, "fsfreeze: %s", strerror(-rc));
		return rc;
	}
	/* Say up front what a backup will freeze. */
	if (fsfreeze_plan(&fc, &paths, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			rt_info(s->name, "backups freeze %s", paths[i]);
		if (!n)
			rt_info(s->name, "backups freeze no filesystem");
		fsfreeze_plan_free(paths, n);
	}
	return 0;
}

void gic_vss_close(struct gic_svc *s)
{
	struct fsfreeze_stats st;
	bool frozen;

	if (!s->fsf)
		return;
	/* Thaw before logging: the log may be on a frozen filesystem. */
	frozen = fsfreeze_is_frozen(s->fsf);
	fsfreeze_get_stats(s->fsf, &st);
	fsfreeze_destroy(s->fsf);
	s->fsf = NULL;
	if (frozen)
		rt_warn(s->name, "channel gone while frozen: thawed");
	rt_info(s->name, "%llu freezes, %llu thaws, %llu thawed on timeout, "
		"%llu failures", (unsigned long long)st.freezes,
		(unsigned long long)st.thaws,
		(unsigned long long)st.auto_thaws,
		(unsigned long long)st.failures);
}

static uint32_t vss_freeze(struct gic_svc *s)
{
	char why[VSS_REASON_MAX];
	int rc;

	gic_reason_clear(GIC_REASON_VSS);
	rc = fsfreeze_freeze(s->fsf);
	fsfreeze_reason(s->fsf, why, sizeof(why));
	if (!rc && fsfreeze_frozen_count(s->fsf))
		return IC_S_OK;
	if (!rc) {
		gic_reason_set(GIC_REASON_VSS, "FREEZE: %s%s", why,
			       s->cfg->n_freeze || !s->cfg->freeze ? ""
			       : " (hvis-guest was given no --freeze PATH, "
				 "--freeze all or --system)");
		rt_warn(s->name, "froze nothing: %s", why);
		return VSS_E_INCONSISTENT_SNAPSHOT;
	}
	gic_reason_set(GIC_REASON_VSS, "FREEZE: %s",
		       why[0] ? why : strerror(-rc));
	rt_warn(s->name, "freeze failed: %s", why[0] ? why : strerror(-rc));
	return IC_E_FAIL;
}

static uint32_t vss_thaw(struct gic_svc *s)
{
	char why[VSS_REASON_MAX];
	int rc = fsfreeze_thaw(s->fsf);

	if (!rc) {
		rt_info(s->name, "thawed (%zu filesystems were frozen)",
			fsfreeze_frozen_count(s->fsf));
		return IC_S_OK;
	}
	fsfreeze_reason(s->fsf, why, sizeof(why));
	if (rc == -ETIMEDOUT) {
		gic_reason_set(GIC_REASON_VSS, "THAW: thawed early, before "
			       "the THAW came: %s (hvis-guest "
			       "--freeze-timeout)", why);
		rt_warn(s->name, "thaw came after the freeze timeout: the "
			"filesystems were thawed early, the snapshot is not "
			"consistent");
		return VSS_E_WRITER_TIMEOUT;
	}
	gic_reason_set(GIC_REASON_VSS, "THAW: %s",
		       why[0] ? why : strerror(-rc));
	rt_warn(s->name, "thaw failed: %s", why[0] ? why : strerror(-rc));
	return IC_E_FAIL;
}

void gic_vss_act(struct gic_svc *s, uint8_t op, uint64_t xid)
{
	uint32_t status = IC_S_OK, flags = 0;
	size_t len = 0;

	switch (op) {
	case VSS_OP_HOT_BACKUP:
		/* As Linux: backups are supported, without auto-recovery. */
		flags = VSS_HBU_NO_AUTO_RECOVERY;
		rt_info(s->name, "hot backup check: supported");
		break;
	case VSS_OP_FREEZE:
		rt_info(s->name, "freezing");
		status = vss_freeze(s);
		break;
	case VSS_OP_THAW:
		status = vss_thaw(s);
		break;
	default:
		status = IC_E_FAIL;
		break;
	}
	if (status != IC_S_OK)
		s->st.os_failures++;
	if (vss_guest_reply(&s->eng, status, flags, s->out, sizeof(s->out),
			    &len) == VMB_OK)
		gic_reply(s, xid, len);
}
