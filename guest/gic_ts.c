/* Time sync service: the offset of each sample, logged and handed to the
 * configured sink (report, clock, chronyd). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "gic.h"
#include "rt_log.h"

/* Sink failures are logged this many times, then only counted. */
#define TS_ERR_LOG_MAX 3

int gic_ts_open(struct gic_svc *s)
{
	int rc = tsync_sink_open(&s->cfg->ts, &s->sink);

	if (rc)
		rt_err(s->name, "time sync sink: %s", strerror(-rc));
	return rc;
}

void gic_ts_close(struct gic_svc *s)
{
	struct tsync_status st;

	if (!s->sink)
		return;
	tsync_sink_status(s->sink, &st);
	rt_info(s->name, "%" PRIu64 " samples to the sink, %" PRIu64
		" sink errors", st.samples, st.errors);
	tsync_sink_close(s->sink);
	s->sink = NULL;
}

/* 100 ns units; real time counts from 1601 as the host's does. */
static uint64_t ts_100ns(const struct timespec *t, uint64_t epoch)
{
	return epoch + (uint64_t)t->tv_sec * 10000000u +
	       (uint64_t)t->tv_nsec / 100;
}

static const char *ts_kind(const struct ic_ts_sample *ts)
{
	if (ts->sync)
		return "sync";
	return ts->sample ? "sample" : "probe";
}

void gic_ts_act(struct gic_svc *s, const struct ic_ts_sample *ts)
{
	uint64_t now = ts_100ns(&s->rx_real, IC_TS_UNIX_EPOCH_DELTA);
	uint64_t ref = ts_100ns(&s->rx_mono, 0);
	int64_t off = ic_ts_offset(ts, now, ref);
	uint64_t mag = off < 0 ? 0 - (uint64_t)off : (uint64_t)off;
	struct tsync_status st;
	int rc;

	/* Fixed format (seconds with microseconds) for the tests that
	 * read it. */
	rt_info(s->name, "offset %c%" PRIu64 ".%06" PRIu64 " s (%s v%d)",
		off < 0 ? '-' : '+', mag / 10000000u,
		mag % 10000000u / 10,
		ts_kind(ts), ts->v4 ? 4 : s->eng.msg.major);
	/* A probe only asks for an answer; sync and sample carry time. */
	if (!ts->sync && !ts->sample)
		return;
	if (off > INT64_MAX / 100 || off < INT64_MIN / 100) {
		rt_warn(s->name, "offset out of range: not applied");
		return;
	}
	rc = tsync_sink_sample(s->sink, off * 100, &s->rx_real);
	if (!rc)
		return;
	tsync_sink_status(s->sink, &st);
	if (st.errors <= TS_ERR_LOG_MAX)
		rt_warn(s->name, "sink refused the sample: %s%s",
			strerror(-rc), st.errors == TS_ERR_LOG_MAX
			? "; further errors only counted" : "");
}
