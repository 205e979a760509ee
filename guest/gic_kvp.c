/* KVP service: the host's GET/SET/DELETE/ENUMERATE on the hyperv-daemons
 * pool files, the Auto pool's intrinsic data, and GET/SET_IP_INFO through
 * the hyperv-daemons helper scripts.
 *
 * Semantics of hv_kvp_daemon: SET, GET and DELETE work on the pool file
 * the host names, whichever it is; ENUMERATE reads the pool file, except
 * for the Auto pool (2), whose entries are generated (kvp_intrinsic); a
 * failed GET/SET/DELETE/ENUMERATE is answered IC_E_NO_MORE_ITEMS
 * (HV_S_CONT), which also ends the host's enumeration. One addition: a
 * GET on the Auto pool that its file lacks is answered from the
 * intrinsic data, so the host can read e.g. OSName by name; the auto
 * pool also holds the failure reasons of gic_reason.c after Linux's ten
 * keys.
 *
 * GET/SET_IP_INFO of an adapter no interface has are answered
 * IC_E_NOT_FOUND (HV_GUID_NOTFOUND, Linux's answer to such a SET; its
 * GET says E_FAIL, which tells the host nothing). A SET is refused with
 * E_ACCESSDENIED unless hvis-guest may configure this machine's
 * interfaces (gic_cfg.configure_ifs). netvsc's adapters are found by
 * MAC first (gnet_lookup_mac): their requests act in the adapter's
 * namespace (kvp_ipns.c), and a SET needs no configure_ifs there. Each
 * failure's words go to the HvisKvpLastFailure item. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gic.h"
#include "gnet.h"
#include "ic/ic_utf.h"
#include "kvp_intrinsic.h"
#include "kvp_ipinfo.h"
#include "kvp_pool.h"
#include "rt_log.h"

#define KVP_FAIL IC_E_NO_MORE_ITEMS

struct gic_kvp {
	struct kvp_pool_set *pools;
	struct kvp_auto autod;
	bool auto_ready;
	struct kvp_ip_config ip;
	struct kvp_data r;	/* the answer being built */
	struct kvp_ip_info info;
};

int gic_kvp_open(struct gic_svc *s)
{
	struct gic_kvp *k = calloc(1, sizeof(*k));
	int rc;

	if (!k)
		return -1;
	rc = kvp_pool_open(s->cfg->kvp_root, &k->pools);
	if (rc) {
		rt_err(s->name, "pool files under %s: %s (%s)",
		       s->cfg->kvp_root ? s->cfg->kvp_root
					: KVP_POOL_DEFAULT_ROOT,
		       kvp_pool_strerror(rc), strerror(errno));
		free(k);
		return -1;
	}
	k->ip.script_dir = s->cfg->kvp_scripts;
	k->ip.config_dir = s->cfg->kvp_root;
	s->kvp = k;
	return 0;
}

void gic_kvp_close(struct gic_svc *s)
{
	if (!s->kvp)
		return;
	kvp_pool_close(s->kvp->pools);
	free(s->kvp);
	s->kvp = NULL;
}

/* The static values need a name lookup that can take long: captured at
 * the first request that needs them, on the channel's worker. */
static const struct kvp_auto *auto_data(struct gic_svc *s)
{
	struct gic_kvp *k = s->kvp;

	if (!k->auto_ready) {
		if (kvp_auto_init(&k->autod, s->cfg->os_release,
				  GIC_IC_VERSION))
			rt_warn(s->name, "intrinsic data incomplete");
		k->auto_ready = true;
	}
	return &k->autod;
}

struct auto_call {
	const struct kvp_auto *a;
	uint32_t index;
	char *key, *value;
	size_t key_cap, value_cap;
};

static int auto_call(void *arg)
{
	struct auto_call *c = arg;

	return kvp_auto_enumerate(c->a, c->index, c->key, c->key_cap,
				  c->value, c->value_cap);
}

/* An intrinsic item. With --netns the addresses are those of the VM's
 * network, the namespace netvsc's adapters are in (none before the
 * first adapter is there); else this process's namespace's. */
static int auto_item(struct gic_svc *s, uint32_t index, char *key,
		     size_t key_cap, char *value, size_t value_cap)
{
	struct auto_call c = {auto_data(s), index, key, value, key_cap,
			      value_cap};
	const char *name = kvp_auto_key_name(index);
	struct gnet_where w;
	int rc, err;

	if (!gnet_cfg.netns || !name || strncmp(name, "NetworkAddress", 14))
		return auto_call(&c);
	if (gnet_lookup_mac(NULL, &w)) {
		rc = auto_call(&c);
		value[0] = '\0';
		return rc;
	}
	rc = kvp_ip_in_netns(w.ns_fd, auto_call, &c, &err);
	close(w.ns_fd);
	return err ? KVP_AUTO_EIO : rc;
}

static int auto_get(struct gic_svc *s, const char *key, char *value,
		    size_t cap)
{
	char name[KVP_AUTO_FIELD_SIZE];

	if (gic_reason_get(key, value, cap))
		return KVP_AUTO_OK;
	for (uint32_t i = 0; kvp_auto_key_name(i); i++)
		if (!strcmp(kvp_auto_key_name(i), key))
			return auto_item(s, i, name, sizeof(name), value,
					 cap);
	return KVP_AUTO_ENOTFOUND;
}

static uint32_t kvp_get(struct gic_svc *s, const struct kvp_data *d)
{
	struct kvp_data *r = &s->kvp->r;
	int rc = kvp_pool_get(s->kvp->pools, d->pool, d->key, r->value,
			      sizeof(r->value));

	if (rc == KVP_POOL_ENOTFOUND && d->pool == KVP_POOL_AUTO)
		rc = auto_get(s, d->key, r->value, sizeof(r->value))
			     ? KVP_POOL_ENOTFOUND : KVP_POOL_OK;
	if (rc) {
		rt_dbg(s->name, "get pool %u \"%s\": %s", d->pool, d->key,
		       kvp_pool_strerror(rc));
		return KVP_FAIL;
	}
	r->value_type = KVP_REG_SZ;
	return IC_S_OK;
}

static uint32_t kvp_set(struct gic_svc *s, const struct kvp_data *d)
{
	int rc = kvp_pool_set(s->kvp->pools, d->pool, d->key, d->value);

	if (rc) {
		rt_warn(s->name, "set pool %u \"%s\": %s", d->pool, d->key,
			kvp_pool_strerror(rc));
		return KVP_FAIL;
	}
	rt_info(s->name, "pool %u: \"%s\" set", d->pool, d->key);
	return IC_S_OK;
}

static uint32_t kvp_delete(struct gic_svc *s, const struct kvp_data *d)
{
	int rc = kvp_pool_delete(s->kvp->pools, d->pool, d->key);

	if (rc) {
		rt_info(s->name, "delete pool %u \"%s\": %s", d->pool, d->key,
			kvp_pool_strerror(rc));
		return KVP_FAIL;
	}
	rt_info(s->name, "pool %u: \"%s\" deleted", d->pool, d->key);
	return IC_S_OK;
}

static uint32_t kvp_enum(struct gic_svc *s, const struct kvp_data *d)
{
	struct kvp_data *r = &s->kvp->r;
	int rc;

	/* A pool file costs one locked read per request, whatever the
	 * index, as in hv_kvp_daemon. */
	if (d->pool == KVP_POOL_AUTO && d->index >= KVP_AUTO_COUNT)
		rc = gic_reason_enum(d->index - KVP_AUTO_COUNT, r->key,
				     sizeof(r->key), r->value,
				     sizeof(r->value))
			     ? KVP_AUTO_OK : KVP_AUTO_ENOTFOUND;
	else if (d->pool == KVP_POOL_AUTO)
		rc = auto_item(s, d->index, r->key, sizeof(r->key), r->value,
			       sizeof(r->value));
	else
		rc = kvp_pool_enumerate(s->kvp->pools, d->pool, d->index,
					r->key, sizeof(r->key), r->value,
					sizeof(r->value));
	if (rc)
		return KVP_FAIL;
	r->value_type = KVP_REG_SZ;
	return IC_S_OK;
}

static uint32_t ip_status(int rc)
{
	switch (rc) {
	case KVP_IP_OK:
		return IC_S_OK;
	case KVP_IP_ENOIF:
		return IC_E_NOT_FOUND;
	case KVP_IP_EINVAL:
		return IC_E_INVALIDARG;
	default:
		return IC_E_FAIL;
	}
}

/* A failed IP request: logged, its words published, its status. */
static uint32_t ip_failed(struct gic_svc *s, const char *op, const char *id,
			  int rc, const char *why)
{
	if (rc == KVP_IP_ENOIF)
		gic_reason_set(GIC_REASON_KVP, "%s: no adapter with %s %s",
			       op, strlen(id) == 17 ? "MAC" : "id", id);
	else
		gic_reason_set(GIC_REASON_KVP, "%s %s: %s", op, id,
			       why && why[0] ? why : kvp_ip_strerror(rc));
	rt_warn(s->name, "%s %s: %s", op, id,
		why && why[0] ? why : kvp_ip_strerror(rc));
	return ip_status(rc);
}

/* A netvsc adapter with that MAC, its TAP device in --netns: true and
 * *w (w->ns_fd the caller's to close). */
static bool netvsc_adapter(const char *id, struct kvp_ip_netns *w)
{
	unsigned char mac[6];
	struct gnet_where g;

	if (kvp_ip_parse_mac(id, mac) || gnet_lookup_mac(mac, &g))
		return false;
	*w = (struct kvp_ip_netns){.ns_fd = g.ns_fd, .ifindex = g.ifindex};
	return true;
}

static uint32_t kvp_get_ip(struct gic_svc *s, const struct kvp_data *d)
{
	struct gic_kvp *k = s->kvp;
	struct kvp_ip_netns w;
	int rc;

	if (netvsc_adapter(d->ip.adapter_id, &w)) {
		rc = kvp_ip_get_info_ns(&k->ip, &w, d->ip.adapter_id,
					&k->info);
		close(w.ns_fd);
	} else {
		rc = kvp_ip_get_info(&k->ip, d->ip.adapter_id, &k->info);
	}
	if (rc)
		return ip_failed(s, "get ip info", d->ip.adapter_id, rc, NULL);
	if (gic_ip_to_wire(&k->info, kvp_ip_binary(s->eng.msg), &k->r.ip))
		return ip_failed(s, "get ip info", d->ip.adapter_id,
				 KVP_IP_ESPACE, "the adapter's addresses do "
				 "not fit the message");
	return IC_S_OK;
}

/* k->info applied to the adapter: a netvsc adapter's in its namespace,
 * else the interface of this process's namespace with that id. */
static int set_ip_apply(struct gic_kvp *k, struct kvp_ip_netns *w,
			char ifname[IF_NAMESIZE], char *why, size_t cap)
{
	int rc;

	if (w) {
		rc = kvp_ip_set_info_ns(&k->ip, w, &k->info, ifname, why, cap);
		close(w->ns_fd);
		return rc;
	}
	rc = kvp_ip_find_ifname(&k->ip, k->info.adapter_id, ifname);
	return rc ? rc : kvp_ip_set_info(&k->ip, ifname, &k->info, why, cap);
}

/* SET_IP_INFO. A netvsc adapter's TAP device is hvis-guest's own, in
 * the namespace it was told to use: configuring it needs no --system. */
static uint32_t kvp_set_ip(struct gic_svc *s, const struct kvp_data *d)
{
	struct gic_kvp *k = s->kvp;
	char ifname[IF_NAMESIZE], why[GIC_REASON_MAX] = "";
	struct kvp_ip_netns w;
	bool ours = netvsc_adapter(d->ip.adapter_id, &w);
	int rc;

	if (!ours && !s->cfg->configure_ifs) {
		gic_reason_set(GIC_REASON_KVP, "set ip info %s: this guest "
			       "configures none of its machine's interfaces "
			       "(hvis-guest --system, or --kvp-scripts DIR, "
			       "lets it)", d->ip.adapter_id);
		rt_warn(s->name, "set ip info of %s refused: no --system",
			d->ip.adapter_id);
		return IC_E_ACCESSDENIED;
	}
	if (gic_ip_from_wire(&d->ip, kvp_ip_binary(s->eng.msg), &k->info)) {
		if (ours)
			close(w.ns_fd);
		return ip_failed(s, "set ip info", d->ip.adapter_id,
				 KVP_IP_EINVAL, "malformed request");
	}
	rc = set_ip_apply(k, ours ? &w : NULL, ifname, why, sizeof(why));
	if (rc)
		return ip_failed(s, "set ip info", d->ip.adapter_id, rc, why);
	rt_info(s->name, "ip configuration of %s (%s%s) applied",
		d->ip.adapter_id, ifname, ours ? " in its namespace" : "");
	return IC_S_OK;
}

static uint32_t kvp_do(struct gic_svc *s, const struct kvp_data *d)
{
	switch (d->op) {
	case KVP_OP_GET:
		return kvp_get(s, d);
	case KVP_OP_SET:
		return kvp_set(s, d);
	case KVP_OP_DELETE:
		return kvp_delete(s, d);
	case KVP_OP_ENUMERATE:
		return kvp_enum(s, d);
	case KVP_OP_GET_IP_INFO:
		gic_reason_clear(GIC_REASON_KVP);
		return kvp_get_ip(s, d);
	case KVP_OP_SET_IP_INFO:
		gic_reason_clear(GIC_REASON_KVP);
		return kvp_set_ip(s, d);
	default:
		return IC_E_FAIL;
	}
}

/* kvp_guest_reply_cut fails with an IC_UTF_E* code (IC_UTF_ENOSPACE is
 * VMB_EMSGSIZE) or a VMB_E* one. */
static const char *reply_error(int rc)
{
	if (rc == IC_UTF_ENOSPACE || (rc >= IC_UTF_ENUL && rc <= IC_UTF_EODD))
		return ic_utf_strerror(rc);
	return vmb_strerror(rc);
}

/* The first cut is logged, later ones only counted: the host enumerates
 * the pools again and again. */
static void count_cut(struct gic_svc *s, const struct kvp_data *d,
		      unsigned cuts)
{
	if (!s->st.truncated)
		rt_warn(s->name, "pool %u: op %u answered with a key or value "
			"cut to its wire field (further cuts only counted)",
			d->pool, d->op);
	s->st.truncated += cuts;
}

void gic_kvp_act(struct gic_svc *s, const struct kvp_data *d, uint64_t xid)
{
	struct kvp_data *r = &s->kvp->r;
	unsigned cuts = 0;
	uint32_t status;
	size_t len = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	status = kvp_do(s, d);
	if (status != IC_S_OK && status != KVP_FAIL)
		s->st.os_failures++;
	rc = kvp_guest_reply_cut(&s->eng, status, r, s->out, sizeof(s->out),
				 &len, &cuts);
	/* Invalid UTF-8 in a record or IP information that does not fit
	 * (an over-long key or value is cut instead): still answer. */
	if (rc != VMB_OK) {
		rt_warn(s->name, "answer to op %u: %s", d->op,
			reply_error(rc));
		rc = kvp_guest_reply(&s->eng, IC_E_FAIL, NULL, s->out,
				     sizeof(s->out), &len);
	}
	if (cuts)
		count_cut(s, d, cuts);
	if (rc == VMB_OK)
		gic_reply(s, xid, len);
}
