/* `hvis-bench net`'s two parts (bench_net.c, bench_net_frames.c). Each
 * prints its rows; dir is a runtime directory of the caller's, bin_dir
 * where hvis-host, hvis-guest and hvis-ctl are. 0, or -1 when a figure
 * could not be measured. */
#ifndef HVIS_BENCH_NET_H
#define HVIS_BENCH_NET_H

#include <stdbool.h>
#include <stdint.h>

/* The network adapter's channel as the host counts it (hvis-ctl
 * channels --json in dir): signals each way and frames through the
 * port each way; ok false when none was found. */
struct bench_nctr {
	uint64_t hsig, gsig, tx_frames, rx_frames;
	bool ok;
};

struct bench_nctr bench_net_counters(const char *dir, const char *bin_dir);

int bench_net_e2e(const char *dir, const char *bin_dir, double seconds);
int bench_net_frames(const char *dir, const char *bin_dir, double seconds);

#endif
