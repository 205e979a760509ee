/* `hvis-bench net`'s two parts (bench_net.c, bench_net_frames.c). Each
 * prints its rows; dir is a runtime directory of the caller's, bin_dir
 * where hvis-host, hvis-guest and hvis-ctl are. 0, or -1 when a figure
 * could not be measured. */
#ifndef HVIS_BENCH_NET_H
#define HVIS_BENCH_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/* Output: tables, or with --json one document printed at the end.
 * bench_net_say: text, only without --json. bench_net_row: row (taken
 * over) added to part's list in the document; false without --json (row
 * freed: print the text instead). bench_net_set: key of the document. */
void bench_net_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool bench_net_row(const char *part, json_t *row);
void bench_net_set(const char *key, json_t *v);

/* The network adapter's channels as the host counts them (hvis-ctl
 * channels --json in dir), summed: signals each way and frames through
 * the port each way; open: the channels open; ok false when none was
 * found. */
struct bench_nctr {
	uint64_t hsig, gsig, tx_frames, rx_frames;
	unsigned open;
	bool ok;
};

struct bench_nctr bench_net_counters(const char *dir, const char *bin_dir);

/* The TAP relay (bench_net_relay.c): TAP devices name[i] in namespaces
 * ns[i], up, joined by a thread each way on one CPU. 0, or -errno with
 * why; *out is to be stopped either way. */
struct bench_relay;
int bench_relay_start(struct bench_relay **out, const char *const ns[2],
		      const char *const name[2], char *why, size_t n);
/* Threads joined, devices gone; NULL is nothing. */
void bench_relay_stop(struct bench_relay *r);

int bench_net_e2e(const char *dir, const char *bin_dir, double seconds);
int bench_net_frames(const char *dir, const char *bin_dir, double seconds);

#endif
