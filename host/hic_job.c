/* Requests that wait for the guest: shutdown, KVP operations and the
 * auto pool refresh (VSS backups in hic_vss.c). One queue per service;
 * the head job is active and owns the engine's one open transaction. A
 * control client's reply is written when the job ends. Also the checks
 * of the guest's IP information text (hic_text.h).
 *
 * A failure's words: a guest status alone says little (E_FAIL), so after
 * a failed `kvp ip` request the same job reads the guest's reason from
 * its KVP auto pool (HIC_KVP_REASON_KEY, guest/gic.h) before it answers;
 * an unknown adapter needs none (HV_GUID_NOTFOUND says it). A failed
 * backup queues a HIC_JOB_KVP_REASON job here for its reason, which ends
 * by handing what it read (or why nothing) to hic_vss_reason. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "hic_priv.h"
#include "hic_text.h"
#include "ic/ic_utf.h"
#include "rt_log.h"

const char *hic_status_text(uint32_t status)
{
	switch (status) {
	case IC_S_OK: return "S_OK";
	case IC_E_FAIL: return "E_FAIL";
	case IC_E_NO_MORE_ITEMS: return "no more items";
	case IC_E_NOT_SUPPORTED: return "not supported";
	case IC_E_INVALIDARG: return "invalid argument";
	case IC_E_NOT_FOUND: return "not found";
	case IC_E_ALREADY_EXISTS: return "already exists";
	case IC_E_ACCESSDENIED: return "access denied";
	case VSS_E_INCONSISTENT_SNAPSHOT: return "inconsistent snapshot";
	case VSS_E_WRITER_TIMEOUT: return "timed out between freeze and thaw";
	}
	return "unknown status";
}

struct hic_job *hic_job_new(enum hic_job_kind kind, int fd)
{
	static uint64_t next_id; /* loop thread only */
	struct hic_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->id = ++next_id;
	j->out_fd = -1;
	j->out = open_memstream(&j->body, &j->body_len);
	if (!j->out) {
		free(j);
		return NULL;
	}
	j->kind = kind;
	j->fd = fd;
	return j;
}

static void job_free(struct hic_job *j, bool ok, const char *err)
{
	struct hvm *vm = j->vm;

	fclose(j->out);
	json_decref(j->items);
	if (j->fd >= 0) {
		if (ok) {
			hvm_ctl_write(vm, j->fd, "ok\n", 3);
		} else {
			hvm_ctl_write(vm, j->fd, "error: ", 7);
			hvm_ctl_write(vm, j->fd, err, strlen(err));
			hvm_ctl_write(vm, j->fd, "\n", 1);
		}
		hvm_ctl_write(vm, j->fd, j->body, j->body_len);
		hvm_ctl_done(vm, j->fd);
	}
	free(j->body);
	free(j);
}

void hic_job_finish(struct hic_svc *s, struct hic_job *j, bool ok,
		    const char *err)
{
	struct hic_job **pp;

	for (pp = &s->jobs; *pp && *pp != j; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = j->next;
	if (s->job_active && pp == &s->jobs)
		s->job_active = false;
	hic_vss_cleanup(s, j);
	/* A reason job that fails still answers the backup waiting on it. */
	if (!ok && j->kind == HIC_JOB_KVP_REASON)
		hic_vss_reason(s->ic, j->for_id, NULL, err);
	if (!ok && j->fd < 0)
		rt_warn("ic", "%s: background request failed: %s",
			s->info->name, err);
	job_free(j, ok, err);
}

void hic_job_abort_all(struct hic_svc *s, const char *why)
{
	char text[512];

	while (s->jobs)
		hic_job_finish(s, s->jobs, false,
			       s->jobs->kind == HIC_JOB_BACKUP
				       ? hic_vss_abort_text(s->jobs, why, text,
							    sizeof(text))
				       : why);
	s->job_active = false;
}

bool hic_job_queue(struct hic_svc *s, struct hic_job *j)
{
	struct hic_job **pp;
	unsigned n = 0;

	if (!j)
		return false;
	j->vm = s->ic->vm;
	for (pp = &s->jobs; *pp; pp = &(*pp)->next)
		n++;
	if (n >= HIC_JOBS_MAX) {
		job_free(j, false, "too many requests waiting for the guest");
		return false;
	}
	*pp = j;
	hic_job_kick(s);
	return true;
}

void hic_kvp_refresh(struct hic_svc *s)
{
	for (struct hic_job *j = s->jobs; j; j = j->next)
		if (j->kind == HIC_JOB_KVP_REFRESH)
			return;
	hic_job_queue(s, hic_job_new(HIC_JOB_KVP_REFRESH, -1));
}

/* ---- builders ---- */

static int build_sd(struct ic_host *h, const void *arg, uint8_t *out,
		    size_t cap, size_t *len)
{
	const struct hic_job *j = arg;

	return ic_sd_host_request(h, IC_SD_REASON_PLANNED, 0, j->sd_flags,
				  j->reason, out, cap, len);
}

static int build_kvp(struct ic_host *h, const void *arg, uint8_t *out,
		     size_t cap, size_t *len)
{
	return kvp_host_request(h, arg, out, cap, len);
}

static int job_start(struct hic_svc *s, struct hic_job *j)
{
	switch (j->kind) {
	case HIC_JOB_STOP:
		return hic_send(s, build_sd, j);
	case HIC_JOB_KVP_REFRESH:
		j->kvp.pool = KVP_POOL_AUTO;
		/* fall through */
	case HIC_JOB_KVP_LIST:
		j->kvp.op = KVP_OP_ENUMERATE;
		j->kvp.index = 0;
		return hic_send(s, build_kvp, &j->kvp);
	case HIC_JOB_KVP:
	case HIC_JOB_KVP_REASON:
		return hic_send(s, build_kvp, &j->kvp);
	case HIC_JOB_BACKUP:
		return hic_vss_start(s, j);
	}
	return VMB_EINVAL;
}

/* UTF-16 units of UTF-8 text: one per sequence, two for a 4-byte one. */
static size_t utf16_units(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += ((*p & 0xc0) != 0x80) + (*p >= 0xf0);
	return n;
}

/* Units a UTF-16 wire field of bytes holds besides its NUL. */
#define UNITS(bytes) ((bytes) / 2 - 1)

/* The request of j did not fit the wire: which string of it, and how
 * much its field holds. */
static void too_long(const struct hic_job *j, char *err, size_t cap)
{
	const struct kvp_data *d = &j->kvp;
	const char *what = "request";
	unsigned units = 0;

	if (j->kind == HIC_JOB_STOP) {
		what = "shutdown reason";
		units = UNITS(IC_SD_MSG_BYTES);
	} else if (j->kind == HIC_JOB_KVP && (d->op == KVP_OP_GET_IP_INFO ||
					      d->op == KVP_OP_SET_IP_INFO)) {
		/* hic_ctl sizes the address lists to their fields. */
		what = "adapter id";
		units = UNITS(KVP_ADAPTER_ID_BYTES);
	} else if (j->kind == HIC_JOB_KVP &&
		   (d->op != KVP_OP_SET ||
		    utf16_units(d->key) > UNITS(KVP_KEY_BYTES))) {
		what = "KVP key";
		units = UNITS(KVP_KEY_BYTES);
	} else if (j->kind == HIC_JOB_KVP) {
		what = "KVP value";
		units = UNITS(KVP_VALUE_BYTES);
	}
	if (units)
		snprintf(err, cap, "%s too long for the wire (it holds %u "
			 "UTF-16 units)", what, units);
	else
		snprintf(err, cap, "%s too long for the wire", what);
}

static void start_failed(struct hic_svc *s, struct hic_job *j, int rc)
{
	char err[160];

	if (rc == VMB_EMSGSIZE)
		too_long(j, err, sizeof(err));
	else if (rc <= IC_UTF_EODD && rc >= IC_UTF_ENUL)
		snprintf(err, sizeof(err), "not valid UTF-8: %s",
			 ic_utf_strerror(rc));
	else
		snprintf(err, sizeof(err), "cannot send the request to the "
			 "guest (%s)", vmb_strerror(rc));
	hic_job_finish(s, j, false, err);
}

void hic_job_kick(struct hic_svc *s)
{
	while (!s->job_active && s->jobs && hic_ready(s) && !s->sent_ns) {
		struct hic_job *j = s->jobs;
		int rc;

		s->job_active = true;
		j->start_ns = hic_now_ns();
		rc = job_start(s, j);
		if (rc)
			start_failed(s, j, rc);
	}
}

/* ---- answers ---- */

static void fail_status(struct hic_svc *s, struct hic_job *j,
			const char *what, int rc, uint32_t status)
{
	char err[256];

	if (rc != VMB_OK)
		snprintf(err, sizeof(err), "%s: malformed answer from the "
			 "guest", what);
	else
		snprintf(err, sizeof(err), "%s: guest status 0x%08x (%s)",
			 what, status, hic_status_text(status));
	hic_job_finish(s, j, false, err);
}

static void stop_result(struct hic_svc *s, struct hic_job *j, int rc,
			const struct ic_host_result *r)
{
	if (rc != VMB_OK || r->status != IC_S_OK) {
		fail_status(s, j, "Stop-VM: guest refused shutdown", rc,
			    r->status);
		return;
	}
	fprintf(j->out, "Stop-VM: guest accepted %s%s (flags 0x%x, reason "
		"\"%s\")\n", j->sd_flags & IC_SD_FLAG_RESTART ? "restart"
							      : "shutdown",
		j->sd_flags & IC_SD_FLAG_FORCE ? " (forced)" : "",
		j->sd_flags, j->reason);
	rt_info("ic", "guest accepted shutdown (flags 0x%x)", j->sd_flags);
	hic_job_finish(s, j, true, NULL);
}

/* An answer the engine took but that is not about what was asked (the
 * engine checks the op; pool and adapter are the host's to check):
 * counted, the job fails. */
static bool mismatch(struct hic_svc *s, struct hic_job *j, int rc,
		     const struct ic_host_result *r, const char *what)
{
	char err[KVP_ADAPTER_UTF8_MAX + 128];

	if (rc != VMB_OK || r->status != IC_S_OK)
		return false;
	if (r->kvp.pool != j->kvp.pool)
		snprintf(err, sizeof(err), "%s: the guest answered for pool "
			 "%u, asked pool %u", what, r->kvp.pool, j->kvp.pool);
	else if (j->kvp.op == KVP_OP_GET_IP_INFO &&
		 strcasecmp(r->kvp.ip.adapter_id, j->kvp.ip.adapter_id))
		snprintf(err, sizeof(err), "%s: the guest answered for "
			 "another adapter", what);
	else
		return false;
	hic_answer_refuse(s, VMB_BAD_FIELD);
	hic_job_finish(s, j, false, err);
	return true;
}

/* ---- kvp ip get: the answer in either wire form, as ADDR/PREFIX ---- */

/* Text built as snprintf builds it: what fits goes into p[cap], len
 * counts the whole. */
struct text_buf {
	char *p;
	size_t cap, len;
};

static void __attribute__((format(printf, 2, 3)))
text_put(struct text_buf *b, const char *fmt, ...)
{
	bool room = b->len < b->cap;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->len : NULL, room ? b->cap - b->len : 0,
		      fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

static int mask_prefix(const uint8_t m[4])
{
	uint32_t v = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 |
		     (uint32_t)m[2] << 8 | m[3];
	int n = __builtin_popcount(v);

	/* Contiguous ones from the top, or not a prefix at all. */
	return (n ? ~0u << (32 - n) : 0) == v ? n : -1;
}

static bool put_addr(struct text_buf *b, const char *label, int af,
		     const void *a, int plen)
{
	char t[INET6_ADDRSTRLEN];

	if (!inet_ntop(af, a, t, sizeof(t)) || plen < -1 ||
	    plen > (af == AF_INET ? 32 : 128))
		return false;
	if (plen >= 0)
		text_put(b, "%-9s %s/%d\n", label, t, plen);
	else
		text_put(b, "%-9s %s\n", label, t);
	return true;
}

static bool bin_counts_fit(const struct kvp_ip *ip)
{
	return ip->n_ipv4 <= KVP_BIN_ADDRS && ip->n_ipv6 <= KVP_BIN_ADDRS &&
	       ip->n_gw4 <= KVP_BIN_GATEWAYS &&
	       ip->n_gw6 <= KVP_BIN_GATEWAYS &&
	       ip->n_dns4 <= KVP_BIN_ADDRS && ip->n_dns6 <= KVP_BIN_ADDRS;
}

static bool ip_text_bin(struct text_buf *b, const struct kvp_ip *ip)
{
	bool ok = bin_counts_fit(ip);

	for (uint32_t i = 0; i < ip->n_ipv4 && ok; i++)
		ok = put_addr(b, "Address:", AF_INET, ip->ipv4[i],
			      mask_prefix(ip->ipv4_subnet[i]));
	for (uint32_t i = 0; i < ip->n_ipv6 && ok; i++)
		ok = ip->ipv6_prefix[i] <= 128 &&
		     put_addr(b, "Address:", AF_INET6, ip->ipv6[i],
			      (int)ip->ipv6_prefix[i]);
	if (!ok)
		return false;
	for (uint32_t i = 0; i < ip->n_gw4; i++)
		put_addr(b, "Gateway:", AF_INET, ip->gw4[i], -1);
	for (uint32_t i = 0; i < ip->n_gw6; i++)
		put_addr(b, "Gateway:", AF_INET6, ip->gw6[i], -1);
	for (uint32_t i = 0; i < ip->n_dns4; i++)
		put_addr(b, "DNS:", AF_INET, ip->dns4[i], -1);
	for (uint32_t i = 0; i < ip->n_dns6; i++)
		put_addr(b, "DNS:", AF_INET6, ip->dns6[i], -1);
	return true;
}

/* One address of the string form: family from its spelling. */
static bool parse_addr(const char *t, int *af, uint8_t a[16])
{
	if (inet_pton(AF_INET, t, a) == 1)
		*af = AF_INET;
	else if (inet_pton(AF_INET6, t, a) == 1)
		*af = AF_INET6;
	else
		return false;
	return true;
}

/* An item longer than any address spelling is not one. */
#define ITEM_MAX (INET6_ADDRSTRLEN + 8)

static bool str_list(struct text_buf *b, const char *label,
		     const char *list, size_t len)
{
	char t[ITEM_MAX];
	size_t pos = 0;
	uint8_t a[16];
	int af, rc;

	while ((rc = kvp_list_next(list, len, &pos, t, sizeof(t))) == 1) {
		if (!parse_addr(t, &af, a))
			return false;
		put_addr(b, label, af, a, -1);
	}
	return rc == 0;
}

/* Prefix length of the string form's subnet m of an address of family
 * af (IPv4: a mask, IPv6: a prefix length): -1 for an IPv4 mask that is
 * not a prefix (the address is shown without one), -2 if m is not a
 * subnet of af. */
static int subnet_prefix(int af, const char *m)
{
	uint8_t mb[4];
	int plen;

	if (af == AF_INET)
		return inet_pton(AF_INET, m, mb) == 1 ? mask_prefix(mb) : -2;
	plen = kvp_prefix6(m);
	return plen < 0 ? -2 : plen;
}

/* The subnet list pairs with the address list item by item. An empty
 * item ends either list, as in the guest (gic_kvp_ip.c) and the daemon:
 * skipping it would give an address the next one's subnet. An address
 * past the end of the subnet list has none, which is refused. */
static bool ip_text_str(struct text_buf *b, const struct kvp_ip *ip)
{
	char t[ITEM_MAX], m[ITEM_MAX];
	size_t pa = 0, pm = 0;
	uint8_t a[16];
	int af, rc;

	while ((rc = kvp_list_next_stop(ip->ip_addr, sizeof(ip->ip_addr), &pa,
					t, sizeof(t))) == 1) {
		if (!parse_addr(t, &af, a) ||
		    kvp_list_next_stop(ip->subnet, sizeof(ip->subnet), &pm, m,
				       sizeof(m)) != 1 ||
		    !put_addr(b, "Address:", af, a, subnet_prefix(af, m)))
			return false;
	}
	return rc == 0 &&
	       str_list(b, "Gateway:", ip->gateway, sizeof(ip->gateway)) &&
	       str_list(b, "DNS:", ip->dns, sizeof(ip->dns));
}

bool hic_ip_text(const struct kvp_ip *ip, bool binary, char *out,
		 size_t cap, size_t *len)
{
	struct text_buf b = { .p = out, .cap = cap };
	bool ok;

	if (cap)
		out[0] = '\0';
	ok = binary ? ip_text_bin(&b, ip) : ip_text_str(&b, ip);
	*len = b.len;
	return ok;
}

void hic_guest_text(const char *text, char *buf, size_t cap)
{
	FILE *f = fmemopen(buf, cap, "w");

	if (!f) {
		snprintf(buf, cap, "(out of memory)");
		return;
	}
	/* Cut at cap - 1: fmemopen keeps the last byte for the NUL. */
	setvbuf(f, NULL, _IONBF, 0);
	hic_put_guest_text(f, text, "");
	fclose(f);
	buf[cap - 1] = '\0';
}

/* A `kvp ip` request the guest failed: an unknown adapter is said at
 * once, anything else after reading the guest's words (the job goes on
 * with a GET of HIC_KVP_REASON_KEY). */
static void ip_failed(struct hic_svc *s, struct hic_job *j, const char *what,
		      int rc, uint32_t status)
{
	char err[KVP_ADAPTER_UTF8_MAX + 128];

	if (rc != VMB_OK) {
		fail_status(s, j, what, rc, status);
		return;
	}
	if (status == IC_E_NOT_FOUND) {
		snprintf(err, sizeof(err), "%s: no adapter with MAC %s in the "
			 "guest (guest status 0x%08x)", what,
			 j->kvp.ip.adapter_id, status);
		hic_job_finish(s, j, false, err);
		return;
	}
	snprintf(j->fail, sizeof(j->fail), "%s %s: guest status 0x%08x (%s)",
		 what, j->kvp.ip.adapter_id, status, hic_status_text(status));
	j->reason_step = true;
	memset(&j->kvp, 0, sizeof(j->kvp));
	j->kvp.op = KVP_OP_GET;
	j->kvp.pool = KVP_POOL_AUTO;
	snprintf(j->kvp.key, sizeof(j->kvp.key), "%s", HIC_KVP_REASON_KEY);
	if (hic_send(s, build_kvp, &j->kvp))
		hic_job_finish(s, j, false, j->fail);
}

/* kvp ip get --json from the checked text of the answer: its
 * "Address:", "Gateway:" and "DNS:" lines become arrays. */
static void ip_json(struct hic_job *j, bool dhcp, char *text)
{
	static const char *const labels[][2] = {
		{ "Address:", "addresses" }, { "Gateway:", "gateways" },
		{ "DNS:", "dns_servers" },
	};
	json_t *o = json_pack("{s:s, s:s, s:b, s:[], s:[], s:[]}", "schema",
			      "hvis.kvp-ip/1", "adapter", j->kvp.ip.adapter_id,
			      "dhcp", dhcp, "addresses", "gateways",
			      "dns_servers");
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		for (unsigned i = 0; i < VMB_ARRAY_LEN(labels); i++)
			if (!strncmp(l, labels[i][0], strlen(labels[i][0])))
				json_array_append_new(
					json_object_get(o, labels[i][1]),
					json_string(l + strlen(labels[i][0]) +
						    strspn(l + strlen(labels[i][0]), " ")));
	json_dumpf(o, j->out, JSON_INDENT(2));
	fputc('\n', j->out);
	json_decref(o);
}

/* The answer to the reason GET of a failed `kvp ip` request: the request
 * fails with the guest's words, or says it gave none. */
static void ip_reason_result(struct hic_svc *s, struct hic_job *j, int rc,
			     const struct ic_host_result *r)
{
	char words[HIC_REASON_MAX], err[sizeof(j->fail) + HIC_REASON_MAX + 8];

	if (rc == VMB_OK && r->status == IC_S_OK && r->kvp.value[0])
		hic_guest_text(r->kvp.value, words, sizeof(words));
	else
		snprintf(words, sizeof(words), "the guest gave no reason");
	snprintf(err, sizeof(err), "%s: %s", j->fail, words);
	hic_job_finish(s, j, false, err);
}

static void ip_result(struct hic_svc *s, struct hic_job *j, int rc,
		      const struct ic_host_result *r)
{
	bool get = j->kvp.op == KVP_OP_GET_IP_INFO;
	const char *what = get ? "kvp ip get" : "kvp ip set";
	const struct kvp_ip *ip = &r->kvp.ip;
	bool binary = kvp_ip_binary(s->msg);
	char *text;
	size_t len;

	if (rc != VMB_OK || r->status != IC_S_OK) {
		ip_failed(s, j, what, rc, r->status);
		return;
	}
	if (mismatch(s, j, rc, r, what))
		return;
	if (!get) {
		fprintf(j->out, "Adapter %s: %s configuration applied\n",
			j->kvp.ip.adapter_id,
			j->kvp.ip.dhcp ? "DHCP" : "static");
		hic_job_finish(s, j, true, NULL);
		return;
	}
	/* Sized first: a refused answer shows nothing of it. */
	if (!hic_ip_text(ip, binary, NULL, 0, &len)) {
		hic_answer_refuse(s, VMB_BAD_FIELD);
		hic_job_finish(s, j, false, "kvp ip get: the guest's answer "
			       "holds something that is not an address");
		return;
	}
	text = malloc(len + 1);
	if (!text) {
		hic_job_finish(s, j, false, "kvp ip get: out of memory");
		return;
	}
	hic_ip_text(ip, binary, text, len + 1, &len);
	if (j->json)
		ip_json(j, ip->dhcp, text);
	else
		fprintf(j->out, "%-9s %s\n%-9s %s\n%s", "Adapter:",
			j->kvp.ip.adapter_id, "DHCP:",
			ip->dhcp ? "Enabled" : "Disabled", text);
	free(text);
	hic_job_finish(s, j, true, NULL);
}

static void kvp_result(struct hic_svc *s, struct hic_job *j, int rc,
		       const struct ic_host_result *r)
{
	static const char *const ops[] = { "kvp get", "kvp set",
					   "kvp delete" };
	const char *what;
	char err[KVP_KEY_UTF8_MAX + 64];

	if (j->reason_step) {
		ip_reason_result(s, j, rc, r);
		return;
	}
	if (j->kvp.op == KVP_OP_GET_IP_INFO ||
	    j->kvp.op == KVP_OP_SET_IP_INFO) {
		ip_result(s, j, rc, r);
		return;
	}
	what = ops[j->kvp.op];
	if (mismatch(s, j, rc, r, what))
		return;
	if (rc == VMB_OK && r->status == IC_E_NO_MORE_ITEMS &&
	    j->kvp.op == KVP_OP_SET) {
		/* hv_kvp_daemon's answer to any SET it could not do: the
		 * wire took the item, the guest's pool file did not. */
		snprintf(err, sizeof(err), "%s: the guest could not store "
			 "the item in pool %u (key or value too long for its "
			 "pool file once in UTF-8, or the file could not be "
			 "written)", what, j->kvp.pool);
		hic_job_finish(s, j, false, err);
		return;
	}
	if (rc == VMB_OK && r->status == IC_E_NO_MORE_ITEMS) {
		/* How hv_kvp_daemon says the key is not there. */
		snprintf(err, sizeof(err), "%s: no key \"%s\" in pool %u",
			 what, j->kvp.key, j->kvp.pool);
		hic_job_finish(s, j, false, err);
		return;
	}
	if (rc != VMB_OK || r->status != IC_S_OK) {
		fail_status(s, j, what, rc, r->status);
		return;
	}
	if (j->kvp.op == KVP_OP_GET)
		hic_put_guest_text(j->out, r->kvp.value, "\n");
	hic_job_finish(s, j, true, NULL);
}

static void kv_free(struct hic_kv *kv)
{
	free(kv->key);
	free(kv->value);
	kv->key = kv->value = NULL;
}

static void intrinsic_store(struct hic *ic, uint32_t i, const char *key,
			    const char *value)
{
	struct hic_kv *kv = &ic->staging[i];

	kv_free(kv);
	kv->key = strdup(key);
	kv->value = strdup(value);
}

/* The refresh read n items (the first HIC_INTRINSIC_MAX kept). */
static void intrinsic_commit(struct hic *ic, uint32_t n)
{
	if (n > HIC_INTRINSIC_MAX)
		n = HIC_INTRINSIC_MAX;
	for (unsigned i = 0; i < HIC_INTRINSIC_MAX; i++) {
		kv_free(&ic->intrinsic[i]);
		if (i < n) {
			ic->intrinsic[i] = ic->staging[i];
			ic->staging[i] = (struct hic_kv){ 0 };
		} else {
			kv_free(&ic->staging[i]);
		}
	}
	ic->n_intrinsic = n;
	ic->intrinsic_ms = hic_now_ns() / 1000000;
}

void hic_intrinsic_clear(struct hic *ic)
{
	for (unsigned i = 0; i < HIC_INTRINSIC_MAX; i++) {
		kv_free(&ic->intrinsic[i]);
		kv_free(&ic->staging[i]);
	}
	ic->n_intrinsic = 0;
}

/* kvp list --json: the pool's items (docs/json.md). A key or value that
 * is not UTF-8 (jansson refuses it) is null. */
static void list_json(struct hic_svc *s, struct hic_job *j)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:O}", "schema",
			      "hvis.kvp-list/1", "vm", s->ic->vm->cfg.name,
			      "pool", (json_int_t)j->kvp.pool, "items",
			      j->items);

	json_dumpf(o, j->out, JSON_INDENT(2));
	fputc('\n', j->out);
	json_decref(o);
}

/* One ENUMERATE answer: record it and ask for the next index, until the
 * guest says there are no more. */
static void list_result(struct hic_svc *s, struct hic_job *j, int rc,
			const struct ic_host_result *r)
{
	bool refresh = j->kind == HIC_JOB_KVP_REFRESH;
	char err[128];

	if (rc == VMB_OK && r->status == IC_E_NO_MORE_ITEMS) {
		if (refresh)
			intrinsic_commit(s->ic, j->count);
		if (j->json)
			list_json(s, j);
		hic_job_finish(s, j, true, NULL);
		return;
	}
	if (rc != VMB_OK || r->status != IC_S_OK) {
		fail_status(s, j, "kvp list", rc, r->status);
		return;
	}
	if (mismatch(s, j, rc, r, "kvp list"))
		return;
	/* An item past the limit: only a pool that has more than it is
	 * refused, one that has exactly that many ended above. */
	if (j->count >= HIC_LIST_MAX) {
		snprintf(err, sizeof(err), "%s: pool %u has more than %u "
			 "items, the most the host lists",
			 refresh ? "auto pool refresh" : "kvp list",
			 j->kvp.pool, HIC_LIST_MAX);
		hic_job_finish(s, j, false, err);
		return;
	}
	if (refresh && j->count < HIC_INTRINSIC_MAX)
		intrinsic_store(s->ic, j->count, r->kvp.key, r->kvp.value);
	else if (j->json)
		json_array_append_new(j->items, json_pack("{s:s?, s:s?}", "key",
			r->kvp.key, "value", r->kvp.value));
	else if (!refresh) {
		hic_put_guest_text(j->out, r->kvp.key, "\t");
		hic_put_guest_text(j->out, r->kvp.value, "\n");
	}
	j->kvp.index = ++j->count;
	if (hic_send(s, build_kvp, &j->kvp))
		hic_job_finish(s, j, false, "kvp list: cannot send");
}

/* A backup's reason read: handed to it, whatever the answer. */
static void reason_result(struct hic_svc *s, struct hic_job *j, int rc,
			  const struct ic_host_result *r)
{
	if (rc == VMB_OK && r->status == IC_S_OK && r->kvp.value[0])
		hic_vss_reason(s->ic, j->for_id, r->kvp.value, NULL);
	else if (rc == VMB_OK && (r->status == IC_S_OK ||
				  r->status == IC_E_NO_MORE_ITEMS))
		hic_vss_reason(s->ic, j->for_id, NULL, "the guest gave no "
			       "reason");
	else
		hic_vss_reason(s->ic, j->for_id, NULL, "reason not "
			       "available: the guest's KVP answer failed");
	hic_job_finish(s, j, true, NULL);
}

void hic_job_result(struct hic_svc *s, int rc, const struct ic_host_result *r)
{
	struct hic_job *j = s->job_active ? s->jobs : NULL;

	if (!j)
		return;
	switch (j->kind) {
	case HIC_JOB_STOP:
		stop_result(s, j, rc, r);
		break;
	case HIC_JOB_KVP:
		kvp_result(s, j, rc, r);
		break;
	case HIC_JOB_KVP_LIST:
	case HIC_JOB_KVP_REFRESH:
		list_result(s, j, rc, r);
		break;
	case HIC_JOB_BACKUP:
		hic_vss_result(s, j, rc, r);
		break;
	case HIC_JOB_KVP_REASON:
		reason_result(s, j, rc, r);
		break;
	}
}

void hic_job_timeout(struct hic_svc *s)
{
	struct hic_job *j = s->job_active ? s->jobs : NULL;

	if (!j)
		return;
	if (j->kind == HIC_JOB_BACKUP) {
		hic_vss_result(s, j, VMB_OK, NULL);
		return;
	}
	hic_job_finish(s, j, false, "timed out waiting for the guest");
}
