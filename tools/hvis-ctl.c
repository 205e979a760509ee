/* hvis-ctl: ask a running hvis-host about its VM and change it, in
 * Hyper-V's words (Get-VM, Get-VMIntegrationService, Stop-VM, ...). The
 * command line is checked here before anything is sent; one request line
 * goes to the host's control socket and its reply is printed. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hvis_ctl.h"
#include "hvis_paths.h"

/* The host reads lines up to 8 KiB (KVP values). */
#define REQ_MAX 8192

volatile sig_atomic_t ctl_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: hvis-ctl [--name NAME | --dir DIR | --ctl PATH] [--host-user USER]\n"
"                COMMAND [ARGS]\n"
"  vm list [--json]                  the VMs here and their state (Get-VM)\n"
"  vm show [--json]                  one VM: state, VMBus version, guest,\n"
"                                    error counters\n"
"  vm watch                          vm show, channels with rates,\n"
"                                    services, disks and NICs, every second\n"
"  channels [--wide] [--json]        VMBus channels (like lsvmbus)\n"
"  vm services [--json]              integration services and status\n"
"                                    (Get-VMIntegrationService; exit 3\n"
"                                    when an enabled one is not OK)\n"
"  vm service enable|disable NAME    Heartbeat, Shutdown, \"Time\n"
"                                    Synchronization\", \"Key-Value Pair\n"
"                                    Exchange\", VSS (or heartbeat,\n"
"                                    shutdown, timesync, kvp, vss)\n"
"  vm stop [--force] [--reboot] [--reason TEXT]\n"
"                                    ask the guest to shut down (Stop-VM)\n"
"  vm stop --turn-off                power off at once, without the guest\n"
"                                    (Stop-VM -TurnOff)\n"
"  vm timesync [--skew SECONDS]      host time offset sent to the guest\n"
"  vm backup                         live backup (guest freeze/thaw)\n"
"  device add test [--subchannels K] hot-add a test device\n"
"  device remove RELID               rescind a device's channel(s)\n"
"  disk add PATH [--controller K] [--lun N] [--read-only]\n"
"                                    attach a disk (Add-VMHardDiskDrive):\n"
"                                    image file, block device or NBD URI\n"
"  disk remove --controller K --lun N detach it (Remove-VMHardDiskDrive)\n"
"  disk list [--json]                the disks (Get-VMHardDiskDrive)\n"
"  disk resize --controller K --lun N --size BYTES[K|M|G|T]\n"
"                                    grow or shrink an attached disk\n"
"  nic add tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,mac-spoofing=on][,vlan=N]\n"
"                                    hot-add a network adapter whose switch\n"
"                                    port is TAP NAME (Add-VMNetworkAdapter)\n"
"  nic remove NAME                   hot-remove it (Remove-VMNetworkAdapter)\n"
"  nic list [--json]                 the NICs: MAC, link, spoofing, VLAN,\n"
"                                    counters (Get-VMNetworkAdapter)\n"
"  nic set NAME [mac-spoofing=on|off] [vlan=N|none]\n"
"                                    Set-VMNetworkAdapter -MacAddressSpoofing,\n"
"                                    Set-VMNetworkAdapterVlan -Access\n"
"  nic link NAME up|down             connect or disconnect the cable\n"
"  nic capture NAME FILE [--count N] [--seconds S]\n"
"                                    frames crossing the NIC to a pcap file\n"
"  nic capture NAME --stop           end the capture\n"
"  kvp get KEY | set KEY VALUE | delete KEY | list [--json]\n"
"      [--pool N|NAME]               the guest's KVP pools (NAME: external\n"
"                                    (default), guest, auto, auto-external,\n"
"                                    auto-internal)\n"
"  kvp ip get ADAPTER [--json]       a guest adapter's addresses\n"
"                                    (ADAPTER: its MAC address)\n"
"  kvp ip set ADAPTER --dhcp [--dns D[,D..]]\n"
"  kvp ip set ADAPTER --ip ADDR/PREFIX[,..] [--gateway G[,..]]\n"
"                     [--dns D[,..]]  configure it (static or DHCP)\n"
"Options: --name NAME (VM, default " HVIS_DEFAULT_VM "), --dir DIR (its\n"
"runtime directory), --ctl PATH (its control socket), --host-user USER\n"
"(trust a host run by USER), --help, --version.\n"
"Exit status: 0 done, 1 failed or no host, 2 bad command line, 3 a service\n"
"is not OK (vm services).\n");
}

/* ---- the command line ---- */

static bool has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return true;
	return false;
}

/* One word of the request: quoted when it holds blanks, quotes or
 * backslashes (or is empty), so that the host sees it as it was.
 * -EINVAL for a line break (the request is one line), -E2BIG. */
static int put_word(char *req, size_t cap, size_t *n, const char *w)
{
	bool quote = !*w || strpbrk(w, " \t\"\\");

	if (strpbrk(w, "\r\n"))
		return -EINVAL;
	if (quote && *n < cap)
		req[(*n)++] = '"';
	for (; *w && *n < cap; w++) {
		if (*w == '"' || *w == '\\')
			req[(*n)++] = '\\';
		if (*n < cap)
			req[(*n)++] = *w;
	}
	if (quote && *n < cap)
		req[(*n)++] = '"';
	return *w || *n >= cap ? -E2BIG : 0;
}

static int build_request(char *req, size_t cap, int argc, char **argv)
{
	size_t n = 0;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (i && n < cap)
			req[n++] = ' ';
		rc = put_word(req, cap, &n, argv[i]);
		if (rc)
			return rc;
	}
	if (n + 2 > cap)
		return -E2BIG;
	req[n++] = '\n';
	req[n] = '\0';
	return 0;
}

/* ---- talking to the host ---- */

static int ctl_connect(const char *path, uid_t uid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	/* Another user's host could answer anything: not ours to ask. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0 ||
	    cr.uid != uid) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Long requests (vm backup) send "progress: TEXT" lines before their
 * status line: show each on stderr as it arrives and drop it from buf.
 * Returns the bytes left in buf. */
static size_t show_progress(char *buf, size_t len)
{
	static const char tag[] = "progress: ";
	char *nl;

	while (len > sizeof(tag) - 1 &&
	       memcmp(buf, tag, sizeof(tag) - 1) == 0 &&
	       (nl = memchr(buf, '\n', len))) {
		size_t line = (size_t)(nl - buf) + 1;

		fprintf(stderr, "%.*s", (int)(line - (sizeof(tag) - 1)),
			buf + sizeof(tag) - 1);
		memmove(buf, nl + 1, len - line);
		len -= line;
	}
	return len;
}

/* The whole request, however the stream socket splits it; 0 or -1. */
static int send_all(int fd, const char *req)
{
	size_t len = strlen(req);

	while (len) {
		ssize_t n = write(fd, req, len);

		if (n < 0 && errno == EINTR && !ctl_interrupted)
			continue;
		if (n <= 0)
			return -1;
		req += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Everything the host sends until it closes; NULL if out of memory. */
static char *read_reply(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nb;
	ssize_t n;

	while (buf && (n = read(fd, buf + len, cap - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR && !ctl_interrupted)
				continue;
			break;
		}
		len = show_progress(buf, len + (size_t)n);
		if (len + 1 == cap) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

char *ctl_request(const char *path, uid_t uid, const char *req, int *err)
{
	int fd = ctl_connect(path, uid);
	char *reply;

	*err = fd < 0 ? fd : 0;
	if (fd < 0)
		return NULL;
	if (send_all(fd, req)) {
		*err = -errno;
		close(fd);
		return NULL;
	}
	reply = read_reply(fd);
	close(fd);
	if (!reply)
		*err = -ENOMEM;
	return reply;
}

/* The VM names with a control socket in the runtime directory. */
static void list_vms(char *out, size_t cap)
{
	char base[PATH_MAX];
	size_t n = 0;

	out[0] = '\0';
	if (hvis_vm_base(base, sizeof(base)))
		return;
	hvis_vm_names(base, out, cap, &n);
}

void ctl_unreachable(const char *path, const char *name, int err)
{
	char vms[512];

	if (err == -EPERM) {
		fprintf(stderr, "hvis-ctl: the hvis-host at %s is run by "
			"another user: refused (--host-user USER trusts it)\n",
			path);
		return;
	}
	if (err != -ENOENT && err != -ECONNREFUSED) {
		fprintf(stderr, "hvis-ctl: cannot reach hvis-host at %s: %s\n",
			path, strerror(-err));
		return;
	}
	if (!name) {
		fprintf(stderr, "hvis-ctl: no hvis-host at %s: start one with "
			"'hvis-host --ctl %s'\n", path, path);
		return;
	}
	list_vms(vms, sizeof(vms));
	fprintf(stderr, "hvis-ctl: no hvis-host runs VM '%s' (nothing at %s): "
		"start one with 'hvis-host --name %s', or pick another VM with "
		"--name or --dir (VMs here: %s)\n", name, path, name,
		*vms ? vms : "none");
}

int ctl_show_reply(const char *reply)
{
	const char *nl = strchr(reply, '\n');
	bool ok = strncmp(reply, "ok\n", 3) == 0;
	bool warn = strncmp(reply, "warn: ", 6) == 0;

	if ((ok || warn) && nl)
		fputs(nl + 1, stdout);
	if (ok)
		return 0;
	fflush(stdout);
	if (warn) {
		fprintf(stderr, "hvis-ctl: %.*s\n", (int)(nl - reply - 6),
			reply + 6);
		return CTL_EXIT_NOT_OK;
	}
	fprintf(stderr, "hvis-ctl: %s", *reply ? reply : "empty reply\n");
	return CTL_EXIT_FAIL;
}

/* ---- main ---- */

struct ctl_opts {
	const char *name, *dir, *ctl;
	uid_t uid;
};

static int parse_opts(int argc, char **argv, struct ctl_opts *o)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "host-user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	int c;

	/* "+": options end at the command ("device add test --subchannels"). */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o->name = optarg; break;
		case 'd': o->dir = optarg; break;
		case 'c': o->ctl = optarg; break;
		case 'U':
			if (hvis_parse_user(optarg, &o->uid))
				break;
			return hvis_refuse("hvis-ctl", "--host-user %s: want a "
					   "user name or uid", optarg);
		case 'h': usage(stdout); exit(0);
		case 'V': printf("hvis-ctl %s\n", HVIS_VERSION); exit(0);
		default:
			return hvis_refuse_getopt("hvis-ctl", c, argv);
		}
	}
	return 0;
}

static int ctl_path(const struct ctl_opts *o, char *path, size_t cap)
{
	char dir[PATH_MAX] = "", why[PATH_MAX + 128] = "path too long";
	int rc;

	if (o->ctl) {
		snprintf(path, cap, "%s", o->ctl);
		return 0;
	}
	rc = hvis_vm_dir(dir, sizeof(dir), o->dir, o->name, false, NULL, why,
			 sizeof(why));
	if (hvis_path(path, cap, dir, HVIS_CTL_SOCK) && !rc)
		rc = -ENAMETOOLONG;
	if (rc && rc != -ENOENT) /* -ENOENT: no such VM, the caller says */
		fprintf(stderr, "hvis-ctl: runtime directory: %s\n", why);
	return rc;
}

static int one_shot(const struct ctl_opts *o, const char *path,
		    const char *req)
{
	int err;
	char *reply = ctl_request(path, o->uid, req, &err);
	int rc;

	if (!reply) {
		ctl_unreachable(path, o->ctl ? NULL : o->name, err);
		return CTL_EXIT_FAIL;
	}
	rc = ctl_show_reply(reply);
	free(reply);
	return rc;
}

/* The host resolves paths from its own directory: `disk add` sends an
 * image path made absolute here (URIs and absolute paths as given), and
 * `nic capture` the file's (which need not exist yet). */
static void capture_path_absolute(int argc, char **argv, char *buf)
{
	char dir[PATH_MAX];
	int words = 0, i;

	for (i = 2; i < argc && words < 2; i++) {
		if (!strcmp(argv[i], "--count") || !strcmp(argv[i], "--seconds"))
			i++;
		else if (argv[i][0] != '-')
			words++;
	}
	if (words < 2 || argv[i - 1][0] == '/' || !getcwd(dir, sizeof(dir)) ||
	    snprintf(buf, PATH_MAX, "%s/%s", dir, argv[i - 1]) >= PATH_MAX)
		return;
	argv[i - 1] = buf;
}

static void disk_path_absolute(int argc, char **argv, char *buf)
{
	if (argc >= 3 && !strcmp(argv[0], "nic") && !strcmp(argv[1], "capture"))
		capture_path_absolute(argc, argv, buf);
	if (argc < 3 || strcmp(argv[0], "disk") || strcmp(argv[1], "add"))
		return;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--controller") || !strcmp(argv[i], "--lun"))
			i++;
		else if (argv[i][0] != '-' && argv[i][0] != '/' &&
			 !strstr(argv[i], "://") && realpath(argv[i], buf))
			argv[i] = buf;
	}
}

int main(int argc, char **argv)
{
	struct ctl_opts o = { .name = HVIS_DEFAULT_VM, .uid = geteuid() };
	struct sigaction sa = { .sa_handler = on_signal };
	char path[PATH_MAX], req[REQ_MAX], disk[PATH_MAX];
	int rc;

	if (parse_opts(argc, argv, &o))
		return CTL_EXIT_USAGE;
	argc -= optind;
	argv += optind;
	if (ctl_check_command(argc, argv))
		return CTL_EXIT_USAGE;
	disk_path_absolute(argc, argv, disk);
	rc = build_request(req, sizeof(req), argc, argv);
	if (rc) {
		fprintf(stderr, "hvis-ctl: %s\n", rc == -EINVAL
			? "an argument holds a line break" : "request too long");
		return CTL_EXIT_USAGE;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[0], "vm") && !strcmp(argv[1], "list"))
		return ctl_vm_list(o.dir, o.uid, has_flag(argc, argv, "--json"));
	rc = ctl_path(&o, path, sizeof(path));
	/* A watch waits for a VM that is not there yet. */
	if (!strcmp(argv[0], "vm") && !strcmp(argv[1], "watch") &&
	    (!rc || rc == -ENOENT))
		return ctl_vm_watch(path, o.uid);
	if (rc == -ENOENT)
		ctl_unreachable(path, o.name, rc);
	if (rc)
		return CTL_EXIT_FAIL;
	return one_shot(&o, path, req);
}
