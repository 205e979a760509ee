/* hvis-ctl: ask a running hvis-host about its VM and change it.
 *   hvis-ctl [--name NAME | --dir DIR | --ctl PATH] COMMAND
 *   channels | vm show | vm watch | device add test [--subchannels K]
 *   | device remove RELID | vm services | vm service enable|disable NAME
 *   | vm stop | vm timesync | vm backup | kvp get|set|delete|list
 *   | kvp ip get|set */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hvis_paths.h"

/* The host reads lines up to 8 KiB (KVP values). */
#define REQ_MAX 8192

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: hvis-ctl [--name NAME | --dir DIR | --ctl PATH] [--host-user USER]\n"
"       COMMAND\n"
"  channels                          list VMBus channels (like lsvmbus)\n"
"  vm show                           VM state, VMBus version, errors\n"
"  vm watch                          refresh the status every second\n"
"  device add test [--subchannels K] hot-add a test device\n"
"  device remove RELID               rescind a channel (hot remove)\n"
"  vm services                       integration services and status\n"
"  vm service enable|disable NAME    Heartbeat, Shutdown, \"Time\n"
"                                    Synchronization\", \"Key-Value Pair\n"
"                                    Exchange\", VSS (or heartbeat,\n"
"                                    shutdown, timesync, kvp, vss)\n"
"  vm stop [--force] [--reboot] [--reason TEXT]\n"
"                                    ask the guest to shut down\n"
"  vm timesync [--skew SECONDS]      host time offset sent to the guest\n"
"  vm backup                         live backup (guest freeze/thaw)\n"
"  kvp get KEY | set KEY VALUE | delete KEY | list  [--pool N|NAME]\n"
"                                    the guest's KVP pools (NAME:\n"
"                                    external (default), guest, auto,\n"
"                                    auto-external, auto-internal)\n"
"  kvp ip get ADAPTER                a guest adapter's addresses\n"
"                                    (ADAPTER: its MAC address)\n"
"  kvp ip set ADAPTER --dhcp [--dns D[,D..]]\n"
"  kvp ip set ADAPTER --ip ADDR/PREFIX[,..] [--gateway G[,..]]\n"
"                     [--dns D[,..]]  configure it (static or DHCP)\n");
}

/* Whose host to trust (--host-user); another user's could lie to us. */
static uid_t host_uid;

static int ctl_connect(const char *path)
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
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0 ||
	    cr.uid != host_uid) {
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

		if (n < 0 && errno == EINTR && !interrupted)
			continue;
		if (n <= 0)
			return -1;
		req += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send the request, return the whole reply (malloc'd) or NULL. */
static char *request(const char *path, const char *req)
{
	size_t len = 0, cap = 4096;
	char *buf;
	ssize_t n;
	int fd = ctl_connect(path);

	if (fd == -EPERM) {
		fprintf(stderr, "hvis-ctl: the hvis-host at %s is run by another "
			"user: refused (--host-user USER trusts it)\n", path);
		return NULL;
	}
	if (fd < 0) {
		fprintf(stderr, "hvis-ctl: cannot reach hvis-host at %s: %s\n",
			path, strerror(-fd));
		return NULL;
	}
	if (send_all(fd, req) || !(buf = malloc(cap))) {
		fprintf(stderr, "hvis-ctl: cannot send to hvis-host at %s: %s\n",
			path, strerror(errno));
		close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR && !interrupted)
				continue;
			break;
		}
		len += (size_t)n;
		len = show_progress(buf, len);
		if (len + 1 == cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* Print the reply body; 0 if it said ok. */
static int show_reply(const char *reply)
{
	const char *nl = strchr(reply, '\n');

	if (strncmp(reply, "ok\n", 3) == 0) {
		fputs(nl + 1, stdout);
		return 0;
	}
	fprintf(stderr, "hvis-ctl: %s", *reply ? reply : "empty reply\n");
	return 1;
}

static int one_shot(const char *path, const char *req)
{
	char *reply = request(path, req);
	int rc;

	if (!reply)
		return 1;
	rc = show_reply(reply);
	free(reply);
	return rc;
}

/* Status every second until Ctrl-C (exit 0) or the host goes (exit 1). */
static int watch(const char *path)
{
	bool tty = isatty(STDOUT_FILENO);
	struct timespec one = { .tv_sec = 1 };

	while (!interrupted) {
		char *show = request(path, "vm show\n");
		char *chans = show ? request(path, "channels\n") : NULL;
		char *svcs = chans ? request(path, "vm services\n") : NULL;
		time_t now = time(NULL);
		char stamp[32];

		if (!show || !chans || !svcs) {
			free(show);
			free(chans);
			return interrupted ? 0 : 1;
		}
		strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
		if (tty)
			fputs("\033[H\033[2J", stdout);
		printf("--- hvis VM status at %s (Ctrl-C to stop)\n", stamp);
		show_reply(show);
		putchar('\n');
		show_reply(chans);
		putchar('\n');
		show_reply(svcs);
		fflush(stdout);
		free(show);
		free(chans);
		free(svcs);
		nanosleep(&one, NULL);
	}
	return 0;
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

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "host-user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *name = HVIS_DEFAULT_VM, *dir_opt = NULL, *ctl = NULL;
	char dir[PATH_MAX], path[PATH_MAX], req[REQ_MAX];
	char why[PATH_MAX + 128] = "path too long";
	struct sigaction sa = { .sa_handler = on_signal };
	int c;

	host_uid = geteuid();
	/* "+": options end at the command ("device add test --subchannels"). */
	while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'd': dir_opt = optarg; break;
		case 'c': ctl = optarg; break;
		case 'U':
			if (!hvis_parse_user(optarg, &host_uid)) {
				fprintf(stderr, "hvis-ctl: --host-user %s: no "
					"such user or uid\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	if (!ctl) {
		if (hvis_vm_dir(dir, sizeof(dir), dir_opt, name, false, NULL,
				why, sizeof(why)) ||
		    hvis_path(path, sizeof(path), dir, HVIS_CTL_SOCK)) {
			fprintf(stderr, "hvis-ctl: runtime directory: %s\n",
				why);
			return 1;
		}
		ctl = path;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (argc - optind == 2 && strcmp(argv[optind], "vm") == 0 &&
	    strcmp(argv[optind + 1], "watch") == 0)
		return watch(ctl);
	c = build_request(req, sizeof(req), argc - optind, argv + optind);
	if (c) {
		fprintf(stderr, "hvis-ctl: %s\n", c == -EINVAL
			? "an argument holds a line break" : "request too long");
		return 2;
	}
	return one_shot(ctl, req);
}
