/* netvsp's control requests, in Hyper-V's words (a NIC is named by its
 * TAP device, the switch port):
 *   nic add tap=NAME[,mac=..][,mac-spoofing=on][,vlan=N]
 *                                      Add-VMNetworkAdapter (hot add)
 *   nic remove NAME                    Remove-VMNetworkAdapter (rescind)
 *   nic list [--json]                  Get-VMNetworkAdapter
 *   nic set NAME [mac-spoofing=on|off] [vlan=N|none]
 *                                      Set-VMNetworkAdapter
 *                                      -MacAddressSpoofing,
 *                                      Set-VMNetworkAdapterVlan -Access
 *   nic link NAME up|down              Connect-/Disconnect-VMNetworkAdapter
 *   nic capture NAME FILE [--count N] [--seconds S] | NAME --stop
 *                                      a pcap of what crosses the NIC */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hnet_priv.h"
#include "rt_log.h"

#define SPEC_MAX 256

/* A live NIC called name, or NULL after saying why in out. */
static struct hnet_nic *nic_find(struct hvm *vm, const char *name, FILE *out)
{
	bool removing = false;
	struct hnet_nic *nic = hnet_nic_named(vm, name, &removing);

	if (nic && !removing)
		return nic;
	if (nic)
		fprintf(out, "error: NIC %s is being removed (the guest has "
			"not let go of it yet)\n", name);
	else
		fprintf(out, "error: no NIC %s: 'nic list' shows the NICs\n",
			name);
	return NULL;
}

static void mac_text(const uint8_t *m, char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

static json_t *nic_json(struct hvm *vm, struct hnet_nic *nic);

/* The NIC as nic list --json shows it: the answer of a change. */
static int nic_reply(struct hvm *vm, struct hnet_nic *nic, FILE *out)
{
	hvm_ctl_json(json_pack("{s:s, s:s, s:o}", "schema", "hvis.nic/1",
			       "vm", vm->cfg.name, "nic", nic_json(vm, nic)),
		     out);
	return 0;
}

static int removed_reply(struct hvm *vm, const char *name,
			 const uint32_t *gone, unsigned n, FILE *out)
{
	json_t *relids = json_array();

	for (unsigned i = 0; i < n; i++)
		json_array_append_new(relids, json_integer(gone[i]));
	hvm_ctl_json(json_pack("{s:s, s:s, s:s, s:o}", "schema",
			       "hvis.nic-removed/1", "vm", vm->cfg.name,
			       "name", name, "rescinded", relids), out);
	return 0;
}

/* ---- add, remove ---- */

static void add_failed(const char *why, FILE *out)
{
	/* hnet_parse_nic speaks of --nic */
	if (!strncmp(why, "--nic", 5))
		fprintf(out, "error: nic add%s\n", why + 5);
	else
		fprintf(out, "error: %s\n", why);
}

static int cmd_add(struct hvm *vm, char *const *argv, int argc,
		   bool json, FILE *out)
{
	char spec[SPEC_MAX], why[256], mac[18];
	struct hnet_nic_cfg cfg;
	struct hnet_nic *nic;
	bool removing;

	if (argc != 1 || strlen(argv[0]) >= sizeof(spec)) {
		fprintf(out, "error: usage: nic add tap=NAME[,mac=XX:XX:XX:XX:"
			"XX:XX][,mac-spoofing=on][,vlan=N]\n");
		return -1;
	}
	strcpy(spec, argv[0]);
	if (hnet_parse_nic(spec, &cfg, why, sizeof(why))) {
		add_failed(why, out);
		return -1;
	}
	if (cfg.bench) {
		fprintf(out, "error: nic add: the bench port is hvis-bench's, "
			"made at start only (hvis-host --nic bench); add a "
			"NIC with tap=NAME\n");
		return -1;
	}
	if (hnet_add_nic(vm, &cfg, why, sizeof(why))) {
		add_failed(why, out);
		return -1;
	}
	nic = hnet_nic_named(vm, cfg.tap, &removing);
	if (json)
		return nic_reply(vm, nic, out);
	mac_text(nic->mac, mac);
	fprintf(out, "ok\nnic %s mac %s relid %u\n", nic->tap.name, mac,
		nic->d->primary_relid);
	return 0;
}

static int cmd_remove(struct hvm *vm, char *const *argv, int argc,
		   bool json, FILE *out)
{
	uint32_t gone[RT_TAP_QUEUES_MAX];
	struct hnet_nic *nic;
	unsigned n;

	if (argc != 1) {
		fprintf(out, "error: usage: nic remove NAME\n");
		return -1;
	}
	nic = nic_find(vm, argv[0], out);
	if (!nic)
		return -1;
	/* nic may be freed by now: a guest that never saw it let go */
	n = hvm_remove_channel(vm, nic->d->primary_relid, gone,
			       RT_TAP_QUEUES_MAX);
	if (json)
		return removed_reply(vm, argv[0], gone, n, out);
	fprintf(out, "ok\nrescinded relid");
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%s %u", i ? "," : "", gone[i]);
	fputc('\n', out);
	return 0;
}

/* ---- set, link ---- */

static int cmd_set(struct hvm *vm, char *const *argv, int argc,
		   bool json, FILE *out)
{
	struct hnet_nic *nic = argc >= 2 ? nic_find(vm, argv[0], out) : NULL;
	struct hnet_nic_cfg cfg;

	if (argc < 2) {
		fprintf(out, "error: usage: nic set NAME [mac-spoofing=on|off] "
			"[vlan=N|none]\n");
		return -1;
	}
	if (!nic)
		return -1;
	cfg.spoofing = atomic_load(&nic->sw.spoofing);
	cfg.vlan = atomic_load(&nic->sw.vlan);
	for (int i = 1; i < argc; i++) {
		if (!hnet_sw_opt(argv[i], &cfg)) {
			fprintf(out, "error: nic set: '%s' is not "
				"mac-spoofing=on|off or vlan=1..%u|none\n",
				argv[i], HNET_VLAN_MAX);
			return -1;
		}
	}
	atomic_store(&nic->sw.spoofing, cfg.spoofing);
	atomic_store(&nic->sw.vlan, cfg.vlan);
	if (json)
		return nic_reply(vm, nic, out);
	fprintf(out, "ok\n");
	return 0;
}

static int cmd_link(struct hvm *vm, char *const *argv, int argc,
		   bool json, FILE *out)
{
	bool up = argc == 2 && !strcmp(argv[1], "up");
	struct hnet_nic *nic;
	int rc;

	if (argc != 2 || (!up && strcmp(argv[1], "down"))) {
		fprintf(out, "error: usage: nic link NAME up|down\n");
		return -1;
	}
	nic = nic_find(vm, argv[0], out);
	if (!nic)
		return -1;
	atomic_store(&nic->sw.link_up, up);
	hnet_sw_kick(nic);
	/* the switch port's side too: a bridge sees the port go down */
	rc = nic->bench ? 0 : rt_tap_set_carrier(&nic->tap, up);
	if (rc)
		rt_warn("net", "%s: carrier not set: %s", nic->tap.name,
			strerror(-rc));
	if (json)
		return nic_reply(vm, nic, out);
	fprintf(out, "ok\n");
	if (rc)
		fprintf(out, "(%s's carrier not set: %s)\n", nic->tap.name,
			strerror(-rc));
	return 0;
}

/* ---- capture ---- */

struct cap_req {
	const char *name;
	struct hnet_cap_cfg cfg;
	bool stop;
};

static int cap_parse(char *const *argv, int argc, struct cap_req *r,
		     char *why, size_t n)
{
	unsigned long long count = 0, seconds = 0, stop = 0;
	const struct hvm_ctl_opt opts[] = {
		{"--count", 1, UINT64_MAX, false, &count},
		{"--seconds", 1, HNET_CAP_SECONDS_MAX, false, &seconds},
		{"--stop", 0, 0, false, &stop},
	};
	const char *pos[2] = {NULL, NULL};

	if (hvm_ctl_args(argv, argc, opts, VMB_ARRAY_LEN(opts),
			 pos, 2, why, n))
		return -1;
	*r = (struct cap_req){.name = pos[0], .stop = stop,
			      .cfg = {.path = pos[1], .count = count,
				      .seconds = seconds}};
	*why = '\0';
	if (!r->name)
		return -1;
	if (r->stop)
		return r->cfg.path || count || seconds ? -1 : 0;
	return r->cfg.path && r->cfg.path[0] == '/' ? 0 : -1;
}

static int cap_stop(struct hvm *vm, struct hnet_nic *nic, bool json,
		    FILE *out)
{
	struct hnet_cap_info ci;

	hnet_cap_stop(nic, &ci);
	if (!ci.path) {
		fprintf(out, "error: %s was never captured: 'nic capture %s "
			"FILE' starts a capture\n", nic->tap.name,
			nic->tap.name);
		return -1;
	}
	if (json)
		return nic_reply(vm, nic, out);
	fprintf(out, "ok\n%llu frames written to %s, %llu dropped\n",
		(unsigned long long)ci.frames, ci.path,
		(unsigned long long)ci.dropped);
	return 0;
}

static int cmd_capture(struct hvm *vm, char *const *argv, int argc,
		   bool json, FILE *out)
{
	struct hnet_nic *nic;
	struct cap_req r;
	char why[PATH_MAX + 128];

	if (cap_parse(argv, argc, &r, why, sizeof(why))) {
		fprintf(out, "error: nic capture: %s%susage: nic capture NAME "
			"FILE (an absolute path) [--count N] [--seconds S] | "
			"nic capture NAME --stop\n", why, *why ? "; " : "");
		return -1;
	}
	nic = nic_find(vm, r.name, out);
	if (!nic)
		return -1;
	if (r.stop)
		return cap_stop(vm, nic, json, out);
	if (hnet_cap_start(nic, &r.cfg, why, sizeof(why))) {
		fprintf(out, "error: %s\n", why);
		return -1;
	}
	if (json)
		return nic_reply(vm, nic, out);
	fprintf(out, "ok\ncapturing %s to %s ('nic capture %s --stop' "
		"ends it)\n", nic->tap.name, r.cfg.path, nic->tap.name);
	return 0;
}

/* ---- list ---- */

struct nic_fig {
	unsigned channels, open;
	uint64_t tx_frames, tx_msgs, tx_bytes, tx_errors, tx_spoofed, tx_tagged;
	uint64_t rx_frames, rx_msgs, rx_bytes, rx_dropped, rx_vlan, rx_filtered;
	uint64_t link_down;
};

#define GET(x) rt_ctr_get(&ch->x)

static void chan_fig(const struct hnet_chan *ch, struct nic_fig *f)
{
	f->open++;
	f->tx_frames += GET(tx_frames);
	f->tx_msgs += GET(tx_msgs);
	f->tx_bytes += GET(tx_bytes);
	f->tx_errors += GET(tx_err) + GET(tx_bad);
	f->tx_spoofed += GET(sw.tx_spoofed);
	f->tx_tagged += GET(sw.tx_tagged);
	f->rx_frames += GET(rx_frames);
	f->rx_msgs += GET(rx_msgs);
	f->rx_bytes += GET(rx_bytes);
	f->rx_dropped += GET(rx_full) + GET(rx_idle) + GET(rx_ring_full) +
			 GET(rx_long);
	f->rx_vlan += GET(sw.rx_vlan);
	f->rx_filtered += GET(sw.rx_filtered);
	f->link_down += GET(sw.link_down);
}

/* Summed over the NIC's channels as they are now (read racily). */
static void nic_fig(struct hvm *vm, const struct hnet_nic *nic,
		    struct nic_fig *f)
{
	memset(f, 0, sizeof(*f));
	for (uint32_t r = 1; r < VMB_RELID_MAX; r++) {
		struct hvm_chan *c = vm->chans[r];

		if (!c || c->dev != nic->d)
			continue;
		f->channels++;
		if (c->priv)
			chan_fig(c->priv, f);
	}
}

static const char *nic_state(struct hvm *vm, const struct hnet_nic *nic,
			     const struct nic_fig *f)
{
	if (!hvm_dev_live(vm, nic->d))
		return "removing";
	return f->open ? "open" : "offered";
}

static json_t *cap_json(struct hnet_nic *nic)
{
	struct hnet_cap_info ci;

	hnet_cap_info(nic, &ci);
	if (!ci.path)
		return json_null();
	return json_pack("{s:s, s:b, s:I, s:I}", "file", ci.path, "running",
			 ci.running, "frames", (json_int_t)ci.frames,
			 "dropped", (json_int_t)ci.dropped);
}

static json_t *fig_json(const struct nic_fig *f)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:I, s:I, s:I}",
			 "tx_frames", (json_int_t)f->tx_frames,
			 "tx_msgs", (json_int_t)f->tx_msgs,
			 "tx_bytes", (json_int_t)f->tx_bytes,
			 "tx_errors", (json_int_t)f->tx_errors,
			 "tx_spoofed", (json_int_t)f->tx_spoofed,
			 "tx_tagged", (json_int_t)f->tx_tagged,
			 "rx_frames", (json_int_t)f->rx_frames,
			 "rx_msgs", (json_int_t)f->rx_msgs,
			 "rx_bytes", (json_int_t)f->rx_bytes,
			 "rx_dropped", (json_int_t)f->rx_dropped,
			 "rx_vlan", (json_int_t)f->rx_vlan,
			 "rx_filtered", (json_int_t)f->rx_filtered,
			 "link_down", (json_int_t)f->link_down);
}

static json_t *nic_json(struct hvm *vm, struct hnet_nic *nic)
{
	uint32_t vlan = atomic_load(&nic->sw.vlan);
	struct nic_fig f;
	char mac[18];

	nic_fig(vm, nic, &f);
	mac_text(nic->mac, mac);
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:s, s:I, s:I, "
			 "s:o, s:o}", "name", nic->tap.name, "switch_port",
			 nic->tap.name, "mac_address", mac, "link",
			 atomic_load(&nic->sw.link_up) ? "up" : "down",
			 "mac_address_spoofing",
			 atomic_load(&nic->sw.spoofing),
			 "vlan", vlan ? json_integer(vlan) : json_null(),
			 "state", nic_state(vm, nic, &f),
			 "relid", (json_int_t)nic->d->primary_relid,
			 "channels", (json_int_t)f.channels,
			 "counters", fig_json(&f), "capture", cap_json(nic));
}

static void nic_text(struct hvm *vm, struct hnet_nic *nic, FILE *out)
{
	uint32_t vlan = atomic_load(&nic->sw.vlan);
	struct hnet_cap_info ci;
	struct nic_fig f;
	char mac[18], vl[12] = "-";

	nic_fig(vm, nic, &f);
	mac_text(nic->mac, mac);
	hnet_cap_info(nic, &ci);
	if (vlan)
		snprintf(vl, sizeof(vl), "%u", vlan);
	fprintf(out, "%-15s %-17s %-4s %-8s %-4s %-8s %3u %11llu %11llu "
		"%8llu %8llu %s\n", nic->tap.name, mac,
		atomic_load(&nic->sw.link_up) ? "up" : "down",
		atomic_load(&nic->sw.spoofing) ? "on" : "off", vl,
		nic_state(vm, nic, &f), f.channels,
		(unsigned long long)f.tx_frames,
		(unsigned long long)f.rx_frames,
		(unsigned long long)f.tx_spoofed,
		(unsigned long long)(f.tx_errors + f.tx_tagged + f.rx_dropped +
				     f.rx_vlan + f.rx_filtered + f.link_down),
		ci.running ? ci.path : "-");
}

static void cmd_list(struct hvm *vm, bool json, FILE *out)
{
	json_t *list = json_array();

	if (!json)
		fprintf(out, "ok\n%-15s %-17s %-4s %-8s %-4s %-8s %3s %11s "
			"%11s %8s %8s %s\n", "NAME", "MAC", "LINK", "SPOOFING",
			"VLAN", "STATE", "CH", "TX-FRAMES", "RX-FRAMES",
			"SPOOFED", "DROPPED", "CAPTURE");
	for (struct hdev *d = vm->devs; d; d = d->next) {
		if (d->cls != &hnet_class)
			continue;
		if (json)
			json_array_append_new(list, nic_json(vm, d->priv));
		else
			nic_text(vm, d->priv, out);
	}
	if (json)
		hvm_ctl_json(json_pack("{s:s, s:s, s:o}", "schema",
				       "hvis.nics/1", "vm", vm->cfg.name,
				       "nics", list), out);
	else
		json_decref(list);
}

int hnet_ctl_exec(struct hvm *vm, char *const *argv, int argc, bool json,
		  FILE *out)
{
	static const struct {
		const char *word;
		int (*fn)(struct hvm *, char *const *, int, bool, FILE *);
	} cmds[] = {
		{"add", cmd_add}, {"remove", cmd_remove}, {"set", cmd_set},
		{"link", cmd_link}, {"capture", cmd_capture},
	};

	if (argc < 2 || strcmp(argv[0], "nic"))
		return HNET_CTL_NOT_MINE;
	if (!strcmp(argv[1], "list") && argc == 2) {
		cmd_list(vm, json, out);
		return 0;
	}
	for (size_t i = 0; i < VMB_ARRAY_LEN(cmds); i++)
		if (!strcmp(argv[1], cmds[i].word))
			return cmds[i].fn(vm, argv + 2, argc - 2, json, out);
	fprintf(out, "error: unknown nic request; try: nic add | nic remove "
		"| nic list | nic set | nic link | nic capture\n");
	return -1;
}
