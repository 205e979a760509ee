/* hvis-host: the emulated Hyper-V host. One VM, one guest at a time, a
 * control socket for hvis-ctl. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hic.h"
#include "hvis_paths.h"
#include "hvm.h"
#include "net/hnet.h"
#include "storage/hstor.h"
#include "rt_log.h"
#include "testdev/tdev_wire.h"
#include "vmbus/vmb_client.h"
#include "vmbus/vmb_msg.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: hvis-host [options]\n"
"  --name NAME          VM name (default " HVIS_DEFAULT_VM ")\n"
"  --dir DIR            runtime directory for the sockets (default\n"
"                       $XDG_RUNTIME_DIR/hvis/NAME, else\n"
"                       ${TMPDIR:-/tmp}/hvis-UID/NAME)\n"
"  --vmbus PATH         VMBus socket (default DIR/" HVIS_VMBUS_SOCK ")\n"
"  --ctl PATH           control socket (default DIR/" HVIS_CTL_SOCK ")\n"
"  --max-version X.Y    highest VMBus version to accept, one of 0.13\n"
"                       (WS2008) to 5.3 (default newest)\n"
"  --test-devices N     test devices to offer (default 1)\n"
"  --subchannels K      sub-channels each test device allows (default 2)\n"
"  --disk SPEC          attach a disk: PATH[,lun=N][,ro][,controller=K]\n"
"                       [,direct=off], PATH an image file, a block\n"
"                       device or an NBD URI (nbd://..., nbd+unix://...),\n"
"                       a comma in PATH doubled; repeatable\n"
"                       (Add-VMHardDiskDrive)\n"
"  --nic SPEC           add a network adapter: tap=NAME[,mac=MAC]\n"
"                       [,queues=K][,mac-spoofing=on][,vlan=N], its frames\n"
"                       through TAP device NAME (frames from other source\n"
"                       MACs dropped unless mac-spoofing=on; with vlan=N\n"
"                       tagged N on the TAP, as an access port),\n"
"                       made in this namespace (needs CAP_NET_ADMIN);\n"
"                       MAC default 00:15:5d: then two bytes of the VM\n"
"                       name and the NIC's index; K channels (vRSS: the\n"
"                       primary and K-1 sub-channels, a TAP queue each;\n"
"                       default the CPUs, at most 8; 1 to 64);\n"
"                       repeatable (Add-VMNetworkAdapter); bench[,rx=SIZE]\n"
"                       instead of tap=NAME: no TAP, the guest's frames\n"
"                       counted and dropped, SIZE-byte frames sent to it\n"
"                       as fast as it takes them (hvis-bench net; past\n"
"                       1514 bytes TCP frames, coalesced for RSC)\n"
"  --once               exit when the guest goes away\n"
"  --poll               channel workers poll instead of sleeping\n"
"  --services LIST      integration services to enable at start: all,\n"
"                       none, or a comma list of heartbeat, shutdown,\n"
"                       timesync, kvp, vss (default all; none when\n"
"                       --test-devices or --subchannels is given)\n"
"  --ic-version S=X.Y   offer service S (a --services name) message\n"
"                       versions up to X.Y only, as an older Hyper-V\n"
"                       host (X.Y one the host knows for S; repeatable)\n"
"  --heartbeat-ms MS    heartbeat probe period (default 1000)\n"
"  --timesync-ms MS     time sample period (default 5000)\n"
"  --backup-cmd CMD     host snapshot step of `vm backup`, run by\n"
"                       /bin/sh while the guest is frozen (default none)\n"
"  --backup-timeout S   kill the backup command's process group after S\n"
"                       seconds, thaw and fail the backup (default 120)\n"
"  --request-timeout S  wait S seconds for each guest answer before a\n"
"                       request fails (default 10)\n"
"  --verbose            log debug messages too\n"
"  --quiet              log warnings and errors only\n"
"  --help               print this help and exit\n"
"  --version            print the version and exit\n");
}

struct host_opts {
	const char *name, *dir, *vmbus, *ctl;
	unsigned max_version;
	unsigned long devices, subchannels;
	bool once, poll, dev_opts;
	bool have_services;
	unsigned services;
	char *disks[HSTOR_CONTROLLERS * HSTOR_LUNS];
	unsigned ndisks;
	char *nics[HNET_NICS_MAX];
	unsigned nnics;
	uint32_t msg_cap[HIC__COUNT];
	const char *backup_cmd;
	unsigned long probe_ms, sample_ms;
	uint32_t timeout_ms, backup_timeout_ms;
	enum rt_log_level level;
};

/* Seconds, fractions allowed, as milliseconds in 1..3600000. */
static bool parse_seconds(const char *s, uint32_t *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || *end || !(v >= 0.001 && v <= 3600))
		return false;
	*ms = (uint32_t)(v * 1000 + 0.5);
	return true;
}

/* "0.13, 1.1, ..., 5.3": what --max-version takes. */
static const char *known_versions(void)
{
	static char buf[160];
	size_t n = 0;

	for (unsigned i = vmb_versions_count; i-- > 0 && n < sizeof(buf);)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u.%u",
				      n ? ", " : "", vmb_versions[i] >> 16,
				      vmb_versions[i] & 0xffff);
	return buf;
}

static int bad(const char *opt, const char *why)
{
	return hvis_refuse("hvis-host", "%s %s: %s", opt, optarg, why);
}

/* The options that take a count or a time; -1 if refused. */
static int parse_number(int c, struct host_opts *o)
{
	switch (c) {
	case 't':
		o->dev_opts = true;
		return hvis_parse_ulong(optarg, 64, &o->devices)
			       ? 0 : bad("--test-devices", "want a count from 0 to 64");
	case 's':
		o->dev_opts = true;
		return hvis_parse_ulong(optarg, TDEV_MAX_SUBCHANNELS,
					&o->subchannels)
			       ? 0 : bad("--subchannels", "want a count from 0 to 64");
	case 'H':
		return hvis_parse_ulong(optarg, 3600000, &o->probe_ms) &&
			       o->probe_ms
			       ? 0 : bad("--heartbeat-ms", "want milliseconds from 1 to 3600000");
	case 'T':
		return hvis_parse_ulong(optarg, 3600000, &o->sample_ms) &&
			       o->sample_ms
			       ? 0 : bad("--timesync-ms", "want milliseconds from 1 to 3600000");
	case 'K':
		return parse_seconds(optarg, &o->backup_timeout_ms)
			       ? 0 : bad("--backup-timeout",
					 "want seconds from 0.001 to 3600");
	case 'R':
		return parse_seconds(optarg, &o->timeout_ms)
			       ? 0 : bad("--request-timeout",
					 "want seconds from 0.001 to 3600");
	}
	return -1;
}

/* Checked now, attached once the VM is up. */
static int parse_disk(struct host_opts *o)
{
	struct hstor_disk_cfg d;
	char why[256], *copy;

	if (o->ndisks == HSTOR_CONTROLLERS * HSTOR_LUNS)
		return bad("--disk", "too many disks");
	copy = strdup(optarg);
	if (!copy || hstor_parse_disk(copy, &d, why, sizeof(why))) {
		free(copy);
		return bad("--disk", copy ? why : "out of memory");
	}
	free(copy);
	o->disks[o->ndisks++] = optarg;
	return 0;
}

static int parse_nic(struct host_opts *o)
{
	struct hnet_nic_cfg n;
	char why[256], *copy;

	if (o->nnics == HNET_NICS_MAX)
		return bad("--nic", "too many network adapters");
	copy = strdup(optarg);
	if (!copy || hnet_parse_nic(copy, &n, why, sizeof(why))) {
		free(copy);
		return bad("--nic", copy ? why : "out of memory");
	}
	free(copy);
	o->nics[o->nnics++] = optarg;
	return 0;
}

static int parse_one(int c, struct host_opts *o)
{
	char why[256];
	enum hic_kind kind;
	uint32_t ver;

	switch (c) {
	case 'n': o->name = optarg; return 0;
	case 'd': o->dir = optarg; return 0;
	case 'b': o->vmbus = optarg; return 0;
	case 'c': o->ctl = optarg; return 0;
	case 'V':
		if (hvis_parse_version(optarg, &o->max_version) &&
		    vmb_msg_version_known(o->max_version))
			return 0;
		snprintf(why, sizeof(why), "unknown VMBus version (known: %s)",
			 known_versions());
		return bad("--max-version", why);
	case 'S':
		o->have_services = true;
		return hic_parse_services(optarg, &o->services, why,
					  sizeof(why)) ? bad("--services", why)
						       : 0;
	case 'I':
		if (hic_parse_ic_version(optarg, &kind, &ver, why,
					 sizeof(why)))
			return bad("--ic-version", why);
		o->msg_cap[kind] = ver;
		return 0;
	case 'B': o->backup_cmd = optarg; return 0;
	case 'D': return parse_disk(o);
	case 'N': return parse_nic(o);
	case '1': o->once = true; return 0;
	case 'p': o->poll = true; return 0;
	case 'v': o->level = RT_LOG_DEBUG; return 0;
	case 'q': o->level = RT_LOG_WARN; return 0;
	case 'h': usage(stdout); exit(0);
	case 'Z': printf("hvis-host %s\n", HVIS_VERSION); exit(0);
	}
	return parse_number(c, o);
}

static int parse_opts(int argc, char **argv, struct host_opts *o)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "vmbus", required_argument, NULL, 'b' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "max-version", required_argument, NULL, 'V' },
		{ "test-devices", required_argument, NULL, 't' },
		{ "subchannels", required_argument, NULL, 's' },
		{ "disk", required_argument, NULL, 'D' },
		{ "nic", required_argument, NULL, 'N' },
		{ "once", no_argument, NULL, '1' },
		{ "poll", no_argument, NULL, 'p' },
		{ "services", required_argument, NULL, 'S' },
		{ "ic-version", required_argument, NULL, 'I' },
		{ "heartbeat-ms", required_argument, NULL, 'H' },
		{ "timesync-ms", required_argument, NULL, 'T' },
		{ "backup-cmd", required_argument, NULL, 'B' },
		{ "backup-timeout", required_argument, NULL, 'K' },
		{ "request-timeout", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'Z' },
		{ 0 }
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (c == '?' || c == ':')
			return hvis_refuse_getopt("hvis-host", c, argv);
		if (parse_one(c, o))
			return -1;
	}
	if (optind < argc)
		return hvis_refuse("hvis-host", "unexpected argument '%s' "
				   "(hvis-host takes options only; see --help)",
				   argv[optind]);
	return 0;
}

static int add_disks(struct hvm *vm, const struct host_opts *o)
{
	struct hstor_disk_cfg d;
	unsigned ctrl, lun;
	char why[512];

	for (unsigned i = 0; i < o->ndisks; i++) {
		char *spec = strdup(o->disks[i]);

		if (!spec || hstor_parse_disk(spec, &d, why, sizeof(why)) ||
		    hstor_add_disk(vm, &d, &ctrl, &lun, why, sizeof(why))) {
			rt_err("host", "--disk %s: %s", o->disks[i],
			       spec ? why : "out of memory");
			free(spec);
			return -1;
		}
		free(spec);
	}
	return 0;
}

static int add_nics(struct hvm *vm, const struct host_opts *o)
{
	struct hnet_nic_cfg n;
	char why[512];

	for (unsigned i = 0; i < o->nnics; i++) {
		char *spec = strdup(o->nics[i]);

		if (!spec || hnet_parse_nic(spec, &n, why, sizeof(why)) ||
		    hnet_add_nic(vm, &n, why, sizeof(why))) {
			rt_err("host", "--nic %s: %s", o->nics[i],
			       spec ? why : "out of memory");
			free(spec);
			return -1;
		}
		free(spec);
	}
	return 0;
}

/* The test devices first (relid 1 on), then the disks, the network
 * adapters, then the integration services. */
static int add_devices(struct hvm *vm, const struct host_opts *o)
{
	const struct hdev_class *cls = hdev_class_find("test");
	struct hic_cfg ic = {
		.probe_ms = (uint32_t)o->probe_ms,
		.sample_ms = (uint32_t)o->sample_ms,
		.timeout_ms = o->timeout_ms,
		.backup_cmd = o->backup_cmd,
		.backup_timeout_ms = o->backup_timeout_ms,
		.enable = o->have_services ? o->services
		: o->dev_opts ? 0 : HIC_ALL,
	};

	memcpy(ic.msg_cap, o->msg_cap, sizeof(ic.msg_cap));
	for (unsigned long i = 0; i < o->devices; i++)
		if (hvm_add_device(vm, cls, (uint32_t)o->subchannels, NULL,
				   NULL))
			return -1;
	if (add_disks(vm, o) || add_nics(vm, o))
		return -1;
	return hic_init(vm, &ic) ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct host_opts o = { .name = HVIS_DEFAULT_VM, .devices = 1,
			       .subchannels = 2, .level = RT_LOG_INFO };
	char dir[PATH_MAX], vmbus[PATH_MAX], ctl[PATH_MAX], why[PATH_MAX + 128] = "path too long";
	bool made;
	struct hvm_cfg cfg;
	struct rt_loop *loop;
	struct hvm vm;
	int rc;

	if (parse_opts(argc, argv, &o))
		return 2;
	rt_log_init(argv[0], o.level);
	if (hvis_vm_dir(dir, sizeof(dir), o.dir, o.name, true, &made, why,
			sizeof(why)) ||
	    hvis_path(vmbus, sizeof(vmbus), dir, HVIS_VMBUS_SOCK) ||
	    hvis_path(ctl, sizeof(ctl), dir, HVIS_CTL_SOCK)) {
		rt_err("host", "runtime directory: %s", why);
		return 1;
	}
	cfg = (struct hvm_cfg){
		.name = o.name,
		.vmbus_path = o.vmbus ? o.vmbus : vmbus,
		.ctl_path = o.ctl ? o.ctl : ctl,
		.max_version = o.max_version,
		.once = o.once,
		.poll = o.poll,
	};
	loop = rt_loop_new();
	if (!loop)
		return 1;
	rt_loop_stop_on_signals(loop);
	rt_raise_fd_limit();
	rc = hvm_init(&vm, &cfg, loop);
	if (!rc)
		rc = add_devices(&vm, &o);
	if (!rc)
		rc = rt_loop_run(loop);
	hvm_fini(&vm);
	hic_fini(&vm);
	rt_loop_free(loop);
	/* Only the directory this host made, and only if it is empty. */
	if (made)
		rmdir(dir);
	rt_info("host", "stopped");
	return rc ? 1 : 0;
}
