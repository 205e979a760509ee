/* hvis-ctl requests for the integration services, in Hyper-V's words:
 *   vm services                      Get-VMIntegrationService
 *   vm service enable|disable NAME   Enable-/Disable-VMIntegrationService
 *   vm stop [--force] [--reboot] [--reason TEXT]     Stop-VM
 *   vm timesync [--skew SECONDS]     host clock offset seen by the guest
 *   vm backup                        a live (VSS) backup
 *   kvp get KEY | set KEY VALUE | delete KEY | list  [--pool N|NAME]
 *   kvp ip get ADAPTER               a guest adapter's addresses
 *   kvp ip set ADAPTER --dhcp | --ip A/P[,..] [--gateway G[,..]]
 *                      [--dns D[,..]]     Set-VMNetworkConfiguration
 * Words may be quoted ("...", backslash escapes), as hvis-ctl sends
 * arguments that contain blanks. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "hic_priv.h"
#include "rt_log.h"

#define ARGS_MAX 16
/* Longest comma list of one `kvp ip set` option. */
#define CTL_ITEM_MAX 4096

/* Names may be given as one word, quoted, or as several words. */
static int cmd_enable(struct hic *ic, bool on, char **argv, int argc,
		      FILE *out)
{
	char name[128] = "";
	struct hic_svc *s;
	size_t n = 0;
	int rc;

	for (int i = 0; i < argc && n < sizeof(name); i++)
		n += (size_t)snprintf(name + n, sizeof(name) - n, "%s%s",
				      i ? " " : "", argv[i]);
	s = argc ? hic_svc_find(ic, name) : NULL;
	if (!s) {
		fprintf(out, "error: usage: vm service enable|disable NAME "
			"(Heartbeat, Shutdown, \"Time Synchronization\", "
			"\"Key-Value Pair Exchange\", VSS or heartbeat, "
			"shutdown, timesync, kvp, vss)\n");
		return -1;
	}
	rc = hic_enable(s, on);
	if (rc) {
		fprintf(out, "error: cannot enable %s: %s\n", s->info->name,
			strerror(-rc));
		return -1;
	}
	if (!on && s->kind == HIC_KVP) {
		/* As Hyper-V: no KVP exchange, no guest data (addresses,
		 * OS); an enable reads it afresh. */
		hic_intrinsic_clear(ic);
		ic->intrinsic_ms = 0;
	}
	fprintf(out, "ok\n%s: Enabled %s\n", s->info->name,
		on ? "True" : "False");
	return 0;
}

/* The service must be usable before a request is queued for it: offered,
 * open and negotiated. A Lost Communication service still takes requests:
 * each one is a probe that either times out or brings it back to OK. */
static struct hic_svc *usable(struct hic *ic, enum hic_kind k, int fd,
			      FILE *out)
{
	struct hic_svc *s = &ic->svc[k];

	if (fd < 0) {
		fprintf(out, "error: this request needs a control "
			"connection\n");
		return NULL;
	}
	if (!s->enabled) {
		fprintf(out, "error: %s is disabled (vm service enable %s)\n",
			s->info->name, s->info->alias);
		return NULL;
	}
	if (!hic_ready(s)) {
		fprintf(out, "error: %s is not available (%s)\n",
			s->info->name, hic_status(s));
		return NULL;
	}
	return s;
}

static int queue_job(struct hic_svc *s, struct hic_job *j, FILE *out)
{
	if (!j) {
		fprintf(out, "error: out of memory\n");
		return -1;
	}
	hic_job_queue(s, j);
	return HIC_CTL_LATER;
}

static bool parse_u32(const char *s, uint32_t *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 0);
	if (!*s || *end || errno || n > UINT32_MAX)
		return false;
	*v = (uint32_t)n;
	return true;
}

/* --flags N (hidden, for tests) sends raw flags, known or not. */
static int cmd_stop(struct hic *ic, char **argv, int argc, int fd,
		    FILE *out)
{
	uint32_t flags = 0;
	const char *reason = "";
	struct hic_svc *s;
	struct hic_job *j;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0) {
			flags |= IC_SD_FLAG_FORCE;
		} else if (strcmp(argv[i], "--reboot") == 0) {
			flags |= IC_SD_FLAG_RESTART;
		} else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
			reason = argv[++i];
		} else if (strcmp(argv[i], "--flags") == 0 && i + 1 < argc &&
			   parse_u32(argv[i + 1], &flags)) {
			i++;
		} else {
			fprintf(out, "error: usage: vm stop [--force] "
				"[--reboot] [--reason TEXT]\n");
			return -1;
		}
	}
	if (strlen(reason) >= IC_SD_MSG_UTF8_MAX) {
		fprintf(out, "error: reason too long\n");
		return -1;
	}
	s = usable(ic, HIC_SHUTDOWN, fd, out);
	if (!s)
		return -1;
	j = hic_job_new(HIC_JOB_STOP, fd);
	if (j) {
		j->sd_flags = flags;
		strcpy(j->reason, reason);
	}
	return queue_job(s, j, out);
}

static void print_time(FILE *out, const char *label, uint64_t t100)
{
	time_t sec;
	struct tm tm;
	char buf[64];

	if (t100 < IC_TS_UNIX_EPOCH_DELTA) {
		fprintf(out, "%s-\n", label);
		return;
	}
	sec = (time_t)((t100 - IC_TS_UNIX_EPOCH_DELTA) / 10000000ull);
	gmtime_r(&sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(out, "%s%s\n", label, buf);
}

static int cmd_timesync(struct hic *ic, char **argv, int argc, FILE *out)
{
	struct hic_svc *s = &ic->svc[HIC_TIMESYNC];
	char *end;
	double sec;

	if (argc == 2 && strcmp(argv[0], "--skew") == 0) {
		errno = 0;
		sec = strtod(argv[1], &end);
		if (!*argv[1] || *end || errno || !isfinite(sec) ||
		    sec > 1e9 || sec < -1e9) {
			fprintf(out, "error: bad skew (seconds, |s| <= 1e9)\n");
			return -1;
		}
		ic->skew = (int64_t)(sec * 1e7 + (sec < 0 ? -0.5 : 0.5));
		rt_info("ic", "time sync: host time skew now %+.3f s", sec);
		/* Tell the guest at once rather than at the next sample. */
		s->ts_sync_due = true;
		hic_ts_send(s);
	} else if (argc) {
		fprintf(out, "error: usage: vm timesync [--skew SECONDS]\n");
		return -1;
	}
	fprintf(out, "ok\nTime Synchronization: %s, %s\n",
		s->enabled ? "Enabled True" : "Enabled False", hic_status(s));
	fprintf(out, "  skew:              %+.3f s\n", (double)ic->skew / 1e7);
	fprintf(out, "  samples sent:      %llu\n",
		(unsigned long long)s->ts_samples);
	print_time(out, "  last host time:    ", s->ts_last_parent);
	fprintf(out, "  last round trip:   %.3f ms\n",
		(double)s->ts_rtt / 1e4);
	return 0;
}

static bool parse_pool(const char *s, uint8_t *pool)
{
	static const char *const names[KVP_POOL_COUNT] = {
		"external", "guest", "auto", "auto-external", "auto-internal"
	};
	uint32_t n;

	for (unsigned i = 0; i < KVP_POOL_COUNT; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*pool = (uint8_t)i;
			return true;
		}
	}
	if (!parse_u32(s, &n) || n >= KVP_POOL_COUNT)
		return false;
	*pool = (uint8_t)n;
	return true;
}

struct kvp_args {
	const char *op;
	const char *pos[2];
	int npos;
	uint8_t pool;
};

static bool kvp_parse(char **argv, int argc, struct kvp_args *a)
{
	static const char *const ops[] = { "get", "set", "delete", "list" };
	static const int want[] = { 1, 2, 1, 0 };

	memset(a, 0, sizeof(*a));
	if (argc < 1)
		return false;
	a->op = argv[0];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pool") == 0 && i + 1 < argc) {
			if (!parse_pool(argv[++i], &a->pool))
				return false;
		} else if (a->npos < 2) {
			a->pos[a->npos++] = argv[i];
		} else {
			return false;
		}
	}
	for (unsigned i = 0; i < VMB_ARRAY_LEN(ops); i++)
		if (strcmp(a->op, ops[i]) == 0)
			return a->npos == want[i];
	return false;
}

/* ---- kvp ip ---- */

/* Appends item to a ';'-separated list that must fit a UTF-16 field of
 * field bytes (ASCII: one unit per character, NUL included). */
static bool list_add(char *list, uint32_t field, const char *item)
{
	size_t n = strlen(list), m = strlen(item) + (n ? 1 : 0);

	if (n + m + 1 > field / 2)
		return false;
	sprintf(list + n, "%s%s", n ? ";" : "", item);
	return true;
}

/* "ADDR/PREFIX" into both wire forms: the binary arrays (message 5.0)
 * and the string lists (older), where IPv4 subnets are masks and IPv6
 * ones prefix lengths. */
static bool ip_add_addr(struct kvp_ip *ip, const char *item)
{
	char a[INET6_ADDRSTRLEN], mask[INET_ADDRSTRLEN], plen[8];
	const char *slash = strchr(item, '/');
	uint32_t p;

	if (!slash || (size_t)(slash - item) >= sizeof(a) || !slash[1] ||
	    strlen(slash + 1) > 3 ||
	    strspn(slash + 1, "0123456789") != strlen(slash + 1))
		return false;
	p = (uint32_t)atoi(slash + 1);
	memcpy(a, item, (size_t)(slash - item));
	a[slash - item] = '\0';
	if (ip->n_ipv4 < KVP_BIN_ADDRS && p <= 32 &&
	    inet_pton(AF_INET, a, ip->ipv4[ip->n_ipv4]) == 1) {
		uint32_t m = p ? htonl(~0u << (32 - p)) : 0;

		memcpy(ip->ipv4_subnet[ip->n_ipv4++], &m, 4);
		inet_ntop(AF_INET, &m, mask, sizeof(mask));
		ip->family |= KVP_FAMILY_IPV4;
		return list_add(ip->ip_addr, KVP_IP_ADDR_BYTES, a) &&
		       list_add(ip->subnet, KVP_IP_ADDR_BYTES, mask);
	}
	if (ip->n_ipv6 < KVP_BIN_ADDRS && p <= 128 &&
	    inet_pton(AF_INET6, a, ip->ipv6[ip->n_ipv6]) == 1) {
		ip->ipv6_prefix[ip->n_ipv6++] = p;
		snprintf(plen, sizeof(plen), "%u", p);
		ip->family |= KVP_FAMILY_IPV6;
		return list_add(ip->ip_addr, KVP_IP_ADDR_BYTES, a) &&
		       list_add(ip->subnet, KVP_IP_ADDR_BYTES, plen);
	}
	return false;
}

/* A gateway or name server: by family into its binary array (max each)
 * and into the string list. */
static bool ip_add_server(uint8_t (*v4)[4], uint32_t *n4, uint8_t (*v6)[16],
			  uint32_t *n6, uint32_t max, char *list,
			  uint32_t field, const char *a)
{
	if (*n4 < max && inet_pton(AF_INET, a, v4[*n4]) == 1)
		(*n4)++;
	else if (*n6 < max && inet_pton(AF_INET6, a, v6[*n6]) == 1)
		(*n6)++;
	else
		return false;
	return list_add(list, field, a);
}

enum ip_what { IP_ADDR, IP_GW, IP_DNS };

/* A comma list of the option's items into ip. */
static bool ip_add_list(struct kvp_ip *ip, enum ip_what what,
			const char *list)
{
	char buf[CTL_ITEM_MAX], *save = NULL;

	if (!*list || strlen(list) >= sizeof(buf))
		return false;
	strcpy(buf, list);
	for (char *w = strtok_r(buf, ",", &save); w;
	     w = strtok_r(NULL, ",", &save)) {
		bool ok = what == IP_ADDR ? ip_add_addr(ip, w)
			: what == IP_GW
			? ip_add_server(ip->gw4, &ip->n_gw4, ip->gw6,
					&ip->n_gw6, KVP_BIN_GATEWAYS,
					ip->gateway, KVP_GATEWAY_BYTES, w)
			: ip_add_server(ip->dns4, &ip->n_dns4, ip->dns6,
					&ip->n_dns6, KVP_BIN_ADDRS, ip->dns,
					KVP_IP_ADDR_BYTES, w);
		if (!ok)
			return false;
	}
	return true;
}

static bool ip_set_parse(char **argv, int argc, struct kvp_ip *ip)
{
	bool dhcp = false, addr = false;

	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		enum ip_what w;

		if (strcmp(o, "--dhcp") == 0) {
			dhcp = true;
			continue;
		}
		if (strcmp(o, "--ip") == 0)
			w = IP_ADDR;
		else if (strcmp(o, "--gateway") == 0)
			w = IP_GW;
		else if (strcmp(o, "--dns") == 0)
			w = IP_DNS;
		else
			return false;
		if (i + 1 == argc || !ip_add_list(ip, w, argv[++i]))
			return false;
		addr = addr || w == IP_ADDR;
	}
	/* DHCP or static addresses, as Set-VMNetworkConfiguration. */
	if (dhcp == addr || (dhcp && (ip->n_gw4 + ip->n_gw6)))
		return false;
	ip->dhcp = dhcp;
	if (dhcp)
		ip->family = KVP_FAMILY_BOTH;
	return true;
}

static int cmd_kvp_ip(struct hic *ic, char **argv, int argc, bool json, int fd,
		      FILE *out)
{
	struct hic_job *j;
	struct hic_svc *s;
	bool get = argc == 2 && strcmp(argv[0], "get") == 0;
	bool set = argc >= 3 && strcmp(argv[0], "set") == 0;
	struct kvp_data *d = calloc(1, sizeof(*d));

	if (!d) {
		fprintf(out, "error: out of memory\n");
		return -1;
	}
	if ((!get && !set) || !*argv[1] ||
	    strlen(argv[1]) >= KVP_ADAPTER_UTF8_MAX ||
	    (set && !ip_set_parse(argv + 2, argc - 2, &d->ip))) {
		free(d);
		fprintf(out, "error: usage: kvp ip get ADAPTER | kvp ip set "
			"ADAPTER --dhcp [--dns D[,D..]] | --ip ADDR/PREFIX"
			"[,..] [--gateway G[,..]] [--dns D[,..]]  (ADAPTER: "
			"the guest adapter's MAC address)\n");
		return -1;
	}
	s = usable(ic, HIC_KVP, fd, out);
	j = s ? hic_job_new(HIC_JOB_KVP, fd) : NULL;
	if (j) {
		j->kvp = *d;
		j->kvp.op = get ? KVP_OP_GET_IP_INFO : KVP_OP_SET_IP_INFO;
		j->kvp.pool = KVP_POOL_EXTERNAL;
		strcpy(j->kvp.ip.adapter_id, argv[1]);
		if (get)
			j->kvp.ip.family = KVP_FAMILY_BOTH;
		j->json = json && get;
	}
	free(d);
	if (!s)
		return -1;
	return queue_job(s, j, out);
}

static int cmd_kvp(struct hic *ic, char **argv, int argc, bool json, int fd,
		   FILE *out)
{
	struct kvp_args a;
	struct hic_svc *s;
	struct hic_job *j;
	bool list;

	if (argc >= 1 && strcmp(argv[0], "ip") == 0)
		return cmd_kvp_ip(ic, argv + 1, argc - 1, json, fd, out);
	if (!kvp_parse(argv, argc, &a)) {
		fprintf(out, "error: usage: kvp get KEY | set KEY VALUE | "
			"delete KEY | list  [--pool N|external|guest|auto|"
			"auto-external|auto-internal]\n");
		return -1;
	}
	if ((a.npos > 0 && strlen(a.pos[0]) >= KVP_KEY_UTF8_MAX) ||
	    (a.npos > 1 && strlen(a.pos[1]) >= KVP_VALUE_UTF8_MAX)) {
		fprintf(out, "error: key or value too long\n");
		return -1;
	}
	/* The guest's pools hold no nameless item: refused here rather
	 * than after a round trip that can only fail. */
	if (a.npos > 0 && !*a.pos[0]) {
		fprintf(out, "error: kvp %s: the key is empty\n", a.op);
		return -1;
	}
	s = usable(ic, HIC_KVP, fd, out);
	if (!s)
		return -1;
	list = strcmp(a.op, "list") == 0;
	j = hic_job_new(list ? HIC_JOB_KVP_LIST : HIC_JOB_KVP, fd);
	if (j) {
		j->kvp.pool = a.pool;
		j->kvp.op = a.op[0] == 'g' ? KVP_OP_GET
			    : a.op[0] == 's' ? KVP_OP_SET : KVP_OP_DELETE;
		j->kvp.value_type = KVP_REG_SZ;
		if (a.npos > 0)
			strcpy(j->kvp.key, a.pos[0]);
		if (a.npos > 1)
			strcpy(j->kvp.value, a.pos[1]);
		j->json = json && list;
		j->items = j->json ? json_array() : NULL;
	}
	return queue_job(s, j, out);
}

static int cmd_backup(struct hic *ic, int argc, int fd, FILE *out)
{
	struct hic_svc *s;

	if (argc) {
		fprintf(out, "error: usage: vm backup\n");
		return -1;
	}
	s = usable(ic, HIC_VSS, fd, out);
	if (!s)
		return -1;
	return queue_job(s, hic_job_new(HIC_JOB_BACKUP, fd), out);
}

static int dispatch(struct hic *ic, char **argv, int argc, bool json,
		    int fd, FILE *out)
{
	if (strcmp(argv[0], "kvp") == 0)
		return cmd_kvp(ic, argv + 1, argc - 1, json, fd, out);
	if (argc < 2 || strcmp(argv[0], "vm") != 0)
		return HIC_CTL_NOT_MINE;
	if (strcmp(argv[1], "services") == 0 && argc == 2)
		return hic_cmd_services(ic, json, out);
	if (strcmp(argv[1], "service") == 0 && argc >= 3 &&
	    (strcmp(argv[2], "enable") == 0 ||
	     strcmp(argv[2], "disable") == 0))
		return cmd_enable(ic, argv[2][0] == 'e', argv + 3, argc - 3,
				  out);
	if (strcmp(argv[1], "stop") == 0)
		return cmd_stop(ic, argv + 2, argc - 2, fd, out);
	if (strcmp(argv[1], "timesync") == 0)
		return cmd_timesync(ic, argv + 2, argc - 2, out);
	if (strcmp(argv[1], "backup") == 0)
		return cmd_backup(ic, argc - 2, fd, out);
	return HIC_CTL_NOT_MINE;
}

/* Take flag out of argv wherever it is, for the listings only (a KVP
 * value may be "--json"); the new argc. */
static int take_flag(char **argv, int argc, const char *flag, bool *on)
{
	bool listing = argc >= 2 &&
		       ((!strcmp(argv[0], "vm") && !strcmp(argv[1], "services")) ||
			(!strcmp(argv[0], "kvp") && !strcmp(argv[1], "list")) ||
			(!strcmp(argv[0], "kvp") && !strcmp(argv[1], "ip") &&
			 argc >= 3 && !strcmp(argv[2], "get")));
	int n = 0;

	*on = false;
	if (!listing)
		return argc;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], flag) == 0)
			*on = true;
		else
			argv[n++] = argv[i];
	}
	return n;
}

int hic_ctl_exec(struct hvm *vm, const char *line, int fd, FILE *out)
{
	char *argv[ARGS_MAX], *buf;
	bool json;
	int argc, rc;

	if (!vm->ic)
		return HIC_CTL_NOT_MINE;
	buf = malloc(strlen(line) + 1);
	if (!buf) {
		fprintf(out, "error: out of memory\n");
		return -1;
	}
	argc = hvm_ctl_words(line, buf, argv, ARGS_MAX);
	if (argc <= 0) {
		free(buf);
		return HIC_CTL_NOT_MINE;
	}
	argc = take_flag(argv, argc, "--json", &json);
	rc = dispatch(vm->ic, argv, argc, json, fd, out);
	free(buf);
	return rc;
}

