/* storvsc: the guest's driver for Hyper-V's synthetic SCSI controllers.
 * It negotiates VSTOR on each controller offered, opens sub-channels,
 * finds the LUNs (REPORT LUNS, INQUIRY, READ CAPACITY) and rescans when
 * the host says the bus changed; each LUN is exported over NBD (nbdx.h)
 * as "scsiK-lunN", K counting the controllers in the order offered. */
#ifndef HVIS_GSTOR_H
#define HVIS_GSTOR_H

#include <stdint.h>

#include "gvb.h"

struct gstor_cfg {
	const char *nbd_path;   /* Unix socket for the exports; NULL: none */
	uint16_t nbd_port;      /* also TCP on 127.0.0.1; 0: not */
	int subchannels;        /* -1: min(host maximum, CPUs - 1) */
	uint32_t ncpus;
};

/* Start the NBD server (before gvb_start); 0 or -errno with the reason
 * in err. Without nbd_path the driver still attaches and finds LUNs. */
int gstor_start(const struct gstor_cfg *cfg, char *err, unsigned errlen);
/* After gvb has stopped every channel. */
void gstor_stop(void);

extern const struct gvb_driver gstor_driver;

#endif
