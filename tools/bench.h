/* hvis-bench: what the benchmarks share. Each figure is printed beside a
 * limit measured in the same run (memcpy, fio, ...), so that a reader can
 * judge it on any machine. */
#ifndef HVIS_BENCH_H
#define HVIS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define BENCH_PROG "hvis-bench"

/* CLOCK_MONOTONIC (vDSO: no system call), in seconds or nanoseconds. */
double bench_now_s(void);
uint64_t bench_now_ns(void);

/* Single-core memcpy of len bytes between two buffers for about secs
 * seconds; GB/s (1e9 bytes). */
double bench_memcpy_gbps(size_t len, double secs);

/* Pin the calling thread (and what it forks) to cpu; -1 leaves it. */
void bench_pin_self(int cpu);

/* Percentile pct (0..100] of n samples, which are sorted in place. */
uint32_t bench_percentile(uint32_t *v, size_t n, double pct);

/* The floor under any round trip between CPUs a and b: one cache line
 * handed there and back, rounds times, by two spinning threads (the
 * caller's, pinned to a, and one pinned to b). p50/p99 in ns; 0 or -1. */
int bench_pingpong(int cpu_a, int cpu_b, uint32_t rounds, uint32_t *p50,
		   uint32_t *p99);

/* Other programs. bench_spawn: argv started (PATH searched), its pid or
 * -1; bench_spawn_quiet: the same, its output thrown away. bench_reap:
 * SIGTERM and wait, SIGKILL after 10 s (pid <= 0: nothing).
 * bench_capture: argv run to its end, what it printed (malloc'd; NULL on
 * failure).
 * bench_sh: a /bin/sh command line (printf format; only names this
 * program made go in), its output thrown away, run to its end: its exit
 * status, or -1. bench_wait_path: path exists within 10 s.
 * bench_wait_exit: child pid ended (and was reaped) within secs. */
int bench_spawn(const char *const *argv);
int bench_spawn_quiet(const char *const *argv);
void bench_reap(int pid);
char *bench_capture(const char *const *argv);
int bench_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool bench_wait_path(const char *path);
bool bench_wait_exit(int pid, double secs);

/* The directory of this program (exe, PATH_MAX bytes: hvis-host,
 * hvis-guest and hvis-ctl are taken from there) and a new runtime
 * directory of the run's own under $TMPDIR (dir, n bytes). 0, or -1
 * after saying why on stderr. */
int bench_dirs(char *exe, char *dir, size_t n);

/* `hvis-bench disk ...`: argv[0] is "disk". Exit status. */
int bench_disk_main(int argc, char **argv);
void bench_disk_usage(FILE *f);

/* `hvis-bench ring ...`: argv[0] is "ring". Exit status. */
int bench_ring_main(int argc, char **argv);
void bench_ring_usage(FILE *f);

/* `hvis-bench net ...`: argv[0] is "net". Exit status. */
int bench_net_main(int argc, char **argv);
void bench_net_usage(FILE *f);

#endif
