/* VMBus channel management message codec, shared by the guest (vmb_client)
 * and host (vmb_server) state machines.
 *
 * Decoding: vmb_msg_parse() checks a received message (size within the
 * type's minimum and VMB_MSG_MAX, known type) and copies it into a
 * zero-padded, fixed-size buffer, so that the state machines read fields
 * of a fully present struct whatever the sender's length was.
 *
 * Encoding: one function per message layout; each fills a buffer and
 * returns the number of bytes to post (0 if the arguments cannot form a
 * valid message). */
#ifndef HVIS_VMB_MSG_H
#define HVIS_VMB_MSG_H

#include "vmb_wire.h"

/* NTSTATUS values used in replies (OpenVMM vmbus_core). */
#define VMB_STATUS_SUCCESS 0u
#define VMB_STATUS_UNSUCCESSFUL 0x8000ffffu
#define VMB_STATUS_CONNECTION_REFUSED 0xc0000236u

/* VERSION_RESPONSE connection_state */
#define VMB_CONN_STATE_OK 0u

/* Every message, by layout; raw covers the whole SynIC payload. */
union vmb_msg_buf {
	struct vmb_msg_hdr hdr;
	struct vmb_msg_offer offer;
	struct vmb_msg_relid relid;
	struct vmb_msg_open open;
	struct vmb_msg_open_result open_result;
	struct vmb_msg_gpadl_header gpadl_header;
	struct vmb_msg_gpadl_body gpadl_body;
	struct vmb_msg_gpadl_created gpadl_created;
	struct vmb_msg_gpadl_teardown gpadl_teardown;
	struct vmb_msg_gpadl_torndown gpadl_torndown;
	struct vmb_msg_initiate_contact initiate_contact;
	struct vmb_msg_version_response version_response;
	struct vmb_msg_open_reserved open_reserved;
	struct vmb_msg_close_reserved close_reserved;
	struct vmb_msg_tl_connect_request tl_connect_request;
	struct vmb_msg_tl_connect_result tl_connect_result;
	struct vmb_msg_modify modify;
	struct vmb_msg_modify_response modify_response;
	uint8_t raw[VMB_MSG_MAX];
};
_Static_assert(sizeof(union vmb_msg_buf) == VMB_MSG_MAX, "message buffer");

/* Smallest valid length of a message of type, or 0 if the type is unknown
 * (0, >= 25). */
uint32_t vmb_msg_min_len(uint32_t type);
const char *vmb_msg_type_name(uint32_t type);

/* Check msg/len and copy it into *out (zero-filled past len). Returns the
 * message type (> 0), or VMB_EPROTO with *why set: VMB_BAD_TRUNCATED,
 * VMB_BAD_OVERSIZE or VMB_BAD_TYPE. Nothing is counted here. */
int vmb_msg_parse(union vmb_msg_buf *out, const void *msg, uint32_t len,
		  enum vmb_bad *why);

/* True if version is one of vmb_versions[]. */
bool vmb_msg_version_known(uint32_t version);
/* The connection id INITIATE_CONTACT for version is posted to. */
uint32_t vmb_msg_contact_conn_id(uint32_t version);

/* Messages that are a header only: REQUESTOFFERS, ALLOFFERS_DELIVERED,
 * UNLOAD, UNLOAD_RESPONSE. */
uint32_t vmb_msg_enc_empty(union vmb_msg_buf *b, uint32_t type);
/* Messages that carry only a relid: RESCIND_CHANNELOFFER, CLOSECHANNEL,
 * RELID_RELEASED, CLOSE_RESERVED_RESPONSE. */
uint32_t vmb_msg_enc_relid(union vmb_msg_buf *b, uint32_t type,
			   uint32_t relid);
/* OFFERCHANNEL: o is copied whole; the header type is set. */
uint32_t vmb_msg_enc_offer(union vmb_msg_buf *b,
			   const struct vmb_msg_offer *o);
/* OPENCHANNEL; user_len <= VMB_USERDEF_LEN, the rest of user data is 0. */
uint32_t vmb_msg_enc_open(union vmb_msg_buf *b, uint32_t relid,
			  uint32_t open_id, uint32_t gpadl, uint32_t target_vp,
			  uint32_t downstream_pgoff, const void *user,
			  uint32_t user_len);
uint32_t vmb_msg_enc_open_result(union vmb_msg_buf *b, uint32_t relid,
				 uint32_t open_id, uint32_t status);
/* GPADL_HEADER describing one range of total_pfns whole pages (byte
 * offset 0), carrying the first n (<= VMB_GPADL_HEADER_PFNS) of them.
 * total_pfns must keep range_buflen within 16 bits. */
uint32_t vmb_msg_enc_gpadl_header(union vmb_msg_buf *b, uint32_t relid,
				  uint32_t gpadl, uint32_t total_pfns,
				  const uint64_t *pfn, uint32_t n);
/* GPADL_BODY with n (1..VMB_GPADL_BODY_PFNS) PFNs. */
uint32_t vmb_msg_enc_gpadl_body(union vmb_msg_buf *b, uint32_t msg_number,
				uint32_t gpadl, const uint64_t *pfn,
				uint32_t n);
uint32_t vmb_msg_enc_gpadl_created(union vmb_msg_buf *b, uint32_t relid,
				   uint32_t gpadl, uint32_t status);
uint32_t vmb_msg_enc_gpadl_teardown(union vmb_msg_buf *b, uint32_t relid,
				    uint32_t gpadl);
uint32_t vmb_msg_enc_gpadl_torndown(union vmb_msg_buf *b, uint32_t gpadl);
/* INITIATE_CONTACT: below 5.0 the third field is interrupt_page; from 5.0
 * on it carries msg_sint = VMB_MSG_SINT (VTL 0) instead. */
uint32_t vmb_msg_enc_initiate_contact(union vmb_msg_buf *b, uint32_t version,
				      uint32_t target_vcpu,
				      uint64_t interrupt_page,
				      uint64_t monitor_page1,
				      uint64_t monitor_page2);
uint32_t vmb_msg_enc_version_response(union vmb_msg_buf *b, bool supported,
				      uint8_t connection_state,
				      uint32_t msg_conn_id);
uint32_t vmb_msg_enc_open_reserved(union vmb_msg_buf *b, uint32_t relid,
				   uint32_t target_vp, uint32_t target_sint,
				   uint32_t gpadl, uint32_t downstream_pgoff);
uint32_t vmb_msg_enc_close_reserved(union vmb_msg_buf *b, uint32_t relid,
				    uint32_t target_vp, uint32_t target_sint);
uint32_t vmb_msg_enc_tl_connect_request(union vmb_msg_buf *b,
					const struct vmb_guid *endpoint,
					const struct vmb_guid *service);
uint32_t vmb_msg_enc_tl_connect_result(union vmb_msg_buf *b,
				       const struct vmb_guid *endpoint,
				       const struct vmb_guid *service,
				       uint32_t status);
uint32_t vmb_msg_enc_modify(union vmb_msg_buf *b, uint32_t relid,
			    uint32_t target_vp);
uint32_t vmb_msg_enc_modify_response(union vmb_msg_buf *b, uint32_t relid,
				     uint32_t status);

#endif
