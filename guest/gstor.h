/* storvsc: the guest's driver for Hyper-V's synthetic SCSI controllers.
 * It negotiates VSTOR on each controller offered, opens sub-channels,
 * finds the LUNs (REPORT LUNS, INQUIRY, READ CAPACITY) and rescans when
 * the host says the bus changed; each LUN is exported over NBD (nbdx.h)
 * as "scsiK-lunN", K counting the controllers in the order offered. */
#ifndef HVIS_GSTOR_H
#define HVIS_GSTOR_H

#include <stdint.h>

#include "gvb.h"
#include "nbdx.h"

struct gstor_cfg {
	const char *nbd_path;   /* Unix socket for the exports; NULL: none */
	uint16_t nbd_port;      /* also TCP on 127.0.0.1; 0: not */
	int subchannels;        /* -1: min(host maximum, CPUs - 1) */
	uint32_t ncpus;
	/* For a driver of the disks other than NBD (hvis-bench): each LUN
	 * found is handed to lun_found (loop thread) as a disk for
	 * gstor_disk_ops, and finished requests go to complete (any
	 * thread, no lock of storvsc held) instead of nbdx_complete. */
	void (*lun_found)(void *disk, uint64_t bytes, uint32_t block_size,
			  void *arg);
	void (*complete)(struct nbdx_req *chain, void *arg);
	void *arg;
};

/* The disk operations of a LUN (submit, buffers), as nbdx uses them. A
 * request's buffer may also be any memory of rt_gmem_alloc(). */
extern const struct nbdx_disk_ops gstor_disk_ops;

/* Signals on every open storvsc channel so far: the host's to the guest
 * and the guest's to the host. Any thread. */
void gstor_signals(uint64_t *host_to_guest, uint64_t *guest_to_host);

/* Start the NBD server (before gvb_start); 0 or -errno with the reason
 * in err. Without nbd_path the driver still attaches and finds LUNs. */
int gstor_start(const struct gstor_cfg *cfg, char *err, unsigned errlen);
/* After gvb has stopped every channel. */
void gstor_stop(void);

extern const struct gvb_driver gstor_driver;

#endif
