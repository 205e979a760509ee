/* Queues of removed LUNs. Hot remove takes each channel's queue of the
 * LUN away between two of the worker's batches, but its requests may
 * still be at the backend or waiting for room in the guest's ring, and
 * the loop thread never waits for a guest. So a queue that still holds
 * requests is parked on its channel's gone list and closed once every
 * request came back (then no I/O is in flight and its completion thread
 * is idle, so closing it waits for nothing); a timer on the loop looks
 * again until none is left (it reaps a polled queue's completions
 * itself, as the worker no longer sees the queue). Closing the channel
 * ends every wait on the guest (its senders are stopped first) and closes
 * the rest: those with a completion thread at once, polled ones once the
 * worker is joined. A removed LUN is freed with its last queue. Loop
 * thread only. */
#include <stdlib.h>
#include <unistd.h>

#include "hstor_priv.h"
#include "rt_log.h"
#include "rt_loop.h"

#define GONE_POLL_MS 50

/* Every request is back in the free ring: acquire, so that the
 * completion thread's last use of each happens before the close. */
static bool q_idle(struct hstor_q *q)
{
	return atomic_load_explicit(&q->free_prod, memory_order_acquire) -
		       atomic_load_explicit(&q->free_cons,
					    memory_order_acquire) ==
	       HSTOR_DEPTH;
}

/* A polled queue's completions are taken here once the worker let go
 * of it; under ch->lock, as the worker may still put back requests whose
 * replies waited for room (hstor_flush_unsent). */
static bool q_done(struct hstor_chan *ch, struct hstor_q *q)
{
	bool idle;

	if (!q->polled)
		return q_idle(q);
	pthread_mutex_lock(&ch->lock);
	hbk_reap(q->bq);
	idle = q_idle(q);
	pthread_mutex_unlock(&ch->lock);
	return idle;
}

/* A queue taken at the channel's close holds no reference on its LUN. */
static void q_drop(struct hstor_q *q)
{
	struct hstor_lun *l = q->lun;
	bool removed = atomic_load(&q->removing);

	hstor_q_close(q);
	if (removed)
		hstor_lun_put(l);
}

enum reap_what { REAP_IDLE, REAP_THREADED, REAP_ALL };

/* Close the queues of ch's gone list that are idle, that have their own
 * completion thread, or all of them; how many are left. */
static unsigned chan_reap(struct hstor_chan *ch, enum reap_what what)
{
	struct hstor_q **pp = &ch->gone, *q;
	unsigned left = 0;

	while ((q = *pp)) {
		bool now = what == REAP_ALL ? true
			   : what == REAP_THREADED ? !q->polled
						   : q_done(ch, q);

		if (now) {
			*pp = q->gone_next;
			q_drop(q);
		} else {
			pp = &q->gone_next;
			left++;
		}
	}
	return left;
}

static void timer_stop(struct hstor_ctrl *ctrl)
{
	if (ctrl->gone_timer < 0)
		return;
	rt_loop_del(ctrl->d->vm->loop, ctrl->gone_timer);
	close(ctrl->gone_timer);
	ctrl->gone_timer = -1;
}

static unsigned ctrl_reap(struct hstor_ctrl *ctrl)
{
	struct hvm *vm = ctrl->d->vm;
	unsigned left = 0;

	for (uint32_t r = 1; r < VMB_RELID_MAX; r++) {
		struct hvm_chan *c = vm->chans[r];

		if (c && c->dev == ctrl->d && c->priv)
			left += chan_reap(c->priv, REAP_IDLE);
	}
	return left;
}

static void gone_tick(struct rt_loop *loop, int fd, uint32_t ev, void *arg)
{
	struct hstor_ctrl *ctrl = arg;
	uint64_t n;

	(void)loop;
	(void)ev;
	if (read(fd, &n, sizeof(n)) < 0)
		n = 0;
	if (!ctrl_reap(ctrl))
		timer_stop(ctrl);
}

/* After q was taken from its channel (and counted in its LUN's
 * refs): close it now if it is idle, else park it. */
void hstor_gone_add(struct hstor_chan *ch, struct hstor_q *q)
{
	struct hstor_ctrl *ctrl = ch->ctrl;

	atomic_store(&q->removing, true);
	q->gone_next = ch->gone;
	ch->gone = q;
	if (!chan_reap(ch, REAP_IDLE) || ctrl->gone_timer >= 0)
		return;
	ctrl->gone_timer = rt_loop_timer(ctrl->d->vm->loop, GONE_POLL_MS,
					 gone_tick, ctrl);
	if (ctrl->gone_timer < 0)
		rt_warn("scsi", "controller %u: no timer to close the queues "
			"of removed disks: they close with their channels",
			ctrl->index);
}

/* The channel is stopping (its senders no longer wait); its worker may
 * still run. */
void hstor_gone_quiesce(struct hstor_chan *ch)
{
	chan_reap(ch, REAP_THREADED);
}

/* The channel's worker is joined. */
void hstor_gone_close(struct hstor_chan *ch)
{
	chan_reap(ch, REAP_ALL);
}

void hstor_gone_fini(struct hstor_ctrl *ctrl)
{
	timer_stop(ctrl);
}
