/* netvsc's reader must not be left asleep with its TAP queue unwatched
 * after the channel's worker sent (gnet_io_tx_worker).
 *
 * The reader leaves the queue out of its poll while want_room is set
 * and counts on the completion that clears it to write room_efd. The
 * worker's burst used to take part in the flag as the reader does
 * (section_wait): no section free, it set the flag, tried again and,
 * given one, cleared it with a plain store. When another queue's burst
 * gave that section back just before its wake looked at the flag, and
 * the reader looked at the flag between the set and the clear, the
 * reader slept with its queue out of its poll and nothing wrote
 * room_efd again: frames queued later stayed there until a receive
 * batch ran the worker again.
 *
 * That interleaving is made here, step by step, in one process: the
 * real netvsc (gnet_cfg.port: a port of this test's in place of hn0)
 * against a real hvis-host with the bench NIC, and two calls of netvsc
 * wrapped by the linker (--wrap): gvb_tx_room, which only the worker's
 * burst calls, arms the burst; in it gnet_section_get finds no section
 * twice (all in flight), and the third call, the retry after want_room
 * was set, has the reader look at the flag (a room_efd write, as an
 * earlier completion's wake makes) before it takes the section this
 * test holds (the one "given back"). Then frames are queued at the port
 * and must be sent. Usage: net_room_wake HVIS-HOST */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gnet_priv.h"
#include "gvb.h"

extern char **environ;

#define VNET_LEN 12u
#define FRAME_LEN 60u

/* ---- the port: frames handed out one by one, on request ---- */

struct port {
	struct gnet_port p;
	_Atomic unsigned offered; /* frames readv still gives */
	_Atomic uint64_t taken;   /* frames readv gave */
	_Atomic bool up;
	uint8_t frame[FRAME_LEN];
};

static struct port port;

static void fd_set_readable(bool on)
{
	uint64_t v = 1;

	if ((on ? write(port.p.fd, &v, sizeof(v))
		: read(port.p.fd, &v, sizeof(v))) < 0 && errno != EAGAIN)
		perror("port eventfd");
}

static ssize_t port_readv(void *arg, unsigned q, const struct iovec *iov,
			  int n)
{
	unsigned k = atomic_load(&port.offered);

	(void)arg;
	(void)q;
	if (!k || n < 2 || iov[1].iov_len < FRAME_LEN) {
		errno = EAGAIN;
		return -1;
	}
	memset(iov[0].iov_base, 0, VNET_LEN);
	memcpy(iov[1].iov_base, port.frame, FRAME_LEN);
	if (atomic_fetch_sub(&port.offered, 1) == 1)
		fd_set_readable(false);
	atomic_fetch_add(&port.taken, 1);
	return VNET_LEN + FRAME_LEN;
}

static ssize_t port_writev(void *arg, unsigned q, const struct iovec *iov,
			   int n)
{
	ssize_t t = 0;

	(void)arg;
	(void)q;
	for (int i = 0; i < n; i++)
		t += (ssize_t)iov[i].iov_len;
	return t;
}

static void port_up(void *arg, const uint8_t mac[6], uint32_t mtu)
{
	(void)arg;
	(void)mtu;
	memset(port.frame, 0xff, 6);
	memcpy(port.frame + 6, mac, 6);
	port.frame[12] = 0x08;
	atomic_store(&port.up, true);
}

static void port_offer(unsigned k)
{
	atomic_store(&port.offered, k);
	fd_set_readable(true);
}

/* ---- the wrapped calls ---- */

uint32_t __real_gnet_section_get(struct gnet_nic *n);
uint32_t __real_gvb_tx_room(struct gvb_chan *c);

static _Atomic bool armed, retried;
static _Atomic(struct gnet_nic *) nic;
static uint32_t held = NVSP_SECTION_NONE; /* the section "given back" */
static _Thread_local bool in_burst;
static _Thread_local unsigned calls;

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

uint32_t __wrap_gvb_tx_room(struct gvb_chan *c)
{
	in_burst = atomic_exchange(&armed, false);
	calls = 0;
	return __real_gvb_tx_room(c);
}

/* The retry after want_room was set: the reader woken as a completion's
 * wake would, given the time to look at the flag and go back to sleep
 * (without the queue: the flag is set), then the section handed over. */
static uint32_t retry_get(struct gnet_nic *n)
{
	uint64_t one = 1;

	if (write(n->ch[0].room_efd, &one, sizeof(one)) < 0)
		perror("room_efd");
	sleep_ms(200);
	atomic_store(&retried, true);
	return held;
}

uint32_t __wrap_gnet_section_get(struct gnet_nic *n)
{
	atomic_store(&nic, n);
	if (!in_burst)
		return __real_gnet_section_get(n);
	if (++calls < 3)
		return NVSP_SECTION_NONE;
	in_burst = false;
	return retry_get(n);
}

/* ---- host and guest ---- */

static char dir[] = "/tmp/net_room_wake.XXXXXX";
static pid_t host;
static struct rt_loop *loop;
static struct gvb vb;
static pthread_t loop_t;
static bool loop_running;
static _Atomic bool host_gone;

static void *loop_main(void *arg)
{
	rt_loop_run(arg);
	return NULL;
}

static void on_down(struct gvb *b, const char *why, void *arg)
{
	(void)b;
	(void)arg;
	fprintf(stderr, "host gone: %s\n", why);
	atomic_store(&host_gone, true);
}

static bool wait_for(_Atomic bool *flag, long ms)
{
	for (long i = 0; i < ms / 10 && !atomic_load(flag); i++)
		sleep_ms(10);
	return atomic_load(flag);
}

static bool wait_taken(uint64_t want, long ms)
{
	for (long i = 0; i < ms / 10 && atomic_load(&port.taken) < want; i++)
		sleep_ms(10);
	return atomic_load(&port.taken) >= want;
}

static int host_up(const char *exe)
{
	char ctl[PATH_MAX];
	char *argv[] = {(char *)exe, "--dir", dir, "--test-devices", "0",
			"--services", "none", "--quiet", "--once", "--nic",
			"bench", NULL};

	if (!mkdtemp(dir) || posix_spawn(&host, exe, NULL, NULL, argv,
					 environ))
		return -1;
	snprintf(ctl, sizeof(ctl), "%s/ctl.sock", dir);
	for (int i = 0; i < 500 && access(ctl, F_OK); i++)
		sleep_ms(20);
	return access(ctl, F_OK);
}

static const struct gvb_driver *const drivers[] = {&gnet_driver};

static int guest_up(void)
{
	char vmbus[PATH_MAX];
	struct gvb_cfg cfg = {.mem_size = 256ull << 20, .ring_size = 256 << 10,
			      .host_uid = geteuid(), .down = on_down,
			      .vmbus_path = vmbus};

	snprintf(vmbus, sizeof(vmbus), "%s/vmbus.sock", dir);
	port.p = (struct gnet_port){.fd = eventfd(0, EFD_NONBLOCK),
				    .readv = port_readv,
				    .writev = port_writev, .up = port_up};
	gnet_cfg.port = &port.p;
	gnet_cfg.queues = 1;
	loop = rt_loop_new();
	if (port.p.fd < 0 || !loop || gvb_start(&vb, &cfg, loop, drivers, 1))
		return -1;
	loop_running = !pthread_create(&loop_t, NULL, loop_main, loop);
	if (!loop_running)
		return -1;
	return wait_for(&port.up, 10000) ? 0 : -1;
}

static void both_down(void)
{
	char cmd[PATH_MAX];

	if (loop) {
		rt_loop_stop(loop);
		if (loop_running)
			pthread_join(loop_t, NULL);
		gvb_shutdown(&vb);
		rt_loop_free(loop);
	}
	/* --once: it ends with its guest */
	for (int i = 0; host > 0 && i < 1000 &&
			waitpid(host, NULL, WNOHANG) == 0; i++)
		sleep_ms(10);
	if (host > 0) {
		kill(host, SIGKILL);
		waitpid(host, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "%s left behind\n", dir);
}

/* ---- the test ---- */

/* A frame sent by the reader, its completion a receive batch after
 * which the worker's burst runs (armed); again if the reader still held
 * the send side then (the worker only tries it). */
static bool armed_burst(void)
{
	for (int i = 0; i < 20; i++) {
		uint64_t t = atomic_load(&port.taken);

		atomic_store(&armed, true);
		port_offer(1);
		if (!wait_taken(t + 1, 2000))
			return false;
		sleep_ms(300);
		if (!atomic_load(&armed))
			return true;
	}
	return false;
}

static const char *run(void)
{
	struct gnet_nic *n;
	uint64_t t;

	/* the reader sends (and the wrapper learns the adapter) */
	port_offer(1);
	if (!wait_taken(1, 5000) || !(n = atomic_load(&nic)))
		return "the reader sent nothing";
	held = __real_gnet_section_get(n);
	if (held == NVSP_SECTION_NONE)
		return "no section to hold";
	if (!armed_burst())
		return "no burst of the worker's after a receive batch";
	sleep_ms(300);
	t = atomic_load(&port.taken);
	port_offer(8);
	if (!wait_taken(t + 8, 3000))
		return atomic_load(&retried)
			       ? "frames queued after the worker's burst not "
				 "taken within 3 s: the reader sleeps with "
				 "its queue unwatched"
			       : "frames queued after the worker's burst not "
				 "taken within 3 s";
	return NULL;
}

int main(int argc, char **argv)
{
	const char *why;

	if (argc != 2) {
		fprintf(stderr, "usage: net_room_wake HVIS-HOST\n");
		return 2;
	}
	why = host_up(argv[1]) || guest_up()
		      ? "host or netvsc did not come up"
		      : run();
	if (why && atomic_load(&host_gone))
		why = "hvis-host went away during the test";
	both_down();
	if (why) {
		fprintf(stderr, "FAIL: %s\n", why);
		return 1;
	}
	printf("ok\n");
	return 0;
}
