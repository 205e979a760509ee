#include "vmb_msg.h"
#include "vmb_client.h" /* declares vmb_versions, vmb_version_name */

const uint32_t vmb_versions[] = {
	VMB_VERSION_WIN10_V5_3, VMB_VERSION_WIN10_V5_2,
	VMB_VERSION_WIN10_V5_1, VMB_VERSION_WIN10_V5,
	VMB_VERSION_WIN10_V4_1, VMB_VERSION_WIN10,
	VMB_VERSION_WIN8_1,     VMB_VERSION_WIN8,
	VMB_VERSION_WIN7,       VMB_VERSION_WS2008,
};
const unsigned vmb_versions_count = VMB_ARRAY_LEN(vmb_versions);

/* Names as Linux's hyperv.h gives them. */
static const char *const version_names[] = {
	"5.3 (WS2022)",
	"5.2 (WS2019)",
	"5.1 (WIN10 RS4)",
	"5.0 (WIN10, newer)",
	"4.1 (WIN10 RS3)",
	"4.0 (WIN10)",
	"3.0 (WIN8.1)",
	"2.4 (WIN8)",
	"1.1 (WIN7)",
	"0.13 (WS2008)",
};
_Static_assert(VMB_ARRAY_LEN(version_names) == VMB_ARRAY_LEN(vmb_versions),
	       "a name per version");

const char *vmb_version_name(uint32_t version)
{
	for (unsigned i = 0; i < vmb_versions_count; i++)
		if (vmb_versions[i] == version)
			return version_names[i];
	return "unknown";
}

bool vmb_msg_version_known(uint32_t version)
{
	for (unsigned i = 0; i < vmb_versions_count; i++)
		if (vmb_versions[i] == version)
			return true;
	return false;
}

uint32_t vmb_msg_contact_conn_id(uint32_t version)
{
	return version >= VMB_VERSION_WIN10_V5 ? VMB_MSG_CONNECTION_ID_4
					       : VMB_MSG_CONNECTION_ID;
}

/* Longer messages than these minimums are valid: newer protocol revisions
 * append fields (OPENCHANNEL2, TL_CONNECT_REQUEST2, INITIATE_CONTACT2). */
static const uint8_t min_len[VMB_MSG__COUNT] = {
	[VMB_MSG_OFFERCHANNEL] = sizeof(struct vmb_msg_offer),
	[VMB_MSG_RESCIND_CHANNELOFFER] = sizeof(struct vmb_msg_relid),
	[VMB_MSG_REQUESTOFFERS] = sizeof(struct vmb_msg_hdr),
	[VMB_MSG_ALLOFFERS_DELIVERED] = sizeof(struct vmb_msg_hdr),
	[VMB_MSG_OPENCHANNEL] = sizeof(struct vmb_msg_open),
	[VMB_MSG_OPENCHANNEL_RESULT] = sizeof(struct vmb_msg_open_result),
	[VMB_MSG_CLOSECHANNEL] = sizeof(struct vmb_msg_relid),
	[VMB_MSG_GPADL_HEADER] = sizeof(struct vmb_msg_gpadl_header),
	[VMB_MSG_GPADL_BODY] = sizeof(struct vmb_msg_gpadl_body),
	[VMB_MSG_GPADL_CREATED] = sizeof(struct vmb_msg_gpadl_created),
	[VMB_MSG_GPADL_TEARDOWN] = sizeof(struct vmb_msg_gpadl_teardown),
	[VMB_MSG_GPADL_TORNDOWN] = sizeof(struct vmb_msg_gpadl_torndown),
	[VMB_MSG_RELID_RELEASED] = sizeof(struct vmb_msg_relid),
	[VMB_MSG_INITIATE_CONTACT] = sizeof(struct vmb_msg_initiate_contact),
	[VMB_MSG_VERSION_RESPONSE] = sizeof(struct vmb_msg_version_response),
	[VMB_MSG_UNLOAD] = sizeof(struct vmb_msg_hdr),
	[VMB_MSG_UNLOAD_RESPONSE] = sizeof(struct vmb_msg_hdr),
	[VMB_MSG_OPEN_RESERVED] = sizeof(struct vmb_msg_open_reserved),
	[VMB_MSG_CLOSE_RESERVED] = sizeof(struct vmb_msg_close_reserved),
	[VMB_MSG_CLOSE_RESERVED_RESPONSE] = sizeof(struct vmb_msg_relid),
	[VMB_MSG_TL_CONNECT_REQUEST] = sizeof(struct vmb_msg_tl_connect_request),
	[VMB_MSG_MODIFYCHANNEL] = sizeof(struct vmb_msg_modify),
	[VMB_MSG_TL_CONNECT_RESULT] = sizeof(struct vmb_msg_tl_connect_result),
	[VMB_MSG_MODIFYCHANNEL_RESPONSE] = sizeof(struct vmb_msg_modify_response),
};

static const char *const type_names[VMB_MSG__COUNT] = {
	[VMB_MSG_OFFERCHANNEL] = "OFFERCHANNEL",
	[VMB_MSG_RESCIND_CHANNELOFFER] = "RESCIND_CHANNELOFFER",
	[VMB_MSG_REQUESTOFFERS] = "REQUESTOFFERS",
	[VMB_MSG_ALLOFFERS_DELIVERED] = "ALLOFFERS_DELIVERED",
	[VMB_MSG_OPENCHANNEL] = "OPENCHANNEL",
	[VMB_MSG_OPENCHANNEL_RESULT] = "OPENCHANNEL_RESULT",
	[VMB_MSG_CLOSECHANNEL] = "CLOSECHANNEL",
	[VMB_MSG_GPADL_HEADER] = "GPADL_HEADER",
	[VMB_MSG_GPADL_BODY] = "GPADL_BODY",
	[VMB_MSG_GPADL_CREATED] = "GPADL_CREATED",
	[VMB_MSG_GPADL_TEARDOWN] = "GPADL_TEARDOWN",
	[VMB_MSG_GPADL_TORNDOWN] = "GPADL_TORNDOWN",
	[VMB_MSG_RELID_RELEASED] = "RELID_RELEASED",
	[VMB_MSG_INITIATE_CONTACT] = "INITIATE_CONTACT",
	[VMB_MSG_VERSION_RESPONSE] = "VERSION_RESPONSE",
	[VMB_MSG_UNLOAD] = "UNLOAD",
	[VMB_MSG_UNLOAD_RESPONSE] = "UNLOAD_RESPONSE",
	[VMB_MSG_OPEN_RESERVED] = "OPEN_RESERVED",
	[VMB_MSG_CLOSE_RESERVED] = "CLOSE_RESERVED",
	[VMB_MSG_CLOSE_RESERVED_RESPONSE] = "CLOSE_RESERVED_RESPONSE",
	[VMB_MSG_TL_CONNECT_REQUEST] = "TL_CONNECT_REQUEST",
	[VMB_MSG_MODIFYCHANNEL] = "MODIFYCHANNEL",
	[VMB_MSG_TL_CONNECT_RESULT] = "TL_CONNECT_RESULT",
	[VMB_MSG_MODIFYCHANNEL_RESPONSE] = "MODIFYCHANNEL_RESPONSE",
};

uint32_t vmb_msg_min_len(uint32_t type)
{
	return type < VMB_MSG__COUNT ? min_len[type] : 0;
}

const char *vmb_msg_type_name(uint32_t type)
{
	if (type < VMB_MSG__COUNT && type_names[type])
		return type_names[type];
	return "unknown";
}

int vmb_msg_parse(union vmb_msg_buf *out, const void *msg, uint32_t len,
		  enum vmb_bad *why)
{
	struct vmb_msg_hdr hdr;

	if (len < sizeof(hdr)) {
		*why = VMB_BAD_TRUNCATED;
		return VMB_EPROTO;
	}
	if (len > VMB_MSG_MAX) {
		*why = VMB_BAD_OVERSIZE;
		return VMB_EPROTO;
	}
	vmb_memcpy(&hdr, msg, sizeof(hdr));
	uint32_t type = vmb_le32(hdr.type);
	uint32_t need = vmb_msg_min_len(type);
	if (!need) {
		*why = VMB_BAD_TYPE;
		return VMB_EPROTO;
	}
	if (len < need) {
		*why = VMB_BAD_TRUNCATED;
		return VMB_EPROTO;
	}
	vmb_memcpy(out->raw, msg, len);
	vmb_memset(out->raw + len, 0, VMB_MSG_MAX - len);
	return (int)type;
}

static void *start(union vmb_msg_buf *b, uint32_t type, uint32_t len)
{
	vmb_memset(b->raw, 0, len);
	b->hdr.type = vmb_le32(type);
	return b;
}

uint32_t vmb_msg_enc_empty(union vmb_msg_buf *b, uint32_t type)
{
	switch (type) {
	case VMB_MSG_REQUESTOFFERS:
	case VMB_MSG_ALLOFFERS_DELIVERED:
	case VMB_MSG_UNLOAD:
	case VMB_MSG_UNLOAD_RESPONSE:
		start(b, type, sizeof(struct vmb_msg_hdr));
		return sizeof(struct vmb_msg_hdr);
	default:
		return 0;
	}
}

uint32_t vmb_msg_enc_relid(union vmb_msg_buf *b, uint32_t type,
			   uint32_t relid)
{
	switch (type) {
	case VMB_MSG_RESCIND_CHANNELOFFER:
	case VMB_MSG_CLOSECHANNEL:
	case VMB_MSG_RELID_RELEASED:
	case VMB_MSG_CLOSE_RESERVED_RESPONSE:
		break;
	default:
		return 0;
	}
	struct vmb_msg_relid *m = start(b, type, sizeof(*m));
	m->child_relid = vmb_le32(relid);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_offer(union vmb_msg_buf *b,
			   const struct vmb_msg_offer *o)
{
	vmb_memcpy(&b->offer, o, sizeof(*o));
	b->offer.hdr.type = vmb_le32(VMB_MSG_OFFERCHANNEL);
	b->offer.hdr.padding = 0;
	return sizeof(*o);
}

uint32_t vmb_msg_enc_open(union vmb_msg_buf *b, uint32_t relid,
			  uint32_t open_id, uint32_t gpadl, uint32_t target_vp,
			  uint32_t downstream_pgoff, const void *user,
			  uint32_t user_len)
{
	if (user_len > VMB_USERDEF_LEN || (user_len && !user))
		return 0;
	struct vmb_msg_open *m = start(b, VMB_MSG_OPENCHANNEL, sizeof(*m));
	m->child_relid = vmb_le32(relid);
	m->open_id = vmb_le32(open_id);
	m->ring_gpadl = vmb_le32(gpadl);
	m->target_vp = vmb_le32(target_vp);
	m->downstream_page_offset = vmb_le32(downstream_pgoff);
	if (user_len)
		vmb_memcpy(m->user_data, user, user_len);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_open_result(union vmb_msg_buf *b, uint32_t relid,
				 uint32_t open_id, uint32_t status)
{
	struct vmb_msg_open_result *m =
		start(b, VMB_MSG_OPENCHANNEL_RESULT, sizeof(*m));
	m->child_relid = vmb_le32(relid);
	m->open_id = vmb_le32(open_id);
	m->status = vmb_le32(status);
	return sizeof(*m);
}

static void put_pfns(uint8_t *dst, const uint64_t *pfn, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t v = vmb_le64(pfn[i]);
		vmb_memcpy(dst + 8 * i, &v, 8);
	}
}

uint32_t vmb_msg_enc_gpadl_header(union vmb_msg_buf *b, uint32_t relid,
				  uint32_t gpadl, uint32_t total_pfns,
				  const uint64_t *pfn, uint32_t n)
{
	uint32_t buflen = sizeof(struct vmb_wire_gpa_range) + 8 * total_pfns;

	if (!total_pfns || n > total_pfns || n > VMB_GPADL_HEADER_PFNS ||
	    total_pfns > 0xffffu || buflen > 0xffffu)
		return 0;
	struct vmb_msg_gpadl_header *m =
		start(b, VMB_MSG_GPADL_HEADER, VMB_MSG_MAX);
	m->child_relid = vmb_le32(relid);
	m->gpadl = vmb_le32(gpadl);
	m->range_buflen = vmb_le16((uint16_t)buflen);
	m->range_count = vmb_le16(1);

	struct vmb_wire_gpa_range r = {
		.byte_count = vmb_le32(total_pfns << VMB_PAGE_SHIFT),
		.byte_offset = 0,
	};
	uint8_t *p = b->raw + sizeof(*m);
	vmb_memcpy(p, &r, sizeof(r));
	put_pfns(p + sizeof(r), pfn, n);
	return sizeof(*m) + sizeof(r) + 8 * n;
}

uint32_t vmb_msg_enc_gpadl_body(union vmb_msg_buf *b, uint32_t msg_number,
				uint32_t gpadl, const uint64_t *pfn,
				uint32_t n)
{
	if (!n || n > VMB_GPADL_BODY_PFNS)
		return 0;
	struct vmb_msg_gpadl_body *m =
		start(b, VMB_MSG_GPADL_BODY, sizeof(*m));
	m->msg_number = vmb_le32(msg_number);
	m->gpadl = vmb_le32(gpadl);
	put_pfns(b->raw + sizeof(*m), pfn, n);
	return sizeof(*m) + 8 * n;
}

uint32_t vmb_msg_enc_gpadl_created(union vmb_msg_buf *b, uint32_t relid,
				   uint32_t gpadl, uint32_t status)
{
	struct vmb_msg_gpadl_created *m =
		start(b, VMB_MSG_GPADL_CREATED, sizeof(*m));
	m->child_relid = vmb_le32(relid);
	m->gpadl = vmb_le32(gpadl);
	m->status = vmb_le32(status);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_gpadl_teardown(union vmb_msg_buf *b, uint32_t relid,
				    uint32_t gpadl)
{
	struct vmb_msg_gpadl_teardown *m =
		start(b, VMB_MSG_GPADL_TEARDOWN, sizeof(*m));
	m->child_relid = vmb_le32(relid);
	m->gpadl = vmb_le32(gpadl);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_gpadl_torndown(union vmb_msg_buf *b, uint32_t gpadl)
{
	struct vmb_msg_gpadl_torndown *m =
		start(b, VMB_MSG_GPADL_TORNDOWN, sizeof(*m));
	m->gpadl = vmb_le32(gpadl);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_initiate_contact(union vmb_msg_buf *b, uint32_t version,
				      uint32_t target_vcpu,
				      uint64_t interrupt_page,
				      uint64_t monitor_page1,
				      uint64_t monitor_page2)
{
	struct vmb_msg_initiate_contact *m =
		start(b, VMB_MSG_INITIATE_CONTACT, sizeof(*m));
	m->version = vmb_le32(version);
	m->target_vcpu = vmb_le32(target_vcpu);
	if (version >= VMB_VERSION_WIN10_V5)
		m->msg_sint = VMB_MSG_SINT;
	else
		m->interrupt_page = vmb_le64(interrupt_page);
	m->monitor_page1 = vmb_le64(monitor_page1);
	m->monitor_page2 = vmb_le64(monitor_page2);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_version_response(union vmb_msg_buf *b, bool supported,
				      uint8_t connection_state,
				      uint32_t msg_conn_id)
{
	struct vmb_msg_version_response *m =
		start(b, VMB_MSG_VERSION_RESPONSE, sizeof(*m));
	m->version_supported = supported ? 1 : 0;
	m->connection_state = connection_state;
	m->msg_conn_id = vmb_le32(msg_conn_id);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_open_reserved(union vmb_msg_buf *b, uint32_t relid,
				   uint32_t target_vp, uint32_t target_sint,
				   uint32_t gpadl, uint32_t downstream_pgoff)
{
	struct vmb_msg_open_reserved *m =
		start(b, VMB_MSG_OPEN_RESERVED, sizeof(*m));
	m->child_relid = vmb_le32(relid);
	m->target_vp = vmb_le32(target_vp);
	m->target_sint = vmb_le32(target_sint);
	m->ring_gpadl = vmb_le32(gpadl);
	m->downstream_page_offset = vmb_le32(downstream_pgoff);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_close_reserved(union vmb_msg_buf *b, uint32_t relid,
				    uint32_t target_vp, uint32_t target_sint)
{
	struct vmb_msg_close_reserved *m =
		start(b, VMB_MSG_CLOSE_RESERVED, sizeof(*m));
	m->child_relid = vmb_le32(relid);
	m->target_vp = vmb_le32(target_vp);
	m->target_sint = vmb_le32(target_sint);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_tl_connect_request(union vmb_msg_buf *b,
					const struct vmb_guid *endpoint,
					const struct vmb_guid *service)
{
	struct vmb_msg_tl_connect_request *m =
		start(b, VMB_MSG_TL_CONNECT_REQUEST, sizeof(*m));
	m->guest_endpoint_id = *endpoint;
	m->host_service_id = *service;
	return sizeof(*m);
}

uint32_t vmb_msg_enc_tl_connect_result(union vmb_msg_buf *b,
				       const struct vmb_guid *endpoint,
				       const struct vmb_guid *service,
				       uint32_t status)
{
	struct vmb_msg_tl_connect_result *m =
		start(b, VMB_MSG_TL_CONNECT_RESULT, sizeof(*m));
	m->endpoint_id = *endpoint;
	m->service_id = *service;
	m->status = vmb_le32(status);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_modify(union vmb_msg_buf *b, uint32_t relid,
			    uint32_t target_vp)
{
	struct vmb_msg_modify *m = start(b, VMB_MSG_MODIFYCHANNEL, sizeof(*m));
	m->child_relid = vmb_le32(relid);
	m->target_vp = vmb_le32(target_vp);
	return sizeof(*m);
}

uint32_t vmb_msg_enc_modify_response(union vmb_msg_buf *b, uint32_t relid,
				     uint32_t status)
{
	struct vmb_msg_modify_response *m =
		start(b, VMB_MSG_MODIFYCHANNEL_RESPONSE, sizeof(*m));
	m->child_relid = vmb_le32(relid);
	m->status = vmb_le32(status);
	return sizeof(*m);
}
