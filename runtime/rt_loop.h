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
/* A periodic timer; returns its fd (remove with rt_loop_del + close). */
int rt_loop_timer(struct rt_loop *l, uint64_t period_ms, rt_loop_fn *fn,
		  void *arg);
/* Run until rt_loop_stop; 0 or -errno. */
int rt_loop_run(struct rt_loop *l);
/* Thread-safe and async-signal-safe. */
void rt_loop_stop(struct rt_loop *l);
/* For a program's main loop: SIGINT and SIGTERM stop l (a clean exit
 * instead of dying mid-operation), and SIGPIPE is ignored so a peer that
 * went away is an error return, not a kill. One loop per process. */
void rt_loop_stop_on_signals(struct rt_loop *l);

#endif
