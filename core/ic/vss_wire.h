/* Wire layout of the VSS (live backup) channel body, after the IC header.
 * Sources: Linux include/uapi/linux/hyperv.h (hv_vss_hdr, hv_vss_msg,
 * VSS_HBU_NO_AUTO_RECOVERY), drivers/hv/hv_snapshot.c (version 5.0, which
 * operations go to the daemon), OpenVMM hyperv_ic_protocol/src/vss.rs
 * (operation names and the versions that introduced them). */
#ifndef HVIS_VSS_WIRE_H
#define HVIS_VSS_WIRE_H

#include "vmb_base.h"

#define VSS_OP_CREATE 0
#define VSS_OP_DELETE 1
#define VSS_OP_HOT_BACKUP 2  /* check feature: the guest reports flags */
#define VSS_OP_GET_DM_INFO 3 /* direct-mapped devices: the guest reports 0 */
#define VSS_OP_BU_COMPLETE 4
#define VSS_OP_FREEZE 5
#define VSS_OP_THAW 6
#define VSS_OP_AUTO_RECOVER 7
#define VSS_OP_COUNT 8

/* Hot-backup feature flags: Linux always answers "no auto recovery". */
#define VSS_HBU_NO_AUTO_RECOVERY 0x00000005u

struct vss_msg {
	uint8_t op;
	uint8_t reserved[7];
	uint32_t flags; /* check-feature or dm-info flags */
} __attribute__((packed));
_Static_assert(sizeof(struct vss_msg) == 12, "vss_msg size");

#endif
