/* The RSS indirection-table index each named flow hashes to, as netvsp
 * must compute it for the frames it steers: the Toeplitz hash (core/net
 * rss) under the key and hash types hvis-guest's netvsc sets (the
 * standard key; IPv4 and IPv6 addresses, with TCP ports), its low 7
 * bits. net-multichannel.sh turns an index into the channel its table
 * names there.
 * Usage: rss_index SRC-IPV4 DST-IPV4 DPORT SPORT... (one index a line) */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "net/rndis_guest.h"
#include "net/rss.h"

/* what netvsc's RSS parameters enable (rndis_guest.c) */
#define GUEST_TYPES (RSS_HASH_FUNC_TOEPLITZ | RSS_HASH_IPV4 | \
		     RSS_HASH_TCP_IPV4 | RSS_HASH_IPV6 | RSS_HASH_TCP_IPV6)

static struct rss_cfg cfg;

static unsigned long port(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end || !*s || v > 65535) {
		fprintf(stderr, "rss_index: bad port '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	uint8_t src[4], dst[4], ports[4];
	unsigned long dport;
	struct rss_tuple t;

	if (argc < 5 || inet_pton(AF_INET, argv[1], src) != 1 ||
	    inet_pton(AF_INET, argv[2], dst) != 1) {
		fprintf(stderr, "usage: rss_index SRC DST DPORT SPORT...\n");
		return 2;
	}
	rss_cfg_set_key(&cfg, rndis_default_rss_key, NDIS_RSS_KEY_LEN);
	rss_cfg_set_types(&cfg, GUEST_TYPES);
	dport = port(argv[3]);
	for (int i = 4; i < argc; i++) {
		unsigned long sport = port(argv[i]);

		ports[0] = (uint8_t)(sport >> 8);
		ports[1] = (uint8_t)sport;
		ports[2] = (uint8_t)(dport >> 8);
		ports[3] = (uint8_t)dport;
		rss_tuple_make(&t, cfg.types, 4, src, dst, 6, ports);
		printf("%lu %u\n", sport,
		       rss_hash(&cfg, &t) & (RSS_TABLE_SIZE - 1));
	}
	return 0;
}
