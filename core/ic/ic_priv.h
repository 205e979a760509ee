/* Helpers shared by the IC engines (not part of the embedder API). */
#ifndef HVIS_IC_PRIV_H
#define HVIS_IC_PRIV_H

#include "ic.h"

/* A payload whose pipe and icmsg headers passed the length checks. */
struct ic_parsed {
	const uint8_t *msg; /* the whole payload */
	uint32_t msg_len;   /* pipe header + pipe msgsize */
	const uint8_t *body;
	uint32_t body_len;  /* icmsg size */
	uint16_t type;
	uint8_t xid;
	uint8_t flags;
	uint32_t status;
};

/* Checks len >= 28, msgsize <= len - 8 (the packet may carry up to 7
 * bytes of padding after it), icmsg size <= msgsize - 20. Returns VMB_OK
 * or VMB_EPROTO with the reason in *why. */
int ic_parse(const void *payload, size_t len, struct ic_parsed *p,
	     enum vmb_bad *why);

/* Writes pipe and icmsg headers for a body of body_len bytes. */
void ic_put_hdr(uint8_t *out, struct ic_ver fw, struct ic_ver msg,
		uint16_t type, uint32_t body_len, uint32_t status, uint8_t xid,
		uint8_t flags);

static inline uint16_t ic_rd16(const uint8_t *p)
{
	uint16_t v;

	vmb_memcpy(&v, p, 2);
	return vmb_le16(v);
}

static inline uint32_t ic_rd32(const uint8_t *p)
{
	uint32_t v;

	vmb_memcpy(&v, p, 4);
	return vmb_le32(v);
}

static inline uint64_t ic_rd64(const uint8_t *p)
{
	uint64_t v;

	vmb_memcpy(&v, p, 8);
	return vmb_le64(v);
}

static inline void ic_wr16(uint8_t *p, uint16_t v)
{
	v = vmb_le16(v);
	vmb_memcpy(p, &v, 2);
}

static inline void ic_wr32(uint8_t *p, uint32_t v)
{
	v = vmb_le32(v);
	vmb_memcpy(p, &v, 4);
}

static inline void ic_wr64(uint8_t *p, uint64_t v)
{
	v = vmb_le64(v);
	vmb_memcpy(p, &v, 8);
}

#define IC_OFF(type, field) __builtin_offsetof(type, field)

/* Guest side: finish the kept request in g->req as the reply (status,
 * response flags), copy it to out and clear pending. */
int ic_guest_finish(struct ic_guest *g, uint32_t status, uint8_t *out,
		    size_t cap, size_t *out_len);
/* Guest side: keep the request for a later reply. */
void ic_guest_keep(struct ic_guest *g, const struct ic_parsed *p);

/* Service decoders called by ic_guest_input() once the request is kept in
 * g->req. They return VMB_OK (act filled, maybe inline reply) or the vmb_bad
 * reason through *why and VMB_EPROTO. */
int kvp_guest_decode(struct ic_guest *g, struct ic_action *act,
		     enum vmb_bad *why);
int vss_guest_decode(struct ic_guest *g, struct ic_action *act,
		     enum vmb_bad *why, bool *answer_now);

/* Host side: check that a request may be sent, write its headers and
 * return its zeroed body (NULL with *err set if not); once the body is
 * filled, ic_host_commit() opens the transaction. */
uint8_t *ic_host_begin(struct ic_host *h, uint16_t type, uint32_t body_len,
		       uint8_t *out, size_t cap, int *err);
int ic_host_commit(struct ic_host *h, uint16_t type, uint8_t op,
		   uint32_t body_len, size_t *out_len);
int kvp_host_decode(struct ic_host *h, const struct ic_parsed *p,
		    struct ic_host_result *res, enum vmb_bad *why);
int vss_host_decode(struct ic_host *h, const struct ic_parsed *p,
		    struct ic_host_result *res, enum vmb_bad *why);

#endif
