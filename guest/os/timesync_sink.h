/* Where the guest's time sync samples go. A sample is the measured offset
 * host time - guest time (ns; positive: the guest is behind) and the guest
 * CLOCK_REALTIME instant it refers to. Sinks:
 *   TSYNC_REPORT  keep statistics only (last, mean, min, max)
 *   TSYNC_CLOCK   correct the system clock: step (ADJ_SETOFFSET, relative
 *                 and atomic) when |offset| >= step_threshold, else slew
 *                 (ADJ_OFFSET in ns, kernel PLL); needs CAP_SYS_TIME
 *   TSYNC_CHRONY  hand the sample to chronyd's SOCK refclock driver
 *                 (`refclock SOCK /path refid HV` in chrony.conf), one
 *                 struct tsync_sock_sample datagram per sample
 * Every sink keeps the statistics. */
#ifndef HVIS_GUEST_TIMESYNC_SINK_H
#define HVIS_GUEST_TIMESYNC_SINK_H

#include <stdint.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>

/* chrony's refclock_sock.c struct sock_sample, native layout. */
#define TSYNC_SOCK_MAGIC	0x534f434b
struct tsync_sock_sample {
	struct timeval tv;	/* local (guest) time of the measurement */
	double offset;		/* reference - local, seconds */
	int pulse;		/* 0: a time sample, not a PPS pulse */
	int leap;		/* 0 normal, 1 insert, 2 delete */
	int _pad;
	int magic;		/* TSYNC_SOCK_MAGIC */
};
_Static_assert(sizeof(struct tsync_sock_sample) ==
	       sizeof(struct timeval) + 8 + 4 * 4,
	       "chrony sock_sample layout");

enum tsync_mode { TSYNC_REPORT, TSYNC_CLOCK, TSYNC_CHRONY };

struct tsync_config {
	enum tsync_mode mode;
	const char *chrony_socket;	/* TSYNC_CHRONY: the refclock path */
	int64_t step_threshold_ns;	/* TSYNC_CLOCK; 0: 500 ms */
	int64_t deadband_ns;		/* TSYNC_CLOCK: ignore below; 0: none */
};

struct tsync_status {
	uint64_t samples;	/* accepted */
	uint64_t errors;	/* sink failures (send, adjtimex) */
	uint64_t steps, slews;	/* TSYNC_CLOCK actions */
	int64_t last_ns, min_ns, max_ns;
	int64_t mean_ns;	/* over all accepted samples */
	struct timespec last_at;
	int last_errno;
};

/* What TSYNC_CLOCK does with one offset: a pure function of the offset
 * and the policy, so it is testable without touching the clock. */
enum tsync_action { TSYNC_ACT_NONE, TSYNC_ACT_STEP, TSYNC_ACT_SLEW };
struct tsync_adjust {
	enum tsync_action action;
	struct timex tx;	/* for clock_adjtime(CLOCK_REALTIME, &tx) */
};

void tsync_plan(int64_t offset_ns, int64_t step_threshold_ns,
		int64_t deadband_ns, struct tsync_adjust *adj);
/* Applies a planned adjustment (privileged). 0 or -errno. */
int tsync_apply(const struct tsync_adjust *adj);

/* The datagram for chronyd. */
void tsync_sock_sample_build(struct tsync_sock_sample *s,
			     const struct timespec *at, int64_t offset_ns,
			     int leap);

struct tsync_sink;

/* 0 or -errno. TSYNC_CHRONY does not need chronyd running yet: a sample
 * sent while nobody listens counts as an error, later ones get through. */
int tsync_sink_open(const struct tsync_config *cfg, struct tsync_sink **out);
void tsync_sink_close(struct tsync_sink *s);

/* One sample; at NULL means "now". 0 or -errno of the sink. */
int tsync_sink_sample(struct tsync_sink *s, int64_t offset_ns,
		      const struct timespec *at);
void tsync_sink_status(struct tsync_sink *s, struct tsync_status *st);

#endif
