/* Time sync sinks. See timesync_sink.h. */
#include "timesync_sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NSEC_PER_SEC		1000000000LL
#define DEFAULT_STEP_NS		(500 * 1000 * 1000LL)
/* The kernel PLL takes at most +-0.5 s (MAXPHASE) per ADJ_OFFSET. */
#define MAX_SLEW_NS		(500 * 1000 * 1000LL - 1)

struct tsync_sink {
	pthread_mutex_t mu;
	struct tsync_config cfg;
	int fd;
	struct sockaddr_un addr;
	double mean;
	struct tsync_status st;
};

/* |v| without overflow: INT64_MIN has no positive int64_t. */
static uint64_t mag64(int64_t v)
{
	return v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
}

void tsync_plan(int64_t offset_ns, int64_t step_threshold_ns,
		int64_t deadband_ns, struct tsync_adjust *adj)
{
	int64_t thr = step_threshold_ns > 0 ? step_threshold_ns
					    : DEFAULT_STEP_NS;

	memset(adj, 0, sizeof(*adj));
	if (offset_ns == 0 ||
	    (deadband_ns > 0 && mag64(offset_ns) < (uint64_t)deadband_ns)) {
		adj->action = TSYNC_ACT_NONE;
		return;
	}
	if (mag64(offset_ns) >= (uint64_t)thr) {
		/* ADJ_SETOFFSET adds the delta in one step inside the kernel,
		 * with no read-modify-write race against the clock. With
		 * ADJ_NANO, tv_usec holds nanoseconds, normalised to
		 * [0, 1e9) with tv_sec carrying the sign. */
		int64_t sec = offset_ns / NSEC_PER_SEC;
		int64_t ns = offset_ns % NSEC_PER_SEC;

		if (ns < 0) {
			ns += NSEC_PER_SEC;
			sec--;
		}
		adj->action = TSYNC_ACT_STEP;
		adj->tx.modes = ADJ_SETOFFSET | ADJ_NANO;
		adj->tx.time.tv_sec = (time_t)sec;
		adj->tx.time.tv_usec = (suseconds_t)ns;
		return;
	}
	int64_t slew = offset_ns;

	if (slew > MAX_SLEW_NS)
		slew = MAX_SLEW_NS;
	if (slew < -MAX_SLEW_NS)
		slew = -MAX_SLEW_NS;
	adj->action = TSYNC_ACT_SLEW;
	adj->tx.modes = ADJ_OFFSET | ADJ_NANO | ADJ_STATUS;
	adj->tx.status = STA_PLL;
	adj->tx.offset = (long)slew;
}

int tsync_apply(const struct tsync_adjust *adj)
{
	struct timex tx = adj->tx;

	if (adj->action == TSYNC_ACT_NONE)
		return 0;
	if (clock_adjtime(CLOCK_REALTIME, &tx) < 0)
		return -errno;
	return 0;
}

void tsync_sock_sample_build(struct tsync_sock_sample *s,
			     const struct timespec *at, int64_t offset_ns,
			     int leap)
{
	memset(s, 0, sizeof(*s));
	s->tv.tv_sec = at->tv_sec;
	s->tv.tv_usec = at->tv_nsec / 1000;
	s->offset = (double)offset_ns / 1e9;
	s->pulse = 0;
	s->leap = leap;
	s->magic = TSYNC_SOCK_MAGIC;
}

int tsync_sink_open(const struct tsync_config *cfg, struct tsync_sink **out)
{
	struct tsync_sink *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->cfg.chrony_socket = NULL;	/* not kept: copied into addr */
	s->fd = -1;
	if (cfg->mode == TSYNC_CHRONY) {
		if (!cfg->chrony_socket ||
		    strlen(cfg->chrony_socket) >= sizeof(s->addr.sun_path)) {
			free(s);
			return -EINVAL;
		}
		s->addr.sun_family = AF_UNIX;
		strcpy(s->addr.sun_path, cfg->chrony_socket);
		/* Non-blocking: a stalled chronyd must not stall the time
		 * sync channel; such samples are dropped and counted. */
		s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
			       SOCK_NONBLOCK, 0);
		if (s->fd < 0) {
			int e = errno;

			free(s);
			return -e;
		}
	} else if (cfg->mode != TSYNC_REPORT && cfg->mode != TSYNC_CLOCK) {
		free(s);
		return -EINVAL;
	}
	pthread_mutex_init(&s->mu, NULL);
	*out = s;
	return 0;
}

void tsync_sink_close(struct tsync_sink *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void account(struct tsync_sink *s, int64_t off,
		    const struct timespec *at)
{
	struct tsync_status *st = &s->st;

	if (!st->samples || off < st->min_ns)
		st->min_ns = off;
	if (!st->samples || off > st->max_ns)
		st->max_ns = off;
	st->samples++;
	s->mean += ((double)off - s->mean) / (double)st->samples;
	/* Offsets near the int64_t limits round to +-2^63 as doubles;
	 * converting 2^63 back is undefined (x86 yields INT64_MIN). */
	if (s->mean >= 0x1p63)
		st->mean_ns = INT64_MAX;
	else if (s->mean <= -0x1p63)
		st->mean_ns = INT64_MIN;
	else
		st->mean_ns = (int64_t)s->mean;
	st->last_ns = off;
	st->last_at = *at;
}

static int deliver(struct tsync_sink *s, int64_t off,
		   const struct timespec *at)
{
	if (s->cfg.mode == TSYNC_CHRONY) {
		struct tsync_sock_sample smp;

		tsync_sock_sample_build(&smp, at, off, 0);
		if (sendto(s->fd, &smp, sizeof(smp), MSG_NOSIGNAL,
			   (struct sockaddr *)&s->addr, sizeof(s->addr)) !=
		    (ssize_t)sizeof(smp))
			return -errno;
		return 0;
	}
	if (s->cfg.mode == TSYNC_CLOCK) {
		struct tsync_adjust adj;

		tsync_plan(off, s->cfg.step_threshold_ns, s->cfg.deadband_ns,
			   &adj);
		int rc = tsync_apply(&adj);

		if (!rc && adj.action == TSYNC_ACT_STEP)
			s->st.steps++;
		if (!rc && adj.action == TSYNC_ACT_SLEW)
			s->st.slews++;
		return rc;
	}
	return 0;
}

int tsync_sink_sample(struct tsync_sink *s, int64_t offset_ns,
		      const struct timespec *at)
{
	struct timespec now;

	if (!at) {
		clock_gettime(CLOCK_REALTIME, &now);
		at = &now;
	}
	pthread_mutex_lock(&s->mu);
	account(s, offset_ns, at);
	int rc = deliver(s, offset_ns, at);

	if (rc) {
		s->st.errors++;
		s->st.last_errno = -rc;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void tsync_sink_status(struct tsync_sink *s, struct tsync_status *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
}
