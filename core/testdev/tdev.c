/* Test device message parsing: every length and limit checked before a
 * field is believed. */
#include "tdev.h"

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	vmb_memcpy(&v, p, sizeof(v));
	return vmb_le32(v);
}

static enum tdev_status parse_fixed(const uint8_t *p, uint32_t len,
				    struct tdev_msg *m)
{
	/* Every request is 16 bytes: header then two 32-bit words. */
	if (len < 16)
		return TDEV_ST_INVALID;
	m->arg0 = rd32(p + 8);
	m->arg1 = rd32(p + 12);
	switch (m->op) {
	case TDEV_OP_QUERY:
		return TDEV_ST_OK;
	case TDEV_OP_MODE:
		return m->arg0 < TDEV_MODE__COUNT ? TDEV_ST_OK
						  : TDEV_ST_INVALID;
	case TDEV_OP_SOURCE:
		if (m->arg0 > TDEV_SOURCE_MAX_COUNT || m->arg1 == 0 ||
		    m->arg1 > TDEV_DATA_MAX)
			return TDEV_ST_INVALID;
		return TDEV_ST_OK;
	case TDEV_OP_SUBCHANNELS:
		if (m->arg0 == 0 || m->arg0 > TDEV_MAX_SUBCHANNELS)
			return TDEV_ST_INVALID;
		return TDEV_ST_OK;
	case TDEV_OP_DATA:
		/* arg1 is the data length; it must fit what arrived (the
		 * packet may carry up to 7 bytes of padding beyond it). */
		if (m->arg1 > TDEV_DATA_MAX || m->arg1 > len - 16 ||
		    len - 16 - m->arg1 > 7)
			return TDEV_ST_INVALID;
		m->data = p + 16;
		m->data_len = m->arg1;
		return TDEV_ST_OK;
	}
	return TDEV_ST_INVALID;
}

enum tdev_status tdev_parse(const void *buf, uint32_t len, struct tdev_msg *m)
{
	const uint8_t *p = buf;

	vmb_memset(m, 0, sizeof(*m));
	if (!buf || len < sizeof(struct tdev_hdr))
		return TDEV_ST_INVALID;
	m->op = (enum tdev_op)rd32(p);
	return parse_fixed(p, len, m);
}

enum tdev_status tdev_parse_comp(const void *buf, uint32_t len,
				 struct tdev_comp *c)
{
	if (!buf || len < sizeof(*c))
		return TDEV_ST_INVALID;
	vmb_memcpy(c, buf, sizeof(*c));
	c->op = vmb_le32(c->op);
	c->status = vmb_le32(c->status);
	c->value = vmb_le32(c->value);
	c->value2 = vmb_le32(c->value2);
	c->packets = vmb_le64(c->packets);
	c->bytes = vmb_le64(c->bytes);
	c->errors = vmb_le64(c->errors);
	return TDEV_ST_OK;
}

void tdev_fill(uint8_t *p, uint32_t len, uint32_t seq)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq + i);
}

bool tdev_check(const uint8_t *p, uint32_t len, uint32_t seq)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seq + i))
			return false;
	return true;
}
