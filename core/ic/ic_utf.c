#include "ic_utf.h"

const char *ic_utf_strerror(int err)
{
	switch (err) {
	case IC_UTF_OK: return "ok";
	case IC_UTF_ENOSPACE: return "string does not fit its field";
	case IC_UTF_EODD: return "odd UTF-16 byte count";
	case IC_UTF_EUNPAIRED: return "unpaired UTF-16 surrogate";
	case IC_UTF_EBYTE: return "invalid UTF-8 lead byte";
	case IC_UTF_ETRUNC: return "truncated UTF-8 sequence";
	case IC_UTF_EOVERLONG: return "overlong UTF-8 sequence";
	case IC_UTF_ESURROGATE: return "UTF-8 encoded surrogate";
	case IC_UTF_ERANGE: return "code point above U+10FFFF";
	case IC_UTF_ENUL: return "NUL inside UTF-8 string";
	default: return "unknown UTF error";
	}
}

size_t ic_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static unsigned utf8_len(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static void put_utf8(char *d, uint32_t cp, unsigned n)
{
	static const uint8_t lead[5] = { 0, 0x00, 0xc0, 0xe0, 0xf0 };

	for (unsigned i = n - 1; i > 0; i--) {
		d[i] = (char)(0x80 | (cp & 0x3f));
		cp >>= 6;
	}
	d[0] = (char)(lead[n] | cp);
}

int ic_utf16_to_utf8(const uint8_t *src, size_t src_bytes, char *dst,
		     size_t cap, size_t *out_len)
{
	size_t o = 0;

	if (src_bytes & 1)
		return IC_UTF_EODD;
	if (cap == 0)
		return IC_UTF_ENOSPACE;
	for (size_t i = 0; i + 2 <= src_bytes; i += 2) {
		uint32_t cp = rd16(src + i);

		if (cp == 0)
			break;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return IC_UTF_EUNPAIRED;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			uint32_t lo;

			if (i + 4 > src_bytes)
				return IC_UTF_EUNPAIRED;
			lo = rd16(src + i + 2);
			if (lo < 0xdc00 || lo > 0xdfff)
				return IC_UTF_EUNPAIRED;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			i += 2;
		}
		unsigned n = utf8_len(cp);
		if (o + n + 1 > cap)
			return IC_UTF_ENOSPACE;
		put_utf8(dst + o, cp, n);
		o += n;
	}
	dst[o] = 0;
	if (out_len)
		*out_len = o;
	return IC_UTF_OK;
}

/* Decodes one UTF-8 sequence at s[0..len); returns its length or an
 * IC_UTF_E* code. */
static int get_utf8(const uint8_t *s, size_t len, uint32_t *cp)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint8_t b = s[0];
	unsigned n;
	uint32_t v;

	if (b == 0)
		return IC_UTF_ENUL;
	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b < 0xc0 || b > 0xf7)
		return IC_UTF_EBYTE;
	n = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
	v = b & (0x7f >> n);
	if (len < n)
		return IC_UTF_ETRUNC;
	for (unsigned i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return IC_UTF_ETRUNC;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min_cp[n])
		return IC_UTF_EOVERLONG;
	if (v >= 0xd800 && v <= 0xdfff)
		return IC_UTF_ESURROGATE;
	if (v > 0x10ffff)
		return IC_UTF_ERANGE;
	*cp = v;
	return (int)n;
}

int ic_utf8_check(const char *s, size_t len)
{
	const uint8_t *u = (const uint8_t *)s;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		int n = get_utf8(u + i, len - i, &cp);

		if (n < 0)
			return n;
		i += (size_t)n;
	}
	return IC_UTF_OK;
}

static void wr16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Shared by the strict and the cutting conversion: with may_cut, the
 * first character that does not fit ends the string, once the rest has
 * been checked. */
static int utf8_to_utf16(const uint8_t *s, size_t len, uint8_t *dst,
			 size_t cap, uint32_t *out_bytes, bool may_cut,
			 bool *cut)
{
	size_t o = 0;

	*cut = false;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int n = get_utf8(s + i, len - i, &cp);

		if (n < 0)
			return n;
		size_t need = cp >= 0x10000 ? 4 : 2;
		if (o + need + 2 > cap) {
			if (!may_cut)
				return IC_UTF_ENOSPACE;
			int rc = ic_utf8_check((const char *)s + i, len - i);
			if (rc)
				return rc;
			*cut = true;
			break;
		}
		i += (size_t)n;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			wr16(dst + o, 0xd800 | cp >> 10);
			wr16(dst + o + 2, 0xdc00 | (cp & 0x3ff));
		} else {
			wr16(dst + o, cp);
		}
		o += need;
	}
	if (o + 2 > cap)
		return IC_UTF_ENOSPACE;
	wr16(dst + o, 0);
	if (out_bytes)
		*out_bytes = (uint32_t)(o + 2);
	return IC_UTF_OK;
}

int ic_utf8_to_utf16(const char *src, size_t len, uint8_t *dst, size_t cap,
		     uint32_t *out_bytes)
{
	bool cut;

	return utf8_to_utf16((const uint8_t *)src, len, dst, cap, out_bytes,
			     false, &cut);
}

int ic_utf8_to_utf16_cut(const char *src, size_t len, uint8_t *dst,
			 size_t cap, uint32_t *out_bytes, bool *cut)
{
	bool c;
	int rc = utf8_to_utf16((const uint8_t *)src, len, dst, cap,
			       out_bytes, true, &c);

	if (cut)
		*cut = rc == IC_UTF_OK && c;
	return rc;
}
