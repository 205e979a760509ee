/* A small epoll event loop for the control plane of host and guest
 * (transport socket, control socket, timers). Data paths run on channel
 * threads (rt_chan.h), not here. */
#ifndef HVIS_RT_LOOP_H
#define HVIS_RT_LOOP_H

#include <stdint.h>

struct rt_loop;
typedef void rt_loop_fn(struct rt_loop *l, int fd, uint32_t events,
			void *arg);

struct rt_loop *rt_loop_new(void);
void rt_loop_free(struct rt_loop *l);
/* Watch fd for events (EPOLLIN, ...); 0 or -errno. */
int rt_loop_add(struct rt_loop *l, int fd, uint32_t events, rt_loop_fn *fn,
		void *arg);
void rt_loop_del(struct rt_loop *l, int fd);
/* Change the events a watched fd waits for; 0 or -errno. */
int rt_loop_mod(struct rt_loop *l, int fd, uint32_t events);
/* Loop thread only: run fn(l, -1, 0, arg) once, after the handlers of
 * the current batch (or at the next turn), never from inside the caller:
 * for work that must not re-enter the code that asked for it, such as
 * dropping a connection from inside one of its send calls. Returns a
 * token for rt_loop_cancel, or 0 when out of memory. */
uint64_t rt_loop_defer(struct rt_loop *l, rt_loop_fn *fn, void *arg);
/* Forget a deferred call that has not run yet (its arg is going away). */
void rt_loop_cancel(struct rt_loop *l, uint64_t token);
/* A periodic timer; returns its fd (remove with rt_loop_del + close). */
int rt_loop_timer(struct rt_loop *l, uint64_t period_ms, rt_loop_fn *fn,
		  void *arg);
/* Start a timer's period again from now (its first expiry is a whole
 * period away): a deadline pushed back by progress. 0 or -errno. */
int rt_loop_timer_reset(struct rt_loop *l, int fd);
/* Run until rt_loop_stop; 0 or -errno. */
int rt_loop_run(struct rt_loop *l);
/* Thread-safe and async-signal-safe. */
void rt_loop_stop(struct rt_loop *l);
/* For a program's main loop: SIGINT and SIGTERM stop l (a clean exit
 * instead of dying mid-operation), and SIGPIPE is ignored so a peer that
 * went away is an error return, not a kill. One loop per process. */
void rt_loop_stop_on_signals(struct rt_loop *l);
/* For a program's main loop: signal sig runs fn(l, -1, 0, arg) on the
 * loop thread (SIGHUP's reload, say), once for several that came before
 * its turn. At most 4 such signals per process; 0 or -errno. */
int rt_loop_on_signal(struct rt_loop *l, int sig, rt_loop_fn *fn, void *arg);
/* Raise the process's descriptor limit to its hard limit: every channel
 * holds two eventfds on each side (and frames waiting to be sent hold
 * copies), so 4 x 64 channels need more than the usual 1024. */
void rt_raise_fd_limit(void);

#endif
