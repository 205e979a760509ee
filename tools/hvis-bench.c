/* hvis-bench: measurements of hvis, each beside a limit measured in the
 * same run. Subcommands live in bench_*.c. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "hvis_paths.h"
#include "rt_log.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hvis-bench COMMAND [OPTIONS]\n"
		   "       hvis-bench --help | --version\n"
		   "commands:\n"
		   "  ring    one VMBus channel between two processes: "
		   "throughput by packet size,\n"
		   "          round-trip latency\n"
		   "  disk    the synthetic SCSI disk (storvsc to storvsp) "
		   "beside fio on the\n"
		   "          image, and its NBD export beside qemu-nbd\n"
		   "  net     the synthetic network adapter: frames between "
		   "netvsc and netvsp,\n"
		   "          iperf3 over hn0 and a host TAP beside a veth pair\n");
	bench_ring_usage(f);
	bench_disk_usage(f);
	bench_net_usage(f);
}

int main(int argc, char **argv)
{
	rt_log_init(argv[0], RT_LOG_WARN);
	if (argc < 2) {
		hvis_refuse(BENCH_PROG, "no command (see hvis-bench --help)");
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("hvis-bench %s\n", HVIS_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "ring"))
		return bench_ring_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "disk"))
		return bench_disk_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "net"))
		return bench_net_main(argc - 1, argv + 1);
	hvis_refuse(BENCH_PROG, "unknown command '%s' (see hvis-bench --help)",
		    argv[1]);
	return 2;
}
