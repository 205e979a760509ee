/* Requests that wait for the guest: shutdown, KVP operations and the
 * auto pool refresh (VSS backups in hic_vss.c). One queue per service;
 * the head job is active and owns the engine's one open transaction. A
 * control client's reply is written when the job ends. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hic_priv.h"
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
	}
	return "unknown status";
}

struct hic_job *hic_job_new(enum hic_job_kind kind, int fd)
{
	struct hic_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->out = open_memstream(&j->body, &j->body_len);
	if (!j->out) {
		free(j);
		return NULL;
	}
	j->kind = kind;
	j->fd = fd;
	j->pidfd = -1;
	return j;
}

static void job_free(struct hic_job *j, bool ok, const char *err)
{
	fclose(j->out);
	if (j->fd >= 0) {
		if (ok) {
			hvm_ctl_write(j->fd, "ok\n", 3);
		} else {
			hvm_ctl_write(j->fd, "error: ", 7);
			hvm_ctl_write(j->fd, err, strlen(err));
			hvm_ctl_write(j->fd, "\n", 1);
		}
		hvm_ctl_write(j->fd, j->body, j->body_len);
		close(j->fd);
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
	if (!ok && j->fd < 0)
		rt_warn("ic", "%s: background request failed: %s",
			s->info->name, err);
	job_free(j, ok, err);
}

void hic_job_abort_all(struct hic_svc *s, const char *why)
{
	while (s->jobs)
		hic_job_finish(s, s->jobs, false, why);
	s->job_active = false;
}

void hic_job_queue(struct hic_svc *s, struct hic_job *j)
{
	struct hic_job **pp;

	if (!j)
		return;
	for (pp = &s->jobs; *pp; pp = &(*pp)->next)
		;
	*pp = j;
	hic_job_kick(s);
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
		return hic_send(s, build_kvp, &j->kvp);
	case HIC_JOB_BACKUP:
		return hic_vss_start(s, j);
	}
	return VMB_EINVAL;
}

static void start_failed(struct hic_svc *s, struct hic_job *j, int rc)
{
	char err[160];

	if (rc == VMB_EMSGSIZE)
		snprintf(err, sizeof(err), "too long for the wire (a KVP key "
			 "holds 255 UTF-16 units, a value 1023)");
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

static int mask_prefix(const uint8_t m[4])
{
	uint32_t v = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 |
		     (uint32_t)m[2] << 8 | m[3];
	int n = __builtin_popcount(v);

	/* Contiguous ones from the top, or not a prefix at all. */
	return (n ? ~0u << (32 - n) : 0) == v ? n : -1;
}

static bool put_addr(FILE *out, const char *label, int af, const void *a,
		     int plen)
{
	char t[INET6_ADDRSTRLEN];

	if (!inet_ntop(af, a, t, sizeof(t)) || plen < -1 ||
	    plen > (af == AF_INET ? 32 : 128))
		return false;
	if (plen >= 0)
		fprintf(out, "%-9s %s/%d\n", label, t, plen);
	else
		fprintf(out, "%-9s %s\n", label, t);
	return true;
}

static bool ip_print_bin(FILE *out, const struct kvp_ip *ip)
{
	bool ok = true;

	for (uint32_t i = 0; i < ip->n_ipv4 && ok; i++)
		ok = put_addr(out, "Address:", AF_INET, ip->ipv4[i],
			      mask_prefix(ip->ipv4_subnet[i]));
	for (uint32_t i = 0; i < ip->n_ipv6 && ok; i++)
		ok = ip->ipv6_prefix[i] <= 128 &&
		     put_addr(out, "Address:", AF_INET6, ip->ipv6[i],
			      (int)ip->ipv6_prefix[i]);
	for (uint32_t i = 0; i < ip->n_gw4; i++)
		put_addr(out, "Gateway:", AF_INET, ip->gw4[i], -1);
	for (uint32_t i = 0; i < ip->n_gw6; i++)
		put_addr(out, "Gateway:", AF_INET6, ip->gw6[i], -1);
	for (uint32_t i = 0; i < ip->n_dns4; i++)
		put_addr(out, "DNS:", AF_INET, ip->dns4[i], -1);
	for (uint32_t i = 0; i < ip->n_dns6; i++)
		put_addr(out, "DNS:", AF_INET6, ip->dns6[i], -1);
	return ok;
}

/* Next item of a ';'-separated list (blanks around items allowed, empty
 * items skipped); false at the end or for an item too long to be one. */
static bool next_item(const char **p, char *item, size_t cap)
{
	size_t n;

	while (**p == ';' || **p == ' ')
		(*p)++;
	n = strcspn(*p, "; ");
	if (!n || n >= cap)
		return false;
	memcpy(item, *p, n);
	item[n] = '\0';
	*p += n;
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

static bool str_list(FILE *out, const char *label, const char *list)
{
	char t[INET6_ADDRSTRLEN + 8];
	uint8_t a[16];
	int af;

	while (next_item(&list, t, sizeof(t))) {
		if (!parse_addr(t, &af, a))
			return false;
		put_addr(out, label, af, a, -1);
	}
	return !*list;
}

/* An IPv6 subnet of the string form: "64" or "/64"; -2 if not one. */
static int v6_prefix(const char *m)
{
	const char *d = m + (*m == '/');
	size_t n = strlen(d);

	if (!n || n > 3 || strspn(d, "0123456789") != n)
		return -2;
	return atoi(d);
}

/* Every item must be an address with a subnet of its family: the text
 * came from the guest and goes to the host's user as is otherwise. */
static bool ip_print_str(FILE *out, const struct kvp_ip *ip)
{
	const char *pa = ip->ip_addr, *pm = ip->subnet;
	char t[INET6_ADDRSTRLEN + 8], m[INET6_ADDRSTRLEN + 8];
	uint8_t a[16], mb[4];
	int af, plen;

	while (next_item(&pa, t, sizeof(t))) {
		if (!parse_addr(t, &af, a) || !next_item(&pm, m, sizeof(m)))
			return false;
		if (af == AF_INET)
			plen = inet_pton(AF_INET, m, mb) == 1 ? mask_prefix(mb)
							      : -2;
		else
			plen = v6_prefix(m);
		if (!put_addr(out, "Address:", af, a, plen))
			return false;
	}
	return !*pa && str_list(out, "Gateway:", ip->gateway) &&
	       str_list(out, "DNS:", ip->dns);
}

static void ip_result(struct hic_svc *s, struct hic_job *j, int rc,
		      const struct ic_host_result *r)
{
	bool get = j->kvp.op == KVP_OP_GET_IP_INFO;
	const char *what = get ? "kvp ip get" : "kvp ip set";
	const struct kvp_ip *ip = &r->kvp.ip;
	char *text = NULL;
	size_t len = 0;
	bool ok;
	FILE *f;

	if (rc != VMB_OK || r->status != IC_S_OK) {
		fail_status(s, j, what, rc, r->status);
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
	/* Into a buffer of its own: a refused answer shows nothing of it. */
	f = open_memstream(&text, &len);
	if (!f) {
		hic_job_finish(s, j, false, "kvp ip get: out of memory");
		return;
	}
	fprintf(f, "%-9s %s\n%-9s %s\n", "Adapter:", j->kvp.ip.adapter_id,
		"DHCP:", ip->dhcp ? "Enabled" : "Disabled");
	ok = s->msg.major >= 5 ? ip_print_bin(f, ip) : ip_print_str(f, ip);
	fclose(f);
	if (ok)
		fwrite(text, 1, len, j->out);
	free(text);
	if (!ok) {
		hic_answer_refuse(s, VMB_BAD_FIELD);
		hic_job_finish(s, j, false, "kvp ip get: the guest's answer "
			       "holds something that is not an address");
		return;
	}
	hic_job_finish(s, j, true, NULL);
}

static void kvp_result(struct hic_svc *s, struct hic_job *j, int rc,
		       const struct ic_host_result *r)
{
	static const char *const ops[] = { "kvp get", "kvp set",
					   "kvp delete" };
	const char *what;
	char err[KVP_KEY_UTF8_MAX + 64];

	if (j->kvp.op == KVP_OP_GET_IP_INFO ||
	    j->kvp.op == KVP_OP_SET_IP_INFO) {
		ip_result(s, j, rc, r);
		return;
	}
	what = ops[j->kvp.op];
	if (mismatch(s, j, rc, r, what))
		return;
	if (rc == VMB_OK && r->status == IC_E_NO_MORE_ITEMS &&
	    j->kvp.op != KVP_OP_SET) {
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

static void intrinsic_store(struct hic *ic, uint32_t i, const char *key,
			    const char *value)
{
	struct hic_kv *kv = &ic->intrinsic[i];

	free(kv->key);
	free(kv->value);
	kv->key = strdup(key);
	kv->value = strdup(value);
	if (i >= ic->n_intrinsic)
		ic->n_intrinsic = i + 1;
}

void hic_intrinsic_clear(struct hic *ic)
{
	for (unsigned i = 0; i < HIC_INTRINSIC_MAX; i++) {
		free(ic->intrinsic[i].key);
		free(ic->intrinsic[i].value);
		ic->intrinsic[i].key = ic->intrinsic[i].value = NULL;
	}
	ic->n_intrinsic = 0;
}

/* One ENUMERATE answer: record it and ask for the next index, until the
 * guest says there are no more. */
static void list_result(struct hic_svc *s, struct hic_job *j, int rc,
			const struct ic_host_result *r)
{
	bool refresh = j->kind == HIC_JOB_KVP_REFRESH;

	if (rc == VMB_OK && r->status == IC_E_NO_MORE_ITEMS) {
		if (refresh) {
			/* Only the first HIC_INTRINSIC_MAX items were kept. */
			s->ic->n_intrinsic = j->count < HIC_INTRINSIC_MAX
					     ? j->count : HIC_INTRINSIC_MAX;
			s->ic->intrinsic_ms = hic_now_ns() / 1000000;
		}
		hic_job_finish(s, j, true, NULL);
		return;
	}
	if (rc != VMB_OK || r->status != IC_S_OK) {
		fail_status(s, j, "kvp list", rc, r->status);
		return;
	}
	if (mismatch(s, j, rc, r, "kvp list"))
		return;
	if (refresh && j->count < HIC_INTRINSIC_MAX)
		intrinsic_store(s->ic, j->count, r->kvp.key, r->kvp.value);
	else if (!refresh) {
		hic_put_guest_text(j->out, r->kvp.key, "\t");
		hic_put_guest_text(j->out, r->kvp.value, "\n");
	}
	if (++j->count >= HIC_LIST_MAX) {
		hic_job_finish(s, j, false, "kvp list: too many items");
		return;
	}
	j->kvp.index = j->count;
	if (hic_send(s, build_kvp, &j->kvp))
		hic_job_finish(s, j, false, "kvp list: cannot send");
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
