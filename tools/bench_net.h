/* `hvis-bench net`'s two parts (bench_net.c, bench_net_frames.c). Each
 * prints its rows; dir is a runtime directory of the caller's, bin_dir
 * where hvis-host, hvis-guest and hvis-ctl are. 0, or -1 when a figure
 * could not be measured. */
#ifndef HVIS_BENCH_NET_H
#define HVIS_BENCH_NET_H

int bench_net_e2e(const char *dir, const char *bin_dir, double seconds);
int bench_net_frames(const char *dir, const char *bin_dir, double seconds);

#endif
