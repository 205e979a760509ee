/* VMBus channel management messages: the payloads of the synthetic (SynIC)
 * messages that guest and host exchange on the message connection.
 * All fields little-endian; every size is pinned by a static assertion. */
#ifndef HVIS_VMB_WIRE_H
#define HVIS_VMB_WIRE_H

#include "vmb_base.h"

#define VMB_MSG_MAX 240u            /* SynIC message payload limit */
#define VMB_USERDEF_LEN 120u        /* offer / open user data */
#define VMB_MSG_CONNECTION_ID 1u    /* message connection before 5.0 */
#define VMB_MSG_CONNECTION_ID_4 4u  /* INITIATE_CONTACT from 5.0 on */
#define VMB_MSG_SINT 2u             /* SINT the guest asks messages on */
#define VMB_RELID_MAX 4096u         /* largest relid either side accepts */

#define VMB_VERSION(maj, min) (((uint32_t)(maj) << 16) | (uint32_t)(min))
#define VMB_VERSION_WS2008 VMB_VERSION(0, 13)
#define VMB_VERSION_WIN7 VMB_VERSION(1, 1)
#define VMB_VERSION_WIN8 VMB_VERSION(2, 4)
#define VMB_VERSION_WIN8_1 VMB_VERSION(3, 0)
#define VMB_VERSION_WIN10 VMB_VERSION(4, 0)
#define VMB_VERSION_WIN10_V4_1 VMB_VERSION(4, 1)
#define VMB_VERSION_WIN10_V5 VMB_VERSION(5, 0)
#define VMB_VERSION_WIN10_V5_1 VMB_VERSION(5, 1)
#define VMB_VERSION_WIN10_V5_2 VMB_VERSION(5, 2)
#define VMB_VERSION_WIN10_V5_3 VMB_VERSION(5, 3)

enum vmb_msg_type {
	VMB_MSG_INVALID = 0,
	VMB_MSG_OFFERCHANNEL = 1,
	VMB_MSG_RESCIND_CHANNELOFFER = 2,
	VMB_MSG_REQUESTOFFERS = 3,
	VMB_MSG_ALLOFFERS_DELIVERED = 4,
	VMB_MSG_OPENCHANNEL = 5,
	VMB_MSG_OPENCHANNEL_RESULT = 6,
	VMB_MSG_CLOSECHANNEL = 7,
	VMB_MSG_GPADL_HEADER = 8,
	VMB_MSG_GPADL_BODY = 9,
	VMB_MSG_GPADL_CREATED = 10,
	VMB_MSG_GPADL_TEARDOWN = 11,
	VMB_MSG_GPADL_TORNDOWN = 12,
	VMB_MSG_RELID_RELEASED = 13,
	VMB_MSG_INITIATE_CONTACT = 14,
	VMB_MSG_VERSION_RESPONSE = 15,
	VMB_MSG_UNLOAD = 16,
	VMB_MSG_UNLOAD_RESPONSE = 17,
	VMB_MSG_OPEN_RESERVED = 18,	      /* 4.0+, guest->host */
	VMB_MSG_CLOSE_RESERVED = 19,	      /* any version, guest->host */
	VMB_MSG_CLOSE_RESERVED_RESPONSE = 20, /* 4.0+, host->guest */
	VMB_MSG_TL_CONNECT_REQUEST = 21,
	VMB_MSG_MODIFYCHANNEL = 22,
	VMB_MSG_TL_CONNECT_RESULT = 23,
	VMB_MSG_MODIFYCHANNEL_RESPONSE = 24,
	VMB_MSG__COUNT
};

#define VMB_WIRE __attribute__((packed))

struct VMB_WIRE vmb_msg_hdr {
	uint32_t type;
	uint32_t padding;
};
_Static_assert(sizeof(struct vmb_msg_hdr) == 8, "msg header");

/* Offer flags (chn_flags) */
#define VMB_CHAN_ENUMERATE_DEVICE_INTERFACE 0x0001
#define VMB_CHAN_NAMED_PIPE_MODE 0x0010
#define VMB_CHAN_REQUEST_MONITORED_NOTIFICATION 0x0400
#define VMB_CHAN_TLNPI_PROVIDER_OFFER 0x2000

struct VMB_WIRE vmb_wire_offer {
	struct vmb_guid if_type;
	struct vmb_guid if_instance;
	uint64_t reserved1;
	uint64_t reserved2;
	uint16_t chn_flags;
	uint16_t mmio_megabytes;
	uint8_t user_def[VMB_USERDEF_LEN];
	uint16_t sub_channel_index;
	uint16_t reserved3;
};
_Static_assert(sizeof(struct vmb_wire_offer) == 176, "offer body");

struct VMB_WIRE vmb_msg_offer {
	struct vmb_msg_hdr hdr;
	struct vmb_wire_offer offer;
	uint32_t child_relid;
	uint8_t monitor_id;
	uint8_t monitor_allocated; /* bit 0; bits 1-7 reserved */
	uint16_t dedicated_interrupt; /* bit 0 (Win7+); bits 1-15 reserved */
	uint32_t connection_id;       /* Win7+: the id the guest signals */
};
_Static_assert(sizeof(struct vmb_msg_offer) == 196, "OFFERCHANNEL");

struct VMB_WIRE vmb_msg_relid {
	/* RESCIND_CHANNELOFFER, CLOSECHANNEL, RELID_RELEASED,
	 * CLOSE_RESERVED_RESPONSE */
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
};
_Static_assert(sizeof(struct vmb_msg_relid) == 12, "relid message");

struct VMB_WIRE vmb_msg_open {
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
	uint32_t open_id;
	uint32_t ring_gpadl;
	uint32_t target_vp;
	uint32_t downstream_page_offset; /* host->guest ring, in pages */
	uint8_t user_data[VMB_USERDEF_LEN];
};
_Static_assert(sizeof(struct vmb_msg_open) == 148, "OPENCHANNEL");

struct VMB_WIRE vmb_msg_open_result {
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
	uint32_t open_id;
	uint32_t status; /* 0 = success */
};
_Static_assert(sizeof(struct vmb_msg_open_result) == 20, "OPEN_RESULT");

/* One range of a GPADL: byte_count bytes starting byte_offset into the
 * first page; the PFN count follows from both. */
struct VMB_WIRE vmb_wire_gpa_range {
	uint32_t byte_count;
	uint32_t byte_offset;
	/* uint64_t pfn[] follows */
};
_Static_assert(sizeof(struct vmb_wire_gpa_range) == 8, "gpa range");

struct VMB_WIRE vmb_msg_gpadl_header {
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
	uint32_t gpadl;
	uint16_t range_buflen; /* bytes of ranges incl. all their PFNs */
	uint16_t range_count;
	/* struct vmb_wire_gpa_range + pfns follow */
};
_Static_assert(sizeof(struct vmb_msg_gpadl_header) == 20, "GPADL_HEADER");

struct VMB_WIRE vmb_msg_gpadl_body {
	struct vmb_msg_hdr hdr;
	uint32_t msg_number;
	uint32_t gpadl;
	/* uint64_t pfn[] follows */
};
_Static_assert(sizeof(struct vmb_msg_gpadl_body) == 16, "GPADL_BODY");

/* PFNs that fit: header carries one range descriptor before its PFNs. */
#define VMB_GPADL_HEADER_PFNS                                                  \
	((VMB_MSG_MAX - sizeof(struct vmb_msg_gpadl_header) -                  \
	  sizeof(struct vmb_wire_gpa_range)) / 8)
#define VMB_GPADL_BODY_PFNS                                                    \
	((VMB_MSG_MAX - sizeof(struct vmb_msg_gpadl_body)) / 8)
_Static_assert(VMB_GPADL_HEADER_PFNS == 26, "PFNs per GPADL_HEADER");
_Static_assert(VMB_GPADL_BODY_PFNS == 28, "PFNs per GPADL_BODY");

struct VMB_WIRE vmb_msg_gpadl_created {
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
	uint32_t gpadl;
	uint32_t status; /* 0 = success */
};
_Static_assert(sizeof(struct vmb_msg_gpadl_created) == 20, "GPADL_CREATED");

struct VMB_WIRE vmb_msg_gpadl_teardown {
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
	uint32_t gpadl;
};
_Static_assert(sizeof(struct vmb_msg_gpadl_teardown) == 16, "GPADL_TEARDOWN");

struct VMB_WIRE vmb_msg_gpadl_torndown {
	struct vmb_msg_hdr hdr;
	uint32_t gpadl;
};
_Static_assert(sizeof(struct vmb_msg_gpadl_torndown) == 12, "GPADL_TORNDOWN");

/* INITIATE_CONTACT has two layouts of its third field: before 5.0 it is
 * the guest's interrupt page GPA; from 5.0 on it names the SINT (and VTL)
 * on which the guest wants channel messages. */
struct VMB_WIRE vmb_msg_initiate_contact {
	struct vmb_msg_hdr hdr;
	uint32_t version;
	uint32_t target_vcpu;
	union VMB_WIRE {
		uint64_t interrupt_page; /* < 5.0 */
		struct VMB_WIRE {
			uint8_t msg_sint; /* >= 5.0 */
			uint8_t msg_vtl;
			uint8_t reserved[6];
		};
	};
	uint64_t monitor_page1;
	uint64_t monitor_page2;
};
_Static_assert(sizeof(struct vmb_msg_initiate_contact) == 40,
	       "INITIATE_CONTACT");

struct VMB_WIRE vmb_msg_version_response {
	struct vmb_msg_hdr hdr;
	uint8_t version_supported;
	uint8_t connection_state;
	uint16_t padding;
	/* >= 5.0: connection id for later guest messages; below 5.0 guests
	 * ignore it (OpenVMM echoes the version there). */
	uint32_t msg_conn_id;
};
_Static_assert(sizeof(struct vmb_msg_version_response) == 16,
	       "VERSION_RESPONSE");

/* Reserved channels (OpenVMM vmbus_core and vmbus_server; the Hyper-V
 * UEFI firmware's ChannelMessages.h has the same layouts): the guest opens
 * an offered channel whose host messages go to the VP and SINT it names
 * instead of the connection's, and which stays open across UNLOAD. The
 * host answers OPEN_RESERVED with an OPENCHANNEL_RESULT (open_id 0) and,
 * once the channel is closed, CLOSE_RESERVED with CLOSE_RESERVED_RESPONSE
 * (a vmb_msg_relid), both to the VP and SINT named. OPEN_RESERVED and the
 * response exist from 4.0; OpenVMM takes CLOSE_RESERVED at any version,
 * even while disconnected. target_sint is 32 bits on the wire; OpenVMM
 * uses its low byte. */
struct VMB_WIRE vmb_msg_open_reserved {
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
	uint32_t target_vp;
	uint32_t target_sint;
	uint32_t ring_gpadl;
	uint32_t downstream_page_offset; /* host->guest ring, in pages */
};
_Static_assert(sizeof(struct vmb_msg_open_reserved) == 28, "OPEN_RESERVED");

struct VMB_WIRE vmb_msg_close_reserved {
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
	uint32_t target_vp;   /* where the response is to go */
	uint32_t target_sint;
};
_Static_assert(sizeof(struct vmb_msg_close_reserved) == 20, "CLOSE_RESERVED");

struct VMB_WIRE vmb_msg_tl_connect_request {
	struct vmb_msg_hdr hdr;
	struct vmb_guid guest_endpoint_id;
	struct vmb_guid host_service_id;
};
_Static_assert(sizeof(struct vmb_msg_tl_connect_request) == 40,
	       "TL_CONNECT_REQUEST");

/* Sent (4.1+) only to refuse a TL_CONNECT_REQUEST; the endpoint id comes
 * first, as in the request (OpenVMM vmbus_core TlConnectResult). */
struct VMB_WIRE vmb_msg_tl_connect_result {
	struct vmb_msg_hdr hdr;
	struct vmb_guid endpoint_id;
	struct vmb_guid service_id;
	uint32_t status; /* NTSTATUS */
};
_Static_assert(sizeof(struct vmb_msg_tl_connect_result) == 44,
	       "TL_CONNECT_RESULT");

struct VMB_WIRE vmb_msg_modify {
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
	uint32_t target_vp;
};
_Static_assert(sizeof(struct vmb_msg_modify) == 16, "MODIFYCHANNEL");

struct VMB_WIRE vmb_msg_modify_response {
	struct vmb_msg_hdr hdr;
	uint32_t child_relid;
	uint32_t status;
};
_Static_assert(sizeof(struct vmb_msg_modify_response) == 16,
	       "MODIFYCHANNEL_RESPONSE");

#endif
