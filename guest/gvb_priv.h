/* Inside the guest's VMBus: what gvb.c and gvb_gpadl.c share. Loop
 * thread. */
#ifndef HVIS_GVB_PRIV_H
#define HVIS_GVB_PRIV_H

#include "gvb.h"

/* From the vmb_client callbacks, which only record: GPADL_CREATED for a
 * driver's GPADL id of c, GPADL_TORNDOWN for one of any channel's. False
 * if id is no such GPADL waiting for that answer. */
bool gvb_gpadl_answered(struct gvb_chan *c, uint32_t id, uint32_t status);
bool gvb_gpadl_torn(struct gvb *vb, uint32_t id);
/* Tell the driver what the host answered (from gvb_process). */
void gvb_gpadl_events(struct gvb_chan *c);
/* Rescinded: tear down every created GPADL of the driver's; true once
 * none is left (the host answered every one). */
bool gvb_gpadl_teardown_all(struct gvb_chan *c);
/* The channel is freed without the host (gone, or stopping): every
 * GPADL ends now, FAILED or RELEASED. */
void gvb_gpadl_drop_all(struct gvb_chan *c);

#endif
