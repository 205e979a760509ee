/* The VM's own control requests, in Hyper-V's words where it has them:
 *   channels [--wide] [--json]     the VMBus channels (like lsvmbus)
 *   vm show [--json]               the VM (Get-VM | Format-List)
 *   vm stop --turn-off             Stop-VM -TurnOff: without the guest
 *   device add test [--subchannels K] | device remove RELID
 * The integration services' requests are hic_ctl.c's, the disks'
 * storage/hstor_ctl.c's, the NICs' net/hnet_cmd.c's. JSON replies carry
 * "schema": "hvis.<what>/1" and are documented in docs/json.md. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hic.h"
#include "hvm_priv.h"
#include "net/hnet_sw.h"
#include "storage/hstor.h"
#include "rt_log.h"
#include "vmbus/vmb_client.h"

#define ARGS_MAX 16

/* The words of a request, with --json and --wide taken out. */
struct ctl_req {
	char *argv[ARGS_MAX];
	int argc;
	bool json, wide;
};

/* Words are separated by blanks; "..." quotes blanks, and a backslash
 * takes the next character as it is (hvis-ctl quotes this way). */
int hvm_ctl_words(const char *line, char *buf, char **argv, int max)
{
	int argc = 0;
	char *o = buf;

	for (const char *p = line;;) {
		bool quoted = false;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!*p)
			return argc;
		if (argc == max)
			return -1;
		argv[argc++] = o;
		for (; *p; p++) {
			if (*p == '\\' && p[1]) {
				*o++ = *++p;
			} else if (*p == '"') {
				quoted = !quoted;
			} else if (!quoted && (*p == ' ' || *p == '\t' ||
					       *p == '\r' || *p == '\n')) {
				break;
			} else {
				*o++ = *p;
			}
		}
		if (quoted)
			return -1;
		*o++ = '\0';
	}
}

/* line's words into buf (as long as line). */
static bool req_parse(const char *line, char *buf, struct ctl_req *r)
{
	char *w[ARGS_MAX + 2];
	int n = hvm_ctl_words(line, buf, w, ARGS_MAX + 2);

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < n; i++) {
		if (strcmp(w[i], "--json") == 0)
			r->json = true;
		else if (strcmp(w[i], "--wide") == 0)
			r->wide = true;
		else if (r->argc == ARGS_MAX)
			return false;
		else
			r->argv[r->argc++] = w[i];
	}
	return n >= 0;
}

static bool req_is(const struct ctl_req *r, const char *a, const char *b)
{
	return r->argc >= 1 && strcmp(r->argv[0], a) == 0 &&
	       (!b || (r->argc >= 2 && strcmp(r->argv[1], b) == 0));
}

void hvm_ctl_json(json_t *o, FILE *out)
{
	fprintf(out, "ok\n");
	if (o)
		json_dumpf(o, out, JSON_INDENT(2));
	fputc('\n', out);
	json_decref(o);
}

/* ---- channels ---- */

static const char *chan_state_name(const struct hvm_chan *c)
{
	switch (c->state) {
	case HVM_CHAN_OFFERED: return "offered";
	case HVM_CHAN_OPEN: return "open";
	case HVM_CHAN_RESCINDED: return "rescinded";
	}
	return "?";
}

/* What the channel shows: its counters now, or those of its last open
 * session. */
static struct rt_chan_stats chan_stats(const struct hvm_chan *c)
{
	struct rt_chan_stats st = c->last;

	if (c->rt)
		rt_chan_get_stats(c->rt, &st);
	return st;
}

static uint32_t chan_version(const struct hvm_chan *c)
{
	return atomic_load(&((struct hvm_chan *)c)->dev_version);
}

static void fmt_version(uint32_t v, char *buf, size_t cap)
{
	if (v)
		snprintf(buf, cap, "%u.%u", v >> 16, v & 0xffff);
	else
		snprintf(buf, cap, "-");
}

/* The default listing fits 100 columns; --wide adds ring sizes, signal
 * counts and the device's own figures. */
static void print_chan(const struct hvm_chan *c, bool wide, FILE *out)
{
	struct rt_chan_stats st = chan_stats(c);
	char guid[VMB_GUID_STRLEN], ver[16], cpu[12] = "-";
	char g2h[24] = "-", h2g[24] = "-";

	vmb_guid_format(&c->dev->instance, guid);
	fmt_version(chan_version(c), ver, sizeof(ver));
	if (c->rt)
		snprintf(cpu, sizeof(cpu), "%d", c->cpu);
	if (!wide) {
		fprintf(out, "%-5u %-9s %3u %-9s %-7s %3s %10llu %10llu %s\n",
			c->relid, c->dev->cls->name, c->sub_index,
			chan_state_name(c), ver, cpu,
			(unsigned long long)st.rx_packets,
			(unsigned long long)st.tx_packets, guid);
		return;
	}
	if (c->g2h_len) /* 0: never opened by the guest attached */
		snprintf(g2h, sizeof(g2h), "%lluK",
			 (unsigned long long)(c->g2h_len >> 10));
	if (c->h2g_len)
		snprintf(h2g, sizeof(h2g), "%lluK",
			 (unsigned long long)(c->h2g_len >> 10));
	fprintf(out, "%-5u %-9s %-36s %3u %-9s %-7s %3s %8s %8s %10llu %10llu "
		"%8llu %8llu ", c->relid, c->dev->cls->name, guid,
		c->sub_index, chan_state_name(c), ver, cpu, g2h, h2g,
		(unsigned long long)st.rx_packets,
		(unsigned long long)st.tx_packets,
		(unsigned long long)st.signals_in,
		(unsigned long long)st.signals_out);
	if (c->dev->cls->describe && c->rt)
		c->dev->cls->describe((struct hvm_chan *)c, out);
	fputc('\n', out);
}

static void cmd_channels_text(struct hvm *vm, bool wide, FILE *out)
{
	fprintf(out, "ok\n");
	if (wide)
		fprintf(out, "%-5s %-9s %-36s %3s %-9s %-7s %3s %8s %8s %10s "
			"%10s %8s %8s %s\n", "RELID", "CLASS", "INSTANCE",
			"SUB", "STATE", "VERSION", "CPU", "G2H-RING",
			"H2G-RING", "G2H-PKTS", "H2G-PKTS", "G2H-SIGS",
			"H2G-SIGS", "DEVICE");
	else
		fprintf(out, "%-5s %-9s %3s %-9s %-7s %3s %10s %10s %s\n",
			"RELID", "CLASS", "SUB", "STATE", "VERSION", "CPU",
			"G2H-PKTS", "H2G-PKTS", "INSTANCE");
	for (uint32_t r = 1; r < VMB_RELID_MAX; r++)
		if (vm->chans[r])
			print_chan(vm->chans[r], wide, out);
}

/* The device's "name=value ..." figures as an object: numbers where the
 * value is one. */
static json_t *device_json(struct hvm_chan *c)
{
	char *text = NULL, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_t *o = json_object();

	if (!f || !o) {
		if (f)
			fclose(f);
		free(text);
		return o;
	}
	if (c->dev->cls->describe && c->rt)
		c->dev->cls->describe(c, f);
	fclose(f);
	for (char *w = strtok_r(text, " ", &save); w;
	     w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '='), *end;
		unsigned long long v;

		if (!eq)
			continue;
		*eq = '\0';
		v = strtoull(eq + 1, &end, 10);
		json_object_set_new(o, w, eq[1] && !*end ? json_integer(
				    (json_int_t)v) : json_string(eq + 1));
	}
	free(text);
	return o;
}

static json_t *chan_json(struct hvm_chan *c)
{
	struct rt_chan_stats st = chan_stats(c);
	char guid[VMB_GUID_STRLEN], ver[16];
	uint32_t v = chan_version(c);

	vmb_guid_format(&c->dev->instance, guid);
	fmt_version(v, ver, sizeof(ver));
	return json_pack(
		"{s:I, s:s, s:s, s:I, s:s, s:o, s:o, s:{s:I, s:I}, "
		"s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:I, s:o}",
		"relid", (json_int_t)c->relid, "class", c->dev->cls->name,
		"instance", guid, "sub_channel", (json_int_t)c->sub_index,
		"state", chan_state_name(c),
		"device_version", v ? json_string(ver) : json_null(),
		"cpu", c->rt ? json_integer(c->cpu) : json_null(),
		"ring_bytes", "guest_to_host", (json_int_t)c->g2h_len,
		"host_to_guest", (json_int_t)c->h2g_len,
		"guest_to_host", "packets", (json_int_t)st.rx_packets,
		"bytes", (json_int_t)st.rx_bytes,
		"signals", (json_int_t)st.signals_in,
		"batches", (json_int_t)st.rx_batches,
		"host_to_guest", "packets", (json_int_t)st.tx_packets,
		"bytes", (json_int_t)st.tx_bytes,
		"signals", (json_int_t)st.signals_out,
		"ring_full", (json_int_t)st.tx_full,
		"ring_errors", (json_int_t)st.bad,
		"device", device_json(c));
}

static void cmd_channels_json(struct hvm *vm, FILE *out)
{
	json_t *list = json_array();

	for (uint32_t r = 1; r < VMB_RELID_MAX; r++)
		if (vm->chans[r])
			json_array_append_new(list, chan_json(vm->chans[r]));
	hvm_ctl_json(json_pack("{s:s, s:s, s:o}", "schema",
			       "hvis.channels/1", "vm", vm->cfg.name,
			       "channels", list), out);
}

/* ---- vm show ---- */

/* Get-VM's State, and what it means here. */
static const char *vm_state(const struct hvm *vm, const char **status)
{
	if (!vm->xc) {
		*status = "Off (waiting for a guest)";
		return "Off";
	}
	if (!vm->version) {
		*status = "Starting (guest attached, VMBus not connected)";
		return "Starting";
	}
	*status = "Running (guest connected)";
	return "Running";
}

static double uptime_s(const struct hvm *vm)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 -
	       (double)vm->guest_since_ns / 1e9;
}

/* Figures vm show adds up over the channels. */
struct vm_tally {
	unsigned nchan, nopen, ndev;
	uint32_t map_runs;
	uint64_t ring_bad, buf_refused, errors;
};

static void vm_tally(struct hvm *vm, struct vm_tally *t)
{
	memset(t, 0, sizeof(*t));
	t->ring_bad = vm->ring_bad;
	/* Devices' threads change these: a consistent snapshot. */
	hvm_gpadl_counts(vm, &t->map_runs, &t->buf_refused);
	for (uint32_t r = 1; r < VMB_RELID_MAX; r++) {
		const struct hvm_chan *c = vm->chans[r];

		if (!c)
			continue;
		t->nchan++;
		if (c->rt) {
			t->ring_bad += chan_stats(c).bad;
			t->nopen++;
		}
	}
	for (const struct hdev *d = vm->devs; d; d = d->next)
		t->ndev++;
	t->errors = vmb_bad_total(&vm->srv.bad) + vm->xport_bad +
		    vm->map_refused + t->ring_bad + vm->xport_stalled +
		    t->buf_refused;
}

/* The host's own error counters by name (the VMBus ones first). */
static void vm_errors(const struct hvm *vm, const struct vm_tally *t,
		      void (*put)(void *arg, const char *name, uint64_t v),
		      void *arg)
{
	for (unsigned i = 0; i < VMB_BAD__COUNT; i++)
		put(arg, vmb_bad_name((enum vmb_bad)i), vm->srv.bad.n[i]);
	put(arg, "transport", vm->xport_bad);
	put(arg, "gpadl-refused", vm->map_refused);
	put(arg, "ring-corrupt", t->ring_bad);
	put(arg, "not-reading", vm->xport_stalled);
	put(arg, "buffer-refused", t->buf_refused);
}

static void put_text(void *arg, const char *name, uint64_t v)
{
	fprintf(arg, "  %-14s %llu\n", name, (unsigned long long)v);
}

static void put_json(void *arg, const char *name, uint64_t v)
{
	json_object_set_new(arg, name, json_integer((json_int_t)v));
}

static void cmd_vm_show_text(struct hvm *vm, FILE *out)
{
	const char *status;
	struct vm_tally t;

	vm_state(vm, &status);
	vm_tally(vm, &t);
	fprintf(out, "ok\nName:            %s\n", vm->cfg.name);
	fprintf(out, "State:           %s\n", status);
	if (vm->xc)
		fprintf(out, "Uptime:          %.0f s (guest pid %d)\n",
			uptime_s(vm), (int)vm->guest_pid);
	fprintf(out, "VMBus version:   %s\n",
		vm->version ? vmb_version_name(vm->version) : "-");
	if (vm->have_gmem)
		fprintf(out, "Guest memory:    %llu MiB\n",
			(unsigned long long)(vm->gmem.size >> 20));
	else
		fprintf(out, "Guest memory:    -\n");
	fprintf(out, "Devices:         %u\n", t.ndev);
	fprintf(out, "Guest mappings:  %u (at most %u; %llu GPADLs refused "
		"beyond)\n", t.map_runs, HVM_GUEST_MAP_RUNS,
		(unsigned long long)vm->map_capped);
	fprintf(out, "Channels:        %u (%u open)\n", t.nchan, t.nopen);
	fprintf(out, "Guest sessions:  %llu (since the host started)\n",
		(unsigned long long)vm->guests_served);
	fprintf(out, "Errors:          %llu\n", (unsigned long long)t.errors);
	vm_errors(vm, &t, put_text, out);
	fprintf(out, "Rescind races:   %llu (requests refused that crossed "
		"a rescind; not errors)\n", (unsigned long long)vm->srv.raced);
	hic_show(vm, out);
}

static void cmd_vm_show_json(struct hvm *vm, FILE *out)
{
	const char *status, *state = vm_state(vm, &status);
	json_t *errs = json_object(), *o;
	struct vm_tally t;

	vm_tally(vm, &t);
	vm_errors(vm, &t, put_json, errs);
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:I, "
		      "s:I, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:o}, s:I}",
		      "schema", "hvis.vm/1", "name", vm->cfg.name,
		      "state", state, "status", status,
		      "uptime_s", vm->xc ? json_real(uptime_s(vm)) : json_null(),
		      "guest_pid", vm->xc && vm->guest_pid
			      ? json_integer(vm->guest_pid) : json_null(),
		      "vmbus_version", vm->version ? json_sprintf("%u.%u",
			      vm->version >> 16, vm->version & 0xffff)
			      : json_null(),
		      "guest_memory_mib", vm->have_gmem ? json_integer(
			      (json_int_t)(vm->gmem.size >> 20)) : json_null(),
		      "devices", (json_int_t)t.ndev,
		      "channels", (json_int_t)t.nchan,
		      "channels_open", (json_int_t)t.nopen,
		      "guest_sessions", (json_int_t)vm->guests_served,
		      "guest_mappings", "held", (json_int_t)t.map_runs,
		      "max", (json_int_t)HVM_GUEST_MAP_RUNS,
		      "refused", (json_int_t)vm->map_capped,
		      "errors", "total", (json_int_t)t.errors,
		      "by_reason", errs,
		      "rescind_races", (json_int_t)vm->srv.raced);
	hic_show_json(vm, o);
	hvm_ctl_json(o, out);
}

/* ---- Stop-VM -TurnOff ---- */

/* The power goes, whatever the guest does: its process is killed (as a
 * VM's processors stop) and the connection dropped, as on a host whose
 * guest hangs with filesystems half written. */
static int cmd_turn_off(struct hvm *vm, FILE *out)
{
	pid_t pid = vm->guest_pid;
	int killed;

	if (!vm->xc) {
		fprintf(out, "error: VM '%s' is Off already\n", vm->cfg.name);
		return -1;
	}
	killed = vm->guest_pidfd >= 0 &&
		 syscall(SYS_pidfd_send_signal, vm->guest_pidfd, SIGKILL,
			 NULL, 0) == 0;
	hvm_turn_off(vm);
	fprintf(out, "ok\nStop-VM -TurnOff: VM '%s' turned off (guest pid %d "
		"%s)\n", vm->cfg.name, (int)pid,
		killed ? "killed" : "not ours to kill: disconnected");
	return 0;
}

/* ---- devices ---- */

static int parse_u32(const char *s, uint32_t *v)
{
	unsigned long long n;

	if (hvm_ctl_num(s, 0, UINT32_MAX, &n))
		return -1;
	*v = (uint32_t)n;
	return 0;
}

static int cmd_device_add(struct hvm *vm, char *const *argv, int argc,
			  FILE *out)
{
	const struct hdev_class *cls;
	uint32_t max_sub = 0;
	struct hdev *d;
	int rc;

	if (argc < 1 || !(cls = hdev_class_find(argv[0])) ||
	    (argc == 3 && (strcmp(argv[1], "--subchannels") ||
			   parse_u32(argv[2], &max_sub))) ||
	    (argc != 1 && argc != 3)) {
		fprintf(out, "error: usage: device add test [--subchannels K]\n");
		return -1;
	}
	rc = hvm_add_device(vm, cls, max_sub, NULL, &d);
	if (rc) {
		fprintf(out, "error: cannot add device: %s\n", strerror(-rc));
		return -1;
	}
	fprintf(out, "ok\ndevice %u relid %u\n", d->id, d->primary_relid);
	return 0;
}

static int cmd_device_remove(struct hvm *vm, char *const *argv, int argc,
			     FILE *out)
{
	uint32_t relid, gone[VMB_RELID_MAX];
	unsigned n;

	if (argc != 1 || parse_u32(argv[0], &relid)) {
		fprintf(out, "error: usage: device remove RELID\n");
		return -1;
	}
	n = hvm_remove_channel(vm, relid, gone, VMB_ARRAY_LEN(gone));
	if (!n) {
		fprintf(out, "error: no channel with relid %u\n", relid);
		return -1;
	}
	fprintf(out, "ok\nrescinded relid");
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%s %u", i ? "," : "", gone[i]);
	fputc('\n', out);
	return 0;
}

/* ---- dispatch ---- */

static int exec_vm(struct hvm *vm, const struct ctl_req *r, FILE *out)
{
	int rc;

	if (r->argc == 1 && req_is(r, "channels", NULL)) {
		if (r->json)
			cmd_channels_json(vm, out);
		else
			cmd_channels_text(vm, r->wide, out);
		return 0;
	}
	if (r->argc == 2 && req_is(r, "vm", "show")) {
		if (r->json)
			cmd_vm_show_json(vm, out);
		else
			cmd_vm_show_text(vm, out);
		return 0;
	}
	if (req_is(r, "device", "add"))
		return cmd_device_add(vm, r->argv + 2, r->argc - 2, out);
	if (req_is(r, "device", "remove"))
		return cmd_device_remove(vm, r->argv + 2, r->argc - 2, out);
	rc = hstor_ctl_exec(vm, r->argv, r->argc, r->json, out);
	if (rc != HSTOR_CTL_NOT_MINE)
		return rc;
	rc = hnet_ctl_exec(vm, r->argv, r->argc, r->json, out);
	if (rc != HNET_CTL_NOT_MINE)
		return rc;
	fprintf(out, "error: unknown request; try: channels | vm show | "
		"vm stop | device add | device remove | disk | nic | vm services | "
		"vm service | vm timesync | vm backup | kvp\n");
	return -1;
}

int hvm_ctl_exec(struct hvm *vm, char *line, int fd, FILE *out)
{
	char words[8192];
	struct ctl_req r;
	int rc;

	if (strlen(line) >= sizeof(words) || !req_parse(line, words, &r)) {
		fprintf(out, "error: too many words in the request, or an "
			"unbalanced quote\n");
		return -1;
	}
	if (r.argc == 3 && req_is(&r, "vm", "stop") &&
	    strcmp(r.argv[2], "--turn-off") == 0)
		return cmd_turn_off(vm, out);
	/* The services parse quoted words: they see the line itself. */
	rc = hic_ctl_exec(vm, line, fd, out);
	if (rc != HIC_CTL_NOT_MINE)
		return rc == HIC_CTL_LATER ? HVM_CTL_LATER : rc;
	return exec_vm(vm, &r, out);
}
