/* Shared by the NBD server's source files (not part of the embedder API):
 * how the handshake and transmission halves end the connection, write
 * output and hand over to each other. */
#ifndef HVIS_NBD_PRIV_H
#define HVIS_NBD_PRIV_H

#include "nbd_server.h"

/* Ends the connection: nbd_srv_input() reports NBD_EV_CLOSE from now on,
 * pending output is dropped. */
void nbd_close_now(struct nbd_srv *s, enum nbd_close why);
/* Ends it for a protocol violation, counted in st.fatal. */
void nbd_fatal_close(struct nbd_srv *s, enum nbd_fatal why);

/* Appends n bytes of handshake output; the caller made sure they fit. */
uint8_t *nbd_out_reserve(struct nbd_srv *s, uint32_t n);
uint32_t nbd_out_room(const struct nbd_srv *s);

/* Whether p[0..n) holds a NUL (strings may not). */
bool nbd_has_nul(const void *p, uint32_t n);

/* A complete option header is in s->hdr, its data (if any) in
 * s->opt_buf (nbd_opt.c). */
void nbd_opt_header(struct nbd_srv *s);
void nbd_opt_handle(struct nbd_srv *s);
/* Oversize option data was dropped: answer NBD_REP_ERR_TOO_BIG. */
void nbd_opt_too_big(struct nbd_srv *s);

/* A complete request header is in s->hdr (nbd_xmit.c). */
void nbd_req_header(struct nbd_srv *s, struct nbd_ev *ev);

#endif
