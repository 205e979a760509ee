/* KVP: request and answer codecs for both ends. Strings are UTF-16LE on
 * the wire with sizes in bytes including the NUL, UTF-8 for the embedder. */
#include "ic_priv.h"
#include "ic_utf.h"

#define KVP_VAL_OFF sizeof(struct kvp_hdr)        /* value/delete/enum */
#define KVP_IPSTR_OFF 2u                          /* UTF-16 ip form */
#define KVP_IPBIN_OFF sizeof(struct kvp_hdr)      /* binary ip form */
#define WV(f) IC_OFF(struct kvp_wvalue, f)
#define WS(f) IC_OFF(struct kvp_wip_str, f)
#define WB(f) IC_OFF(struct kvp_wip_bin, f)

static bool kvp_ip_op(uint8_t op)
{
	return op == KVP_OP_GET_IP_INFO || op == KVP_OP_SET_IP_INFO;
}

bool kvp_ip_binary(struct ic_ver msg)
{
	return msg.major >= 5;
}

static uint32_t kvp_body_len(uint8_t op)
{
	return kvp_ip_op(op) ? KVP_IP_BODY_LEN : KVP_BODY_LEN;
}

/* Minimum body a request or answer for op must have. */
static uint32_t kvp_need(uint8_t op, bool binary)
{
	switch (op) {
	case KVP_OP_GET:
	case KVP_OP_SET:
		return KVP_VAL_OFF + sizeof(struct kvp_wvalue);
	case KVP_OP_DELETE:
		return KVP_VAL_OFF + sizeof(struct kvp_wdelete);
	case KVP_OP_ENUMERATE:
		return KVP_VAL_OFF + sizeof(struct kvp_wenum);
	default:
		return binary ? KVP_IPBIN_OFF + sizeof(struct kvp_wip_bin)
			      : KVP_IP_BODY_LEN;
	}
}

/* UTF-16 string of size bytes (NUL included) in a field of field bytes:
 * the NUL must lie inside size. */
static int get_str(const uint8_t *src, uint32_t size, uint32_t field,
		   char *dst, size_t cap)
{
	uint32_t i;

	if (size > field || (size & 1))
		return IC_UTF_EODD;
	for (i = 0; i + 2 <= size; i += 2)
		if (!src[i] && !src[i + 1])
			break;
	if (i + 2 > size)
		return IC_UTF_ENOSPACE;
	return ic_utf16_to_utf8(src, i, dst, cap, NULL);
}

/* cuts NULL: a string too long for its field is refused. Otherwise it is
 * cut at a character boundary and counted in *cuts. */
static int put_str(uint8_t *dst, uint32_t field, const char *s, size_t smax,
		   uint32_t *size, unsigned *cuts)
{
	size_t len = ic_strnlen(s, smax);
	uint32_t n = 0;
	bool cut = false;
	int rc;

	vmb_memset(dst, 0, field);
	if (cuts)
		rc = ic_utf8_to_utf16_cut(s, len, dst, field, &n, &cut);
	else
		rc = ic_utf8_to_utf16(s, len, dst, field, &n);
	if (cut)
		(*cuts)++;
	if (size)
		*size = n;
	return rc;
}

static void put_decimal(char *dst, uint64_t v)
{
	char tmp[21];
	unsigned n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (unsigned i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	dst[n] = 0;
}

static int get_value(const uint8_t *wv, struct kvp_data *d)
{
	uint32_t size = ic_rd32(wv + WV(value_size));

	d->value_type = ic_rd32(wv + WV(value_type));
	switch (d->value_type) {
	case KVP_REG_SZ:
	case KVP_REG_EXPAND_SZ:
		return get_str(wv + WV(value), size, KVP_VALUE_BYTES,
			       d->value, sizeof(d->value));
	case KVP_REG_DWORD:
		if (size != 4)
			return VMB_EPROTO;
		d->value_int = ic_rd32(wv + WV(value));
		break;
	case KVP_REG_U64:
	case KVP_REG_QWORD:
		if (size != 8)
			return VMB_EPROTO;
		d->value_int = ic_rd64(wv + WV(value));
		break;
	default:
		return VMB_EPROTO;
	}
	/* Unsigned, as the Linux driver prints both widths. */
	put_decimal(d->value, d->value_int);
	return VMB_OK;
}

static int get_key(const uint8_t *wv, struct kvp_data *d)
{
	return get_str(wv + WV(key), ic_rd32(wv + WV(key_size)),
		       KVP_KEY_BYTES, d->key, sizeof(d->key));
}

static int put_value(uint8_t *wv, const struct kvp_data *d, unsigned *cuts)
{
	uint32_t size = 0;
	int rc = VMB_OK;

	vmb_memset(wv + WV(value), 0, KVP_VALUE_BYTES);
	switch (d->value_type) {
	case KVP_REG_SZ:
	case KVP_REG_EXPAND_SZ:
		rc = put_str(wv + WV(value), KVP_VALUE_BYTES, d->value,
			     sizeof(d->value), &size, cuts);
		break;
	case KVP_REG_DWORD:
		ic_wr32(wv + WV(value), (uint32_t)d->value_int);
		size = 4;
		break;
	case KVP_REG_U64:
	case KVP_REG_QWORD:
		ic_wr64(wv + WV(value), d->value_int);
		size = 8;
		break;
	default:
		return VMB_EINVAL;
	}
	ic_wr32(wv + WV(value_type), d->value_type);
	ic_wr32(wv + WV(value_size), size);
	return rc;
}

static int put_key(uint8_t *key, uint8_t *key_size, const struct kvp_data *d,
		   unsigned *cuts)
{
	uint32_t size;
	int rc = put_str(key, KVP_KEY_BYTES, d->key, sizeof(d->key), &size,
			 cuts);

	ic_wr32(key_size, size);
	return rc;
}

/* ---- IP information ---- */

static bool kvp_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Separators and blanks before an item are skipped together, so an
 * empty or all-blank item never reaches the caller. */
int kvp_list_next(const char *list, size_t len, size_t *pos, char *item,
		  size_t cap)
{
	size_t p = *pos, s, e;

	while (p < len && list[p] && (list[p] == ';' || kvp_blank(list[p])))
		p++;
	if (p >= len || !list[p]) {
		*pos = p;
		return 0;
	}
	s = p;
	while (p < len && list[p] && list[p] != ';')
		p++;
	e = p;
	/* list[s] is not blank: this stops before passing it. */
	while (kvp_blank(list[e - 1]))
		e--;
	*pos = p < len && list[p] == ';' ? p + 1 : p;
	if (e - s >= cap)
		return -1;
	vmb_memcpy(item, list + s, e - s);
	item[e - s] = '\0';
	return 1;
}

int kvp_list_next_stop(const char *list, size_t len, size_t *pos,
		       char *item, size_t cap)
{
	size_t p = *pos;

	while (p < len && kvp_blank(list[p]))
		p++;
	if (p < len && list[p] == ';')
		return 0;
	return kvp_list_next(list, len, pos, item, cap);
}

int kvp_prefix6(const char *s)
{
	int v = 0;
	unsigned n = 0;

	if (*s == '/')
		s++;
	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		if (n == 3)
			return -1;
		v = v * 10 + (s[n] - '0');
	}
	return n && !s[n] && v <= 128 ? v : -1;
}

static int get_ip_str(const uint8_t *w, struct kvp_ip *ip)
{
	static const struct {
		uint32_t off, bytes;
		size_t dst;
	} f[] = {
		{ WS(ip_addr), KVP_IP_ADDR_BYTES, IC_OFF(struct kvp_ip, ip_addr) },
		{ WS(subnet), KVP_IP_ADDR_BYTES, IC_OFF(struct kvp_ip, subnet) },
		{ WS(gateway), KVP_GATEWAY_BYTES, IC_OFF(struct kvp_ip, gateway) },
		{ WS(dns), KVP_IP_ADDR_BYTES, IC_OFF(struct kvp_ip, dns) },
	};

	for (unsigned i = 0; i < VMB_ARRAY_LEN(f); i++) {
		int rc = get_str(w + f[i].off, f[i].bytes, f[i].bytes,
				 (char *)ip + f[i].dst,
				 KVP_UTF8_SIZE(f[i].bytes));
		if (rc)
			return rc;
	}
	return VMB_OK;
}

static int put_ip_str(uint8_t *w, const struct kvp_ip *ip)
{
	int rc;

	if ((rc = put_str(w + WS(ip_addr), KVP_IP_ADDR_BYTES, ip->ip_addr,
			  sizeof(ip->ip_addr), NULL, NULL)) ||
	    (rc = put_str(w + WS(subnet), KVP_IP_ADDR_BYTES, ip->subnet,
			  sizeof(ip->subnet), NULL, NULL)) ||
	    (rc = put_str(w + WS(gateway), KVP_GATEWAY_BYTES, ip->gateway,
			  sizeof(ip->gateway), NULL, NULL)))
		return rc;
	return put_str(w + WS(dns), KVP_IP_ADDR_BYTES, ip->dns,
		       sizeof(ip->dns), NULL, NULL);
}

static bool bin_counts_ok(const struct kvp_ip *ip)
{
	return ip->n_ipv4 <= KVP_BIN_ADDRS && ip->n_ipv6 <= KVP_BIN_ADDRS &&
	       ip->n_gw4 <= KVP_BIN_GATEWAYS && ip->n_gw6 <= KVP_BIN_GATEWAYS &&
	       ip->n_dns4 <= KVP_BIN_ADDRS && ip->n_dns6 <= KVP_BIN_ADDRS;
}

/* The fixed arrays of the binary form, in wire order, and where each
 * lives in struct kvp_ip. */
static const struct {
	uint32_t off, bytes;
	size_t dst;
} bin_arrays[] = {
	{ WB(ipv4), sizeof(((struct kvp_wip_bin *)0)->ipv4),
	  IC_OFF(struct kvp_ip, ipv4) },
	{ WB(ipv6), sizeof(((struct kvp_wip_bin *)0)->ipv6),
	  IC_OFF(struct kvp_ip, ipv6) },
	{ WB(ipv4_subnet), sizeof(((struct kvp_wip_bin *)0)->ipv4_subnet),
	  IC_OFF(struct kvp_ip, ipv4_subnet) },
	{ WB(gw4), sizeof(((struct kvp_wip_bin *)0)->gw4),
	  IC_OFF(struct kvp_ip, gw4) },
	{ WB(gw6), sizeof(((struct kvp_wip_bin *)0)->gw6),
	  IC_OFF(struct kvp_ip, gw6) },
	{ WB(dns4), sizeof(((struct kvp_wip_bin *)0)->dns4),
	  IC_OFF(struct kvp_ip, dns4) },
	{ WB(dns6), sizeof(((struct kvp_wip_bin *)0)->dns6),
	  IC_OFF(struct kvp_ip, dns6) },
};

static int get_ip_bin(const uint8_t *w, struct kvp_ip *ip)
{
	ip->n_ipv4 = ic_rd32(w + WB(n_ipv4));
	ip->n_ipv6 = ic_rd32(w + WB(n_ipv6));
	ip->n_gw4 = ic_rd32(w + WB(n_gw4));
	ip->n_gw6 = ic_rd32(w + WB(n_gw6));
	ip->n_dns4 = ic_rd32(w + WB(n_dns4));
	ip->n_dns6 = ic_rd32(w + WB(n_dns6));
	if (!bin_counts_ok(ip))
		return VMB_EPROTO;
	for (unsigned i = 0; i < VMB_ARRAY_LEN(bin_arrays); i++)
		vmb_memcpy((uint8_t *)ip + bin_arrays[i].dst,
			   w + bin_arrays[i].off, bin_arrays[i].bytes);
	for (unsigned i = 0; i < KVP_BIN_ADDRS; i++)
		ip->ipv6_prefix[i] = ic_rd32(w + WB(ipv6_prefix) + 4 * i);
	for (unsigned i = 0; i < KVP_BIN_ORIGINS; i++)
		ip->origin[i] = ic_rd16(w + WB(origin) + 2 * i);
	return VMB_OK;
}

static int put_ip_bin(uint8_t *w, const struct kvp_ip *ip)
{
	if (!bin_counts_ok(ip))
		return VMB_EINVAL;
	ic_wr32(w + WB(n_ipv4), ip->n_ipv4);
	ic_wr32(w + WB(n_ipv6), ip->n_ipv6);
	ic_wr32(w + WB(n_gw4), ip->n_gw4);
	ic_wr32(w + WB(n_gw6), ip->n_gw6);
	ic_wr32(w + WB(n_dns4), ip->n_dns4);
	ic_wr32(w + WB(n_dns6), ip->n_dns6);
	for (unsigned i = 0; i < VMB_ARRAY_LEN(bin_arrays); i++)
		vmb_memcpy(w + bin_arrays[i].off,
			   (const uint8_t *)ip + bin_arrays[i].dst,
			   bin_arrays[i].bytes);
	for (unsigned i = 0; i < KVP_BIN_ADDRS; i++)
		ic_wr32(w + WB(ipv6_prefix) + 4 * i, ip->ipv6_prefix[i]);
	for (unsigned i = 0; i < KVP_BIN_ORIGINS; i++)
		ic_wr16(w + WB(origin) + 2 * i, ip->origin[i]);
	return VMB_OK;
}

/* adapter id, family and dhcp sit at the same offsets in both forms
 * relative to their own start. A GET_IP_INFO request needs only adapter
 * id and family (the Linux driver passes on nothing else), so full is
 * false there and whatever the host left in the other fields is not
 * looked at. */
static int get_ip(const uint8_t *body, bool binary, struct kvp_ip *ip,
		  bool full)
{
	const uint8_t *w = body + (binary ? KVP_IPBIN_OFF : KVP_IPSTR_OFF);
	uint32_t aid = binary ? WB(adapter_id) : WS(adapter_id);
	int rc;

	rc = get_str(w + aid, KVP_ADAPTER_ID_BYTES, KVP_ADAPTER_ID_BYTES,
		     ip->adapter_id, sizeof(ip->adapter_id));
	if (rc)
		return rc;
	ip->family = w[aid + KVP_ADAPTER_ID_BYTES];
	ip->dhcp = w[aid + KVP_ADAPTER_ID_BYTES + 1] != 0;
	if (ip->family > KVP_FAMILY_BOTH)
		return VMB_EPROTO;
	if (!full)
		return VMB_OK;
	return binary ? get_ip_bin(w, ip) : get_ip_str(w, ip);
}

static int put_ip(uint8_t *body, bool binary, const struct kvp_ip *ip,
		  bool full)
{
	uint8_t *w = body + (binary ? KVP_IPBIN_OFF : KVP_IPSTR_OFF);
	uint32_t aid = binary ? WB(adapter_id) : WS(adapter_id);
	int rc;

	if (ip->family > KVP_FAMILY_BOTH)
		return VMB_EINVAL;
	rc = put_str(w + aid, KVP_ADAPTER_ID_BYTES, ip->adapter_id,
		     sizeof(ip->adapter_id), NULL, NULL);
	if (rc)
		return rc;
	w[aid + KVP_ADAPTER_ID_BYTES] = ip->family;
	w[aid + KVP_ADAPTER_ID_BYTES + 1] = ip->dhcp;
	if (!full)
		return VMB_OK;
	return binary ? put_ip_bin(w, ip) : put_ip_str(w, ip);
}

/* ---- guest ---- */

static int guest_decode_op(const uint8_t *b, bool binary, struct kvp_data *d)
{
	const uint8_t *v = b + KVP_VAL_OFF;

	switch (d->op) {
	case KVP_OP_GET:
		return get_key(v, d);
	case KVP_OP_SET:
		return get_key(v, d) ? VMB_EPROTO : get_value(v, d);
	case KVP_OP_DELETE:
		return get_str(v + IC_OFF(struct kvp_wdelete, key),
			       ic_rd32(v), KVP_KEY_BYTES, d->key,
			       sizeof(d->key));
	case KVP_OP_ENUMERATE:
		d->index = ic_rd32(v);
		return VMB_OK;
	default:
		return get_ip(b, binary, &d->ip, d->op == KVP_OP_SET_IP_INFO);
	}
}

int kvp_guest_decode(struct ic_guest *g, struct ic_action *act,
		     enum vmb_bad *why)
{
	const uint8_t *b = g->req + IC_HDR_LEN;
	uint32_t n = g->req_len - IC_HDR_LEN;
	struct kvp_data *d = &act->kvp;
	bool binary = kvp_ip_binary(g->msg);

	*why = VMB_BAD_TRUNCATED;
	if (n < sizeof(struct kvp_hdr))
		return VMB_EPROTO;
	vmb_memset(d, 0, sizeof(*d));
	d->op = b[IC_OFF(struct kvp_hdr, op)];
	d->pool = b[IC_OFF(struct kvp_hdr, pool)];
	if (d->op >= KVP_OP_COUNT || d->pool >= KVP_POOL_COUNT) {
		*why = VMB_BAD_FIELD;
		return VMB_EPROTO;
	}
	if (n < kvp_need(d->op, binary))
		return VMB_EPROTO;
	if (guest_decode_op(b, binary, d)) {
		*why = VMB_BAD_FIELD;
		return VMB_EPROTO;
	}
	g->pending_op = d->op;
	act->kind = IC_ACT_KVP;
	act->reply_pending = true;
	return VMB_OK;
}

/* Key and value are cut to their fields (counted in *cuts); the IP
 * strings are not, since a cut address list would carry a wrong
 * address. */
static int guest_fill(struct ic_guest *g, const struct kvp_data *r,
		      unsigned *cuts)
{
	uint8_t *b = g->req + IC_HDR_LEN;
	uint8_t *v = b + KVP_VAL_OFF;
	int rc;

	switch (g->pending_op) {
	case KVP_OP_GET:
		return r ? put_value(v, r, cuts) : VMB_EINVAL;
	case KVP_OP_ENUMERATE:
		if (!r)
			return VMB_EINVAL;
		v += IC_OFF(struct kvp_wenum, value);
		rc = put_key(v + WV(key), v + WV(key_size), r, cuts);
		return rc ? rc : put_value(v, r, cuts);
	case KVP_OP_GET_IP_INFO:
		return r ? put_ip(b, kvp_ip_binary(g->msg), &r->ip, true)
			 : VMB_EINVAL;
	default:
		return VMB_OK;
	}
}

int kvp_guest_reply_cut(struct ic_guest *g, uint32_t status,
			const struct kvp_data *r, uint8_t *out, size_t cap,
			size_t *out_len, unsigned *cuts)
{
	unsigned n = 0;
	int rc;

	if (cuts)
		*cuts = 0;
	if (!g->pending || g->svc != IC_SVC_KVP)
		return VMB_ENOENT;
	if (status == IC_S_OK) {
		rc = guest_fill(g, r, &n);
		if (rc)
			return rc;
	}
	rc = ic_guest_finish(g, status, out, cap, out_len);
	if (rc == VMB_OK && cuts)
		*cuts = n;
	return rc;
}

int kvp_guest_reply(struct ic_guest *g, uint32_t status,
		    const struct kvp_data *r, uint8_t *out, size_t cap,
		    size_t *out_len)
{
	return kvp_guest_reply_cut(g, status, r, out, cap, out_len, NULL);
}

/* ---- host ---- */

static int host_fill(uint8_t *b, bool binary, const struct kvp_data *d)
{
	uint8_t *v = b + KVP_VAL_OFF;
	int rc;

	switch (d->op) {
	case KVP_OP_GET:
		return put_key(v + WV(key), v + WV(key_size), d, NULL);
	case KVP_OP_SET:
		rc = put_key(v + WV(key), v + WV(key_size), d, NULL);
		return rc ? rc : put_value(v, d, NULL);
	case KVP_OP_DELETE:
		return put_key(v + IC_OFF(struct kvp_wdelete, key), v, d,
			       NULL);
	case KVP_OP_ENUMERATE:
		ic_wr32(v, d->index);
		return VMB_OK;
	default:
		return put_ip(b, binary, &d->ip, d->op == KVP_OP_SET_IP_INFO);
	}
}

int kvp_host_request(struct ic_host *h, const struct kvp_data *d,
		     uint8_t *out, size_t cap, size_t *out_len)
{
	uint32_t len;
	uint8_t *b;
	int rc;

	if (h->svc != IC_SVC_KVP || d->op >= KVP_OP_COUNT ||
	    d->pool >= KVP_POOL_COUNT)
		return VMB_EINVAL;
	len = kvp_body_len(d->op);
	b = ic_host_begin(h, IC_MSG_KVP, len, out, cap, &rc);
	if (!b)
		return rc;
	b[IC_OFF(struct kvp_hdr, op)] = d->op;
	b[IC_OFF(struct kvp_hdr, pool)] = d->pool;
	rc = host_fill(b, kvp_ip_binary(h->msg), d);
	if (rc)
		return rc;
	return ic_host_commit(h, IC_MSG_KVP, d->op, len, out_len);
}

static int host_decode_op(const uint8_t *b, bool binary, struct kvp_data *d)
{
	const uint8_t *v = b + KVP_VAL_OFF;

	switch (d->op) {
	case KVP_OP_GET:
		return get_value(v, d);
	case KVP_OP_ENUMERATE:
		v += IC_OFF(struct kvp_wenum, value);
		return get_key(v, d) ? VMB_EPROTO : get_value(v, d);
	case KVP_OP_GET_IP_INFO:
		return get_ip(b, binary, &d->ip, true);
	default:
		return VMB_OK;
	}
}

int kvp_host_decode(struct ic_host *h, const struct ic_parsed *p,
		    struct ic_host_result *res, enum vmb_bad *why)
{
	struct kvp_data *d = &res->kvp;
	bool binary = kvp_ip_binary(h->msg);

	vmb_memset(d, 0, sizeof(*d));
	d->op = h->pend_op;
	if (p->status != IC_S_OK)
		return VMB_OK;
	*why = VMB_BAD_TRUNCATED;
	if (p->body_len < sizeof(struct kvp_hdr) ||
	    p->body_len < kvp_need(d->op, binary))
		return VMB_EPROTO;
	*why = VMB_BAD_FIELD;
	if (p->body[IC_OFF(struct kvp_hdr, op)] != d->op)
		return VMB_EPROTO;
	d->pool = p->body[IC_OFF(struct kvp_hdr, pool)];
	return host_decode_op(p->body, binary, d) ? VMB_EPROTO : VMB_OK;
}
