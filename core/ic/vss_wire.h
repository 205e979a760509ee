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

/* FREEZE and THAW failures an hvis guest tells apart (the message has no
 * room for text: the guest's reason is in its KVP auto pool, see
 * guest/gic.h). Both are VSS writer errors of Windows' vsserror.h:
 * a freeze that froze nothing leaves the snapshot crash-consistent only
 * (VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT), and a guest that thawed by
 * its own timeout before the THAW answers that (VSS_E_WRITERERROR_TIMEOUT,
 * "a time-out between the Freeze and Thaw events"). Any other failure is
 * E_FAIL, as Linux's driver answers. */
#define VSS_E_INCONSISTENT_SNAPSHOT 0x800423F0u
#define VSS_E_WRITER_TIMEOUT 0x800423F2u

struct vss_msg {
	uint8_t op;
	uint8_t reserved[7];
	uint32_t flags; /* check-feature or dm-info flags */
} __attribute__((packed));
_Static_assert(sizeof(struct vss_msg) == 12, "vss_msg size");

#endif
