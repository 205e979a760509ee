/* The offload fix-ups of core/net/ncsum against Linux itself: a guest's
 * sends as Linux netvsc makes them (LSO with the IP length 0 and a seed
 * without the length; a UDP checksum request) go through
 * ncsum_tx_prepare() into a TAP device with a virtio-net header; the
 * kernel forwards them to a second TAP without offloads, so it segments
 * them and completes their checksums itself. Every segment read there
 * must carry the payload in order and verify. As a control, the same LSO
 * send with Linux's seed left as it came must come out with bad TCP
 * checksums: the fix-up is what makes them good.
 *
 * Run by net-lso-tap.sh in a network namespace of its own (root). */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/ncsum.h"

#define PAYLOAD 5000u
#define MSS 1400u

static const char setup[] =
	"ip link set lo up && "
	"ip link set tap0 address 02:00:00:00:00:10 up && "
	"ip link set tap1 up && "
	"ip addr add 10.0.0.1/24 dev tap0 && ip addr add 10.1.0.1/24 dev tap1 && "
	"ip -6 addr add fd00::1/64 dev tap0 nodad && "
	"ip -6 addr add fd01::1/64 dev tap1 nodad && "
	"ip neigh add 10.1.0.2 lladdr 02:00:00:00:00:02 dev tap1 && "
	"ip -6 neigh add fd01::2 lladdr 02:00:00:00:00:02 dev tap1 && "
	"sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1";

static int tap_open(const char *name, short flags)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR);

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
		perror(name);
		exit(1);
	}
	return fd;
}

/* 10.0.0.2 -> 10.1.0.2 or fd00::2 -> fd01::2, behind tap0's MAC. */
static uint32_t build(uint8_t *fr, bool v6, uint8_t proto, uint32_t paylen)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 0x10,
					  2, 0, 0, 0, 0, 1 };
	static const uint8_t ip4[20] = { 0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0,
					 64, 0, 0, 0, 10, 0, 0, 2,
					 10, 1, 0, 2 };
	static const uint8_t ip6[40] = { 0x60, [7] = 64, [8] = 0xfd,
					 [23] = 2, [24] = 0xfd, [25] = 1,
					 [39] = 2 };
	static const uint8_t tcp[20] = { 0x9c, 0x40, 0, 80, 0, 0, 0, 1,
					 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff };
	static const uint8_t udp[8] = { 0x9c, 0x40, 0, 53 };
	uint32_t n = 14, l4;

	memcpy(fr, macs, 12);
	vmb_put_be16(fr + 12, v6 ? 0x86DD : 0x0800);
	memcpy(fr + n, v6 ? ip6 : ip4, v6 ? 40 : 20);
	fr[n + (v6 ? 6 : 9)] = proto;
	n += v6 ? 40 : 20;
	l4 = n;
	memcpy(fr + n, proto == 6 ? tcp : udp, proto == 6 ? 20 : 8);
	n += proto == 6 ? 20 : 8;
	for (uint32_t i = 0; i < paylen; i++)
		fr[n++] = (uint8_t)(i * 13 + 1);
	if (proto == 17) {
		vmb_put_be16(fr + l4 + 4, (uint16_t)(n - l4));
		if (v6)
			vmb_put_be16(fr + 18, (uint16_t)(n - l4));
		else
			vmb_put_be16(fr + 16, (uint16_t)(n - 14));
	}
	return n;
}

struct seen {
	unsigned segs, good;
	uint32_t bytes;
	bool in_order;
};

/* What tap1 gets within half a second of quiet. */
static void collect(int fd, uint8_t proto, struct seen *s)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	static uint8_t b[2048];
	struct nframe g;
	ssize_t r;

	memset(s, 0, sizeof(*s));
	s->in_order = true;
	while (poll(&p, 1, 500) > 0 && (r = read(fd, b, sizeof(b))) > 0) {
		if (nframe_parse(&g, b, (uint32_t)r, 0, 0) != NFRAME_OK ||
		    g.l4_proto != proto || !g.l4_hlen)
			continue; /* router solicitations and the like */
		for (uint32_t i = g.l4_off + g.l4_hlen; i < g.l3_end; i++)
			if (b[i] != (uint8_t)(s->bytes++ * 13 + 1))
				s->in_order = false;
		s->segs++;
		if (ncsum_l4_verify(b, &g) == NCSUM_L4_GOOD &&
		    (g.l3 == NFRAME_L3_IPV6 || ncsum_ip4_ok(b, &g)))
			s->good++;
	}
}

/* One send; keep_seed: Linux's seed left in place after the fix-up. */
static bool send_one(int t0, int t1, bool v6, uint8_t proto, bool keep_seed,
		     unsigned want_segs, unsigned want_good)
{
	static uint8_t fr[PAYLOAD + 100];
	uint32_t n = build(fr, v6, proto, PAYLOAD / (proto == 6 ? 1 : 10));
	struct vnet_offload o = {
		.csum = (v6 ? VNET_CSUM_IPV6 : VNET_CSUM_IPV4) | VNET_CSUM_UDP,
	};
	struct vnet_hdr h;
	struct nframe f;
	struct seen s;
	uint8_t seed[2];

	if (proto == 6)
		o = (struct vnet_offload){ .mss = MSS, .lso_v6 = v6 };
	if (nframe_parse(&f, fr, n, 0, proto == 6 ? NFRAME_F_LSO : 0)) {
		fprintf(stderr, "bad test frame\n");
		return false;
	}
	/* Linux netvsc fills the IPv4 header checksum of a checksum-offload
	 * send itself; an LSO send gets the length-less seed. */
	if (proto == 17)
		(void)ncsum_ip4_fill(fr, &f);
	else
		vmb_put_be16(fr + f.l4_off + 16,
			     ncsum_fold(ncsum_pseudo(fr, &f, 0)));
	memcpy(seed, fr + f.l4_off + 16, 2);
	if (ncsum_tx_prepare(fr, &f, &o, &h) != NCSUM_OK) {
		fprintf(stderr, "ncsum_tx_prepare refused the send\n");
		return false;
	}
	if (keep_seed)
		memcpy(fr + f.l4_off + 16, seed, 2);
	struct iovec iov[2] = { { &h, sizeof(h) }, { fr, n } };
	if (writev(t0, iov, 2) != (ssize_t)(sizeof(h) + n)) {
		perror("writev");
		return false;
	}
	collect(t1, proto, &s);
	printf("%s %s%s: %u segments, %u payload bytes%s, %u verify\n",
	       v6 ? "IPv6" : "IPv4", proto == 6 ? "LSO" : "UDP checksum",
	       keep_seed ? " (seed without the length)" : "", s.segs, s.bytes,
	       s.in_order ? "" : " OUT OF ORDER", s.good);
	return s.segs == want_segs && s.good == want_good && s.in_order &&
	       s.bytes == n - f.l4_off - (proto == 6 ? 20 : 8);
}

int main(void)
{
	int t0 = tap_open("tap0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	int t1 = tap_open("tap1", IFF_TAP | IFF_NO_PI);
	unsigned segs = (PAYLOAD + MSS - 1) / MSS;
	bool ok = true;

	if (system(setup) != 0) {
		fprintf(stderr, "network setup failed\n");
		return 1;
	}
	usleep(200 * 1000);
	for (int v6 = 0; v6 < 2; v6++) {
		ok &= send_one(t0, t1, v6, 6, false, segs, segs);
		ok &= send_one(t0, t1, v6, 6, true, segs, 0);
		ok &= send_one(t0, t1, v6, 17, false, 1, 1);
	}
	puts(ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}
