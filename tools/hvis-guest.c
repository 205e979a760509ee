/* hvis-guest: the guest VMBus stack and its drivers in user space,
 * attached to an hvis-host. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gic.h"
#include "gnet.h"
#include "gstor.h"
#include "gtdev.h"
#include "hvis_paths.h"
#include "kvp_ipinfo.h"
#include "rt_log.h"

#define RETRY_MS 500
#define MAX_FREEZE 64 /* said in allowed() */

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
"  --max-version X.Y    highest VMBus version to try, one of 0.13, 1.1,\n"
"                       2.4, 3.0, 4.0, 4.1, 5.0, 5.1, 5.2, 5.3 (default\n"
"                       newest)\n"
"  --ring-size KIB      each ring incl. header page (default 256)\n"
"  --poll               channel workers poll instead of sleeping\n"
"  --nbd PATH|none      export each SCSI disk over NBD on this Unix\n"
"                       socket (default DIR/" HVIS_NBD_SOCK "), as\n"
"                       nbd+unix:///scsiK-lunN?socket=PATH\n"
"  --nbd-tcp PORT       also export them on 127.0.0.1:PORT\n"
"  --scsi-subchannels K sub-channels per SCSI controller (default:\n"
"                       min(host maximum, CPUs - 1))\n"
"  --netns NAME         make each synthetic network adapter a TAP device\n"
"                       hn0, hn1, ... in network namespace NAME\n"
"                       (/run/netns/NAME, as `ip netns add` makes it);\n"
"                       `kvp ip get|set` of their MACs act on them\n"
"                       there, with no --system; default: none, no\n"
"                       TAP is made\n"
"  --net-queues N       channels per network adapter, the primary\n"
"                       included (default: one per CPU, at most the\n"
"                       host's receive queues); each a queue of hn0\n"
"  --net-rss-table Q,.. the RSS indirection table, repeated to its 128\n"
"                       entries (ethtool -X's job, which a TAP cannot\n"
"                       do); default: entry i to channel i mod N;\n"
"                       @FILE: read from FILE, again on SIGHUP (the\n"
"                       running adapters take the new table)\n"
"  --net-tx-agg N       frames packed into one send section, at most\n"
"                       the host's limit (1: one each, no aggregation;\n"
"                       default: the host's limit, at most 8)\n"
"  --net-rsc on|off     ask the host for receive segment coalescing\n"
"                       (TCP frames of up to 64 KiB, written to hn0 as\n"
"                       GRO'd packets; ethtool -K lro's job); default on\n"
"  --reconnect          when the host goes away, retry every 0.5 s\n"
"  --traffic MODE       test device traffic: echo (default), sink,\n"
"                       source or none\n"
"  --size N             bytes per DATA packet (default 64)\n"
"  --burst N            packets per channel every 10 ms (default 8)\n"
"  --window N           echo requests in flight per channel (default 256)\n"
"  --count N            sink/source packets; echo: stop after N (0 = no)\n"
"  --subchannels K      sub-channels to ask for (default: all allowed)\n"
"  --open-delay MS      test hook: hold each OPENCHANNEL back MS ms,\n"
"                       reading nothing from the host meanwhile (so\n"
"                       channels open one hold after another)\n"
"  --retarget-after MS  test hook: MS ms after start, move every open\n"
"                       channel to the next VP (MODIFYCHANNEL, 4.1+)\n"
"integration services (by default they touch nothing of this machine\n"
"but the VM's state directory, $XDG_STATE_HOME/hvis/NAME or\n"
"~/.local/state/hvis/NAME):\n"
"  --system             this process is the machine's integration\n"
"                       services, as hyperv-daemons on a Hyper-V guest:\n"
"                       KVP pools in " KVP_IP_DEFAULT_CONFIG_DIR ", `kvp ip set`\n"
"                       configures this machine's interfaces, backups\n"
"                       freeze every freezable mount, time sync sets the\n"
"                       system clock (each unless given below)\n"
"  --no-services        only the test device (no heartbeat, shutdown,\n"
"                       time sync, KVP, VSS)\n"
"  --shutdown-cmd CMD   run CMD (sh -c) on the host's shutdown request,\n"
"                       with $1 and HVIS_SHUTDOWN_ACTION poweroff, reboot\n"
"                       or hibernate, $2 \"force\" and HVIS_SHUTDOWN_FORCE,\n"
"                       HVIS_SHUTDOWN_REASON(_CODE); default: exit 0\n"
"  --timesync SINK      report (default), clock (step/slew the system\n"
"                       clock; default with --system) or chrony:PATH\n"
"                       (chronyd SOCK refclock)\n"
"  --kvp-root DIR       KVP pool files and ifcfg files (default: the\n"
"                       state directory)\n"
"  --kvp-scripts DIR    helpers hv_get_dns_info, hv_get_dhcp_info and\n"
"                       hv_set_ifconfig (default hvis's own, iproute2;\n"
"                       hyperv-daemons': " KVP_IP_DEFAULT_SCRIPT_DIR ");\n"
"                       giving it lets `kvp ip set` run its\n"
"                       hv_set_ifconfig without --system\n"
"  --freeze PATH|all    filesystem to freeze for backups (repeatable);\n"
"                       all: every freezable mount, as hv_vss_daemon\n"
"                       does (default with --system); default: none\n"
"                       (backups are then crash-consistent only)\n"
"  --pre-freeze SCRIPT  run with \"freeze\" before freezing\n"
"  --post-thaw SCRIPT   run with \"thaw\" after thawing\n"
"  --freeze-timeout S   thaw anyway after S seconds (default 30)\n"
"other options:\n"
"  --verbose            log debug messages too\n"
"  --quiet              log warnings and errors only\n"
"  --help               print this help and exit\n"
"  --version            print the version and exit\n");
}

struct guest_opts {
	const char *name, *dir, *vmbus;
	uid_t host_uid;
	unsigned long memory_mib, ring_kib, open_delay, retarget;
	unsigned max_version;
	bool poll, reconnect, no_services, freeze_all, system, timesync_set;
	enum rt_log_level level;
	const char *freeze[MAX_FREEZE];
	const char *nbd;
	unsigned long nbd_port;
	int scsi_sub;
	char why[160]; /* what a refused value allows */
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

static bool parse_timesync(const char *s, struct guest_opts *o)
{
	o->timesync_set = true;
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

/* Only versions the guest knows: a typo such as 9.9 would otherwise mean
 * "the newest" without a word. The refusal lists them. */
static bool parse_max_version(const char *s, struct guest_opts *o)
{
	size_t n;

	if (hvis_parse_version(s, &o->max_version))
		for (unsigned i = 0; i < vmb_versions_count; i++)
			if (vmb_versions[i] == o->max_version)
				return true;
	n = (size_t)snprintf(o->why, sizeof(o->why),
			     "unknown VMBus version (known:");
	for (unsigned i = vmb_versions_count; i-- > 0 && n < sizeof(o->why);)
		n += (size_t)snprintf(o->why + n, sizeof(o->why) - n, " %u.%u%s",
				      vmb_versions[i] >> 16,
				      vmb_versions[i] & 0xffff, i ? "," : ")");
	return false;
}

static bool parse_freeze(const char *s, struct guest_opts *o)
{
	if (strcmp(s, "all") == 0)
		o->freeze_all = true;
	else if (gic_cfg.n_freeze < MAX_FREEZE)
		o->freeze[gic_cfg.n_freeze++] = s;
	else
		return false;
	return true;
}

/* A count in lo..max into *v; false (why set) otherwise. */
static bool count(unsigned long lo, unsigned long max, const char *unit,
		  unsigned long *v, struct guest_opts *o)
{
	if (hvis_parse_ulong(optarg, max, v) && *v >= lo)
		return true;
	snprintf(o->why, sizeof(o->why), "want %s from %lu to %lu", unit, lo,
		 max);
	return false;
}

static bool count32(unsigned long lo, unsigned long max, const char *unit,
		    uint32_t *out, struct guest_opts *o)
{
	unsigned long v;

	if (!count(lo, max, unit, &v, o))
		return false;
	*out = (uint32_t)v;
	return true;
}

/* What the other options with a value allow (why is "" for them). */
static const char *allowed(int c)
{
	switch (c) {
	case 'U': return "want a user name or a numeric uid";
	case 'T': return "want echo, sink, source or none";
	case 'Y': return "want report, clock or chrony:PATH";
	case 'f': return "at most 64 --freeze paths";
	}
	return "not allowed";
}

/* The integration services' options; false for anything else. */
static bool parse_gic(int c, struct guest_opts *o)
{
	unsigned long v;

	switch (c) {
	case 'N': o->no_services = true; return true;
	case 'Z': o->system = true; return true;
	case 'X': gic_cfg.shutdown_cmd = optarg; return true;
	case 'Y': return parse_timesync(optarg, o);
	case 'k': gic_cfg.kvp_root = optarg; return true;
	case 's': gic_cfg.kvp_scripts = optarg; return true;
	case 'f': return parse_freeze(optarg, o);
	case 'P': gic_cfg.pre_freeze = optarg; return true;
	case 'A': gic_cfg.post_thaw = optarg; return true;
	case 'F':
		if (!count(1, 3600, "seconds", &v, o))
			return false;
		gic_cfg.freeze_timeout_ms = (unsigned)v * 1000;
		return true;
	}
	return false;
}

/* The network adapter's options; then the integration services'. */
static bool parse_net(int c, struct guest_opts *o)
{
	switch (c) {
	case 'G': return count32(1, 64, "channels", &gnet_cfg.queues, o);
	case 'H':
		if (optarg[0] != '@')
			return gnet_parse_table(optarg, o->why,
						sizeof(o->why)) == 0;
		gnet_cfg.table_file = optarg + 1;
		return gnet_table_load(o->why, sizeof(o->why)) == 0;
	case 'a':
		return count32(1, GNET_TX_AGG_MAX, "frames", &gnet_cfg.tx_agg,
			       o);
	case 'O':
		gnet_cfg.no_rsc = !strcmp(optarg, "off");
		if (gnet_cfg.no_rsc || !strcmp(optarg, "on"))
			return true;
		snprintf(o->why, sizeof(o->why), "--net-rsc: want on or off");
		return false;
	}
	return parse_gic(c, o);
}

static bool parse_tdev(int c, struct guest_opts *o)
{
	unsigned long v;

	switch (c) {
	case 'T': return parse_traffic(optarg);
	case 'S': return count32(0, TDEV_DATA_MAX, "bytes", &gtdev_cfg.size,
				 o);
	case 'B': return count32(0, 1u << 20, "packets", &gtdev_cfg.burst,
				 o);
	case 'W': return count32(1, 1u << 24, "requests", &gtdev_cfg.window,
				 o);
	case 'C':
		if (!count(0, TDEV_SOURCE_MAX_COUNT, "packets", &v, o))
			return false;
		gtdev_cfg.count = v;
		return true;
	case 'K':
		if (!count(0, TDEV_MAX_SUBCHANNELS, "sub-channels", &v, o))
			return false;
		gtdev_cfg.subchannels = (int)v;
		return true;
	}
	return parse_net(c, o);
}

static bool parse_one(int c, struct guest_opts *o)
{
	switch (c) {
	case 'n': o->name = optarg; return true;
	case 'd': o->dir = optarg; return true;
	case 'b': o->vmbus = optarg; return true;
	case 'U': return hvis_parse_user(optarg, &o->host_uid);
	case 'j': o->nbd = optarg; return true;
	case 'E': gnet_cfg.netns = optarg; return true;
	case 'J': return count(1, 65535, "a port", &o->nbd_port, o);
	case 'L': {
		unsigned long v;

		if (!count(0, 8, "sub-channels", &v, o))
			return false;
		o->scsi_sub = (int)v;
		return true;
	}
	case 'm': return count(1, 1u << 20, "MiB", &o->memory_mib, o);
	case 'V': return parse_max_version(optarg, o);
	case 'r':
		if (count(8, 1u << 20, "KiB", &o->ring_kib, o) &&
		    o->ring_kib % 4 == 0)
			return true;
		snprintf(o->why, sizeof(o->why), "want KiB, a multiple of 4 "
			 "from 8 to %u", 1u << 20);
		return false;
	case 'p': o->poll = true; return true;
	case 'R': o->reconnect = true; return true;
	case 'D': return count(0, 600000, "ms", &o->open_delay, o);
	case 'M': return count(1, 600000, "ms", &o->retarget, o);
	case 'v': o->level = RT_LOG_DEBUG; return true;
	case 'q': o->level = RT_LOG_WARN; return true;
	case 'h': usage(stdout); exit(0);
	case 'I': printf("hvis-guest %s\n", HVIS_VERSION); exit(0);
	}
	return parse_tdev(c, o);
}

static const struct option long_opts[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "dir", required_argument, NULL, 'd' },
	{ "vmbus", required_argument, NULL, 'b' },
	{ "host-user", required_argument, NULL, 'U' },
	{ "memory", required_argument, NULL, 'm' },
	{ "max-version", required_argument, NULL, 'V' },
	{ "ring-size", required_argument, NULL, 'r' },
	{ "poll", no_argument, NULL, 'p' },
	{ "nbd", required_argument, NULL, 'j' },
	{ "nbd-tcp", required_argument, NULL, 'J' },
	{ "scsi-subchannels", required_argument, NULL, 'L' },
	{ "netns", required_argument, NULL, 'E' },
	{ "net-queues", required_argument, NULL, 'G' },
	{ "net-rss-table", required_argument, NULL, 'H' },
	{ "net-tx-agg", required_argument, NULL, 'a' },
	{ "net-rsc", required_argument, NULL, 'O' },
	{ "reconnect", no_argument, NULL, 'R' },
	{ "traffic", required_argument, NULL, 'T' },
	{ "size", required_argument, NULL, 'S' },
	{ "burst", required_argument, NULL, 'B' },
	{ "window", required_argument, NULL, 'W' },
	{ "count", required_argument, NULL, 'C' },
	{ "subchannels", required_argument, NULL, 'K' },
	{ "open-delay", required_argument, NULL, 'D' },
	{ "retarget-after", required_argument, NULL, 'M' },
	{ "system", no_argument, NULL, 'Z' },
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
	{ "version", no_argument, NULL, 'I' },
	{ 0 }
};

static int parse_opts(int argc, char **argv, struct guest_opts *o)
{
	static const char prog[] = "hvis-guest";
	int c, idx = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_opts, &idx)) != -1) {
		if (c == '?' || c == ':')
			return hvis_refuse_getopt(prog, c, argv);
		o->why[0] = '\0';
		if (!parse_one(c, o))
			return hvis_refuse(prog, "--%s %s: %s",
					   long_opts[idx].name, optarg,
					   o->why[0] ? o->why : allowed(c));
	}
	if (optind < argc)
		return hvis_refuse(prog, "unexpected argument '%s' (hvis-guest "
				   "takes options only; see --help)",
				   argv[optind]);
	if (o->freeze_all && gic_cfg.n_freeze)
		return hvis_refuse(prog, "--freeze all: not with --freeze %s "
				   "(all already freezes every freezable "
				   "mount)", o->freeze[0]);
	return 0;
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

/* SIGHUP with --net-rss-table @FILE: the file read again; the adapters
 * set the new table at their next tick (gnet_chan_tick). */
static void on_hup(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	char why[160];

	(void)l, (void)fd, (void)events, (void)arg;
	if (gnet_table_load(why, sizeof(why)))
		rt_warn("net", "SIGHUP: %s: %s; RSS table kept",
			gnet_cfg.table_file, why);
	else
		rt_info("net", "SIGHUP: RSS table read again from %s (%u "
			"entries)", gnet_cfg.table_file, gnet_cfg.ntable);
}

/* The devices first: --no-services keeps only them (NDEVICES). */
#define NDEVICES 3u
static const struct gvb_driver *const drivers[] = {
	&gtdev_driver, &gstor_driver, &gnet_driver, &gic_heartbeat_driver,
	&gic_shutdown_driver,
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
		if (!g->reconnect || start_retry(g)) {
			gstor_stop();
			return 1;
		}
	}
	rc = rt_loop_run(g->loop);
	/* The exports end first: their requests still in flight are
	 * answered by the host while the channels are up. */
	gstor_stop();
	if (g->up)
		gvb_shutdown(&g->vb);
	if (g->retry_fd >= 0) {
		rt_loop_del(g->loop, g->retry_fd);
		close(g->retry_fd);
	}
	return rc ? 1 : g->exit_code;
}

/* hvis's own KVP helpers (guest/kvp-scripts): beside the build tree's
 * programs when this is the hvis-guest meson built in place (tests,
 * `make run`), else where meson installed them. */
static const char *own_scripts(void)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return HVIS_KVP_SCRIPTS;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	return strcmp(exe, HVIS_BUILD_TOOLS_DIR) ? HVIS_KVP_SCRIPTS
						 : HVIS_BUILD_KVP_SCRIPTS;
}

/* The services' defaults: nothing of this machine is touched unless
 * asked for, --system asking for all of it (see usage()). An empty
 * freeze list freezes nothing; NULL means every freezable mount. */
static int setup_services(struct guest_opts *o, char *state, size_t cap)
{
	char why[PATH_MAX + 128];

	gic_cfg.configure_ifs = o->system || gic_cfg.kvp_scripts;
	if (!gic_cfg.kvp_scripts)
		gic_cfg.kvp_scripts = own_scripts();
	if (!o->no_services)
		rt_info("guest", "KVP helpers in %s; `kvp ip set` %s%s",
			gic_cfg.kvp_scripts, gic_cfg.configure_ifs
			? "configures this machine's interfaces"
			: "refused (no --system)", gnet_cfg.netns
			? ", and the network adapters' in --netns" : "");
	if (o->system && !o->timesync_set)
		gic_cfg.ts.mode = TSYNC_CLOCK;
	gic_cfg.freeze = o->freeze_all || (o->system && !gic_cfg.n_freeze)
				 ? NULL : o->freeze;
	if (gic_cfg.kvp_root || o->no_services)
		return 0;
	if (o->system) {
		gic_cfg.kvp_root = KVP_IP_DEFAULT_CONFIG_DIR;
		return 0;
	}
	if (hvis_state_dir(state, cap, o->name, true, why, sizeof(why))) {
		rt_err("guest", "state directory: %s", why);
		return -1;
	}
	rt_info("guest", "state directory %s", state);
	gic_cfg.kvp_root = state;
	return 0;
}

/* A socket left by an earlier guest that nobody serves any more. */
static void unlink_stale(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (lstat(path, &st) || !S_ISSOCK(st.st_mode) ||
	    strlen(path) >= sizeof(a.sun_path))
		return;
	memcpy(a.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    errno == ECONNREFUSED)
		unlink(path);
	if (fd >= 0)
		close(fd);
}

/* The NBD exports of the SCSI disks: beside the VMBus socket unless
 * --nbd says otherwise. */
static int setup_storage(const struct guest_opts *o, const char *vmbus,
			 char *nbd, size_t cap)
{
	struct gstor_cfg sc = {.subchannels = o->scsi_sub,
			       .nbd_port = (uint16_t)o->nbd_port};
	const char *slash = strrchr(vmbus, '/');
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	char err[PATH_MAX + 128];
	int rc;

	sc.ncpus = n > 0 ? (uint32_t)n : 1;
	if (o->nbd && !strcmp(o->nbd, "none")) {
		sc.nbd_port = 0;
	} else if (o->nbd) {
		sc.nbd_path = o->nbd;
	} else if ((size_t)snprintf(nbd, cap, "%.*s%s",
				    slash ? (int)(slash - vmbus + 1) : 0,
				    vmbus, HVIS_NBD_SOCK) < cap) {
		unlink_stale(nbd);
		sc.nbd_path = nbd;
	}
	rc = gstor_start(&sc, err, sizeof(err));
	/* The default socket served by another guest of this VM: that
	 * guest's host will refuse this one anyway; say so and go on. */
	if (rc == -EADDRINUSE && !o->nbd) {
		rt_warn("guest", "NBD exports off: %s", err);
		sc.nbd_path = NULL;
		sc.nbd_port = 0;
		rc = gstor_start(&sc, err, sizeof(err));
	}
	if (rc) {
		rt_err("guest", "NBD exports: %s", err);
		return -1;
	}
	if (sc.nbd_path)
		rt_info("guest", "SCSI disks exported on %s%s", sc.nbd_path,
			sc.nbd_port ? " and 127.0.0.1" : "");
	return 0;
}

int main(int argc, char **argv)
{
	struct guest_opts o = { .name = HVIS_DEFAULT_VM, .memory_mib = 256,
				.ring_kib = 256, .level = RT_LOG_INFO,
				.host_uid = geteuid(), .scsi_sub = -1 };
	char dir[PATH_MAX], vmbus[PATH_MAX], why[PATH_MAX + 128] = "path too long";
	char state[PATH_MAX], nbd[PATH_MAX];
	struct guest g;
	int rc;

	if (parse_opts(argc, argv, &o))
		return 2;
	rt_log_init(argv[0], o.level);
	if (setup_services(&o, state, sizeof(state)))
		return 1;
	if (!o.vmbus &&
	    (hvis_vm_dir(dir, sizeof(dir), o.dir, o.name, false, NULL, why,
			 sizeof(why)) ||
	     hvis_path(vmbus, sizeof(vmbus), dir, HVIS_VMBUS_SOCK))) {
		rt_err("guest", "runtime directory: %s", why);
		return 1;
	}
	if (setup_storage(&o, o.vmbus ? o.vmbus : vmbus, nbd, sizeof(nbd)))
		return 1;
	memset(&g, 0, sizeof(g));
	g.retry_fd = -1;
	g.reconnect = o.reconnect;
	g.ndrivers = o.no_services ? NDEVICES : VMB_ARRAY_LEN(drivers);
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
	if (gnet_cfg.table_file &&
	    rt_loop_on_signal(g.loop, SIGHUP, on_hup, NULL) < 0)
		rt_warn("net", "SIGHUP will not read %s again",
			gnet_cfg.table_file);
	rt_raise_fd_limit();
	rc = run(&g);
	rt_loop_free(g.loop);
	rt_info("guest", "stopped (exit %d)", rc);
	return rc;
}
