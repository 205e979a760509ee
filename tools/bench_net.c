/* `hvis-bench net`: the synthetic network adapter, measured beside the
 * limit.
 *
 * End to end (root): iperf3, one TCP stream each way, first between two
 * network namespaces joined by a veth pair (the limit: the kernel's own
 * shortest path between two stacks), then between two TAP devices joined
 * by a relay of two threads (bench_net_relay.c: what hvis's path would
 * do if VMBus cost nothing), then between a real hvis-host's TAP
 * (--nic tap=..., run in a namespace of its own) and a real hvis-guest's
 * hn0 (--netns), then again with hn0's TSO off. The host's signals per
 * 1,000 frames come from `hvis-ctl channels --json` before and after.
 * Frames (bench_net_frames.c): netvsc in this process against netvsp's
 * bench port, no TAP. Every namespace, process and directory made here is
 * removed at the end. */
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "bench_net.h"
#include "hvis_paths.h"

#define IPERF_PORT "5201"

/* Ctrl-C or SIGTERM during the end-to-end part: the children (same
 * process group for Ctrl-C) end, this program goes on to remove what it
 * made instead of dying with namespaces left behind. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* One iperf3 run: Gb/s at the receiver and what the host's channel
 * counted meanwhile. */
struct erow {
	double gbps;
	double hsig_k, gsig_k; /* per 1,000 frames; < 0: not known */
};

/* The namespaces and processes of the end-to-end part. */
struct e2e {
	/* veth a, veth b, hvis host, hvis guest, relay a, relay b */
	char ns[6][40];
	bool made[6];
	int server, host, guest;
	const char *dir;   /* the hvis runtime directory */
	const char *bin_dir;
	double seconds;
};

/* ---- iperf3 ---- */

static int server_up(struct e2e *e, const char *ns, const char *addr)
{
	const char *argv[] = {"ip", "netns", "exec", ns, "iperf3", "-s", "-B",
			      addr, "-p", IPERF_PORT, NULL};
	struct timespec ms = {0, 50000000};

	bench_reap(e->server);
	e->server = bench_spawn_quiet(argv);
	for (int i = 0; e->server > 0 && i < 200; i++, nanosleep(&ms, NULL))
		if (!bench_sh("ip netns exec %s ss -Hltn 'sport = :%s' | "
			      "grep -q .", ns, IPERF_PORT))
			return 0;
	return -1;
}

/* The receiver's rate of one run; 0 when iperf3 failed. A client
 * whose connection hangs (a path that passes nothing) is ended by
 * timeout(1) 30 s after the run's end. */
static double iperf(const struct e2e *e, const char *ns, const char *to,
		    bool reverse)
{
	char t[32], limit[32];
	const char *argv[] = {"timeout", "-k", "5", limit, "ip", "netns",
			      "exec", ns, "iperf3", "-c", to, "-p", IPERF_PORT,
			      "--connect-timeout", "10000", "-J", "-t", t,
			      reverse ? "-R" : NULL, NULL};
	char *out;
	json_t *j, *sum;
	double bps = 0;

	if (interrupted)
		return 0;
	snprintf(t, sizeof(t), "%.1f", e->seconds);
	snprintf(limit, sizeof(limit), "%.0f", e->seconds + 30);
	out = bench_capture(argv);
	j = out ? json_loads(out, 0, NULL) : NULL;
	sum = json_object_get(json_object_get(j, "end"), "sum_received");
	if (sum)
		bps = json_number_value(json_object_get(sum, "bits_per_second"));
	json_decref(j);
	free(out);
	return bps / 1e9;
}

/* ---- the host's counters ---- */

static uint64_t jint(json_t *o, const char *a, const char *b)
{
	return (uint64_t)json_integer_value(json_object_get(
		b ? json_object_get(o, a) : o, b ? b : a));
}

struct bench_nctr bench_net_counters(const char *dir, const char *bin_dir)
{
	char exe[PATH_MAX];
	const char *argv[] = {"timeout", "-k", "2", "30", exe, "--dir", dir,
			      "channels", "--json", NULL};
	char *out;
	json_t *j, *c;
	size_t i;
	struct bench_nctr n = {0};

	snprintf(exe, sizeof(exe), "%s/hvis-ctl", bin_dir);
	out = bench_capture(argv);
	j = out ? json_loads(out, 0, NULL) : NULL;
	json_array_foreach(json_object_get(j, "channels"), i, c) {
		json_t *dev = json_object_get(c, "device");
		const char *cls = json_string_value(json_object_get(c, "class"));
		const char *st;

		if (!cls || strcmp(cls, "net"))
			continue;
		n.hsig += jint(c, "host_to_guest", "signals");
		n.gsig += jint(c, "guest_to_host", "signals");
		n.tx_frames += jint(dev, "tx_frames", NULL);
		n.rx_frames += jint(dev, "rx_frames", NULL);
		st = json_string_value(json_object_get(c, "state"));
		n.open += st && !strcmp(st, "open");
		n.ok = true;
	}
	json_decref(j);
	free(out);
	return n;
}

/* ---- output ---- */

static json_t *doc; /* --json: the document; NULL: tables */

void bench_net_say(const char *fmt, ...)
{
	va_list ap;

	if (doc)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

bool bench_net_row(const char *part, json_t *row)
{
	json_t *list;

	if (!doc) {
		json_decref(row);
		return false;
	}
	list = json_object_get(doc, part);
	if (!list)
		json_object_set_new(doc, part, list = json_array());
	json_array_append_new(list, row);
	return true;
}

void bench_net_set(const char *key, json_t *v)
{
	if (doc)
		json_object_set_new(doc, key, v);
	else
		json_decref(v);
}

static void e2e_header(void)
{
	bench_net_say("\n%-24s %-16s %8s %8s %8s %9s %6s\n", "path",
		      "direction", "Gb/s", "hsig/1k", "gsig/1k", "veth Gb/s",
		      "ratio");
}

/* A line without figures: why a row is not there. */
static void e2e_note(const char *path, const char *why)
{
	if (!bench_net_row("e2e", json_pack("{s:s, s:s}", "path", path,
					    "not_measured", why)))
		printf("%-24s %s\n", path, why);
}

/* Signals per 1,000 frames, or null when not known. */
static json_t *sig_json(double v)
{
	return v >= 0 ? json_real(v) : json_null();
}

static bool e2e_json(const char *path, const char *dir, const struct erow *r,
		     double lim)
{
	return bench_net_row("e2e", json_pack(
		"{s:s, s:s, s:o, s:o, s:o, s:o}", "path", path, "direction",
		dir, "gbps", r->gbps > 0 ? json_real(r->gbps) : json_null(),
		"host_signals_per_1000", sig_json(r->hsig_k),
		"guest_signals_per_1000", sig_json(r->gsig_k), "limit_gbps",
		lim > 0 ? json_real(lim) : json_null()));
}

static void e2e_row(const char *path, const char *dir, const struct erow *r,
		    double lim)
{
	if (e2e_json(path, dir, r, lim))
		return;
	printf("%-24s %-16s ", path, dir);
	if (r->gbps <= 0) {
		printf("%8s (%s)\n", "-",
		       interrupted ? "interrupted" : "iperf3 failed");
		return;
	}
	printf("%8.2f ", r->gbps);
	if (r->hsig_k >= 0)
		printf("%8.1f %8.1f", r->hsig_k, r->gsig_k);
	else
		printf("%8s %8s", "-", "-");
	if (lim > 0)
		printf(" %9.2f %5.0f%%", lim, 100.0 * r->gbps / lim);
	putchar('\n');
}

/* ---- namespaces ---- */

static int ns_add(struct e2e *e, unsigned i, const char *what)
{
	snprintf(e->ns[i], sizeof(e->ns[i]), "hvis-bench-%s%d", what,
		 (int)getpid());
	if (bench_sh("ip netns add %s && ip -n %s link set lo up", e->ns[i],
		     e->ns[i]))
		return -1;
	e->made[i] = true;
	return 0;
}

/* addr/24 on dev in ns, up. */
static int ns_addr(const char *ns, const char *dev, const char *addr)
{
	return bench_sh("ip -n %s addr add %s/24 dev %s && ip -n %s link set "
			"%s up", ns, addr, dev, ns, dev);
}

static void e2e_cleanup(struct e2e *e)
{
	/* the guest first: one whose host went ends by itself, and a
	 * SIGTERM in the middle of that (LeakSanitizer's check at exit, in
	 * a sanitized build) can keep it from ending at all */
	bench_reap(e->server);
	bench_reap(e->guest);
	bench_reap(e->host);
	e->server = e->guest = e->host = 0;
	for (unsigned i = 0; i < 6; i++)
		if (e->made[i] && bench_sh("ip netns del %s", e->ns[i]))
			fprintf(stderr, "hvis-bench: network namespace %s not "
				"removed\n", e->ns[i]);
}

/* ---- the limit: veth ---- */

static int veth(struct e2e *e, double lim[2])
{
	struct erow r = {.hsig_k = -1, .gsig_k = -1};

	if (ns_add(e, 0, "va") || ns_add(e, 1, "vb") ||
	    bench_sh("ip link add hvbench0 netns %s type veth peer name "
		     "hvbench1 netns %s", e->ns[0], e->ns[1]) ||
	    ns_addr(e->ns[0], "hvbench0", "10.98.0.1") ||
	    ns_addr(e->ns[1], "hvbench1", "10.98.0.2") ||
	    server_up(e, e->ns[0], "10.98.0.1")) {
		e2e_note("veth pair (the limit)",
			 "not set up (ip or iperf3 failed)");
		return -1;
	}
	lim[0] = r.gbps = iperf(e, e->ns[1], "10.98.0.1", false);
	e2e_row("veth pair (the limit)", "b to a", &r, 0);
	lim[1] = r.gbps = iperf(e, e->ns[1], "10.98.0.1", true);
	e2e_row("veth pair (the limit)", "a to b (-R)", &r, 0);
	return lim[0] > 0 && lim[1] > 0 ? 0 : -1;
}

/* ---- the TAP relay: hvis's path if VMBus cost nothing ---- */

#define RELAY_PATH "TAP relay, one CPU"

static int relay_up(struct e2e *e, struct bench_relay **r,
		    const char *const name[2], char *why, size_t n)
{
	const char *ns[2] = {e->ns[4], e->ns[5]};
	int rc;

	if (ns_add(e, 4, "ra") || ns_add(e, 5, "rb")) {
		snprintf(why, n, "network namespaces not made");
		return -1;
	}
	rc = bench_relay_start(r, ns, name, why, n);
	if (!rc && (ns_addr(ns[0], name[0], "10.97.0.1") ||
		    ns_addr(ns[1], name[1], "10.97.0.2") ||
		    server_up(e, ns[0], "10.97.0.1"))) {
		snprintf(why, n, "not set up (ip or iperf3 failed)");
		rc = -1;
	}
	return rc;
}

static int relay(struct e2e *e, const double lim[2])
{
	static const char *const name[2] = {"hvbrelay0", "hvbrelay1"};
	struct erow r = {.hsig_k = -1, .gsig_k = -1};
	struct bench_relay *rl = NULL;
	char why[256];
	int ok = 0;

	if (relay_up(e, &rl, name, why, sizeof(why))) {
		e2e_note(RELAY_PATH, why);
		bench_relay_stop(rl);
		return -1;
	}
	r.gbps = iperf(e, e->ns[5], "10.97.0.1", false);
	ok += r.gbps > 0;
	e2e_row(RELAY_PATH, "b to a", &r, lim[0]);
	r.gbps = iperf(e, e->ns[5], "10.97.0.1", true);
	ok += r.gbps > 0;
	e2e_row(RELAY_PATH, "a to b (-R)", &r, lim[1]);
	bench_reap(e->server);
	e->server = 0;
	bench_relay_stop(rl);
	return ok == 2 ? 0 : -1;
}

/* ---- hvis: host TAP - netvsp - VMBus - netvsc - hn0 ---- */

static int hvis_up(struct e2e *e)
{
	char host[PATH_MAX], guest[PATH_MAX], ctl[PATH_MAX + 16];
	const char *ha[] = {"ip", "netns", "exec", e->ns[2], host, "--dir",
			    e->dir, "--test-devices", "0", "--services", "none",
			    "--quiet", "--nic", "tap=hvbport0", NULL};
	const char *ga[] = {guest, "--dir", e->dir, "--no-services", "--quiet",
			    "--netns", e->ns[3], NULL};
	struct timespec ms = {0, 50000000};
	int i;

	snprintf(host, sizeof(host), "%s/hvis-host", e->bin_dir);
	snprintf(guest, sizeof(guest), "%s/hvis-guest", e->bin_dir);
	snprintf(ctl, sizeof(ctl), "%s/" HVIS_CTL_SOCK, e->dir);
	if (ns_add(e, 2, "h") || ns_add(e, 3, "g"))
		return -1;
	e->host = bench_spawn(ha);
	if (e->host <= 0 || !bench_wait_path(ctl))
		return -1;
	e->guest = bench_spawn(ga);
	for (i = 0; e->guest > 0 && !interrupted && i < 400; i++,
	     nanosleep(&ms, NULL))
		if (!bench_sh("ip -n %s link show dev hn0", e->ns[3]))
			break;
	if (e->guest <= 0 || interrupted || i == 400)
		return -1;
	return ns_addr(e->ns[2], "hvbport0", "10.99.0.1") ||
	       ns_addr(e->ns[3], "hn0", "10.99.0.2") ||
	       server_up(e, e->ns[2], "10.99.0.1");
}

static double per_k(uint64_t sig, uint64_t frames)
{
	return frames ? (double)sig * 1000.0 / (double)frames : -1;
}

/* One iperf3 run over hvis, its signals counted by the host. */
static void hvis_run(const struct e2e *e, bool reverse, struct erow *r)
{
	struct bench_nctr a = bench_net_counters(e->dir, e->bin_dir), b;
	uint64_t f;

	r->gbps = iperf(e, e->ns[3], "10.99.0.1", reverse);
	b = bench_net_counters(e->dir, e->bin_dir);
	f = b.tx_frames + b.rx_frames - a.tx_frames - a.rx_frames;
	r->hsig_k = r->gsig_k = -1;
	if (a.ok && b.ok && f) {
		r->hsig_k = per_k(b.hsig - a.hsig, f);
		r->gsig_k = per_k(b.gsig - a.gsig, f);
	}
}

static int hvis_rows(const struct e2e *e, const char *path,
		     const double lim[2])
{
	struct erow r;
	int rc = 0;

	hvis_run(e, false, &r);
	e2e_row(path, "guest to host", &r, lim[0]);
	rc |= r.gbps > 0 ? 0 : -1;
	hvis_run(e, true, &r);
	e2e_row(path, "host to guest", &r, lim[1]);
	return rc | (r.gbps > 0 ? 0 : -1);
}

/* hn0's TSO as ethtool shows it: 1 on, 0 off but changeable, -1 not
 * there ("off [fixed]") or unknown; the line in what. */
static int tso_state(const struct e2e *e, char *what, size_t n)
{
	const char *argv[] = {"ip", "netns", "exec", e->ns[3], "ethtool", "-k",
			      "hn0", NULL};
	char *out = bench_capture(argv), *l, *end;
	int st = -1;

	snprintf(what, n, "ethtool -k hn0 failed");
	l = out ? strstr(out, "tcp-segmentation-offload: ") : NULL;
	if (l) {
		l += strlen("tcp-segmentation-offload: ");
		end = strchr(l, '\n');
		snprintf(what, n, "%.*s", end ? (int)(end - l) : 16, l);
		st = !strncmp(l, "on", 2) ? 1 : strstr(what, "fixed") ? -1 : 0;
	}
	free(out);
	return st;
}

static int tso_off_rows(const struct e2e *e, int tso, const char *what,
			const double lim[2])
{
	char why[160];
	int rc;

	if (interrupted)
		return -1;
	if (tso != 1) {
		snprintf(why, sizeof(why), "tso n/a: hn0's tcp-segmentation-"
			 "offload is '%s', there is no TSO to turn off", what);
		e2e_note("hvis, hn0 tso off", why);
		return 0;
	}
	if (bench_sh("ip netns exec %s ethtool -K hn0 tso off", e->ns[3])) {
		e2e_note("hvis, hn0 tso off",
			 "tso n/a: ethtool -K hn0 tso off failed");
		return -1;
	}
	rc = hvis_rows(e, "hvis, hn0 tso off", lim);
	bench_sh("ip netns exec %s ethtool -K hn0 tso on", e->ns[3]);
	return rc;
}

static int hvis_phase(struct e2e *e, const double lim[2])
{
	char what[64], path[64];
	int tso, rc;

	if (hvis_up(e)) {
		e2e_note("hvis", "host, guest or hn0 did not come up");
		return -1;
	}
	tso = tso_state(e, what, sizeof(what));
	snprintf(path, sizeof(path), "hvis, hn0 %s",
		 tso == 1 ? "tso on" : "(no TSO)");
	rc = hvis_rows(e, path, lim);
	return rc | tso_off_rows(e, tso, what, lim);
}

/* Why the end-to-end part cannot run here, or NULL. */
static const char *e2e_missing(void)
{
	if (geteuid() != 0)
		return "needs root (network namespaces and TAP devices)";
	if (access("/dev/net/tun", R_OK | W_OK))
		return "no /dev/net/tun";
	if (bench_sh("command -v iperf3 && command -v ip && command -v ss && "
		     "command -v ethtool"))
		return "needs iperf3, ip and ss (iproute2) and ethtool";
	return NULL;
}

/* The rows, and whatever happens, what they made removed. */
static int e2e_guarded(struct e2e *e)
{
	struct sigaction sa = {.sa_handler = on_signal}, old[2];
	double lim[2] = {0, 0};
	int rc;

	/* a handler, not SIG_IGN: the children must still die of it */
	sigaction(SIGINT, &sa, &old[0]);
	sigaction(SIGTERM, &sa, &old[1]);
	rc = veth(e, lim);
	/* the relay's rows do not keep hvis's from being measured */
	if (!rc && !interrupted)
		rc = relay(e, lim) | hvis_phase(e, lim);
	e2e_cleanup(e);
	sigaction(SIGINT, &old[0], NULL);
	sigaction(SIGTERM, &old[1], NULL);
	if (interrupted)
		e2e_note("interrupted", "namespaces and processes removed");
	return rc;
}

int bench_net_e2e(const char *dir, const char *bin_dir, double seconds)
{
	struct e2e e = {.dir = dir, .bin_dir = bin_dir, .seconds = seconds};
	const char *why = e2e_missing();

	bench_net_say("\nend to end: iperf3, one TCP stream, %.1f s a run "
		      "(Gb/s at the receiver)\n", seconds);
	if (why) {
		bench_net_say("skipped: %s\n", why);
		bench_net_set("e2e_skipped", json_string(why));
		return 0;
	}
	e2e_header();
	return e2e_guarded(&e);
}

/* ---- main ---- */

void bench_net_usage(FILE *f)
{
	fprintf(f,
"usage: hvis-bench net [options]\n"
"  --seconds S     each run (default 3)\n"
"  --only e2e|frames  one part only (default both)\n"
"  --json          one JSON document instead of the tables\n"
"  --help          print this help and exit\n");
}

static int net_opts(int argc, char **argv, double *secs, unsigned *parts)
{
	static const struct option lo[] = {
		{"seconds", required_argument, NULL, 's'},
		{"only", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (c == 's' && (*secs = strtod(optarg, &end)) > 0 &&
		    *secs <= 3600 && !*end)
			continue;
		if (c == 'o' && (!strcmp(optarg, "e2e") ||
				 !strcmp(optarg, "frames"))) {
			*parts = optarg[0] == 'e' ? 1 : 2;
			continue;
		}
		if (c == 'j' && (doc || (doc = json_object())))
			continue;
		if (c == 'h') {
			bench_net_usage(stdout);
			exit(0);
		}
		return c == '?' || c == ':' ? hvis_refuse_getopt(BENCH_PROG, c,
								 argv)
			: hvis_refuse(BENCH_PROG, "net: bad value '%s' (see "
				      "hvis-bench net --help)", optarg);
	}
	if (optind < argc)
		return hvis_refuse(BENCH_PROG, "unexpected argument '%s'",
				   argv[optind]);
	return 0;
}

int bench_net_main(int argc, char **argv)
{
	char exe[PATH_MAX], dir[PATH_MAX];
	double secs = 3;
	unsigned parts = 3;
	int rc = 0;

	if (net_opts(argc, argv, &secs, &parts))
		return 2;
	if (bench_dirs(exe, dir, sizeof(dir)))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	/* each row as it is measured, also into a pipe or file */
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_net_say("hvis-bench net: the synthetic network adapter, %.1f s a "
		      "run\n", secs);
	bench_net_set("schema", json_string("hvis.bench.net/1"));
	bench_net_set("seconds", json_real(secs));
	if (parts & 2)
		rc |= bench_net_frames(dir, exe, secs);
	if (parts & 1)
		rc |= bench_net_e2e(dir, exe, secs);
	rmdir(dir);
	if (doc) {
		json_dumpf(doc, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(doc);
	}
	return rc ? 1 : 0;
}
