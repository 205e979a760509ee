/* hvis-bench: clocks, the memcpy reference, CPU pinning, percentiles,
 * other programs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "rt_log.h"

extern char **environ;

double bench_now_s(void)
{
	return (double)bench_now_ns() / 1e9;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The copies run in rounds that double, so the clock is read rarely; the
 * destination is read back once so that they cannot be dropped. */
double bench_memcpy_gbps(size_t len, double secs)
{
	/* dst - src is not a multiple of 4 KiB: such aliasing would stall
	 * the loads on false dependencies and understate memcpy. */
	uint8_t *buf = malloc(2 * (size_t)len + 4096), *src = buf;
	uint8_t *dst = buf + len + 2048;
	volatile uint8_t sink;
	uint64_t bytes = 0, rounds = 1;
	double t0, dt;

	if (!buf)
		return 0;
	memset(src, 0x5a, len);
	memset(dst, 0, len); /* fault the pages in before timing */
	t0 = bench_now_s();
	do {
		for (uint64_t i = 0; i < rounds; i++) {
			memcpy(dst, src, len);
			src[bytes % len] ^= (uint8_t)i;
			bytes += len;
		}
		rounds *= 2;
		dt = bench_now_s() - t0;
	} while (dt < secs);
	sink = dst[len / 2];
	(void)sink;
	free(buf);
	return (double)bytes / dt / 1e9;
}

void bench_pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		rt_warn("bench", "cannot pin to CPU %d: %s", cpu,
			strerror(errno));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least pct% at or below it. */
uint32_t bench_percentile(uint32_t *v, size_t n, double pct)
{
	size_t rank;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	rank = (size_t)((pct / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return v[(rank > n ? n : rank) - 1];
}

/* ---- the floor of a round trip: one cache line between two CPUs ---- */

struct pingpong {
	_Alignas(64) _Atomic uint32_t turn; /* odd: B's move, even: A's */
	int cpu_b;
	uint32_t rounds;
};

static void *pong_main(void *arg)
{
	struct pingpong *p = arg;

	bench_pin_self(p->cpu_b);
	for (uint32_t i = 0; i < p->rounds; i++) {
		while (atomic_load_explicit(&p->turn, memory_order_acquire) !=
		       2 * i + 1)
			;
		atomic_store_explicit(&p->turn, 2 * i + 2,
				      memory_order_release);
	}
	return NULL;
}

int bench_pingpong(int cpu_a, int cpu_b, uint32_t rounds, uint32_t *p50,
		   uint32_t *p99)
{
	struct pingpong p = { .cpu_b = cpu_b, .rounds = rounds };
	uint32_t *lat = malloc(rounds * sizeof(*lat));
	pthread_t t;

	if (!lat || pthread_create(&t, NULL, pong_main, &p)) {
		free(lat);
		return -1;
	}
	bench_pin_self(cpu_a);
	for (uint32_t i = 0; i < rounds; i++) {
		uint64_t t0 = bench_now_ns();

		atomic_store_explicit(&p.turn, 2 * i + 1, memory_order_release);
		while (atomic_load_explicit(&p.turn, memory_order_acquire) !=
		       2 * i + 2)
			;
		lat[i] = (uint32_t)(bench_now_ns() - t0);
	}
	pthread_join(t, NULL);
	*p50 = bench_percentile(lat, rounds, 50);
	*p99 = bench_percentile(lat, rounds, 99);
	free(lat);
	return 0;
}

/* ---- other programs ---- */

/* Output flushed first: a child's lines come after what was printed. */
static int spawn_fa(const char *const *argv, bool quiet)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	fflush(stdout);
	posix_spawn_file_actions_init(&fa);
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
						 0);
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
	}
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char **)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc ? -1 : pid;
}

int bench_spawn(const char *const *argv)
{
	return spawn_fa(argv, false);
}

int bench_spawn_quiet(const char *const *argv)
{
	return spawn_fa(argv, true);
}

bool bench_wait_exit(int pid, double secs)
{
	struct timespec ms = {0, 10000000};

	for (int i = 0; i < secs * 100; i++, nanosleep(&ms, NULL))
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return true;
	return false;
}

/* A child that does not end within 10 s of SIGTERM is killed and named:
 * a benchmark must not hang on a program that hangs. */
void bench_reap(int pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	if (bench_wait_exit(pid, 10))
		return;
	fprintf(stderr, "hvis-bench: pid %d still there 10 s after SIGTERM; "
		"killed\n", pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

char *bench_capture(const char *const *argv)
{
	posix_spawn_file_actions_t fa;
	char *out = NULL;
	size_t n = 0;
	int fds[2], rc;
	pid_t pid;
	FILE *f;

	if (pipe(fds))
		return NULL;
	fflush(stdout);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char **)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	f = fdopen(fds[0], "r");
	if (!rc && f && getdelim(&out, &n, '\0', f) < 0) {
		free(out);
		out = NULL;
	}
	if (f)
		fclose(f);
	if (!rc)
		waitpid(pid, NULL, 0);
	return out;
}

int bench_sh(const char *fmt, ...)
{
	char cmd[1024];
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	int st = -1, rc;
	va_list ap;
	pid_t pid;

	va_start(ap, fmt);
	rc = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (rc < 0 || (size_t)rc >= sizeof(cmd))
		return -1;
	pid = spawn_fa(argv, true);
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool bench_wait_path(const char *path)
{
	struct timespec ms = {0, 20000000};

	for (int i = 0; i < 500; i++, nanosleep(&ms, NULL))
		if (!access(path, F_OK))
			return true;
	return false;
}

int bench_dirs(char *exe, char *dir, size_t n)
{
	ssize_t len = readlink("/proc/self/exe", exe, PATH_MAX - 1);
	const char *tmp = getenv("TMPDIR");

	if (len <= 0) {
		fprintf(stderr, "hvis-bench: /proc/self/exe: %s\n",
			strerror(errno));
		return -1;
	}
	exe[len] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(dir, n, "%s/hvis-bench.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir))
		return 0;
	fprintf(stderr, "hvis-bench: cannot make %s: %s\n", dir,
		strerror(errno));
	return -1;
}
