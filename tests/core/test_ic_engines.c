/* IC engines end to end: the host engine builds each request, the guest
 * engine decodes and answers it, the host engine checks the answer; for
 * every service at every version either side supports. Then negotiation
 * corner cases and malformed input on both sides, each counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ic/ic.h"
#include "ic/ic_utf.h"

static uint8_t req[IC_MSG_MAX];
static uint8_t rep[IC_MSG_MAX];
static size_t req_len, rep_len;
static struct ic_action act;
static struct ic_host_result res;
static struct ic_guest g;
static struct ic_host h;

#define V(a, b) ((struct ic_ver){ (a), (b) })

/* Negotiates fw/msg (or the defaults when msg.major == 0). */
static void setup_pair(enum ic_service svc, struct ic_ver fw,
		       struct ic_ver msg)
{
	ic_guest_init(&g, svc);
	if (msg.major)
		assert_int_equal(ic_host_init(&h, svc, &fw, 1, &msg, 1), 0);
	else
		assert_int_equal(ic_host_init(&h, svc, NULL, 0, NULL, 0), 0);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(ic_guest_input(&g, req, req_len, &act, rep,
					sizeof(rep), &rep_len), 0);
	assert_int_equal(act.kind, IC_ACT_NEGOTIATED);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_true(res.negotiated);
	assert_true(h.negotiated && g.negotiated);
	if (msg.major) {
		assert_int_equal(ic_ver_u32(h.msg), ic_ver_u32(msg));
		assert_int_equal(ic_ver_u32(h.fw), ic_ver_u32(fw));
	}
	assert_int_equal(ic_ver_u32(g.msg), ic_ver_u32(h.msg));
}

/* Guest takes req; expects an immediate answer that the host accepts. */
static void guest_answers_now(void)
{
	assert_int_equal(ic_guest_input(&g, req, req_len, &act, rep,
					sizeof(rep), &rep_len), 0);
	assert_false(act.reply_pending);
	assert_true(rep_len > 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
}

static void guest_takes(enum ic_action_kind kind)
{
	assert_int_equal(ic_guest_input(&g, req, req_len, &act, rep,
					sizeof(rep), &rep_len), 0);
	assert_int_equal(act.kind, kind);
	assert_true(act.reply_pending);
	assert_int_equal(rep_len, 0);
}

static void assert_clean(void)
{
	assert_int_equal(vmb_bad_total(&g.st.bad), 0);
	assert_int_equal(vmb_bad_total(&h.st.bad), 0);
}

/* ---- per service round trips at each version ---- */

static const struct ic_ver fws[] = { { 1, 0 }, { 3, 0 } };

static void test_heartbeat_versions(void **state)
{
	static const struct ic_ver vs[] = { { 1, 0 }, { 3, 0 } };

	(void)state;
	for (size_t f = 0; f < 2; f++) {
		for (size_t i = 0; i < 2; i++) {
			setup_pair(IC_SVC_HEARTBEAT, fws[f], vs[i]);
			for (uint64_t seq = 41; seq < 44; seq++) {
				assert_int_equal(ic_hb_host_probe(&h, seq, req,
						 sizeof(req), &req_len), 0);
				guest_answers_now();
				assert_int_equal(res.type, IC_MSG_HEARTBEAT);
				assert_int_equal(res.hb_seq, seq + 1);
				/* Nothing left from the negotiation's answer. */
				assert_int_equal(ic_ver_u32(res.fw), 0);
				assert_int_equal(ic_ver_u32(res.msg), 0);
			}
			assert_clean();
			assert_int_equal(h.st.responses, 4);
		}
	}
}

static void test_shutdown_versions(void **state)
{
	static const struct ic_ver vs[] = { { 1, 0 }, { 3, 0 }, { 3, 1 },
					    { 3, 2 } };
	const char *msg = "Planned \xc3\xa9 shutdown \xf0\x9f\x98\x80";

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		setup_pair(IC_SVC_SHUTDOWN, fws[i % 2], vs[i]);
		for (uint32_t fl = 0; fl <= 5; fl++) {
			assert_int_equal(ic_sd_host_request(&h, 0x80000000u,
					 30, fl, msg, req, sizeof(req),
					 &req_len), 0);
			guest_takes(IC_ACT_SHUTDOWN);
			assert_int_equal(act.sd.reason, 0x80000000u);
			assert_int_equal(act.sd.timeout_s, 30);
			assert_int_equal(act.sd.force, fl & 1);
			assert_int_equal(act.sd.reboot, (fl >> 1) & 1);
			assert_int_equal(act.sd.hibernate, (fl >> 2) & 1);
			assert_string_equal(act.sd.message, msg);
			/* The embedder refuses hibernation. */
			uint32_t st = fl >= 4 ? IC_E_FAIL : IC_S_OK;
			assert_int_equal(ic_sd_guest_reply(&g, st, rep,
					 sizeof(rep), &rep_len), 0);
			assert_int_equal(ic_host_input(&h, rep, rep_len, &res),
					 0);
			assert_int_equal(res.status, st);
		}
		assert_clean();
		assert_int_equal(h.st.status_fail, 2);
		assert_int_equal(ic_sd_guest_reply(&g, 0, rep, sizeof(rep),
						   &rep_len), VMB_ENOENT);
	}
}

static void test_timesync_versions(void **state)
{
	static const struct ic_ver vs[] = { { 1, 0 }, { 3, 0 }, { 4, 0 } };
	const uint64_t t = 133000000000000000ull; /* 2022 in 1601 units */

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		setup_pair(IC_SVC_TIMESYNC, fws[i % 2], vs[i]);
		assert_int_equal(ic_ts_host_sample(&h, t, 5000, 2000,
				 IC_TS_FLAG_SYNC, req, sizeof(req), &req_len),
				 0);
		guest_answers_now();
		assert_int_equal(res.status, IC_S_OK);
		assert_int_equal(act.kind, IC_ACT_TIME);
		assert_int_equal(act.ts.parent_time, t);
		assert_true(act.ts.sync);
		assert_false(act.ts.sample);
		bool v4 = vs[i].major == 4;
		assert_int_equal(act.ts.v4, v4);
		if (v4) {
			assert_int_equal(act.ts.ref_time, 5000);
			/* 700 reference units later the host is at t + 700;
			 * a guest clock at t - 300 is 1000 behind. */
			assert_int_equal(ic_ts_offset(&act.ts, t - 300, 5700),
					 1000);
			/* Guest ahead of the host: negative offset. */
			assert_int_equal(ic_ts_offset(&act.ts, t + 9000, 5000),
					 -9000);
		} else {
			assert_int_equal(act.ts.round_trip, 2000);
			assert_int_equal(ic_ts_offset(&act.ts, t, 0), 1000);
		}
		assert_int_equal(ic_ts_host_sample(&h, t, 0, 0,
				 IC_TS_FLAG_SAMPLE, req, sizeof(req),
				 &req_len), 0);
		guest_answers_now();
		assert_true(act.ts.sample);
		assert_clean();
	}
}

static void test_vss_ops(void **state)
{
	(void)state;
	setup_pair(IC_SVC_VSS, V(3, 0), V(5, 0));
	for (uint8_t op = 0; op < VSS_OP_COUNT; op++) {
		bool embedder = op == VSS_OP_HOT_BACKUP ||
				op == VSS_OP_FREEZE || op == VSS_OP_THAW;

		assert_int_equal(vss_host_request(&h, op, req, sizeof(req),
						  &req_len), 0);
		if (embedder) {
			guest_takes(IC_ACT_VSS);
			assert_int_equal(act.vss.op, op);
			assert_int_equal(vss_guest_reply(&g, IC_S_OK,
					 VSS_HBU_NO_AUTO_RECOVERY, rep,
					 sizeof(rep), &rep_len), 0);
			assert_int_equal(ic_host_input(&h, rep, rep_len, &res),
					 0);
		} else {
			guest_answers_now();
			assert_int_equal(act.kind, IC_ACT_VSS);
		}
		assert_int_equal(res.status, IC_S_OK);
		assert_int_equal(res.vss_op, op);
		assert_int_equal(res.vss_flags, op == VSS_OP_HOT_BACKUP ?
				 VSS_HBU_NO_AUTO_RECOVERY : 0);
	}
	/* A failed freeze goes back as a failure status. */
	assert_int_equal(vss_host_request(&h, VSS_OP_FREEZE, req, sizeof(req),
					  &req_len), 0);
	guest_takes(IC_ACT_VSS);
	assert_int_equal(vss_guest_reply(&g, IC_E_FAIL, 0, rep, sizeof(rep),
					 &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, IC_E_FAIL);
	assert_int_equal(h.st.status_fail, 1);
	assert_clean();
}

/* ---- KVP ---- */

static struct kvp_data kd, kr;

static void kvp_exchange(const struct kvp_data *reply, uint32_t status)
{
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	guest_takes(IC_ACT_KVP);
	assert_int_equal(act.kvp.op, kd.op);
	assert_int_equal(act.kvp.pool, kd.pool);
	assert_int_equal(kvp_guest_reply(&g, status, reply, rep, sizeof(rep),
					 &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, status);
	assert_int_equal(res.kvp.op, kd.op);
}

static void kvp_basic_ops(void)
{
	const char *key = "Key \xe2\x82\xac \xf0\x9f\x98\x80";

	memset(&kd, 0, sizeof(kd));
	kd.op = KVP_OP_SET;
	kd.pool = KVP_POOL_AUTO;
	strcpy(kd.key, key);
	kd.value_type = KVP_REG_SZ;
	strcpy(kd.value, "Value \xc3\xa9");
	kvp_exchange(NULL, IC_S_OK);
	assert_string_equal(act.kvp.key, key);
	assert_string_equal(act.kvp.value, "Value \xc3\xa9");

	kd.value_type = KVP_REG_DWORD;
	kd.value_int = 4000000000u;
	kvp_exchange(NULL, IC_S_OK);
	assert_int_equal(act.kvp.value_int, 4000000000u);
	assert_string_equal(act.kvp.value, "4000000000");

	kd.value_type = KVP_REG_QWORD;
	kd.value_int = 18446744073709551615ull;
	kvp_exchange(NULL, IC_S_OK);
	assert_string_equal(act.kvp.value, "18446744073709551615");

	kd.op = KVP_OP_GET;
	memset(&kr, 0, sizeof(kr));
	kr.value_type = KVP_REG_SZ;
	strcpy(kr.value, "answer");
	kvp_exchange(&kr, IC_S_OK);
	assert_string_equal(act.kvp.key, key);
	assert_string_equal(res.kvp.value, "answer");
	kvp_exchange(NULL, IC_E_NOT_FOUND);

	kd.op = KVP_OP_DELETE;
	kd.pool = KVP_POOL_GUEST;
	kvp_exchange(NULL, IC_S_OK);
	assert_string_equal(act.kvp.key, key);

	kd.op = KVP_OP_ENUMERATE;
	kd.index = 7;
	strcpy(kr.key, "OSName");
	kr.value_type = KVP_REG_SZ;
	strcpy(kr.value, "hvis");
	kvp_exchange(&kr, IC_S_OK);
	assert_int_equal(act.kvp.index, 7);
	assert_string_equal(res.kvp.key, "OSName");
	assert_string_equal(res.kvp.value, "hvis");
	kr.value_type = KVP_REG_DWORD;
	kr.value_int = 99;
	kvp_exchange(&kr, IC_S_OK);
	assert_int_equal(res.kvp.value_type, KVP_REG_DWORD);
	assert_int_equal(res.kvp.value_int, 99);
	kd.index = 8;
	kvp_exchange(NULL, IC_E_NO_MORE_ITEMS);
}

static void kvp_ip_ops(bool binary)
{
	memset(&kd, 0, sizeof(kd));
	kd.op = KVP_OP_SET_IP_INFO;
	kd.pool = KVP_POOL_GUEST;
	strcpy(kd.ip.adapter_id, "{8A1F-adapter}");
	kd.ip.family = KVP_FAMILY_BOTH;
	kd.ip.dhcp = false;
	if (binary) {
		kd.ip.n_ipv4 = 2;
		memcpy(kd.ip.ipv4[1], "\x0a\x00\x00\x05", 4);
		kd.ip.n_ipv6 = 1;
		kd.ip.ipv6_prefix[0] = 64;
		kd.ip.n_gw4 = 5;
		memcpy(kd.ip.gw4[4], "\x0a\x00\x00\x01", 4);
		kd.ip.n_dns6 = 64;
		kd.ip.dns6[63][15] = 0x53;
		kd.ip.origin[1] = KVP_ORIGIN_STATIC;
	} else {
		strcpy(kd.ip.ip_addr, "10.0.0.5;fe80::1");
		strcpy(kd.ip.subnet, "255.255.255.0;64");
		strcpy(kd.ip.gateway, "10.0.0.1");
		strcpy(kd.ip.dns, "10.0.0.53");
	}
	kvp_exchange(NULL, IC_S_OK);
	assert_string_equal(act.kvp.ip.adapter_id, "{8A1F-adapter}");
	assert_int_equal(act.kvp.ip.family, KVP_FAMILY_BOTH);
	if (binary) {
		assert_int_equal(act.kvp.ip.n_ipv4, 2);
		assert_memory_equal(act.kvp.ip.ipv4[1], "\x0a\x00\x00\x05", 4);
		assert_int_equal(act.kvp.ip.ipv6_prefix[0], 64);
		assert_int_equal(act.kvp.ip.n_gw4, 5);
		assert_memory_equal(act.kvp.ip.gw4[4], "\x0a\x00\x00\x01", 4);
		assert_int_equal(act.kvp.ip.dns6[63][15], 0x53);
		assert_int_equal(act.kvp.ip.origin[1], KVP_ORIGIN_STATIC);
	} else {
		assert_string_equal(act.kvp.ip.ip_addr, "10.0.0.5;fe80::1");
		assert_string_equal(act.kvp.ip.dns, "10.0.0.53");
	}

	kd.op = KVP_OP_GET_IP_INFO;
	memset(&kr, 0, sizeof(kr));
	kr.ip = kd.ip;
	kr.ip.dhcp = true;
	kr.ip.family = KVP_FAMILY_IPV4;
	if (!binary)
		strcpy(kr.ip.gateway, "10.0.0.254");
	kvp_exchange(&kr, IC_S_OK);
	assert_string_equal(act.kvp.ip.adapter_id, "{8A1F-adapter}");
	assert_string_equal(res.kvp.ip.adapter_id, "{8A1F-adapter}");
	assert_true(res.kvp.ip.dhcp);
	assert_int_equal(res.kvp.ip.family, KVP_FAMILY_IPV4);
	if (binary) {
		assert_int_equal(res.kvp.ip.n_dns6, 64);
		assert_memory_equal(res.kvp.ip.ipv4[1], "\x0a\x00\x00\x05", 4);
	} else {
		assert_string_equal(res.kvp.ip.gateway, "10.0.0.254");
		assert_string_equal(res.kvp.ip.subnet, "255.255.255.0;64");
	}
}

static void test_kvp_versions(void **state)
{
	static const struct ic_ver vs[] = { { 1, 0 }, { 3, 0 }, { 4, 0 },
					    { 5, 0 } };

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		setup_pair(IC_SVC_KVP, fws[i % 2], vs[i]);
		kvp_basic_ops();
		kvp_ip_ops(vs[i].major >= 5);
		assert_clean();
		assert_int_equal(h.st.status_fail, 1); /* NOT_FOUND only */
	}
}

/* The wire sizes of the answer's key and value (ENUMERATE layout). */
static uint32_t enum_wire_size(size_t field)
{
	size_t off = IC_HDR_LEN + sizeof(struct kvp_hdr) +
		     offsetof(struct kvp_wenum, value) + field;
	uint32_t v;

	memcpy(&v, rep + off, 4);
	return v;
}

/* Host ENUMERATE answered with kr; the guest reports cuts. */
static unsigned kvp_enum_cut(void)
{
	unsigned cuts = 99;

	memset(&kd, 0, sizeof(kd));
	kd.op = KVP_OP_ENUMERATE;
	kd.pool = KVP_POOL_GUEST;
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	guest_takes(IC_ACT_KVP);
	kr.value_type = KVP_REG_SZ;
	assert_int_equal(kvp_guest_reply_cut(&g, IC_S_OK, &kr, rep,
					     sizeof(rep), &rep_len, &cuts), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, IC_S_OK);
	return cuts;
}

static void fill_rep(char *dst, const char *unit, size_t n)
{
	size_t l = strlen(unit);

	for (size_t i = 0; i < n; i++)
		memcpy(dst + i * l, unit, l);
	dst[n * l] = 0;
}

/* A pool record holds up to 511 bytes of key and 2047 of value; the wire
 * 255 and 1023 units. Longer strings are cut at a character boundary,
 * as Linux's driver does, instead of failing (which would end the host's
 * enumeration). */
static void test_kvp_reply_cut(void **state)
{
	static const char jp[] = "\xe6\x97\xa5";	/* U+65E5 */
	static const char smile[] = "\xf0\x9f\x98\x80"; /* U+1F600 */
	char want[KVP_VALUE_UTF8_MAX];

	(void)state;
	setup_pair(IC_SVC_KVP, V(3, 0), V(4, 0));

	/* 511-byte ASCII key, 2047-byte value: 255 and 1023 units kept. */
	memset(&kr, 0, sizeof(kr));
	memset(kr.key, 'k', 511);
	memset(kr.value, 'v', 2047);
	assert_int_equal(kvp_enum_cut(), 2);
	assert_int_equal(strlen(res.kvp.key), 255);
	assert_int_equal(strspn(res.kvp.key, "k"), 255);
	assert_int_equal(strlen(res.kvp.value), 1023);
	assert_int_equal(strspn(res.kvp.value, "v"), 1023);
	assert_int_equal(enum_wire_size(offsetof(struct kvp_wvalue, key_size)),
			 KVP_KEY_BYTES);
	assert_int_equal(enum_wire_size(offsetof(struct kvp_wvalue,
						 value_size)),
			 KVP_VALUE_BYTES);

	/* 170 x U+65E5: 510 bytes of UTF-8 but 170 units, so it fits. */
	memset(&kr, 0, sizeof(kr));
	fill_rep(kr.key, jp, 170);
	fill_rep(kr.value, jp, 682);
	assert_int_equal(kvp_enum_cut(), 0);
	assert_string_equal(res.kvp.key, kr.key);
	assert_string_equal(res.kvp.value, kr.value);
	assert_int_equal(enum_wire_size(offsetof(struct kvp_wvalue, key_size)),
			 2 * 171);
	/* 100 ASCII and 200 of them (700 bytes, 300 units) do not: 255
	 * whole characters are kept. */
	memset(kr.key, 'k', 100);
	fill_rep(kr.key + 100, jp, 200);
	assert_int_equal(kvp_enum_cut(), 1);
	memset(want, 'k', 100);
	fill_rep(want + 100, jp, 155);
	assert_string_equal(res.kvp.key, want);

	/* A surrogate pair at the boundary: it fits whole or goes whole. */
	memset(&kr, 0, sizeof(kr));
	memset(kr.key, 'k', 253);
	strcat(kr.key, smile); /* 255 units */
	memset(kr.value, 'v', 1021);
	strcat(kr.value, smile); /* 1023 units */
	assert_int_equal(kvp_enum_cut(), 0);
	assert_string_equal(res.kvp.key, kr.key);
	assert_string_equal(res.kvp.value, kr.value);
	memset(&kr, 0, sizeof(kr));
	memset(kr.key, 'k', 254);
	strcat(kr.key, smile); /* 256 units: the pair would need 2 of 1 */
	memset(kr.value, 'v', 1022);
	strcat(kr.value, smile);
	strcat(kr.value, "tail");
	assert_int_equal(kvp_enum_cut(), 2);
	assert_int_equal(strlen(res.kvp.key), 254);
	assert_int_equal(strspn(res.kvp.key, "k"), 254);
	assert_int_equal(strlen(res.kvp.value), 1022);
	assert_int_equal(enum_wire_size(offsetof(struct kvp_wvalue, key_size)),
			 2 * 255);
	assert_int_equal(enum_wire_size(offsetof(struct kvp_wvalue,
						 value_size)),
			 2 * 1023);

	/* GET: the value alone is cut. */
	unsigned cuts = 99;

	memset(&kd, 0, sizeof(kd));
	kd.op = KVP_OP_GET;
	strcpy(kd.key, "Big");
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	guest_takes(IC_ACT_KVP);
	memset(&kr, 0, sizeof(kr));
	kr.value_type = KVP_REG_SZ;
	fill_rep(kr.value, smile, 600); /* 1200 units */
	assert_int_equal(kvp_guest_reply_cut(&g, IC_S_OK, &kr, rep,
					     sizeof(rep), &rep_len, &cuts), 0);
	assert_int_equal(cuts, 1);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	fill_rep(want, smile, 511); /* 1022 units: a 512th needs 1024 */
	assert_string_equal(res.kvp.value, want);

	/* Invalid UTF-8 is still refused, past the cut too; the request
	 * stays pending and a failure answer goes back. */
	memset(&kd, 0, sizeof(kd));
	kd.op = KVP_OP_ENUMERATE;
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	guest_takes(IC_ACT_KVP);
	memset(&kr, 0, sizeof(kr));
	kr.value_type = KVP_REG_SZ;
	memset(kr.key, 'k', 511);
	kr.key[400] = (char)0xff;
	cuts = 99;
	assert_int_equal(kvp_guest_reply_cut(&g, IC_S_OK, &kr, rep,
					     sizeof(rep), &rep_len, &cuts),
			 IC_UTF_EBYTE);
	assert_int_equal(cuts, 0);
	assert_true(g.pending);
	kr.key[400] = 'k';
	kr.value[0] = (char)0xc3; /* lead byte without its follower */
	assert_int_equal(kvp_guest_reply(&g, IC_S_OK, &kr, rep, sizeof(rep),
					 &rep_len), IC_UTF_ETRUNC);
	assert_int_equal(kvp_guest_reply_cut(&g, IC_E_FAIL, NULL, rep,
					     sizeof(rep), &rep_len, &cuts), 0);
	assert_int_equal(cuts, 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, IC_E_FAIL);

	/* Host side: a key one unit too long is refused before sending. */
	memset(&kd, 0, sizeof(kd));
	kd.op = KVP_OP_GET;
	memset(kd.key, 'k', 256);
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 VMB_EMSGSIZE);
	assert_false(h.pending);
	assert_clean();
}

/* ---- negotiation ---- */

static void test_negotiate_highest(void **state)
{
	static const struct ic_ver offer[] = { { 1, 0 }, { 2, 0 }, { 3, 1 },
					       { 9, 9 } };
	static const struct ic_ver fw[] = { { 1, 0 }, { 3, 0 }, { 7, 0 } };
	static const enum ic_service svcs[] = { IC_SVC_HEARTBEAT,
		IC_SVC_SHUTDOWN, IC_SVC_TIMESYNC, IC_SVC_KVP, IC_SVC_VSS };
	static const uint16_t best[] = { 3, 3, 4, 5, 5 };

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		setup_pair(svcs[i], V(0, 0), V(0, 0));
		assert_int_equal(g.fw.major, 3);
		assert_int_equal(g.msg.major, best[i]);
	}
	ic_guest_init(&g, IC_SVC_SHUTDOWN);
	assert_int_equal(ic_host_init(&h, IC_SVC_SHUTDOWN, fw, 3, offer, 4), 0);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(ic_guest_input(&g, req, req_len, &act, rep,
					sizeof(rep), &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(ic_ver_u32(res.fw), ic_ver_u32(V(3, 0)));
	assert_int_equal(ic_ver_u32(res.msg), ic_ver_u32(V(3, 1)));
	assert_clean();
}

static void test_negotiate_no_overlap(void **state)
{
	static const struct ic_ver fw1[] = { { 1, 0 } };
	static const struct ic_ver msg9[] = { { 9, 0 } };
	static const struct ic_ver msg5[] = { { 5, 0 } };

	(void)state;
	/* No message version in common. */
	ic_guest_init(&g, IC_SVC_HEARTBEAT);
	ic_host_init(&h, IC_SVC_HEARTBEAT, NULL, 0, msg9, 1);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(ic_guest_input(&g, req, req_len, &act, rep,
					sizeof(rep), &rep_len), VMB_ENOTSUP);
	assert_true(rep_len > 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_ENOTSUP);
	assert_false(h.negotiated || g.negotiated);
	assert_int_equal(g.st.negotiate_failed, 1);
	assert_int_equal(h.st.negotiate_failed, 1);
	assert_int_equal(ic_hb_host_probe(&h, 1, req, sizeof(req), &req_len),
			 VMB_ENOTSUP);
	/* No framework in common: VSS speaks 3.0 only. */
	ic_guest_init(&g, IC_SVC_VSS);
	ic_host_init(&h, IC_SVC_VSS, fw1, 1, msg5, 1);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(ic_guest_input(&g, req, req_len, &act, rep,
					sizeof(rep), &rep_len), VMB_ENOTSUP);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_ENOTSUP);
	assert_clean();
}

/* ---- malformed input, guest side ---- */

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static int feed(const uint8_t *p, size_t n)
{
	return ic_guest_input(&g, p, n, &act, rep, sizeof(rep), &rep_len);
}

static uint32_t rep_status(void)
{
	uint32_t s;

	memcpy(&s, rep + 8 + 12, 4);
	return s;
}

static void test_guest_bad_headers(void **state)
{
	uint8_t m[64];

	(void)state;
	setup_pair(IC_SVC_HEARTBEAT, V(3, 0), V(3, 0));
	assert_int_equal(ic_hb_host_probe(&h, 5, req, sizeof(req), &req_len),
			 0);
	assert_int_equal(feed(req, 27), VMB_EPROTO); /* truncated headers */
	assert_int_equal(rep_len, 0);
	memcpy(m, req, req_len);
	put32(m + 4, (uint32_t)req_len); /* msgsize claims 8 bytes more */
	assert_int_equal(feed(m, req_len), VMB_EPROTO);
	assert_int_equal(rep_len, 0);
	memcpy(m, req, req_len);
	put16(m + 8 + 10, 17); /* icmsg size past msgsize */
	assert_int_equal(feed(m, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 3);
	memcpy(m, req, req_len);
	m[8 + 17] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
	assert_int_equal(feed(m, req_len), VMB_EPROTO); /* not a request */
	assert_int_equal(rep_len, 0);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 1);
	assert_int_equal(feed(NULL, 5), VMB_EINVAL);
	/* Padding after the message is allowed and not echoed. */
	memcpy(m, req, req_len);
	assert_int_equal(feed(m, req_len + 7), 0);
	assert_int_equal(rep_len, req_len);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.hb_seq, 6);
}

static void test_guest_wrong_type_and_state(void **state)
{
	(void)state;
	/* Heartbeat before negotiation. */
	ic_guest_init(&g, IC_SVC_HEARTBEAT);
	ic_host_init(&h, IC_SVC_HEARTBEAT, NULL, 0, NULL, 0);
	h.negotiated = true; /* a host that skips negotiation */
	h.fw = V(3, 0);
	h.msg = V(3, 0);
	assert_int_equal(ic_hb_host_probe(&h, 1, req, sizeof(req), &req_len),
			 0);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_STATE], 1);
	assert_int_equal(rep_status(), IC_E_FAIL);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, IC_E_FAIL);
	assert_int_equal(h.st.status_fail, 1);

	/* A shutdown request on the heartbeat channel. */
	setup_pair(IC_SVC_SHUTDOWN, V(3, 0), V(3, 0));
	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, NULL, req,
					    sizeof(req), &req_len), 0);
	struct ic_guest sd = g;
	ic_guest_init(&g, IC_SVC_HEARTBEAT);
	g.negotiated = true;
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TYPE], 1);
	assert_int_equal(rep_status(), IC_E_FAIL);

	/* A second shutdown while the first is unanswered. */
	g = sd;
	assert_int_equal(feed(req, req_len), 0);
	assert_true(act.reply_pending);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_STATE], 1);
	assert_int_equal(rep_status(), IC_E_FAIL);
	/* The first is still answerable. */
	assert_int_equal(ic_sd_guest_reply(&g, IC_S_OK, rep, sizeof(rep),
					   &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, IC_S_OK);
}

static void test_guest_bad_shutdown(void **state)
{
	static const uint32_t bad_flags[] = { 6, 7, 8, 0x10, 0x80000000u };

	(void)state;
	setup_pair(IC_SVC_SHUTDOWN, V(3, 0), V(3, 2));
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(ic_sd_host_request(&h, 0, 0, bad_flags[i],
				 NULL, req, sizeof(req), &req_len), 0);
		assert_int_equal(feed(req, req_len), VMB_EPROTO);
		assert_false(act.reply_pending);
		assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
		assert_int_equal(res.status, IC_E_FAIL);
	}
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 5);
	/* A display message with an unpaired surrogate. */
	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, "x", req, sizeof(req),
					    &req_len), 0);
	put16(req + IC_HDR_LEN + 12, 0xd800);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 6);
	ic_host_cancel(&h);
	/* Shorter than reason/timeout/flags. */
	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, NULL, req,
					    sizeof(req), &req_len), 0);
	put16(req + 8 + 10, 11);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, IC_E_FAIL);
}

static void test_guest_bad_kvp(void **state)
{
	(void)state;
	setup_pair(IC_SVC_KVP, V(3, 0), V(4, 0));
	memset(&kd, 0, sizeof(kd));
	kd.op = KVP_OP_GET;
	strcpy(kd.key, "k");
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	req[IC_HDR_LEN] = KVP_OP_COUNT; /* unknown op */
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(rep_status(), IC_E_FAIL);
	req[IC_HDR_LEN] = KVP_OP_GET;
	req[IC_HDR_LEN + 1] = KVP_POOL_COUNT; /* unknown pool */
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	req[IC_HDR_LEN + 1] = 0;
	put32(req + IC_HDR_LEN + 8, 3); /* odd key size */
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	put32(req + IC_HDR_LEN + 8, 514); /* key size past the field */
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	put32(req + IC_HDR_LEN + 8, 2); /* no NUL within key size */
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 5);
	put32(req + IC_HDR_LEN + 8, 4);
	put16(req + 8 + 10, 100); /* body too short for GET */
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
	/* SET with a DWORD of the wrong size, and an unknown value type. */
	ic_host_cancel(&h);
	kd.op = KVP_OP_SET;
	kd.value_type = KVP_REG_DWORD;
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	put32(req + IC_HDR_LEN + 4 + 8, 2);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	put32(req + IC_HDR_LEN + 4 + 8, 4);
	put32(req + IC_HDR_LEN + 4, 3);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 7);
	assert_int_equal(g.st.fail_replies, 8);
	/* Nothing is pending after refusals. */
	assert_int_equal(kvp_guest_reply(&g, 0, NULL, rep, sizeof(rep),
					 &rep_len), VMB_ENOENT);
}

static void test_guest_bad_vss(void **state)
{
	(void)state;
	setup_pair(IC_SVC_VSS, V(3, 0), V(5, 0));
	assert_int_equal(vss_host_request(&h, VSS_OP_FREEZE, req, sizeof(req),
					  &req_len), 0);
	req[IC_HDR_LEN] = VSS_OP_COUNT;
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 1);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_OK);
	assert_int_equal(res.status, IC_E_FAIL);
	assert_int_equal(vss_host_request(&h, VSS_OP_THAW, req, sizeof(req),
					  &req_len), 0);
	put16(req + 8 + 10, 8);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_int_equal(vss_host_request(&h, VSS_OP_COUNT, req, sizeof(req),
					  &req_len), VMB_EINVAL);
}

static void test_guest_bad_negotiate(void **state)
{
	(void)state;
	ic_guest_init(&g, IC_SVC_TIMESYNC);
	ic_host_init(&h, IC_SVC_TIMESYNC, NULL, 0, NULL, 0);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	put16(req + IC_HDR_LEN, 101); /* more versions than allowed */
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_OVERSIZE], 1);
	put16(req + IC_HDR_LEN, 30); /* list longer than the body */
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_false(g.negotiated);
}

/* ---- malformed answers, host side ---- */

static void test_host_bad_answers(void **state)
{
	uint8_t m[IC_MSG_MAX];

	(void)state;
	setup_pair(IC_SVC_HEARTBEAT, V(3, 0), V(3, 0));
	/* Unsolicited. */
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_XID], 1);
	assert_int_equal(ic_hb_host_probe(&h, 10, req, sizeof(req), &req_len),
			 0);
	assert_int_equal(ic_hb_host_probe(&h, 11, req, sizeof(req), &req_len),
			 VMB_EBUSY);
	assert_int_equal(feed(req, req_len), 0);
	memcpy(m, rep, rep_len);
	m[8 + 16] ^= 1; /* wrong transaction id */
	assert_int_equal(ic_host_input(&h, m, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_XID], 2);
	memcpy(m, rep, rep_len);
	put16(m + 8 + 4, IC_MSG_SHUTDOWN); /* wrong type */
	assert_int_equal(ic_host_input(&h, m, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_TYPE], 1);
	assert_int_equal(ic_host_input(&h, rep, 20, &res), VMB_EPROTO);
	memcpy(m, rep, rep_len);
	m[8 + 17] = IC_FLAG_REQUEST; /* not a response */
	assert_int_equal(ic_host_input(&h, m, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_FIELD], 1);
	memcpy(m, rep, rep_len);
	put16(m + 8 + 10, 4); /* body too short for a sequence */
	assert_int_equal(ic_host_input(&h, m, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_TRUNCATED], 2);
	assert_false(h.pending);
	/* Sequence not incremented. */
	assert_int_equal(ic_hb_host_probe(&h, 20, req, sizeof(req), &req_len),
			 0);
	assert_int_equal(feed(req, req_len), 0);
	put32(rep + IC_HDR_LEN, 20);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.hb_seq_bad, 1);
	/* A late answer after cancel is a stale id. */
	assert_int_equal(ic_hb_host_probe(&h, 30, req, sizeof(req), &req_len),
			 0);
	assert_int_equal(feed(req, req_len), 0);
	ic_host_cancel(&h);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_XID], 3);
	assert_int_equal(vmb_bad_total(&g.st.bad), 0);
}

static void test_host_bad_negotiation_answer(void **state)
{
	(void)state;
	ic_guest_init(&g, IC_SVC_KVP);
	ic_host_init(&h, IC_SVC_KVP, NULL, 0, NULL, 0);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(feed(req, req_len), 0);
	put16(rep + IC_HDR_LEN + 12, 6); /* a version never offered */
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_VERSION], 1);
	assert_false(h.negotiated);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(feed(req, req_len), 0);
	put16(rep + IC_HDR_LEN, 2); /* two framework versions */
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_FIELD], 1);
}

static void test_host_bad_kvp_answer(void **state)
{
	(void)state;
	setup_pair(IC_SVC_KVP, V(3, 0), V(5, 0));
	memset(&kd, 0, sizeof(kd));
	kd.op = KVP_OP_ENUMERATE;
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	assert_int_equal(feed(req, req_len), 0);
	memset(&kr, 0, sizeof(kr));
	strcpy(kr.key, "a");
	kr.value_type = KVP_REG_SZ;
	assert_int_equal(kvp_guest_reply(&g, 0, &kr, rep, sizeof(rep),
					 &rep_len), 0);
	put16(rep + IC_HDR_LEN + 8 + 12, 0xdc00); /* unpaired surrogate */
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_FIELD], 1);
	/* Binary ip info with too many gateways. */
	kd.op = KVP_OP_GET_IP_INFO;
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	assert_int_equal(feed(req, req_len), 0);
	kr.ip.n_gw4 = 6;
	assert_int_equal(kvp_guest_reply(&g, 0, &kr, rep, sizeof(rep),
					 &rep_len), VMB_EINVAL);
	kr.ip.n_gw4 = 1;
	assert_int_equal(kvp_guest_reply(&g, 0, &kr, rep, sizeof(rep),
					 &rep_len), 0);
	put32(rep + IC_HDR_LEN + 4 + 8, 6);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_FIELD], 2);
	assert_int_equal(vmb_bad_total(&g.st.bad), 0);
}

/* Heartbeat body shorter than its sequence number: refused, answered
 * with a failure, nothing left pending. */
static void test_guest_short_heartbeat(void **state)
{
	(void)state;
	setup_pair(IC_SVC_HEARTBEAT, V(3, 0), V(3, 0));
	assert_int_equal(ic_hb_host_probe(&h, 5, req, sizeof(req), &req_len),
			 0);
	put16(req + 8 + 10, 4);
	put32(req + 4, 20 + 4);
	assert_int_equal(feed(req, IC_HDR_LEN + 4), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_int_equal(rep_status(), IC_E_FAIL);
	assert_false(g.pending);
	/* The output buffer must hold any answer. */
	assert_int_equal(ic_guest_input(&g, req, req_len, &act, rep,
					IC_MSG_MAX - 1, &rep_len),
			 VMB_EINVAL);
}

/* The shutdown display message: only its 2048-byte field is read, less
 * the unit its NUL needs, and a message area of odd length ends at its
 * last whole UTF-16 unit. */
static void test_guest_shutdown_message_bounds(void **state)
{
	uint32_t body = IC_SD_MIN_LEN + IC_SD_MSG_BYTES + 64;

	(void)state;
	assert_true(IC_HDR_LEN + body <= sizeof(req));
	setup_pair(IC_SVC_SHUTDOWN, V(3, 0), V(3, 2));
	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, NULL, req,
					    sizeof(req), &req_len), 0);
	for (uint32_t i = IC_SD_MIN_LEN; i < body; i += 2)
		put16(req + IC_HDR_LEN + i, 'a');
	put16(req + 8 + 10, (uint16_t)body);
	put32(req + 4, 20 + body);
	assert_int_equal(feed(req, IC_HDR_LEN + body), 0);
	assert_int_equal(act.kind, IC_ACT_SHUTDOWN);
	assert_int_equal(strlen(act.sd.message), IC_SD_MSG_BYTES / 2 - 1);
	assert_int_equal(ic_sd_guest_reply(&g, IC_S_OK, rep, sizeof(rep),
					   &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);

	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, "hi", req,
					    sizeof(req), &req_len), 0);
	put16(req + 8 + 10, IC_SD_MIN_LEN + 5);
	put32(req + 4, 20 + IC_SD_MIN_LEN + 5);
	assert_int_equal(feed(req, IC_HDR_LEN + IC_SD_MIN_LEN + 5), 0);
	assert_int_equal(act.kind, IC_ACT_SHUTDOWN);
	assert_string_equal(act.sd.message, "hi");
	assert_int_equal(vmb_bad_total(&g.st.bad), 0);
}

/* Negotiation bodies: the message version count has the same cap as the
 * framework count, the lists must fit the body to the byte, and a body
 * too short for the counts is not read past its end (ASan watches). */
static void test_guest_negotiate_bounds(void **state)
{
	(void)state;
	ic_guest_init(&g, IC_SVC_TIMESYNC);
	ic_host_init(&h, IC_SVC_TIMESYNC, NULL, 0, NULL, 0);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	uint16_t nfw, nmsg;
	memcpy(&nfw, req + IC_HDR_LEN, 2);
	memcpy(&nmsg, req + IC_HDR_LEN + 2, 2);
	assert_int_equal(req_len, IC_HDR_LEN + 8 + 4 * (nfw + nmsg));
	put16(req + IC_HDR_LEN + 2, 101);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_OVERSIZE], 1);
	/* One entry more than the body holds. */
	put16(req + IC_HDR_LEN + 2, (uint16_t)(nmsg + 1));
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
	/* No body at all, in a buffer that ends with the header. */
	uint8_t *m = malloc(IC_HDR_LEN);
	assert_non_null(m);
	memcpy(m, req, IC_HDR_LEN);
	put16(m + 8 + 10, 0);
	put32(m + 4, 20);
	assert_int_equal(feed(m, IC_HDR_LEN), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 2);
	free(m);
	assert_false(g.negotiated);
}

/* A negotiation answer too short for its counts is truncated, whatever
 * the bytes after it say. */
static void test_host_short_negotiation_answer(void **state)
{
	(void)state;
	ic_guest_init(&g, IC_SVC_KVP);
	ic_host_init(&h, IC_SVC_KVP, NULL, 0, NULL, 0);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(feed(req, req_len), 0);
	put16(rep + 8 + 10, 4);
	put32(rep + 4, 20 + 4);
	put32(rep + IC_HDR_LEN, 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_int_equal(h.st.negotiate_failed, 0);
	assert_false(h.negotiated);
}

/* Sets the icmsg body size of the message at m (and the pipe size). */
static void set_body_len(uint8_t *m, uint32_t n)
{
	put16(m + 8 + 10, (uint16_t)n);
	put32(m + 4, 20 + n);
}

static void kvp_request(uint8_t op)
{
	memset(&kd, 0, sizeof(kd));
	kd.op = op;
	strcpy(kd.key, "k");
	strcpy(kd.value, "v");
	kd.value_type = KVP_REG_SZ;
	strcpy(kd.ip.adapter_id, "eth0");
	kd.ip.family = KVP_FAMILY_IPV4;
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
}

/* Guest side KVP fields each checked on their own. */
static void test_guest_kvp_fields(void **state)
{
	uint8_t *v = req + IC_HDR_LEN + sizeof(struct kvp_hdr);

	(void)state;
	setup_pair(IC_SVC_KVP, V(3, 0), V(4, 0));
	/* SET whose key has no NUL within its size. */
	kvp_request(KVP_OP_SET);
	put32(v + offsetof(struct kvp_wvalue, key_size), 2);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	/* Odd key size, even with a NUL inside it. */
	ic_host_cancel(&h);
	kvp_request(KVP_OP_GET);
	put32(v + offsetof(struct kvp_wvalue, key_size), 5);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	/* QWORD of 4 bytes. */
	ic_host_cancel(&h);
	kd.op = KVP_OP_SET;
	kd.value_type = KVP_REG_QWORD;
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	put32(v + offsetof(struct kvp_wvalue, value_size), 4);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	/* Address family beyond "both". */
	ic_host_cancel(&h);
	kvp_request(KVP_OP_SET_IP_INFO);
	req[IC_HDR_LEN + 2 + offsetof(struct kvp_wip_str, family)] = 4;
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 4);
	/* A body of two bytes is too short for the KVP header, whatever op
	 * it names. */
	ic_host_cancel(&h);
	kvp_request(KVP_OP_GET);
	req[IC_HDR_LEN] = KVP_OP_COUNT;
	set_body_len(req, 2);
	assert_int_equal(feed(req, IC_HDR_LEN + 2), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 4);
	assert_int_equal(g.st.fail_replies, 5);
	assert_false(g.pending);
}

/* Host side: each binary address count is capped, and an answer shorter
 * than its op needs is truncated. */
static void test_host_kvp_answer_bounds(void **state)
{
	static const size_t counts[] = {
		offsetof(struct kvp_wip_bin, n_ipv4),
		offsetof(struct kvp_wip_bin, n_ipv6),
		offsetof(struct kvp_wip_bin, n_gw4),
		offsetof(struct kvp_wip_bin, n_gw6),
		offsetof(struct kvp_wip_bin, n_dns4),
		offsetof(struct kvp_wip_bin, n_dns6),
	};
	static const uint32_t caps[] = { KVP_BIN_ADDRS, KVP_BIN_ADDRS,
		KVP_BIN_GATEWAYS, KVP_BIN_GATEWAYS, KVP_BIN_ADDRS,
		KVP_BIN_ADDRS };

	(void)state;
	setup_pair(IC_SVC_KVP, V(3, 0), V(5, 0));
	memset(&kr, 0, sizeof(kr));
	strcpy(kr.ip.adapter_id, "eth0");
	for (unsigned i = 0; i < 6; i++) {
		kvp_request(KVP_OP_GET_IP_INFO);
		assert_int_equal(feed(req, req_len), 0);
		assert_int_equal(kvp_guest_reply(&g, 0, &kr, rep, sizeof(rep),
						 &rep_len), 0);
		put32(rep + IC_HDR_LEN + sizeof(struct kvp_hdr) + counts[i],
		      caps[i] + 1);
		assert_int_equal(ic_host_input(&h, rep, rep_len, &res),
				 VMB_EPROTO);
		assert_int_equal(h.st.bad.n[VMB_BAD_FIELD], i + 1);
	}
	/* The count at its cap is fine. */
	kvp_request(KVP_OP_GET_IP_INFO);
	assert_int_equal(feed(req, req_len), 0);
	kr.ip.n_dns6 = KVP_BIN_ADDRS;
	assert_int_equal(kvp_guest_reply(&g, 0, &kr, rep, sizeof(rep),
					 &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.kvp.ip.n_dns6, KVP_BIN_ADDRS);
	/* A GET answer cut after the header. */
	kvp_request(KVP_OP_GET);
	assert_int_equal(feed(req, req_len), 0);
	kr.value_type = KVP_REG_SZ;
	strcpy(kr.value, "v");
	assert_int_equal(kvp_guest_reply(&g, 0, &kr, rep, sizeof(rep),
					 &rep_len), 0);
	set_body_len(rep, 8);
	assert_int_equal(ic_host_input(&h, rep, IC_HDR_LEN + 8, &res),
			 VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_int_equal(vmb_bad_total(&g.st.bad), 0);
}

/* Negotiation answers: exactly one version of each kind, each of them
 * one the host offered, with both present in the body. */
static void test_host_negotiation_answer_fields(void **state)
{
	(void)state;
	ic_guest_init(&g, IC_SVC_KVP);
	ic_host_init(&h, IC_SVC_KVP, NULL, 0, NULL, 0);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(feed(req, req_len), 0);
	put16(rep + IC_HDR_LEN + 2, 2); /* two message versions */
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_FIELD], 1);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(feed(req, req_len), 0);
	put16(rep + IC_HDR_LEN + 8, 2); /* framework 2.0, never offered */
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_VERSION], 1);
	assert_int_equal(ic_host_negotiate(&h, req, sizeof(req), &req_len), 0);
	assert_int_equal(feed(req, req_len), 0);
	set_body_len(rep, 12); /* the message version cut off */
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_false(h.negotiated);
}

/* VSS: the guest reports no direct-mapped devices whatever flags the
 * request carried; the host checks each answer's size and op. */
static void test_vss_answer_bounds(void **state)
{
	(void)state;
	setup_pair(IC_SVC_VSS, V(3, 0), V(5, 0));
	assert_int_equal(vss_guest_reply(&g, IC_S_OK, 0, rep, sizeof(rep),
					 &rep_len), VMB_ENOENT);
	assert_int_equal(vss_host_request(&h, VSS_OP_GET_DM_INFO, req,
					  sizeof(req), &req_len), 0);
	put32(req + IC_HDR_LEN + offsetof(struct vss_msg, flags), 0x77);
	guest_answers_now();
	assert_int_equal(res.vss_flags, 0);
	/* An answer naming another op, and one without a body. */
	assert_int_equal(vss_host_request(&h, VSS_OP_THAW, req, sizeof(req),
					  &req_len), 0);
	guest_takes(IC_ACT_VSS);
	assert_int_equal(vss_guest_reply(&g, IC_S_OK, 0, rep, sizeof(rep),
					 &rep_len), 0);
	rep[IC_HDR_LEN] = VSS_OP_FREEZE;
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_FIELD], 1);
	assert_int_equal(vss_host_request(&h, VSS_OP_THAW, req, sizeof(req),
					  &req_len), 0);
	guest_takes(IC_ACT_VSS);
	assert_int_equal(vss_guest_reply(&g, IC_S_OK, 0, rep, sizeof(rep),
					 &rep_len), 0);
	set_body_len(rep, 0);
	assert_int_equal(ic_host_input(&h, rep, IC_HDR_LEN, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_int_equal(vmb_bad_total(&g.st.bad), 0);
}

/* KVP: the host rejects answers for another op and adapter ids without a
 * NUL, and refuses to build requests for unknown ops. */
static void test_kvp_answer_op_and_adapter(void **state)
{
	uint8_t *aid;

	(void)state;
	setup_pair(IC_SVC_KVP, V(3, 0), V(4, 0));
	kvp_request(KVP_OP_GET);
	assert_int_equal(feed(req, req_len), 0);
	memset(&kr, 0, sizeof(kr));
	kr.value_type = KVP_REG_SZ;
	strcpy(kr.value, "v");
	assert_int_equal(kvp_guest_reply(&g, 0, &kr, rep, sizeof(rep),
					 &rep_len), 0);
	rep[IC_HDR_LEN] = KVP_OP_SET;
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_FIELD], 1);
	/* String-form ip info whose adapter id fills its field. */
	kvp_request(KVP_OP_GET_IP_INFO);
	assert_int_equal(feed(req, req_len), 0);
	strcpy(kr.ip.adapter_id, "eth0");
	assert_int_equal(kvp_guest_reply(&g, 0, &kr, rep, sizeof(rep),
					 &rep_len), 0);
	aid = rep + IC_HDR_LEN + 2 + offsetof(struct kvp_wip_str, adapter_id);
	for (unsigned i = 0; i < KVP_ADAPTER_ID_BYTES; i += 2)
		put16(aid + i, 'x');
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_FIELD], 2);
	kd.op = KVP_OP_COUNT;
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 VMB_EINVAL);
	assert_int_equal(vmb_bad_total(&g.st.bad), 0);
}

/* Every integer type a Hyper-V host may send: 4 (REG_DWORD / REG_U32),
 * 8 (Linux's REG_U64) and 11 (REG_QWORD), each turned into the unsigned
 * decimal string the Linux driver hands to hv_kvp_daemon. Built by the
 * host engine and, for 8, also patched into a raw request. */
static void test_kvp_integer_types(void **state)
{
	static const struct {
		uint32_t type;
		uint64_t v;
		const char *s;
	} cases[] = {
		{ KVP_REG_DWORD, 0, "0" },
		{ KVP_REG_DWORD, 4294967295u, "4294967295" },
		{ KVP_REG_U64, 18446744073709551615ull,
		  "18446744073709551615" },
		{ KVP_REG_U64, 4294967296ull, "4294967296" },
		{ KVP_REG_QWORD, 1234567890123ull, "1234567890123" },
	};
	uint8_t *v = req + IC_HDR_LEN + sizeof(struct kvp_hdr);

	(void)state;
	setup_pair(IC_SVC_KVP, V(3, 0), V(4, 0));
	memset(&kd, 0, sizeof(kd));
	kd.op = KVP_OP_SET;
	kd.pool = KVP_POOL_EXTERNAL;
	strcpy(kd.key, "n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kd.value_type = cases[i].type;
		kd.value_int = cases[i].v;
		kvp_exchange(NULL, IC_S_OK);
		assert_int_equal(act.kvp.value_type, cases[i].type);
		assert_true(act.kvp.value_int == cases[i].v);
		assert_string_equal(act.kvp.value, cases[i].s);
	}
	/* A QWORD request relabelled as type 8 on the wire. */
	kd.value_type = KVP_REG_QWORD;
	kd.value_int = 987654321987654321ull;
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	put32(v + offsetof(struct kvp_wvalue, value_type), 8);
	assert_int_equal(feed(req, req_len), 0);
	assert_int_equal(act.kind, IC_ACT_KVP);
	assert_string_equal(act.kvp.value, "987654321987654321");
	assert_int_equal(kvp_guest_reply(&g, IC_S_OK, NULL, rep, sizeof(rep),
					 &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	/* Type 8 must carry 8 bytes; type 3 (REG_BINARY) is still refused. */
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	put32(v + offsetof(struct kvp_wvalue, value_type), 8);
	put32(v + offsetof(struct kvp_wvalue, value_size), 4);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	ic_host_cancel(&h);
	assert_int_equal(kvp_host_request(&h, &kd, req, sizeof(req), &req_len),
			 0);
	put32(v + offsetof(struct kvp_wvalue, value_type), 3);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 2);
	/* A guest answer of type 8 decodes on the host too. */
	ic_host_cancel(&h);
	kd.op = KVP_OP_ENUMERATE;
	memset(&kr, 0, sizeof(kr));
	strcpy(kr.key, "k");
	kr.value_type = KVP_REG_U64;
	kr.value_int = 77;
	kvp_exchange(&kr, IC_S_OK);
	assert_int_equal(res.kvp.value_type, KVP_REG_U64);
	assert_string_equal(res.kvp.value, "77");
}

/* Fills a UTF-16 field with 'x' units and no NUL. */
static void fill_no_nul(uint8_t *f, uint32_t bytes)
{
	for (uint32_t i = 0; i < bytes; i += 2)
		put16(f + i, 'x');
}

/* GET_IP_INFO: like the Linux driver, the guest reads only adapter id
 * and family of the request, so garbage in the other fields does not
 * refuse it; the adapter id is still checked in full. SET_IP_INFO
 * still checks every field. String form (4.0), then binary (5.0). */
static void test_kvp_get_ip_info_request(void **state)
{
	uint8_t *w = req + IC_HDR_LEN + 2;
	uint8_t *wb = req + IC_HDR_LEN + sizeof(struct kvp_hdr);

	(void)state;
	setup_pair(IC_SVC_KVP, V(3, 0), V(4, 0));
	kvp_request(KVP_OP_GET_IP_INFO);
	fill_no_nul(w + offsetof(struct kvp_wip_str, ip_addr),
		    KVP_IP_ADDR_BYTES);
	put16(w + offsetof(struct kvp_wip_str, subnet), 0xdc00);
	fill_no_nul(w + offsetof(struct kvp_wip_str, dns), KVP_IP_ADDR_BYTES);
	assert_int_equal(feed(req, req_len), 0);
	assert_int_equal(act.kvp.op, KVP_OP_GET_IP_INFO);
	assert_string_equal(act.kvp.ip.adapter_id, "eth0");
	assert_int_equal(act.kvp.ip.family, KVP_FAMILY_IPV4);
	assert_string_equal(act.kvp.ip.ip_addr, "");
	memset(&kr, 0, sizeof(kr));
	strcpy(kr.ip.adapter_id, "eth0");
	assert_int_equal(kvp_guest_reply(&g, IC_S_OK, &kr, rep, sizeof(rep),
					 &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, IC_S_OK);
	/* The same garbage in a SET is refused. */
	kvp_request(KVP_OP_SET_IP_INFO);
	fill_no_nul(w + offsetof(struct kvp_wip_str, ip_addr),
		    KVP_IP_ADDR_BYTES);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	/* GET with an adapter id without NUL, or with a lone surrogate, or
	 * with a family beyond "both". */
	ic_host_cancel(&h);
	kvp_request(KVP_OP_GET_IP_INFO);
	fill_no_nul(w + offsetof(struct kvp_wip_str, adapter_id),
		    KVP_ADAPTER_ID_BYTES);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	ic_host_cancel(&h);
	kvp_request(KVP_OP_GET_IP_INFO);
	put16(w + offsetof(struct kvp_wip_str, adapter_id) + 2, 0xd800);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	ic_host_cancel(&h);
	kvp_request(KVP_OP_GET_IP_INFO);
	w[offsetof(struct kvp_wip_str, family)] = 4;
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 4);

	/* Binary form: address counts are not looked at for a GET. */
	setup_pair(IC_SVC_KVP, V(3, 0), V(5, 0));
	kvp_request(KVP_OP_GET_IP_INFO);
	put32(wb + offsetof(struct kvp_wip_bin, n_ipv4), 1000);
	put32(wb + offsetof(struct kvp_wip_bin, n_gw6), 0xffffffffu);
	assert_int_equal(feed(req, req_len), 0);
	assert_string_equal(act.kvp.ip.adapter_id, "eth0");
	assert_int_equal(act.kvp.ip.n_ipv4, 0);
	assert_int_equal(kvp_guest_reply(&g, IC_S_OK, &kr, rep, sizeof(rep),
					 &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	kvp_request(KVP_OP_SET_IP_INFO);
	put32(wb + offsetof(struct kvp_wip_bin, n_ipv4), 1000);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	ic_host_cancel(&h);
	kvp_request(KVP_OP_GET_IP_INFO);
	fill_no_nul(wb + offsetof(struct kvp_wip_bin, adapter_id),
		    KVP_ADAPTER_ID_BYTES);
	assert_int_equal(feed(req, req_len), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_FIELD], 2);
	assert_false(g.pending);
}

/* Collects the items kvp_list_next (or _stop) finds in list[0..len)
 * into out as "item|item|", "!" for an item that is too long. */
static void split(const char *list, size_t len, size_t cap, bool stop,
		  char *out)
{
	char item[16];
	size_t pos = 0;
	int rc;

	*out = '\0';
	while ((rc = stop ? kvp_list_next_stop(list, len, &pos, item, cap)
			  : kvp_list_next(list, len, &pos, item, cap)) != 0) {
		assert_true(pos <= len);
		strcat(out, rc > 0 ? item : "!");
		strcat(out, "|");
	}
}

static void test_kvp_list_next(void **state)
{
	char out[128], item[8];
	size_t pos;

	(void)state;
	split("10.0.0.1;fe80::1", 16, 16, false, out);
	assert_string_equal(out, "10.0.0.1|fe80::1|");
	/* Blanks around items trimmed, empty and all-blank items skipped,
	 * a trailing ';' ends nothing. */
	split(" a ;\tb\t;; ; c d ;", 18, 16, false, out);
	assert_string_equal(out, "a|b|c d|");
	split(";;  ;", 5, 16, false, out);
	assert_string_equal(out, "");
	split("", 0, 16, false, out);
	assert_string_equal(out, "");
	/* len bounds the list; so does a NUL before it. */
	split("ab;cd;ef", 4, 16, false, out);
	assert_string_equal(out, "ab|c|");
	split("ab;c\0d;ef", 9, 16, false, out);
	assert_string_equal(out, "ab|c|");
	/* cap - 1 bytes fit; cap bytes do not, and the list goes on after
	 * the long item. Blanks do not count against cap. */
	split("1234;12345; 1234 ;x", 19, 5, false, out);
	assert_string_equal(out, "1234|!|1234|x|");
	pos = 0;
	assert_int_equal(kvp_list_next("abcdefgh;z", 10, &pos, item, 8), -1);
	assert_int_equal(pos, 9);
	assert_int_equal(kvp_list_next("abcdefgh;z", 10, &pos, item, 8), 1);
	assert_string_equal(item, "z");
	assert_int_equal(pos, 10);
	assert_int_equal(kvp_list_next("abcdefgh;z", 10, &pos, item, 8), 0);
	assert_int_equal(pos, 10);
	pos = 0;
	assert_int_equal(kvp_list_next("a", 1, &pos, item, 0), -1);

	/* The _stop variant: an empty or all-blank item ends the list and
	 * stays where it is. */
	split("a;;b", 4, 16, true, out);
	assert_string_equal(out, "a|");
	split("a; \t;b", 6, 16, true, out);
	assert_string_equal(out, "a|");
	split(";a", 2, 16, true, out);
	assert_string_equal(out, "");
	split("a;b;", 4, 16, true, out);
	assert_string_equal(out, "a|b|");
	pos = 2;
	assert_int_equal(kvp_list_next_stop("a;;b", 4, &pos, item, 8), 0);
	assert_int_equal(pos, 2);
}

static void test_kvp_prefix6(void **state)
{
	(void)state;
	assert_int_equal(kvp_prefix6("64"), 64);
	assert_int_equal(kvp_prefix6("/64"), 64);
	assert_int_equal(kvp_prefix6("0"), 0);
	assert_int_equal(kvp_prefix6("/128"), 128);
	assert_int_equal(kvp_prefix6("129"), -1);
	assert_int_equal(kvp_prefix6("0064"), -1);
	assert_int_equal(kvp_prefix6(""), -1);
	assert_int_equal(kvp_prefix6("/"), -1);
	assert_int_equal(kvp_prefix6("//64"), -1);
	assert_int_equal(kvp_prefix6("64 "), -1);
	assert_int_equal(kvp_prefix6(" 64"), -1);
	assert_int_equal(kvp_prefix6("-1"), -1);
	assert_int_equal(kvp_prefix6("6a"), -1);
	assert_int_equal(kvp_prefix6("255.255.0.0"), -1);
}

static void test_kvp_ip_binary(void **state)
{
	(void)state;
	assert_false(kvp_ip_binary(V(4, 0)));
	assert_false(kvp_ip_binary(V(3, 0)));
	assert_true(kvp_ip_binary(V(5, 0)));
}

/* ic_utf8_check: the rules of the UTF-8 to UTF-16 conversion. */
static void test_utf8_check(void **state)
{
	(void)state;
	assert_int_equal(ic_utf8_check("", 0), IC_UTF_OK);
	assert_int_equal(ic_utf8_check("a\xc3\xa9\xe2\x82\xac\xf4\x8f\xbf\xbf",
				       10), IC_UTF_OK);
	assert_int_equal(ic_utf8_check("a\0b", 3), IC_UTF_ENUL);
	assert_int_equal(ic_utf8_check("\xc0\xaf", 2), IC_UTF_EOVERLONG);
	assert_int_equal(ic_utf8_check("\xe0\x80\xaf", 3), IC_UTF_EOVERLONG);
	assert_int_equal(ic_utf8_check("\xed\xa0\x80", 3), IC_UTF_ESURROGATE);
	assert_int_equal(ic_utf8_check("\xf4\x90\x80\x80", 4), IC_UTF_ERANGE);
	assert_int_equal(ic_utf8_check("\xe2\x82", 2), IC_UTF_ETRUNC);
	assert_int_equal(ic_utf8_check("\x80", 1), IC_UTF_EBYTE);
	/* Only len bytes are looked at. */
	assert_int_equal(ic_utf8_check("ab\xff", 2), IC_UTF_OK);
}

/* An icmsg size smaller than the icmsg header cannot carry the body the
 * header announces: refused before anything is read from the body. */
static void test_guest_msgsize_below_header(void **state)
{
	(void)state;
	setup_pair(IC_SVC_HEARTBEAT, V(3, 0), V(3, 0));
	assert_int_equal(ic_hb_host_probe(&h, 5, req, sizeof(req), &req_len),
			 0);
	uint8_t *m = malloc(IC_HDR_LEN);
	assert_non_null(m);
	memcpy(m, req, IC_HDR_LEN);
	put32(m + 4, 8);
	put16(m + 8 + 10, 100);
	assert_int_equal(feed(m, IC_HDR_LEN), VMB_EPROTO);
	assert_int_equal(rep_len, 0);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_false(g.pending);
	free(m);
}

/* A request body longer than any answer can be is kept (and echoed) only
 * up to what fits IC_MSG_MAX. */
static void test_guest_oversized_body(void **state)
{
	uint32_t body = IC_MSG_MAX - IC_HDR_LEN + 100;
	uint8_t *m = calloc(1, IC_HDR_LEN + body);

	(void)state;
	assert_non_null(m);
	setup_pair(IC_SVC_HEARTBEAT, V(3, 0), V(3, 0));
	assert_int_equal(ic_hb_host_probe(&h, 5, req, sizeof(req), &req_len),
			 0);
	memcpy(m, req, req_len);
	set_body_len(m, body);
	assert_int_equal(feed(m, IC_HDR_LEN + body), 0);
	assert_int_equal(rep_len, IC_MSG_MAX);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.hb_seq, 6);
	free(m);
}

/* Time samples shorter than their version's minimum. */
static void test_guest_short_timesync(void **state)
{
	static const struct ic_ver vers[] = { { 3, 0 }, { 4, 0 } };
	static const uint32_t min[] = { IC_TS_MIN_LEN, IC_TS4_MIN_LEN };

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		setup_pair(IC_SVC_TIMESYNC, V(3, 0), vers[i]);
		assert_int_equal(ic_ts_host_sample(&h, 1, 2, 3, 0, req,
						   sizeof(req), &req_len), 0);
		set_body_len(req, min[i] - 1);
		assert_int_equal(feed(req, IC_HDR_LEN + min[i] - 1),
				 VMB_EPROTO);
		assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
		assert_int_not_equal(act.kind, IC_ACT_TIME);
		assert_int_equal(rep_status(), IC_E_FAIL);
		assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
		assert_int_equal(res.status, IC_E_FAIL);
	}
}

/* Output buffers too small for the message are refused on both ends, and
 * a pending answer survives the refusal. */
static void test_small_output_buffers(void **state)
{
	(void)state;
	setup_pair(IC_SVC_SHUTDOWN, V(3, 0), V(3, 2));
	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, "bye", req,
					    IC_HDR_LEN + 10, &req_len),
			 VMB_EMSGSIZE);
	assert_false(h.pending);
	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, "bye", req,
					    sizeof(req), &req_len), 0);
	guest_takes(IC_ACT_SHUTDOWN);
	assert_int_equal(ic_sd_guest_reply(&g, IC_S_OK, rep, req_len - 1,
					   &rep_len), VMB_EMSGSIZE);
	assert_true(g.pending);
	assert_int_equal(ic_sd_guest_reply(&g, IC_S_OK, rep, req_len,
					   &rep_len), 0);
	assert_int_equal(rep_len, req_len);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, IC_S_OK);
}

/* IP info requests and answers shorter than their form's body. */
static void test_kvp_short_ip_info(void **state)
{
	(void)state;
	setup_pair(IC_SVC_KVP, V(3, 0), V(4, 0));
	kvp_request(KVP_OP_SET_IP_INFO);
	set_body_len(req, 100);
	assert_int_equal(feed(req, IC_HDR_LEN + 100), VMB_EPROTO);
	assert_int_equal(g.st.bad.n[VMB_BAD_TRUNCATED], 1);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(res.status, IC_E_FAIL);

	kvp_request(KVP_OP_GET_IP_INFO);
	assert_int_equal(feed(req, req_len), 0);
	memset(&kr, 0, sizeof(kr));
	strcpy(kr.ip.adapter_id, "eth0");
	assert_int_equal(kvp_guest_reply(&g, 0, &kr, rep, sizeof(rep),
					 &rep_len), 0);
	set_body_len(rep, 100);
	assert_int_equal(ic_host_input(&h, rep, IC_HDR_LEN + 100, &res),
			 VMB_EPROTO);
	assert_int_equal(h.st.bad.n[VMB_BAD_TRUNCATED], 1);
}

/* A message field filled to the end without a NUL, with characters of
 * three UTF-8 bytes, or ending in a surrogate pair: the shutdown is taken,
 * with the message cut to what the field can terminate. */
static void test_guest_shutdown_full_field(void **state)
{
	uint8_t *m = req + IC_HDR_LEN + IC_SD_MIN_LEN;

	(void)state;
	setup_pair(IC_SVC_SHUTDOWN, V(3, 0), V(3, 2));
	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, NULL, req,
					    sizeof(req), &req_len), 0);
	for (uint32_t i = 0; i < IC_SD_MSG_BYTES; i += 2)
		put16(m + i, 0x4e00);
	assert_int_equal(feed(req, req_len), 0);
	assert_int_equal(act.kind, IC_ACT_SHUTDOWN);
	assert_int_equal(strlen(act.sd.message), (IC_SD_MSG_BYTES / 2 - 1) * 3);
	assert_memory_equal(act.sd.message, "\xe4\xb8\x80", 3);
	assert_int_equal(ic_sd_guest_reply(&g, IC_S_OK, rep, sizeof(rep),
					   &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);

	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, NULL, req,
					    sizeof(req), &req_len), 0);
	for (uint32_t i = 0; i < IC_SD_MSG_BYTES; i += 2)
		put16(m + i, 'a');
	put16(m + IC_SD_MSG_BYTES - 4, 0xd83d); /* U+1F600 in the last two */
	put16(m + IC_SD_MSG_BYTES - 2, 0xde00);
	assert_int_equal(feed(req, req_len), 0);
	assert_int_equal(act.kind, IC_ACT_SHUTDOWN);
	assert_int_equal(strlen(act.sd.message), IC_SD_MSG_BYTES / 2 - 2);
	/* A pair cut by a short message area goes too. */
	assert_int_equal(ic_sd_guest_reply(&g, IC_S_OK, rep, sizeof(rep),
					   &rep_len), 0);
	assert_int_equal(ic_host_input(&h, rep, rep_len, &res), 0);
	assert_int_equal(ic_sd_host_request(&h, 0, 0, 0, NULL, req,
					    sizeof(req), &req_len), 0);
	put16(m, 'o');
	put16(m + 2, 'k');
	put16(m + 4, 0xd83d);
	put16(m + 6, 0xde00);
	set_body_len(req, IC_SD_MIN_LEN + 6);
	assert_int_equal(feed(req, IC_HDR_LEN + IC_SD_MIN_LEN + 6), 0);
	assert_string_equal(act.sd.message, "ok");
	assert_int_equal(vmb_bad_total(&g.st.bad), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heartbeat_versions),
		cmocka_unit_test(test_shutdown_versions),
		cmocka_unit_test(test_timesync_versions),
		cmocka_unit_test(test_vss_ops),
		cmocka_unit_test(test_kvp_versions),
		cmocka_unit_test(test_kvp_reply_cut),
		cmocka_unit_test(test_negotiate_highest),
		cmocka_unit_test(test_negotiate_no_overlap),
		cmocka_unit_test(test_guest_bad_headers),
		cmocka_unit_test(test_guest_wrong_type_and_state),
		cmocka_unit_test(test_guest_bad_shutdown),
		cmocka_unit_test(test_guest_bad_kvp),
		cmocka_unit_test(test_guest_bad_vss),
		cmocka_unit_test(test_guest_bad_negotiate),
		cmocka_unit_test(test_host_bad_answers),
		cmocka_unit_test(test_host_bad_negotiation_answer),
		cmocka_unit_test(test_host_bad_kvp_answer),
		cmocka_unit_test(test_guest_short_heartbeat),
		cmocka_unit_test(test_guest_shutdown_message_bounds),
		cmocka_unit_test(test_guest_negotiate_bounds),
		cmocka_unit_test(test_host_short_negotiation_answer),
		cmocka_unit_test(test_guest_kvp_fields),
		cmocka_unit_test(test_host_kvp_answer_bounds),
		cmocka_unit_test(test_host_negotiation_answer_fields),
		cmocka_unit_test(test_vss_answer_bounds),
		cmocka_unit_test(test_kvp_answer_op_and_adapter),
		cmocka_unit_test(test_kvp_integer_types),
		cmocka_unit_test(test_kvp_get_ip_info_request),
		cmocka_unit_test(test_kvp_list_next),
		cmocka_unit_test(test_kvp_prefix6),
		cmocka_unit_test(test_kvp_ip_binary),
		cmocka_unit_test(test_utf8_check),
		cmocka_unit_test(test_guest_msgsize_below_header),
		cmocka_unit_test(test_guest_oversized_body),
		cmocka_unit_test(test_guest_short_timesync),
		cmocka_unit_test(test_small_output_buffers),
		cmocka_unit_test(test_kvp_short_ip_info),
		cmocka_unit_test(test_guest_shutdown_full_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
