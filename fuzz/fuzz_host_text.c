/* Host side checks of text the guest sends (hic_text.h, hic_priv.h).
 * data[0] % 3 picks what to feed:
 *   0: the string form of a GET_IP_INFO answer, data[2..] split at NUL
 *      bytes into ip_addr, subnet, gateway and dns;
 *   1: the binary form, data[2..7] the counts (n_ipv4 .. n_dns6), the
 *      rest copied over the address arrays;
 *   (for both, data[1] is the size of a buffer the text is cut to)
 *   2: a KVP key or value, an OS name: data[1..] up to a NUL, through
 *      hic_put_guest_text.
 * Aborts if the IP text differs between the sizing and the writing call,
 * is cut wrongly, or holds anything but the lines it promises, or if
 * guest text comes out with a control character. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hic_priv.h"
#include "hic_text.h"

static struct kvp_ip ip;

/* Copies up to a NUL or the end of data[0..n) into dst[cap]; returns the
 * bytes used, the NUL included. */
static size_t take_field(const uint8_t *data, size_t n, char *dst,
			 size_t cap)
{
	const uint8_t *nul = memchr(data, 0, n);
	size_t len = nul ? (size_t)(nul - data) : n;

	if (len >= cap)
		len = cap - 1;
	memcpy(dst, data, len);
	dst[len] = '\0';
	return len + (nul && data + len == nul);
}

static void fill_str(const uint8_t *data, size_t n)
{
	char *f[] = { ip.ip_addr, ip.subnet, ip.gateway, ip.dns };
	size_t cap[] = { sizeof(ip.ip_addr), sizeof(ip.subnet),
			 sizeof(ip.gateway), sizeof(ip.dns) };

	for (unsigned i = 0; i < 4; i++) {
		size_t used = take_field(data, n, f[i], cap[i]);

		data += used;
		n -= used;
	}
}

static void fill_bin(const uint8_t *data, size_t n)
{
	uint32_t *cnt[] = { &ip.n_ipv4, &ip.n_ipv6, &ip.n_gw4, &ip.n_gw6,
			    &ip.n_dns4, &ip.n_dns6 };
	size_t arrays = sizeof(ip) - offsetof(struct kvp_ip, ipv4);

	for (unsigned i = 0; i < 6 && i < n; i++)
		*cnt[i] = data[i];
	if (n <= 6)
		return;
	data += 6;
	n -= 6;
	memcpy((uint8_t *)&ip + offsetof(struct kvp_ip, ipv4), data,
	       n < arrays ? n : arrays);
}

/* One line of the IP text: a label, blanks, an address of either family,
 * and for "Address:" maybe /PREFIX in its family's range. */
static void check_line(char *line)
{
	static const char *const labels[] = { "Address:", "Gateway:",
					      "DNS:" };
	uint8_t a[16];
	char *addr, *slash;
	unsigned i;
	int max;

	for (i = 0; i < 3; i++)
		if (!strncmp(line, labels[i], strlen(labels[i])))
			break;
	if (i == 3 || strlen(line) < 10 || line[9] != ' ')
		abort();
	addr = line + 10;
	slash = strchr(addr, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, addr, a) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		max = 128;
	else
		abort();
	if (slash && (i != 0 || strspn(slash + 1, "0123456789") !=
			       strlen(slash + 1) ||
		      !slash[1] || atoi(slash + 1) > max))
		abort();
}

static void check_ip(bool binary, size_t small)
{
	size_t len, len2, len3;
	bool ok = hic_ip_text(&ip, binary, NULL, 0, &len);
	char *text = malloc(len + 1), *cut = malloc(small + 1);

	if (!text || !cut)
		abort();
	if (hic_ip_text(&ip, binary, text, len + 1, &len2) != ok ||
	    len2 != len || (ok && strlen(text) != len) ||
	    hic_ip_text(&ip, binary, cut, small + 1, &len3) != ok ||
	    len3 != len || strncmp(cut, text, small) ||
	    strlen(cut) != (small < len ? small : len))
		abort();
	for (char *line = text, *nl; ok && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			abort();
		*nl = '\0';
		check_line(line);
	}
	free(cut);
	free(text);
}

static void check_guest_text(const uint8_t *data, size_t n)
{
	char *in = malloc(n + 1), *out = NULL;
	size_t len = 0;
	FILE *f;

	if (!in)
		abort();
	memcpy(in, data, n);
	in[n] = '\0';
	f = open_memstream(&out, &len);
	if (!f)
		abort();
	hic_put_guest_text(f, in, "|");
	if (fclose(f) || !len || out[len - 1] != '|')
		abort();
	for (size_t i = 0; i + 1 < len; i++) {
		uint8_t c = (uint8_t)out[i];

		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && (uint8_t)out[i + 1] >= 0x80 &&
		     (uint8_t)out[i + 1] <= 0x9f))
			abort();
	}
	free(out);
	free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	memset(&ip, 0, sizeof(ip));
	switch (data[0] % 3) {
	case 0:
		fill_str(data + 2, size - 2);
		check_ip(false, data[1]);
		break;
	case 1:
		fill_bin(data + 2, size - 2);
		check_ip(true, data[1]);
		break;
	default:
		check_guest_text(data + 1, size - 1);
		break;
	}
	return 0;
}
