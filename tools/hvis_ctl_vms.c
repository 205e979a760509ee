/* hvis-ctl's views over several requests: `vm list` (Get-VM over every
 * VM in the runtime directory) and `vm watch` (the status every second,
 * with rates). Both read the host's JSON replies (docs/json.md). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hvis_ctl.h"
#include "hvis_paths.h"

/* The JSON body of an "ok" reply to req, or NULL (*why says why). */
static json_t *request_json(const char *path, uid_t uid, const char *req,
			    char *why, size_t cap)
{
	int err;
	char *reply = ctl_request(path, uid, req, &err);
	const char *nl;
	json_t *o = NULL;

	if (!reply) {
		snprintf(why, cap, "%s", err == -EPERM ? "run by another user"
			 : err == -ECONNREFUSED || err == -ENOENT
			 ? "host not running" : strerror(-err));
		return NULL;
	}
	nl = strchr(reply, '\n');
	if (nl && (!strncmp(reply, "ok\n", 3) || !strncmp(reply, "warn: ", 6)))
		o = json_loads(nl + 1, 0, NULL);
	if (!o)
		snprintf(why, cap, "bad reply");
	free(reply);
	return o;
}

/* ---- vm list ---- */

static void uptime_text(json_t *up, char *buf, size_t cap)
{
	long s = json_is_number(up) ? (long)json_number_value(up) : -1;

	if (s < 0)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%02ld:%02ld:%02ld", s / 3600, s / 60 % 60,
			 s % 60);
}

static const char *str_or(json_t *v, const char *dflt)
{
	return json_is_string(v) ? json_string_value(v) : dflt;
}

static void list_row(const char *name, json_t *vm, const char *why)
{
	json_t *guest = json_object_get(vm, "guest_data");
	char up[32];

	uptime_text(json_object_get(vm, "uptime_s"), up, sizeof(up));
	printf("%-16s %-9s %-9s %-6s %-24s %s\n", name,
	       str_or(json_object_get(vm, "state"), "-"), up,
	       str_or(json_object_get(vm, "vmbus_version"), "-"),
	       str_or(json_object_get(guest, "computer_name"), "-"),
	       vm ? str_or(json_object_get(vm, "status"), "") : why);
}

/* One VM: its row, or its entry of the JSON list. */
static void list_one(const char *dir, const char *name, uid_t uid,
		     json_t *all)
{
	char path[PATH_MAX], why[128] = "";
	json_t *vm = NULL;

	if (hvis_path(path, sizeof(path), dir, HVIS_CTL_SOCK) == 0)
		vm = request_json(path, uid, "vm show --json\n", why,
				  sizeof(why));
	if (!all) {
		list_row(name, vm, why);
		json_decref(vm);
		return;
	}
	json_array_append_new(all, json_pack("{s:s, s:s, s:b, s:s?, s:o}",
		"name", name, "dir", dir, "reachable", vm != NULL,
		"error", vm ? NULL : why, "vm", vm ? vm : json_null()));
}

static int list_base(const char *base, uid_t uid, json_t *all)
{
	char names[8192], dir[PATH_MAX], *save = NULL;
	size_t n;

	hvis_vm_names(base, names, sizeof(names), &n);
	for (char *w = strtok_r(names, ", ", &save); w;
	     w = strtok_r(NULL, ", ", &save))
		if (hvis_path(dir, sizeof(dir), base, w) == 0)
			list_one(dir, w, uid, all);
	return (int)n;
}

int ctl_vm_list(const char *dir, uid_t uid, bool json)
{
	char base[PATH_MAX];
	json_t *all = json ? json_array() : NULL;
	const char *slash;

	if (!json)
		printf("%-16s %-9s %-9s %-6s %-24s %s\n", "Name", "State",
		       "Uptime", "VMBus", "Guest", "Status");
	if (dir) {
		slash = strrchr(dir, '/');
		list_one(dir, slash && slash[1] ? slash + 1 : dir, uid, all);
	} else if (hvis_vm_base(base, sizeof(base)) == 0) {
		list_base(base, uid, all);
	}
	if (json) {
		json_t *o = json_pack("{s:s, s:o}", "schema",
				      "hvis.vm-list/1", "vms", all);

		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	}
	return 0;
}

/* ---- vm watch ---- */

/* Counters of one channel at the last refresh, for rates. */
struct seen {
	json_int_t relid, g2h, h2g, gsig, hsig;
};

static json_int_t counter(json_t *chan, const char *dir, const char *what)
{
	return json_integer_value(json_object_get(json_object_get(chan, dir),
						  what));
}

static double rate(json_int_t now, json_int_t before, double dt)
{
	return dt > 0 && now >= before ? (double)(now - before) / dt : 0;
}

static const struct seen *seen_find(const struct seen *s, size_t n,
				    json_int_t relid)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].relid == relid)
			return &s[i];
	return NULL;
}

static void watch_row(json_t *c, const struct seen *p, double dt,
		      struct seen *now)
{
	now->relid = json_integer_value(json_object_get(c, "relid"));
	now->g2h = counter(c, "guest_to_host", "packets");
	now->h2g = counter(c, "host_to_guest", "packets");
	now->gsig = counter(c, "guest_to_host", "signals");
	now->hsig = counter(c, "host_to_guest", "signals");
	printf("%-5lld %-9s %3lld %-9s %11lld %9.0f %11lld %9.0f %8.0f %8.0f\n",
	       (long long)now->relid,
	       str_or(json_object_get(c, "class"), "?"),
	       (long long)json_integer_value(json_object_get(c, "sub_channel")),
	       str_or(json_object_get(c, "state"), "?"), (long long)now->g2h,
	       p ? rate(now->g2h, p->g2h, dt) : 0, (long long)now->h2g,
	       p ? rate(now->h2g, p->h2g, dt) : 0,
	       p ? rate(now->gsig, p->gsig, dt) : 0,
	       p ? rate(now->hsig, p->hsig, dt) : 0);
}

/* The channels with packets and signals per second since the last
 * refresh; the counters are kept in *prev for the next. */
static void watch_channels(json_t *chans, struct seen **prev, size_t *nprev,
			   double dt)
{
	json_t *list = json_object_get(chans, "channels");
	size_t n = json_array_size(list), i;
	struct seen *now = calloc(n ? n : 1, sizeof(*now));
	json_t *c;

	printf("%-5s %-9s %3s %-9s %11s %9s %11s %9s %8s %8s\n", "RELID",
	       "CLASS", "SUB", "STATE", "G2H-PKTS", "G2H/s", "H2G-PKTS",
	       "H2G/s", "G2H-SIG/s", "H2G-SIG/s");
	json_array_foreach(list, i, c) {
		json_int_t relid = json_integer_value(json_object_get(c,
								      "relid"));
		struct seen tmp;

		watch_row(c, seen_find(*prev, *nprev, relid), dt,
			  now ? &now[i] : &tmp);
	}
	free(*prev);
	*prev = now;
	*nprev = now ? n : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_reply_body(const char *path, uid_t uid, const char *req)
{
	int err;
	char *r = ctl_request(path, uid, req, &err);
	const char *nl = r ? strchr(r, '\n') : NULL;

	if (nl)
		fputs(nl + 1, stdout);
	free(r);
}

/* One refresh; false if the host is gone ("Off" is shown instead). */
static bool watch_once(const char *path, uid_t uid, struct seen **prev,
		       size_t *nprev, double *last)
{
	char why[128];
	json_t *chans = request_json(path, uid, "channels --json\n", why,
				     sizeof(why));
	double t = now_s();

	if (!chans) {
		printf("State:           Off (%s: nothing at %s; waiting)\n",
		       why, path);
		free(*prev);
		*prev = NULL;
		*nprev = 0;
		return false;
	}
	print_reply_body(path, uid, "vm show\n");
	putchar('\n');
	watch_channels(chans, prev, nprev, t - *last);
	*last = t;
	json_decref(chans);
	putchar('\n');
	print_reply_body(path, uid, "vm services\n");
	putchar('\n');
	print_reply_body(path, uid, "disk list\n");
	putchar('\n');
	print_reply_body(path, uid, "nic list\n");
	return true;
}

int ctl_vm_watch(const char *path, uid_t uid)
{
	bool tty = isatty(STDOUT_FILENO);
	struct timespec one = { .tv_sec = 1 };
	struct seen *prev = NULL;
	size_t nprev = 0;
	double last = now_s();

	while (!ctl_interrupted) {
		time_t now = time(NULL);
		char stamp[32];

		strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
		if (tty)
			fputs("\033[H\033[2J", stdout);
		printf("--- hvis VM status at %s (Ctrl-C to stop)\n", stamp);
		watch_once(path, uid, &prev, &nprev, &last);
		fflush(stdout);
		nanosleep(&one, NULL);
	}
	free(prev);
	return 0;
}
