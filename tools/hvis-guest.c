/* hvis-guest: the guest VMBus stack and its drivers in user space,
 * attached to an hvis-host. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gic.h"
#include "gtdev.h"
#include "hvis_paths.h"
#include "kvp_ipinfo.h"
#include "rt_log.h"

#define RETRY_MS 500
#define MAX_FREEZE 64

static void usage(FILE *f)
{
	fprintf(f,
"usage: hvis-guest [options]\n"
"  --name NAME          VM name (default " HVIS_DEFAULT_VM ")\n"
"  --dir DIR            runtime directory of the VM (as for hvis-host)\n"
"  --vmbus PATH         VMBus socket (default DIR/" HVIS_VMBUS_SOCK ")\n"
"  --host-user USER     attach to a host run by USER (name or uid;\n"
"                       default: only a host run by yourself)\n"
"  --memory MIB         guest memory (default 256)\n"
"  --max-version X.Y    highest VMBus version to try, 0.13 or newer\n"
"                       (default newest)\n"
"  --ring-size KIB      each ring incl. header page (default 256)\n"
"  --poll               channel workers poll instead of sleeping\n"
"  --reconnect          when the host goes away, retry every 0.5 s\n"
"  --traffic MODE       test device traffic: echo (default), sink,\n"
"                       source or none\n"
"  --size N             bytes per DATA packet (default 64)\n"
"  --burst N            packets per channel every 10 ms (default 8)\n"
"  --window N           echo requests in flight per channel (default 256)\n"
"  --count N            sink/source packets; echo: stop after N (0 = no)\n"
"  --subchannels K      sub-channels to ask for (default: all allowed)\n"
"  --open-delay MS      test hook: hold each OPENCHANNEL back MS ms,\n"
"                        reading nothing from the host meanwhile (so\n"
"                        channels open one hold after another)\n"
"  --retarget-after MS  test hook: MS ms after start, move every open\n"
"                       channel to the next VP (MODIFYCHANNEL, 4.1+)\n"
"integration services:\n"
"  --no-services        only the test device (no heartbeat, shutdown,\n"
"                       time sync, KVP, VSS)\n"
"  --shutdown-cmd CMD   run CMD (sh -c) on the host's shutdown request,\n"
"                       with $1 and HVIS_SHUTDOWN_ACTION poweroff, reboot\n"
"                       or hibernate, $2 \"force\" and HVIS_SHUTDOWN_FORCE,\n"
"                       HVIS_SHUTDOWN_REASON(_CODE); default: exit 0\n"
"  --timesync SINK      report (default), clock (step/slew the system\n"
"                       clock) or chrony:PATH (chronyd SOCK refclock)\n"
"  --kvp-root DIR       KVP pool files\n"
"                       (default " KVP_IP_DEFAULT_CONFIG_DIR ")\n"
"  --kvp-scripts DIR    hyperv-daemons helper scripts\n"
"                       (default " KVP_IP_DEFAULT_SCRIPT_DIR ")\n"
"  --freeze PATH|all    filesystem to freeze for backups (repeatable);\n"
"                       all: every freezable mount, as hv_vss_daemon\n"
"                       does; default: none (backups are then crash-\n"
"                       consistent only)\n"
"  --pre-freeze SCRIPT  run with \"freeze\" before freezing\n"
"  --post-thaw SCRIPT   run with \"thaw\" after thawing\n"
"  --freeze-timeout S   thaw anyway after S seconds (default 30)\n"
"  --verbose | --quiet\n");
}

struct guest_opts {
	const char *name, *dir, *vmbus;
	uid_t host_uid;
	unsigned long memory_mib, ring_kib, open_delay, retarget;
	unsigned max_version;
	bool poll, reconnect, no_services, freeze_all;
	enum rt_log_level level;
	const char *freeze[MAX_FREEZE];
};

static bool parse_traffic(const char *s)
{
	static const char *const names[] = { "none", "echo", "sink",
					     "source" };

	for (unsigned i = 0; i < VMB_ARRAY_LEN(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			gtdev_cfg.traffic = (enum gtdev_traffic)i;
			return true;
		}
	}
	return false;
}

static bool parse_timesync(const char *s)
{
	if (strcmp(s, "report") == 0) {
		gic_cfg.ts.mode = TSYNC_REPORT;
	} else if (strcmp(s, "clock") == 0) {
		gic_cfg.ts.mode = TSYNC_CLOCK;
	} else if (strncmp(s, "chrony:", 7) == 0 && s[7]) {
		gic_cfg.ts.mode = TSYNC_CHRONY;
		gic_cfg.ts.chrony_socket = s + 7;
	} else {
		return false;
	}
	return true;
}

/* The integration services' options; false for anything else. */
static bool parse_gic(int c, struct guest_opts *o)
{
	unsigned long v;

	switch (c) {
	case 'N': o->no_services = true; return true;
	case 'X': gic_cfg.shutdown_cmd = optarg; return true;
	case 'Y': return parse_timesync(optarg);
	case 'k': gic_cfg.kvp_root = optarg; return true;
	case 's': gic_cfg.kvp_scripts = optarg; return true;
	case 'f':
		if (strcmp(optarg, "all") == 0) {
			o->freeze_all = true;
			return true;
		}
		if (gic_cfg.n_freeze == MAX_FREEZE)
			return false;
		o->freeze[gic_cfg.n_freeze++] = optarg;
		return true;
	case 'P': gic_cfg.pre_freeze = optarg; return true;
	case 'A': gic_cfg.post_thaw = optarg; return true;
	case 'F':
		if (!hvis_parse_ulong(optarg, 3600, &v) || !v)
			return false;
		gic_cfg.freeze_timeout_ms = (unsigned)v * 1000;
		return true;
	}
	return false;
}

static bool parse_one(int c, struct guest_opts *o)
{
	unsigned long v;

	switch (c) {
	case 'n': o->name = optarg; return true;
	case 'd': o->dir = optarg; return true;
	case 'b': o->vmbus = optarg; return true;
	case 'U': return hvis_parse_user(optarg, &o->host_uid);
	case 'm': return hvis_parse_ulong(optarg, 1u << 20, &o->memory_mib) &&
			 o->memory_mib;
	case 'V': return hvis_parse_version(optarg, &o->max_version) &&
			 o->max_version >= VMB_VERSION_WS2008;
	case 'r': return hvis_parse_ulong(optarg, 1u << 20, &o->ring_kib) &&
			 o->ring_kib >= 8 && o->ring_kib % 4 == 0;
	case 'p': o->poll = true; return true;
	case 'R': o->reconnect = true; return true;
	case 'T': return parse_traffic(optarg);
	case 'S':
		if (!hvis_parse_ulong(optarg, TDEV_DATA_MAX, &v))
			return false;
		gtdev_cfg.size = (uint32_t)v;
		return true;
	case 'B':
		if (!hvis_parse_ulong(optarg, 1u << 20, &v))
			return false;
		gtdev_cfg.burst = (uint32_t)v;
		return true;
	case 'W':
		if (!hvis_parse_ulong(optarg, 1u << 24, &v) || !v)
			return false;
		gtdev_cfg.window = (uint32_t)v;
		return true;
	case 'C':
		if (!hvis_parse_ulong(optarg, TDEV_SOURCE_MAX_COUNT, &v))
			return false;
		gtdev_cfg.count = v;
		return true;
	case 'K':
		if (!hvis_parse_ulong(optarg, TDEV_MAX_SUBCHANNELS, &v))
			return false;
		gtdev_cfg.subchannels = (int)v;
		return true;
	case 'D': return hvis_parse_ulong(optarg, 600000, &o->open_delay);
	case 'M': return hvis_parse_ulong(optarg, 600000, &o->retarget) &&
			 o->retarget;
	case 'v': o->level = RT_LOG_DEBUG; return true;
	case 'q': o->level = RT_LOG_WARN; return true;
	case 'h': usage(stdout); exit(0);
	}
	return parse_gic(c, o);
}

static int parse_opts(int argc, char **argv, struct guest_opts *o)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "vmbus", required_argument, NULL, 'b' },
		{ "host-user", required_argument, NULL, 'U' },
		{ "memory", required_argument, NULL, 'm' },
		{ "max-version", required_argument, NULL, 'V' },
		{ "ring-size", required_argument, NULL, 'r' },
		{ "poll", no_argument, NULL, 'p' },
		{ "reconnect", no_argument, NULL, 'R' },
		{ "traffic", required_argument, NULL, 'T' },
		{ "size", required_argument, NULL, 'S' },
		{ "burst", required_argument, NULL, 'B' },
		{ "window", required_argument, NULL, 'W' },
		{ "count", required_argument, NULL, 'C' },
		{ "subchannels", required_argument, NULL, 'K' },
		{ "open-delay", required_argument, NULL, 'D' },
		{ "retarget-after", required_argument, NULL, 'M' },
		{ "no-services", no_argument, NULL, 'N' },
		{ "shutdown-cmd", required_argument, NULL, 'X' },
		{ "timesync", required_argument, NULL, 'Y' },
		{ "kvp-root", required_argument, NULL, 'k' },
		{ "kvp-scripts", required_argument, NULL, 's' },
		{ "freeze", required_argument, NULL, 'f' },
		{ "pre-freeze", required_argument, NULL, 'P' },
		{ "post-thaw", required_argument, NULL, 'A' },
		{ "freeze-timeout", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1)
		if (!parse_one(c, o))
			goto bad;
	/* Freezing is opt-in: this process shares the machine's
	 * filesystems, and one frozen by a guest killed mid-backup stays
	 * frozen. An empty list freezes nothing; NULL means every mount. */
	if (o->freeze_all && gic_cfg.n_freeze)
		goto bad;
	gic_cfg.freeze = o->freeze_all ? NULL : o->freeze;
	if (optind == argc)
		return 0;
bad:
	usage(stderr);
	return -1;
}

/* The guest session and what to do when the host goes away. */
struct guest {
	struct gvb vb;
	struct gvb_cfg cfg;
	struct rt_loop *loop;
	bool reconnect;
	bool up;
	int retry_fd;
	int exit_code;
	unsigned ndrivers;
};

/* The test device first: --no-services keeps only it. */
static const struct gvb_driver *const drivers[] = {
	&gtdev_driver, &gic_heartbeat_driver, &gic_shutdown_driver,
	&gic_timesync_driver, &gic_kvp_driver, &gic_vss_driver,
};

static void on_down(struct gvb *vb, const char *why, void *arg);

static int attach(struct guest *g)
{
	int rc = gvb_start(&g->vb, &g->cfg, g->loop, drivers, g->ndrivers);

	if (rc) {
		gvb_stop(&g->vb, "start failed");
		return rc;
	}
	g->up = true;
	return 0;
}

static void retry_event(struct rt_loop *l, int fd, uint32_t events,
			void *arg)
{
	struct guest *g = arg;

	(void)events;
	if (attach(g))
		return;
	rt_info("guest", "host is back");
	rt_loop_del(l, fd);
	close(fd);
	g->retry_fd = -1;
}

static int start_retry(struct guest *g)
{
	g->retry_fd = rt_loop_timer(g->loop, RETRY_MS, retry_event, g);
	return g->retry_fd < 0 ? g->retry_fd : 0;
}

static void on_down(struct gvb *vb, const char *why, void *arg)
{
	struct guest *g = arg;

	(void)vb;
	g->up = false;
	if (g->reconnect && start_retry(g) == 0) {
		rt_info("guest", "%s; retrying every %u ms", why, RETRY_MS);
		return;
	}
	g->exit_code = 1;
	rt_loop_stop(g->loop);
}

static int run(struct guest *g)
{
	int rc = attach(g);

	if (rc) {
		rt_err("guest", "cannot attach to %s: %s%s", g->cfg.vmbus_path,
		       strerror(-rc), rc == -EPERM ? " (a host run by another "
		       "user; --host-user USER trusts it)" : "");
		if (!g->reconnect || start_retry(g))
			return 1;
	}
	rc = rt_loop_run(g->loop);
	if (g->up)
		gvb_shutdown(&g->vb);
	if (g->retry_fd >= 0) {
		rt_loop_del(g->loop, g->retry_fd);
		close(g->retry_fd);
	}
	return rc ? 1 : g->exit_code;
}

int main(int argc, char **argv)
{
	struct guest_opts o = { .name = HVIS_DEFAULT_VM, .memory_mib = 256,
				.ring_kib = 256, .level = RT_LOG_INFO,
				.host_uid = geteuid() };
	char dir[PATH_MAX], vmbus[PATH_MAX], why[PATH_MAX + 128] = "path too long";
	struct guest g;
	int rc;

	if (parse_opts(argc, argv, &o))
		return 2;
	rt_log_init(argv[0], o.level);
	if (!o.vmbus &&
	    (hvis_vm_dir(dir, sizeof(dir), o.dir, o.name, false, NULL, why,
			 sizeof(why)) ||
	     hvis_path(vmbus, sizeof(vmbus), dir, HVIS_VMBUS_SOCK))) {
		rt_err("guest", "runtime directory: %s", why);
		return 1;
	}
	memset(&g, 0, sizeof(g));
	g.retry_fd = -1;
	g.reconnect = o.reconnect;
	g.ndrivers = o.no_services ? 1 : VMB_ARRAY_LEN(drivers);
	g.cfg = (struct gvb_cfg){
		.vmbus_path = o.vmbus ? o.vmbus : vmbus,
		.mem_size = (uint64_t)o.memory_mib << 20,
		.max_version = o.max_version,
		.ring_size = (uint32_t)(o.ring_kib << 10),
		.poll = o.poll,
		.open_delay_ms = (uint32_t)o.open_delay,
		.retarget_ms = (uint32_t)o.retarget,
		.host_uid = o.host_uid,
		.down = on_down,
		.arg = &g,
	};
	g.loop = rt_loop_new();
	if (!g.loop)
		return 1;
	rt_loop_stop_on_signals(g.loop);
	rt_raise_fd_limit();
	rc = run(&g);
	rt_loop_free(g.loop);
	rt_info("guest", "stopped (exit %d)", rc);
	return rc;
}
