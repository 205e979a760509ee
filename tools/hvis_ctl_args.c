/* hvis-ctl's command line after the global options: the command must be
 * one hvis-ctl knows and its words what that command takes, checked
 * before anything is sent (exit 2, one line, host or no host). The host
 * checks values (a relid, a skew, an address) itself. */
#include <stdio.h>
#include <string.h>

#include "hvis_ctl.h"

/* A command: its words, how many arguments follow them (min..max) and
 * its options, blank-separated, "=" ending those that take a value. A
 * word that is no option of the command is an argument: a KVP value may
 * well begin with "--". */
struct ctl_cmd {
	const char *words[3];
	int min, max;
	const char *opts;
	const char *usage;
};

static const struct ctl_cmd cmds[] = {
	{ { "channels" }, 0, 0, "--wide --json", "channels [--wide] [--json]" },
	{ { "vm", "list" }, 0, 0, "--json", "vm list [--json]" },
	{ { "vm", "show" }, 0, 0, "--json", "vm show [--json]" },
	{ { "vm", "watch" }, 0, 0, "", "vm watch" },
	{ { "vm", "services" }, 0, 0, "--json", "vm services [--json]" },
	/* "Key-Value Pair Exchange" may come unquoted, as three words. */
	{ { "vm", "service", "enable" }, 1, 3, "", "vm service enable NAME" },
	{ { "vm", "service", "disable" }, 1, 3, "", "vm service disable NAME" },
	/* --flags N: raw shutdown flags, a test hook. */
	{ { "vm", "stop" }, 0, 0, "--force --reboot --reason= --turn-off "
	  "--flags=", "vm stop [--force] [--reboot] [--reason TEXT] | "
	  "vm stop --turn-off" },
	{ { "vm", "timesync" }, 0, 0, "--skew=", "vm timesync [--skew SECONDS]" },
	{ { "vm", "backup" }, 0, 0, "", "vm backup" },
	{ { "device", "add" }, 1, 1, "--subchannels=",
	  "device add test [--subchannels K]" },
	{ { "device", "remove" }, 1, 1, "", "device remove RELID" },
	{ { "disk", "add" }, 1, 1, "--controller= --lun= --read-only",
	  "disk add PATH [--controller K] [--lun N] [--read-only]" },
	{ { "disk", "remove" }, 0, 0, "--controller= --lun=",
	  "disk remove --controller K --lun N" },
	{ { "disk", "list" }, 0, 0, "--json", "disk list [--json]" },
	{ { "disk", "resize" }, 0, 0, "--controller= --lun= --size=",
	  "disk resize --controller K --lun N --size BYTES[K|M|G|T]" },
	{ { "nic", "add" }, 1, 1, "--json", "nic add tap=NAME[,mac=XX:XX:XX:"
	  "XX:XX:XX][,mac-spoofing=on][,vlan=N] [--json]" },
	{ { "nic", "remove" }, 1, 1, "--json", "nic remove NAME [--json]" },
	{ { "nic", "list" }, 0, 0, "--json", "nic list [--json]" },
	{ { "nic", "set" }, 2, 3, "--json", "nic set NAME [mac-spoofing=on|off] "
	  "[vlan=N|none] [--json]" },
	{ { "nic", "link" }, 2, 2, "--json", "nic link NAME up|down [--json]" },
	{ { "nic", "capture" }, 1, 2, "--count= --seconds= --stop --json",
	  "nic capture NAME FILE [--count N] [--seconds S] | nic capture NAME "
	  "--stop" },
	{ { "kvp", "get" }, 1, 1, "--pool=", "kvp get KEY [--pool POOL]" },
	{ { "kvp", "set" }, 2, 2, "--pool=", "kvp set KEY VALUE [--pool POOL]" },
	{ { "kvp", "delete" }, 1, 1, "--pool=", "kvp delete KEY [--pool POOL]" },
	{ { "kvp", "list" }, 0, 0, "--pool= --json",
	  "kvp list [--pool POOL] [--json]" },
	{ { "kvp", "ip", "get" }, 1, 1, "--json", "kvp ip get ADAPTER [--json]" },
	{ { "kvp", "ip", "set" }, 1, 1, "--dhcp --ip= --gateway= --dns=",
	  "kvp ip set ADAPTER --dhcp [--dns D,..] | --ip ADDR/PREFIX,.. "
	  "[--gateway G,..] [--dns D,..]" },
};

/* The number of words of the command argv starts with, 0 if none. */
static int words_of(const struct ctl_cmd *c, int argc, char **argv)
{
	int n = 0;

	while (n < 3 && c->words[n] && n < argc &&
	       strcmp(argv[n], c->words[n]) == 0)
		n++;
	return n == 3 || !c->words[n] ? n : 0;
}

/* 0: w is no option of c; 1: an option; 2: one that takes a value. */
static int option_kind(const struct ctl_cmd *c, const char *w)
{
	size_t len = strlen(w);

	for (const char *p = c->opts; len && (p = strstr(p, w)); p += len) {
		bool starts = p == c->opts || p[-1] == ' ';

		if (starts && (p[len] == ' ' || !p[len]))
			return 1;
		if (starts && p[len] == '=')
			return 2;
	}
	return 0;
}

static int refuse(const struct ctl_cmd *c, const char *what, const char *w)
{
	fprintf(stderr, "hvis-ctl: %s%s%s (want: %s)\n", what, w ? w : "",
		w ? "'" : "", c->usage);
	return -1;
}

/* The words after the command's: its options and arguments. */
static int check_args(const struct ctl_cmd *c, int argc, char **argv)
{
	int args = 0;

	for (int i = 0; i < argc; i++) {
		int kind = option_kind(c, argv[i]);

		if (kind == 2 && ++i == argc)
			return refuse(c, "a value is missing after '", argv[i - 1]);
		if (kind)
			continue;
		if (args < c->max)
			args++;
		else if (argv[i][0] == '-')
			return refuse(c, "unknown option '", argv[i]);
		else
			return refuse(c, "unexpected argument '", argv[i]);
	}
	if (args < c->min)
		return refuse(c, "an argument is missing", NULL);
	return 0;
}

int ctl_check_command(int argc, char **argv)
{
	char got[128] = "";
	size_t n = 0;

	if (argc == 0) {
		fprintf(stderr, "hvis-ctl: no command (see hvis-ctl --help)\n");
		return -1;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int w = words_of(&cmds[i], argc, argv);

		if (w)
			return check_args(&cmds[i], argc - w, argv + w);
	}
	for (int i = 0; i < argc && i < 3 && n < sizeof(got); i++)
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s",
				      i ? " " : "", argv[i]);
	fprintf(stderr, "hvis-ctl: unknown command '%s' (commands: channels, "
		"vm list|show|watch|services|service|stop|timesync|backup, "
		"device add|remove, disk add|remove|list|resize, "
		"nic add|remove|list|set|link|capture, "
		"kvp get|set|delete|list|ip; see --help)\n",
		got);
	return -1;
}
