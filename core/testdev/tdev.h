/* Parsing and data pattern of the hvis test device (tdev_wire.h), shared
 * by the host device and the guest driver. Freestanding. */
#ifndef HVIS_TDEV_H
#define HVIS_TDEV_H

#include "tdev_wire.h"

/* A checked request or DATA message. */
struct tdev_msg {
	enum tdev_op op;
	uint32_t arg0; /* QUERY version, MODE mode, DATA seq, SOURCE count,
			* SUBCHANNELS count */
	uint32_t arg1; /* SOURCE size */
	const uint8_t *data; /* DATA bytes */
	uint32_t data_len;
};

/* Validate buf (a packet payload, possibly with up to 7 bytes of tail
 * padding) against the formats and limits of tdev_wire.h. TDEV_ST_OK or
 * TDEV_ST_INVALID. */
enum tdev_status tdev_parse(const void *buf, uint32_t len, struct tdev_msg *m);

/* Decode a completion: TDEV_ST_INVALID if shorter than one. Its fields
 * are the peer's word; the caller checks op and status against what it
 * asked. */
enum tdev_status tdev_parse_comp(const void *buf, uint32_t len,
				 struct tdev_comp *c);

/* DATA pattern: byte i = (seq + i) & 0xff. */
void tdev_fill(uint8_t *p, uint32_t len, uint32_t seq);
bool tdev_check(const uint8_t *p, uint32_t len, uint32_t seq);

#endif
