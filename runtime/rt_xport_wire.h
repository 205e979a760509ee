/* Framing of the emulated synthetic-message transport. Hyper-V carries
 * channel messages as SynIC messages posted to a connection id; hvis
 * carries each as one SOCK_SEQPACKET datagram: this header, then the
 * message. Descriptors (guest memory, channel eventfds) ride along as
 * SCM_RIGHTS on the frame that needs them. */
#ifndef HVIS_RT_XPORT_WIRE_H
#define HVIS_RT_XPORT_WIRE_H

#include <stdint.h>

#include "vmbus/vmb_wire.h"

#define RT_XPORT_MAGIC 0x53495648u /* "HVIS" */
#define RT_XPORT_VERSION 1u

enum rt_frame_type {
	/* guest -> host, first frame: guest memory memfd attached;
	 * payload struct rt_frame_memory */
	RT_FRAME_MEMORY = 1,
	/* either way: a posted channel message (HvPostMessage); conn_id is
	 * the connection id (guest -> host) or the SINT (host -> guest) */
	RT_FRAME_MSG = 2,
	/* host -> guest, instead of anything else: the host will not take
	 * this guest; payload: why, UTF-8 text (not NUL-terminated) */
	RT_FRAME_REFUSED = 3,
};

struct __attribute__((packed)) rt_frame_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t nfds;   /* descriptors attached to this frame */
	uint32_t conn_id;
	uint32_t len;    /* payload bytes after this header */
};
_Static_assert(sizeof(struct rt_frame_hdr) == 16, "frame header");

struct __attribute__((packed)) rt_frame_memory {
	uint32_t version;
	uint32_t reserved;
	uint64_t size; /* bytes of guest memory */
};
_Static_assert(sizeof(struct rt_frame_memory) == 16, "memory frame");

#define RT_FRAME_MAX (sizeof(struct rt_frame_hdr) + VMB_MSG_MAX)
#define RT_FRAME_MAX_FDS 4

#endif
