/* TAP devices against the kernel: a two-queue TAP with virtio-net headers
 * made in a network namespace of its own (ip netns add), its MAC, MTU,
 * carrier and offloads read back with ip(8) and ethtool(8), a ping
 * answered by the namespace's stack through it, and what must be
 * refused. Needs root and /dev/net/tun (skipped without). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/if_tun.h>

#include "rt_tap.h"

#define VH RT_TAP_VNET_HDR_LEN

static char ns[32];
static const uint8_t tap_mac[6] = {0x02, 0x15, 0x5d, 0x00, 0x00, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0x15, 0x5d, 0x00, 0x00, 0x02};

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* What a command printed, in out (NUL-terminated). */
static void sh_out(char *out, size_t n, const char *cmd)
{
	FILE *p = popen(cmd, "r");
	size_t k;

	assert_non_null(p);
	k = fread(out, 1, n - 1, p);
	out[k] = '\0';
	pclose(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(ns, sizeof(ns), "hvis-tap-%d", (int)getpid());
	return sh("ip netns add %s", ns) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	sh("ip netns del %s 2>/dev/null", ns);
	return 0;
}

static void tap_open(struct rt_tap *t, unsigned queues)
{
	struct rt_tap_cfg c = {.name = "hvtest%d", .netns = ns,
			       .queues = queues, .vnet_hdr = true,
			       .have_mac = true, .mtu = 9000};
	char why[256] = "";

	memcpy(c.mac, tap_mac, 6);
	assert_int_equal(rt_tap_open(t, &c, why, sizeof(why)), 0);
	assert_int_equal(t->queues, queues);
}

static void test_link(void **state)
{
	struct rt_tap t;
	char out[2048], cmd[128];

	(void)state;
	tap_open(&t, 2);
	assert_int_equal(strncmp(t.name, "hvtest", 6), 0);
	snprintf(cmd, sizeof(cmd), "ip -n %s link show dev %s", ns, t.name);
	sh_out(out, sizeof(out), cmd);
	assert_non_null(strstr(out, "mtu 9000"));
	assert_non_null(strstr(out, "link/ether 02:15:5d:00:00:01"));
	assert_non_null(strstr(out, ",UP"));
	assert_null(strstr(out, "NO-CARRIER"));
	assert_int_equal(rt_tap_set_carrier(&t, false), 0);
	sh_out(out, sizeof(out), cmd);
	assert_non_null(strstr(out, "NO-CARRIER"));
	assert_int_equal(rt_tap_set_carrier(&t, true), 0);
	assert_int_equal(rt_tap_set_mtu(&t, 1500), 0);
	sh_out(out, sizeof(out), cmd);
	assert_non_null(strstr(out, "mtu 1500"));
	assert_null(strstr(out, "NO-CARRIER"));
	/* not in this namespace */
	snprintf(cmd, sizeof(cmd), "ip link show dev %s 2>&1", t.name);
	sh_out(out, sizeof(out), cmd);
	assert_non_null(strstr(out, "does not exist"));
	rt_tap_close(&t);
}

static void test_offload(void **state)
{
	struct rt_tap t;
	char out[4096], cmd[160];

	(void)state;
	tap_open(&t, 1);
	assert_int_equal(rt_tap_set_offload(&t, TUN_F_CSUM | TUN_F_TSO4 |
						     TUN_F_TSO6),
			 0);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s ethtool -k %s", ns,
		 t.name);
	sh_out(out, sizeof(out), cmd);
	assert_non_null(strstr(out, "tx-tcp-segmentation: on"));
	assert_int_equal(rt_tap_set_offload(&t, 0), 0);
	sh_out(out, sizeof(out), cmd);
	assert_non_null(strstr(out, "tx-tcp-segmentation: off"));
	/* the GSO size limit, in the device's namespace; the kernel's
	 * refusal of an impossible one comes back as its errno */
	assert_int_equal(rt_tap_set_gso_max(&t, 62780), 0);
	snprintf(cmd, sizeof(cmd), "ip -n %s -d link show dev %s", ns, t.name);
	sh_out(out, sizeof(out), cmd);
	assert_non_null(strstr(out, "gso_max_size 62780 "));
	assert_true(rt_tap_set_gso_max(&t, 0xFFFFFFFFu) < 0);
	rt_tap_close(&t);
}

/* ---- a ping through the device ---- */

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* vnet header (all zero), Ethernet, IPv4 10.200.0.2 -> .1, ICMP echo. */
static size_t echo_request(uint8_t *f)
{
	uint8_t *e = f + VH, *ip = e + 14, *ic = ip + 20;

	memset(f, 0, VH + 14 + 20 + 16);
	memcpy(e, tap_mac, 6);
	memcpy(e + 6, peer_mac, 6);
	put16(e + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 36);
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, (uint8_t[]){10, 200, 0, 2}, 4);
	memcpy(ip + 16, (uint8_t[]){10, 200, 0, 1}, 4);
	put16(ip + 10, csum(ip, 20));
	ic[0] = 8;
	put16(ic + 4, 0x4856);
	put16(ic + 6, 1);
	memcpy(ic + 8, "hvis-tap", 8);
	put16(ic + 2, csum(ic, 16));
	return VH + 14 + 20 + 16;
}

/* The echo reply, from whichever queue the kernel picked. */
static bool got_reply(struct rt_tap *t)
{
	struct pollfd p[2] = {{.fd = t->fd[0], .events = POLLIN},
			      {.fd = t->fd[1], .events = POLLIN}};
	uint8_t f[2048];

	while (poll(p, 2, 2000) > 0) {
		for (unsigned i = 0; i < 2; i++) {
			ssize_t n = p[i].revents ? read(p[i].fd, f, sizeof(f))
						 : -1;

			if (n >= VH + 14 + 20 + 16 && f[VH + 12] == 0x08 &&
			    f[VH + 13] == 0 && f[VH + 14 + 9] == 1 &&
			    f[VH + 34] == 0 && !memcmp(f + VH + 42, "hvis-tap", 8))
				return !memcmp(f + VH, peer_mac, 6);
		}
	}
	return false;
}

static void test_ping(void **state)
{
	struct rt_tap t;
	uint8_t f[128];
	size_t n;

	(void)state;
	tap_open(&t, 2);
	assert_int_equal(sh("ip -n %s addr add 10.200.0.1/24 dev %s && "
			    "ip -n %s neigh add 10.200.0.2 lladdr "
			    "02:15:5d:00:00:02 dev %s", ns, t.name, ns,
			    t.name), 0);
	n = echo_request(f);
	assert_int_equal(write(t.fd[1], f, n), (ssize_t)n);
	assert_true(got_reply(&t));
	rt_tap_close(&t);
}

/* ---- refusals ---- */

static void expect_refused(const struct rt_tap_cfg *c, int rc,
			   const char *says)
{
	struct rt_tap t;
	char why[256] = "";

	assert_int_equal(rt_tap_open(&t, c, why, sizeof(why)), rc);
	if (!strstr(why, says))
		fail_msg("'%s' does not say '%s'", why, says);
	rt_tap_close(&t);
}

static void test_refused(void **state)
{
	struct rt_tap_cfg c = {.name = "hvbad0", .netns = "a/b", .queues = 1};
	char planted[64];

	(void)state;
	expect_refused(&c, -EINVAL, "not a name");
	c.netns = "hvis-no-such-ns";
	expect_refused(&c, -ENOENT, "ip netns add hvis-no-such-ns");
	snprintf(planted, sizeof(planted), "hvis-planted-%d", (int)getpid());
	assert_int_equal(sh("touch /run/netns/%s", planted), 0);
	c.netns = planted;
	expect_refused(&c, -EPERM, "refused");
	sh("rm -f /run/netns/%s", planted);
	c.netns = ns;
	c.queues = RT_TAP_QUEUES_MAX + 1;
	expect_refused(&c, -EINVAL, "queues");
	c.queues = 1;
	c.name = "lo";
	expect_refused(&c, -EINVAL, "exists");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link),
		cmocka_unit_test(test_offload),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_refused),
	};

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK)) {
		printf("SKIP: needs root and /dev/net/tun\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
