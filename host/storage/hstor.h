/* storvsp: the VM's synthetic SCSI controllers (Hyper-V allows 4 of 64
 * LUNs each), each one VMBus device with sub-channels, whose LUNs are
 * disks on backends (hbk.h). Disks are added, removed and resized while
 * the guest runs; the guest is told with ENUMERATE_BUS (a rescan), and a
 * resized disk answers its next command with the unit attention
 * CAPACITY DATA HAS CHANGED.
 *
 * Everything here is called on the VM's loop thread. */
#ifndef HVIS_HSTOR_H
#define HVIS_HSTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct hvm;

#define HSTOR_CONTROLLERS 4u
#define HSTOR_LUNS 64u
#define HSTOR_CTL_NOT_MINE 2

extern const struct hdev_class hstor_class;

/* Add-VMHardDiskDrive's arguments. */
struct hstor_disk_cfg {
	const char *path;   /* image file, block device, or NBD URI */
	int controller;     /* -1: 0 */
	int lun;            /* -1: the controller's first free LUN */
	bool read_only;
	bool no_direct;     /* never O_DIRECT */
};

/* "PATH[,lun=N][,ro][,controller=K][,direct=off]" (arg is modified and
 * must outlive cfg). 0, or -1 with the reason in why. */
int hstor_parse_disk(char *arg, struct hstor_disk_cfg *cfg, char *why,
		     size_t n);
/* Attach a disk (creating controllers up to the one named); where it
 * went in *ctrl, *lun. 0, or -errno with a one-line reason in why. */
int hstor_add_disk(struct hvm *vm, const struct hstor_disk_cfg *cfg,
		   unsigned *ctrl, unsigned *lun, char *why, size_t n);
int hstor_remove_disk(struct hvm *vm, unsigned ctrl, unsigned lun,
		      char *why, size_t n);
/* New size in bytes (0: re-read the backend's). */
int hstor_resize_disk(struct hvm *vm, unsigned ctrl, unsigned lun,
		      uint64_t size, char *why, size_t n);

/* The "disk ..." control requests (add, remove, list, resize), or
 * HSTOR_CTL_NOT_MINE. 0 or -1 (error reply written). */
int hstor_ctl_exec(struct hvm *vm, char *const *argv, int argc, bool json,
		   FILE *out);

#endif
