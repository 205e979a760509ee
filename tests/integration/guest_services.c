/* The guest integration services (guest/gic*.c) driven by core/ic's host
 * engine: every request is a payload the host side builds, every answer
 * is checked by the host side's parser. The OS work is real: pool files
 * in a temporary directory, shell commands and hook scripts, the system's
 * interfaces, and (as root) an ext4 filesystem on a loop device. */
#include "kvp_pool.h" /* before ic.h: see gic_kvp.c */

#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../guest/guest_util.h"
#include "gic.h"
#include "kvp_intrinsic.h"
#include "kvp_ipinfo.h"
#include "rt_log.h"

/* ---- a host engine and a capturing channel ---- */

struct peer {
	struct ic_host h;
	struct gic_svc *s;
	struct gic_cfg cfg;
	uint8_t req[IC_MSG_MAX];
	size_t req_len;
	uint8_t ans[IC_MSG_MAX];
	size_t ans_len;
	uint64_t ans_xid;
	unsigned answers;
	unsigned stops;
	uint64_t next_xid;
	char dir[64];
};

static int cap_send(void *arg, uint64_t xid, const void *buf, size_t len)
{
	struct peer *p = arg;

	assert_true(len <= sizeof(p->ans));
	memcpy(p->ans, buf, len);
	p->ans_len = len;
	p->ans_xid = xid;
	p->answers++;
	return VMB_OK;
}

static void cap_stop(void *arg)
{
	((struct peer *)arg)->stops++;
}

/* Sends p->req to the guest service; returns how many answers came. */
static unsigned deliver(struct peer *p)
{
	unsigned before = p->answers;

	p->next_xid += 7;
	gic_svc_input(p->s, p->next_xid, p->req, p->req_len);
	if (p->answers != before)
		assert_int_equal(p->ans_xid, p->next_xid);
	return p->answers - before;
}

/* Delivers p->req and parses the single answer on the host side. */
static int roundtrip(struct peer *p, struct ic_host_result *res)
{
	assert_int_equal(deliver(p), 1);
	memset(res, 0, sizeof(*res));
	return ic_host_input(&p->h, p->ans, p->ans_len, res);
}

static void peer_open(struct peer *p, enum ic_service svc,
		      const struct ic_ver *msg, unsigned nmsg)
{
	struct ic_host_result res;

	assert_int_equal(ic_host_init(&p->h, svc, NULL, 0, msg, nmsg), 0);
	p->s = gic_svc_new(svc, &p->cfg, cap_send, cap_stop, p);
	assert_non_null(p->s);
	assert_int_equal(ic_host_negotiate(&p->h, p->req, sizeof(p->req),
					   &p->req_len), 0);
	assert_int_equal(roundtrip(p, &res), VMB_OK);
	assert_true(res.negotiated);
}

static struct peer *peer_new(void)
{
	struct peer *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	assert_int_equal(gt_mkdtemp("gic", p->dir, sizeof(p->dir)), 0);
	p->cfg.ts.mode = TSYNC_REPORT;
	p->cfg.kvp_root = p->dir;
	p->cfg.kvp_scripts = p->dir;
	return p;
}

static void peer_free(struct peer *p)
{
	gic_svc_free(p->s, "test done");
	gt_rm_rf(p->dir);
	free(p);
}

static void path_in(const struct peer *p, const char *name, char *out,
		    size_t cap)
{
	snprintf(out, cap, "%s/%s", p->dir, name);
}

static void write_script(const struct peer *p, const char *name,
			 const char *body)
{
	char path[128], text[1024];

	path_in(p, name, path, sizeof(path));
	snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	assert_int_equal(gt_write_file(path, text, strlen(text), 0755), 0);
}

/* ---- common ---- */

static void test_refused_input(void **state)
{
	struct peer *p = peer_new();
	struct ic_host_result res;
	struct gic_svc *fresh;
	uint8_t junk[16] = { 1, 2, 3 };

	(void)state;
	peer_open(p, IC_SVC_HEARTBEAT, NULL, 0);
	/* Too short to be a message: counted, not answered. */
	memcpy(p->req, junk, sizeof(junk));
	p->req_len = sizeof(junk);
	assert_int_equal(deliver(p), 0);
	assert_int_equal(vmb_bad_total(&p->s->eng.st.bad), 1);
	/* A probe to a service that has not negotiated yet: answered with
	 * a failure and the request's id. */
	fresh = gic_svc_new(IC_SVC_HEARTBEAT, &p->cfg, cap_send, cap_stop, p);
	assert_non_null(fresh);
	gic_svc_free(p->s, "replaced");
	p->s = fresh;
	assert_int_equal(ic_hb_host_probe(&p->h, 5, p->req, sizeof(p->req),
					  &p->req_len), 0);
	assert_int_equal(roundtrip(p, &res), VMB_OK);
	assert_int_equal(res.status, IC_E_FAIL);
	assert_int_equal(vmb_bad_total(&p->s->eng.st.bad), 1);
	assert_int_equal(p->s->eng.st.fail_replies, 1);
	peer_free(p);
}

static void test_heartbeat(void **state)
{
	struct peer *p = peer_new();
	struct ic_host_result res;

	(void)state;
	peer_open(p, IC_SVC_HEARTBEAT, NULL, 0);
	for (uint64_t seq = 41; seq < 44; seq++) {
		assert_int_equal(ic_hb_host_probe(&p->h, seq, p->req,
						  sizeof(p->req),
						  &p->req_len), 0);
		assert_int_equal(roundtrip(p, &res), VMB_OK);
		assert_int_equal(res.status, IC_S_OK);
		assert_int_equal(res.hb_seq, seq + 1);
	}
	peer_free(p);
}

/* ---- shutdown ---- */

static uint32_t shutdown_req(struct peer *p, uint32_t flags, const char *msg)
{
	struct ic_host_result res;

	assert_int_equal(ic_sd_host_request(&p->h, IC_SD_REASON_PLANNED, 30,
					    flags, msg, p->req,
					    sizeof(p->req), &p->req_len), 0);
	assert_int_equal(roundtrip(p, &res), VMB_OK);
	return res.status;
}

static void test_shutdown_default(void **state)
{
	struct peer *p = peer_new();

	(void)state;
	peer_open(p, IC_SVC_SHUTDOWN, NULL, 0);
	/* Unknown flag bits: refused by the engine, nothing done. */
	assert_int_equal(shutdown_req(p, 0x10, "bad"), IC_E_FAIL);
	/* Hibernation needs a command. */
	assert_int_equal(shutdown_req(p, IC_SD_FLAG_HIBERNATE, "zz"),
			 IC_E_FAIL);
	assert_int_equal(p->stops, 0);
	assert_int_equal(shutdown_req(p, IC_SD_FLAG_FORCE, "bye"), IC_S_OK);
	assert_int_equal(p->stops, 1);
	peer_free(p);
}

static void test_shutdown_command(void **state)
{
	struct peer *p = peer_new();
	char out[128], cmd[512], text[256];

	(void)state;
	path_in(p, "sd.out", out, sizeof(out));
	/* The host's text reaches the command as data, never as code. */
	snprintf(cmd, sizeof(cmd),
		 "printf '%%s|%%s|%%s|%%s|%%s' \"$1\" \"$2\" "
		 "\"$HVIS_SHUTDOWN_FORCE\" \"$HVIS_SHUTDOWN_REASON\" "
		 "\"$HVIS_SHUTDOWN_REASON_CODE\" > %s", out);
	p->cfg.shutdown_cmd = cmd;
	peer_open(p, IC_SVC_SHUTDOWN, NULL, 0);
	assert_int_equal(shutdown_req(p, IC_SD_FLAG_RESTART | IC_SD_FLAG_FORCE,
				      "patch $(touch x); day"), IC_S_OK);
	assert_true(gt_read_file(out, text, sizeof(text)) > 0);
	assert_string_equal(text,
			    "reboot|force|1|patch $(touch x); day|0x80000000");
	assert_int_equal(p->stops, 0);
	/* Hibernation goes to the command too. */
	assert_int_equal(shutdown_req(p, IC_SD_FLAG_HIBERNATE, ""), IC_S_OK);
	assert_true(gt_read_file(out, text, sizeof(text)) > 0);
	assert_string_equal(text, "hibernate||0||0x80000000");
	peer_free(p);
}

/* ---- time sync ---- */

static uint64_t now_100ns(clockid_t clk, uint64_t epoch)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return epoch + (uint64_t)t.tv_sec * 10000000u +
	       (uint64_t)t.tv_nsec / 100;
}

static int64_t ts_offset_ns(struct peer *p, int64_t skew_100ns,
			    uint64_t round_trip)
{
	struct ic_host_result res;
	struct tsync_status st;
	uint64_t host = now_100ns(CLOCK_REALTIME, IC_TS_UNIX_EPOCH_DELTA);
	uint64_t ref = now_100ns(CLOCK_MONOTONIC, 0);

	assert_int_equal(ic_ts_host_sample(&p->h, host + (uint64_t)skew_100ns,
					   ref, round_trip,
					   IC_TS_FLAG_SAMPLE, p->req,
					   sizeof(p->req), &p->req_len), 0);
	/* The sample spends a while in flight: v4 must make up for it. */
	usleep(20000);
	assert_int_equal(roundtrip(p, &res), VMB_OK);
	assert_int_equal(res.status, IC_S_OK);
	tsync_sink_status(p->s->sink, &st);
	return st.last_ns;
}

static void test_timesync_v4(void **state)
{
	struct peer *p = peer_new();
	int64_t off;

	(void)state;
	peer_open(p, IC_SVC_TIMESYNC, NULL, 0);
	assert_int_equal(p->s->eng.msg.major, 4);
	/* Host 2 s ahead: +2 s, the 20 ms in flight compensated. */
	off = ts_offset_ns(p, 20000000, 0);
	assert_true(off > 2000000000 - 5000000 && off < 2000000000 + 5000000);
	off = ts_offset_ns(p, -35000000, 0);
	assert_true(off > -3500000000 - 5000000 &&
		    off < -3500000000 + 5000000);
	peer_free(p);
}

static void test_timesync_v3(void **state)
{
	static const struct ic_ver v3[] = { { 3, 0 } };
	struct peer *p = peer_new();
	int64_t off;

	(void)state;
	peer_open(p, IC_SVC_TIMESYNC, v3, 1);
	assert_int_equal(p->s->eng.msg.major, 3);
	/* Without a reference counter, half the round trip (here 1 s) is
	 * added; the 20 ms in flight are not seen. */
	off = ts_offset_ns(p, 20000000, 20000000);
	assert_true(off > 3000000000 - 40000000 && off < 3000000000);
	peer_free(p);
}

/* ---- KVP ---- */

static uint32_t kvp_req(struct peer *p, struct kvp_data *d,
			struct ic_host_result *res)
{
	assert_int_equal(kvp_host_request(&p->h, d, p->req, sizeof(p->req),
					  &p->req_len), 0);
	assert_int_equal(roundtrip(p, res), VMB_OK);
	return res->status;
}

static uint32_t kvp_op(struct peer *p, uint8_t op, uint8_t pool,
		       const char *key, const char *value,
		       struct ic_host_result *res)
{
	struct kvp_data d = { .op = op, .pool = pool,
			      .value_type = KVP_REG_SZ };

	snprintf(d.key, sizeof(d.key), "%s", key ? key : "");
	snprintf(d.value, sizeof(d.value), "%s", value ? value : "");
	return kvp_req(p, &d, res);
}

static uint32_t kvp_enum(struct peer *p, uint8_t pool, uint32_t index,
			 struct ic_host_result *res)
{
	struct kvp_data d = { .op = KVP_OP_ENUMERATE, .pool = pool,
			      .index = index };

	return kvp_req(p, &d, res);
}

static void test_kvp_pools(void **state)
{
	struct peer *p = peer_new();
	struct ic_host_result r;
	struct kvp_data d = { .op = KVP_OP_SET, .pool = KVP_POOL_EXTERNAL,
			      .value_type = KVP_REG_DWORD, .value_int = 42,
			      .key = "answer" };

	(void)state;
	peer_open(p, IC_SVC_KVP, NULL, 0);
	assert_int_equal(kvp_op(p, KVP_OP_SET, KVP_POOL_EXTERNAL, "Färg",
				"grön ✓", &r), IC_S_OK);
	assert_int_equal(kvp_req(p, &d, &r), IC_S_OK);
	assert_int_equal(kvp_op(p, KVP_OP_GET, KVP_POOL_EXTERNAL, "Färg",
				NULL, &r), IC_S_OK);
	assert_string_equal(r.kvp.value, "grön ✓");
	assert_int_equal(kvp_op(p, KVP_OP_GET, KVP_POOL_EXTERNAL, "answer",
				NULL, &r), IC_S_OK);
	assert_string_equal(r.kvp.value, "42");
	assert_int_equal(kvp_enum(p, KVP_POOL_EXTERNAL, 1, &r), IC_S_OK);
	assert_string_equal(r.kvp.key, "answer");
	assert_int_equal(kvp_enum(p, KVP_POOL_EXTERNAL, 2, &r),
			 IC_E_NO_MORE_ITEMS);
	/* Other pools are separate files. */
	assert_int_equal(kvp_op(p, KVP_OP_GET, KVP_POOL_GUEST, "Färg", NULL,
				&r), IC_E_NO_MORE_ITEMS);
	assert_int_equal(kvp_op(p, KVP_OP_DELETE, KVP_POOL_EXTERNAL, "Färg",
				NULL, &r), IC_S_OK);
	assert_int_equal(kvp_op(p, KVP_OP_DELETE, KVP_POOL_EXTERNAL, "Färg",
				NULL, &r), IC_E_NO_MORE_ITEMS);
	assert_int_equal(kvp_enum(p, KVP_POOL_EXTERNAL, 0, &r), IC_S_OK);
	assert_string_equal(r.kvp.key, "answer");
	peer_free(p);
}

/* What another writer (hv_kvp_daemon, a guest tool) puts in the Guest
 * pool is what the host reads, malformed records skipped. */
static void test_kvp_guest_pool_file(void **state)
{
	struct peer *p = peer_new();
	struct kvp_pool_set *set;
	struct ic_host_result r;
	uint8_t bad[KVP_POOL_RECORD_SIZE];
	char path[128];
	int fd;

	(void)state;
	assert_int_equal(kvp_pool_open(p->dir, &set), KVP_POOL_OK);
	assert_int_equal(kvp_pool_set(set, KVP_POOL_GUEST, "a", "1"), 0);
	kvp_pool_close(set);
	/* A record without a NUL-terminated key, then a good one. */
	memset(bad, 'x', sizeof(bad));
	path_in(p, ".kvp_pool_1", path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bad, sizeof(bad)), (ssize_t)sizeof(bad));
	close(fd);
	assert_int_equal(kvp_pool_open(p->dir, &set), KVP_POOL_OK);
	assert_int_equal(kvp_pool_set(set, KVP_POOL_GUEST, "b", "2"), 0);
	kvp_pool_close(set);

	peer_open(p, IC_SVC_KVP, NULL, 0);
	assert_int_equal(kvp_enum(p, KVP_POOL_GUEST, 0, &r), IC_S_OK);
	assert_string_equal(r.kvp.key, "a");
	assert_int_equal(kvp_enum(p, KVP_POOL_GUEST, 1, &r), IC_S_OK);
	assert_string_equal(r.kvp.key, "b");
	assert_string_equal(r.kvp.value, "2");
	assert_int_equal(kvp_enum(p, KVP_POOL_GUEST, 2, &r),
			 IC_E_NO_MORE_ITEMS);
	/* Out of order: still the second good record. */
	assert_int_equal(kvp_enum(p, KVP_POOL_GUEST, 1, &r), IC_S_OK);
	assert_string_equal(r.kvp.key, "b");
	peer_free(p);
}

static void test_kvp_auto_pool(void **state)
{
	static const char osr[] = "NAME=\"Test OS\"\nVERSION_ID=\"7\"\n";
	struct peer *p = peer_new();
	struct ic_host_result r;
	char path[128];
	uint32_t i;

	(void)state;
	path_in(p, "os-release", path, sizeof(path));
	assert_int_equal(gt_write_file(path, osr, strlen(osr), 0644), 0);
	p->cfg.os_release = path;
	peer_open(p, IC_SVC_KVP, NULL, 0);
	for (i = 0; kvp_enum(p, KVP_POOL_AUTO, i, &r) == IC_S_OK; i++) {
		if (!strcmp(r.kvp.key, "OSName"))
			assert_string_equal(r.kvp.value, "Test OS");
		if (!strcmp(r.kvp.key, "IntegrationServicesVersion"))
			assert_string_equal(r.kvp.value, GIC_IC_VERSION);
	}
	/* Linux's ten keys, then hvis's two failure reasons (gic.h). */
	assert_int_equal(i, KVP_AUTO_COUNT + GIC_REASON__COUNT);
	assert_int_equal(r.status, IC_E_NO_MORE_ITEMS);
	assert_int_equal(kvp_enum(p, KVP_POOL_AUTO, KVP_AUTO_COUNT, &r),
			 IC_S_OK);
	assert_string_equal(r.kvp.key, "HvisVssLastFailure");
	assert_int_equal(kvp_enum(p, KVP_POOL_AUTO, KVP_AUTO_COUNT + 1, &r),
			 IC_S_OK);
	assert_string_equal(r.kvp.key, "HvisKvpLastFailure");
	assert_int_equal(kvp_op(p, KVP_OP_GET, KVP_POOL_AUTO, "OSMajorVersion",
				NULL, &r), IC_S_OK);
	assert_string_equal(r.kvp.value, "7");
	assert_int_equal(kvp_op(p, KVP_OP_GET, KVP_POOL_AUTO, "NoSuchKey",
				NULL, &r), IC_E_NO_MORE_ITEMS);
	peer_free(p);
}

/* MAC of an interface that has one, or "" (then GET_IP_INFO cannot be
 * checked against a real interface). */
static void find_mac(char *mac, size_t cap, char *ifname, size_t icap)
{
	static const char *const names[] = { "eth0", "ens3", "enp0s3",
					     "dummy0" };
	char path[128], buf[64];

	mac[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/address",
			 names[i]);
		if (gt_read_file(path, buf, sizeof(buf)) >= 17 &&
		    strncmp(buf, "00:00:00:00:00:00", 17)) {
			snprintf(mac, cap, "%.17s", buf);
			snprintf(ifname, icap, "%s", names[i]);
			return;
		}
	}
}

static void test_kvp_ip_info(void **state)
{
	struct peer *p = peer_new();
	struct ic_host_result r;
	struct kvp_data d = { .op = KVP_OP_GET_IP_INFO };
	char mac[32], ifname[32];

	(void)state;
	write_script(p, "hv_get_dns_info",
		     "echo 192.0.2.53; echo 2001:db8::35");
	write_script(p, "hv_get_dhcp_info", "echo Disabled");
	write_script(p, "hv_set_ifconfig", "exit 0");
	p->cfg.configure_ifs = true;
	peer_open(p, IC_SVC_KVP, NULL, 0);
	assert_int_equal(p->s->eng.msg.major, 5);
	snprintf(d.ip.adapter_id, sizeof(d.ip.adapter_id),
		 "02:00:5E:10:00:99");
	/* An unknown adapter: HV_GUID_NOTFOUND, and the words in the auto
	 * pool for the host to read. */
	assert_int_equal(kvp_req(p, &d, &r), IC_E_NOT_FOUND);
	d.op = KVP_OP_SET_IP_INFO;
	assert_int_equal(kvp_req(p, &d, &r), IC_E_NOT_FOUND);
	assert_int_equal(kvp_op(p, KVP_OP_GET, KVP_POOL_AUTO,
				"HvisKvpLastFailure", NULL, &r), IC_S_OK);
	assert_string_equal(r.kvp.value, "set ip info: no adapter with MAC "
			    "02:00:5E:10:00:99");
	/* Without leave to configure interfaces, SET touches nothing. */
	p->cfg.configure_ifs = false;
	assert_int_equal(kvp_req(p, &d, &r), IC_E_ACCESSDENIED);
	assert_int_equal(kvp_op(p, KVP_OP_GET, KVP_POOL_AUTO,
				"HvisKvpLastFailure", NULL, &r), IC_S_OK);
	assert_non_null(strstr(r.kvp.value, "configures none of its "
			       "machine's interfaces"));
	find_mac(mac, sizeof(mac), ifname, sizeof(ifname));
	if (!mac[0]) {
		print_message("no interface with a MAC: GET_IP_INFO on a "
			      "real interface not checked\n");
		peer_free(p);
		return;
	}
	d.op = KVP_OP_GET_IP_INFO;
	snprintf(d.ip.adapter_id, sizeof(d.ip.adapter_id), "%s", mac);
	assert_int_equal(kvp_req(p, &d, &r), IC_S_OK);
	assert_int_equal(r.kvp.ip.n_dns4, 1);
	assert_memory_equal(r.kvp.ip.dns4[0], ((uint8_t[]){ 192, 0, 2, 53 }),
			    4);
	assert_int_equal(r.kvp.ip.n_dns6, 1);
	assert_int_equal(r.kvp.ip.dns6[0][0], 0x20);
	assert_false(r.kvp.ip.dhcp);
	/* The addresses are the interface's, as kvp_ipinfo reads them. */
	struct kvp_ip_info info;

	assert_int_equal(kvp_ip_get_info(NULL, mac, &info), 0);
	assert_int_equal(r.kvp.ip.n_ipv4 + r.kvp.ip.n_ipv6 > 0,
			 info.ip_addr[0] != '\0');
	peer_free(p);
}

static void test_kvp_ip_convert(void **state)
{
	struct kvp_ip_info in = {
		.adapter_id = "00:15:5D:00:00:01",
		.addr_family = 3,
		.ip_addr = "192.0.2.10;2001:db8::10;192.0.2.11",
		.sub_net = "255.255.255.0;/64;255.255.0.0",
		.gate_way = "192.0.2.1;2001:db8::1;",
		.dns_addr = "192.0.2.53;",
	};
	struct kvp_ip_info back;
	struct kvp_ip w;

	(void)state;
	assert_int_equal(gic_ip_to_wire(&in, true, &w), 0);
	assert_int_equal(w.n_ipv4, 2);
	assert_int_equal(w.n_ipv6, 1);
	assert_int_equal(w.ipv6_prefix[0], 64);
	assert_memory_equal(w.ipv4_subnet[1], ((uint8_t[]){ 255, 255, 0, 0 }),
			    4);
	assert_int_equal(w.n_gw4, 1);
	assert_int_equal(w.n_gw6, 1);
	assert_int_equal(w.family, KVP_FAMILY_BOTH);
	assert_int_equal(gic_ip_from_wire(&w, true, &back), 0);
	assert_string_equal(back.ip_addr,
			    "192.0.2.10;192.0.2.11;2001:db8::10;");
	assert_string_equal(back.sub_net, "255.255.255.0;255.255.0.0;/64;");
	assert_string_equal(back.gate_way, "192.0.2.1;2001:db8::1;");
	assert_string_equal(back.dns_addr, "192.0.2.53;");
	/* String form: copied as it is. */
	assert_int_equal(gic_ip_to_wire(&in, false, &w), 0);
	assert_string_equal(w.ip_addr, in.ip_addr);
	assert_int_equal(gic_ip_from_wire(&w, false, &back), 0);
	assert_string_equal(back.sub_net, in.sub_net);
	/* Not an address; a prefix out of range. */
	snprintf(in.ip_addr, sizeof(in.ip_addr), "192.0.2.10;bogus");
	assert_int_equal(gic_ip_to_wire(&in, true, &w), -1);
	snprintf(in.ip_addr, sizeof(in.ip_addr), "2001:db8::1");
	snprintf(in.sub_net, sizeof(in.sub_net), "/129");
	assert_int_equal(gic_ip_to_wire(&in, true, &w), -1);
	assert_int_equal(gic_ip_to_wire(&in, false, &w), 0);
	w.n_ipv6 = 1;
	w.ipv6_prefix[0] = 200;
	assert_int_equal(gic_ip_from_wire(&w, true, &back), -1);
}

/* ---- VSS ---- */

static uint32_t vss_req(struct peer *p, uint8_t op, uint32_t *flags)
{
	struct ic_host_result r;

	assert_int_equal(vss_host_request(&p->h, op, p->req, sizeof(p->req),
					  &p->req_len), 0);
	assert_int_equal(roundtrip(p, &r), VMB_OK);
	if (flags)
		*flags = r.vss_flags;
	return r.status;
}

/* A mountinfo with no freezable filesystem: the sequence runs, hooks
 * included, without touching this machine's filesystems. */
static void vss_no_fs_cfg(struct peer *p, const char *pre_body)
{
	static const char mi[] =
		"22 1 0:21 / /proc rw - proc proc rw\n";
	static char mipath[128], pre[128], post[128];

	path_in(p, "mountinfo", mipath, sizeof(mipath));
	assert_int_equal(gt_write_file(mipath, mi, strlen(mi), 0644), 0);
	write_script(p, "pre", pre_body);
	write_script(p, "post", "echo \"$1\" >> \"$(dirname \"$0\")/log\"");
	path_in(p, "pre", pre, sizeof(pre));
	path_in(p, "post", post, sizeof(post));
	p->cfg.mountinfo = mipath;
	p->cfg.pre_freeze = pre;
	p->cfg.post_thaw = post;
}

static void test_vss_sequence(void **state)
{
	struct peer *p = peer_new();
	char log[128], text[64];
	uint32_t flags = 0;

	(void)state;
	vss_no_fs_cfg(p, "echo \"$1\" >> \"$(dirname \"$0\")/log\"");
	peer_open(p, IC_SVC_VSS, NULL, 0);
	assert_int_equal(vss_req(p, VSS_OP_HOT_BACKUP, &flags), IC_S_OK);
	assert_int_equal(flags, VSS_HBU_NO_AUTO_RECOVERY);
	assert_int_equal(vss_req(p, VSS_OP_GET_DM_INFO, &flags), IC_S_OK);
	assert_int_equal(flags, 0);
	/* Nothing to freeze: the snapshot can only be crash-consistent, and
	 * the guest says so; the hooks still run and the THAW is due. */
	assert_int_equal(vss_req(p, VSS_OP_FREEZE, NULL),
			 VSS_E_INCONSISTENT_SNAPSHOT);
	assert_true(gic_reason_get("HvisVssLastFailure", text, sizeof(text)));
	assert_string_equal(text, "FREEZE: no file system to freeze");
	assert_int_equal(vss_req(p, VSS_OP_THAW, NULL), IC_S_OK);
	path_in(p, "log", log, sizeof(log));
	assert_true(gt_read_file(log, text, sizeof(text)) > 0);
	assert_string_equal(text, "freeze\nthaw\n");
	peer_free(p);
}

static void test_vss_hook_fails(void **state)
{
	struct peer *p = peer_new();

	(void)state;
	vss_no_fs_cfg(p, "exit 3");
	peer_open(p, IC_SVC_VSS, NULL, 0);
	char why[GIC_REASON_MAX];

	assert_int_equal(vss_req(p, VSS_OP_FREEZE, NULL), IC_E_FAIL);
	assert_int_equal(p->s->st.os_failures, 1);
	assert_true(gic_reason_get("HvisVssLastFailure", why, sizeof(why)));
	assert_non_null(strstr(why, "FREEZE: pre-freeze hook "));
	assert_non_null(strstr(why, "failed (status 3)"));
	/* Nothing frozen: the thaw that a host sends anyway succeeds. */
	assert_int_equal(vss_req(p, VSS_OP_THAW, NULL), IC_S_OK);
	peer_free(p);
}

/* ---- VSS on a real filesystem (root, loop device) ---- */

struct loopfs {
	char dir[64], img[128], mnt[128], dev[64];
	bool mounted;
};

static int sh(const char *cmd, char *out, size_t cap)
{
	FILE *f = popen(cmd, "r");
	size_t n;

	if (!f)
		return -1;
	n = out ? fread(out, 1, cap - 1, f) : 0;
	if (out)
		out[n] = '\0';
	return pclose(f);
}

static void loopfs_down(struct loopfs *l)
{
	char cmd[160];
	int fd = open(l->mnt, O_RDONLY | O_DIRECTORY);

	/* Whatever failed, never leave it frozen. */
	if (fd >= 0) {
		ioctl(fd, FITHAW, 0);
		close(fd);
	}
	if (l->mounted)
		umount2(l->mnt, MNT_DETACH);
	if (l->dev[0]) {
		snprintf(cmd, sizeof(cmd), "losetup -d %s", l->dev);
		sh(cmd, NULL, 0);
	}
	gt_rm_rf(l->dir);
}

static bool loopfs_up(struct loopfs *l)
{
	char cmd[400];

	memset(l, 0, sizeof(*l));
	if (geteuid() != 0 || access("/dev/loop-control", F_OK) ||
	    access("/sbin/mkfs.ext4", X_OK) ||
	    gt_mkdtemp("gic-vss", l->dir, sizeof(l->dir)))
		return false;
	snprintf(l->img, sizeof(l->img), "%s/img", l->dir);
	snprintf(l->mnt, sizeof(l->mnt), "%s/mnt", l->dir);
	mkdir(l->mnt, 0755);
	snprintf(cmd, sizeof(cmd), "truncate -s 16M %s && mkfs.ext4 -q %s",
		 l->img, l->img);
	if (sh(cmd, NULL, 0))
		goto fail;
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s", l->img);
	if (sh(cmd, l->dev, sizeof(l->dev)) || !l->dev[0])
		goto fail;
	l->dev[strcspn(l->dev, "\n")] = '\0';
	if (mount(l->dev, l->mnt, "ext4", 0, NULL))
		goto fail;
	l->mounted = true;
	return true;
fail:
	loopfs_down(l);
	return false;
}

/* A child writing and fsyncing a file on the filesystem; the returned
 * pipe becomes readable when it is done. */
static int writer(const struct loopfs *l, pid_t *pid)
{
	char path[160];
	int pfd[2];

	snprintf(path, sizeof(path), "%s/w", l->mnt);
	assert_int_equal(pipe(pfd), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || write(fd, "x", 1) != 1 || fsync(fd) ||
		    write(pfd[1], "k", 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	return pfd[0];
}

static bool done_within(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	return poll(&pf, 1, ms) == 1;
}

/* A channel that goes away while frozen (rescind, host death) thaws. */
static void test_vss_gone_while_frozen(void **state)
{
	struct peer *p = peer_new();
	struct loopfs l;
	const char *mounts[1];
	pid_t pid;
	int fd, st;

	(void)state;
	if (!loopfs_up(&l)) {
		peer_free(p);
		skip();
	}
	mounts[0] = l.mnt;
	p->cfg.freeze = mounts;
	p->cfg.n_freeze = 1;
	peer_open(p, IC_SVC_VSS, NULL, 0);
	assert_int_equal(vss_req(p, VSS_OP_FREEZE, NULL), IC_S_OK);
	fd = writer(&l, &pid);
	assert_false(done_within(fd, 300));
	gic_svc_free(p->s, "rescinded");
	p->s = NULL;
	assert_true(done_within(fd, 5000));
	close(fd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	loopfs_down(&l);
	peer_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_input),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_shutdown_default),
		cmocka_unit_test(test_shutdown_command),
		cmocka_unit_test(test_timesync_v4),
		cmocka_unit_test(test_timesync_v3),
		cmocka_unit_test(test_kvp_pools),
		cmocka_unit_test(test_kvp_guest_pool_file),
		cmocka_unit_test(test_kvp_auto_pool),
		cmocka_unit_test(test_kvp_ip_info),
		cmocka_unit_test(test_kvp_ip_convert),
		cmocka_unit_test(test_vss_sequence),
		cmocka_unit_test(test_vss_hook_fails),
		cmocka_unit_test(test_vss_gone_while_frozen),
	};

	rt_log_init("test_guest_services", RT_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
