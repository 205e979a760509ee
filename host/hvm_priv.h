/* Inside the emulated host's VM: what hvm.c and hvm_gpadl.c share. */
#ifndef HVIS_HVM_PRIV_H
#define HVIS_HVM_PRIV_H

#include "hvm.h"

/* NTSTATUS values the host puts in GPADL_CREATED / OPENCHANNEL_RESULT. */
#define HVM_ST_UNSUCCESSFUL 0xC0000001u
#define HVM_ST_INVALID_PARAMETER 0xC000000Du
#define HVM_ST_NO_RESOURCES 0xC000009Au

/* Queue w (allocated by the caller, freed once run or dropped) for the
 * loop thread, as hvm_defer does. Any thread. */
void hvm_work_queue(struct hvm *vm, struct hvm_work *w);

/* The vmb_server GPADL callbacks (hvm_gpadl.c). Loop thread. */
uint32_t hvm_gpadl_map(void *ctx, struct vmb_server_gpadl *g);
bool hvm_gpadl_teardown(void *ctx, struct vmb_server_gpadl *g);
void hvm_gpadl_unmap(void *ctx, struct vmb_server_gpadl *g);
/* vm->map_runs and vm->gpadl_refused, read under their lock. */
void hvm_gpadl_counts(struct hvm *vm, uint32_t *map_runs,
		      uint64_t *refused);
/* The host's mapping of a mapped GPADL, NULL if none. */
const struct rt_gmap *hvm_gpadl_gmap(const struct vmb_server_gpadl *g);

#endif
