/* Fuzz the test device's parsers (core/testdev/tdev.h) on arbitrary
 * bytes, as the host device and the guest driver see packet payloads.
 * Whatever the parser accepts is checked against the limits of
 * tdev_wire.h and its data read in full, so a length that lets DATA
 * escape the payload is caught by the sanitizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testdev/tdev.h"

static volatile uint64_t sink;

static void check_msg(const uint8_t *buf, uint32_t len,
		      const struct tdev_msg *m)
{
	switch (m->op) {
	case TDEV_OP_QUERY:
		break;
	case TDEV_OP_MODE:
		if (m->arg0 >= TDEV_MODE__COUNT)
			abort();
		break;
	case TDEV_OP_SOURCE:
		if (m->arg0 > TDEV_SOURCE_MAX_COUNT || !m->arg1 ||
		    m->arg1 > TDEV_DATA_MAX)
			abort();
		break;
	case TDEV_OP_SUBCHANNELS:
		if (!m->arg0 || m->arg0 > TDEV_MAX_SUBCHANNELS)
			abort();
		break;
	case TDEV_OP_DATA:
		/* Inside the payload, at most 7 bytes of padding after. */
		if (m->data != buf + sizeof(struct tdev_data) ||
		    m->data_len != m->arg1 || m->data_len > TDEV_DATA_MAX ||
		    sizeof(struct tdev_data) + (uint64_t)m->data_len > len ||
		    len - sizeof(struct tdev_data) - m->data_len > 7)
			abort();
		for (uint32_t i = 0; i < m->data_len; i++)
			sink += m->data[i];
		/* and again the way the host's sink checks them */
		sink += tdev_check(m->data, m->data_len, m->arg0);
		break;
	default:
		abort(); /* an unknown op was accepted */
	}
	if (m->op != TDEV_OP_DATA && (m->data || m->data_len))
		abort();
}

static void check_fill(const struct tdev_msg *m)
{
	uint8_t *p;

	if (m->op != TDEV_OP_DATA || !m->data_len)
		return;
	p = malloc(m->data_len);
	if (!p)
		return;
	tdev_fill(p, m->data_len, m->arg0);
	if (!tdev_check(p, m->data_len, m->arg0))
		abort();
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdev_comp c;
	struct tdev_msg m;
	uint8_t *buf;

	if (size > sizeof(struct tdev_data) + TDEV_DATA_MAX + 64)
		return 0;
	/* An exact-size copy, as the packet payload a reader holds. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (tdev_parse(buf, (uint32_t)size, &m) == TDEV_ST_OK) {
		check_msg(buf, (uint32_t)size, &m);
		check_fill(&m);
	} else if (m.data || m.data_len) {
		abort(); /* a rejected message must not hand out data */
	}
	if (tdev_parse_comp(buf, (uint32_t)size, &c) == TDEV_ST_OK) {
		if (size < sizeof(c))
			abort();
		sink += c.op + c.status + c.value + c.value2 + c.packets +
			c.bytes + c.errors;
	}
	free(buf);
	return 0;
}
