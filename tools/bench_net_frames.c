/* `hvis-bench net`'s frames part: netvsc to netvsp without a TAP. */
#include <stdio.h>

#include "bench_net.h"

int bench_net_frames(const char *dir, const char *bin_dir, double seconds)
{
	(void)dir;
	(void)bin_dir;
	(void)seconds;
	printf("\nframes: not measured yet (no TAP-less port)\n");
	return 0;
}
