/* The guest driver of the hvis test device (core/testdev/tdev_wire.h):
 * negotiates, asks for sub-channels and runs echo, sink or source traffic
 * on every channel, checking sequence and data of what comes back. */
#ifndef HVIS_GTDEV_H
#define HVIS_GTDEV_H

#include "gvb.h"
#include "testdev/tdev_wire.h"

enum gtdev_traffic {
	GTDEV_NONE,   /* open and negotiate only */
	GTDEV_ECHO,   /* continuous echo requests */
	GTDEV_SINK,   /* count packets, then ask for the host's tally */
	GTDEV_SOURCE, /* ask the host for count packets */
};

struct gtdev_cfg {
	enum gtdev_traffic traffic;
	uint32_t size;        /* DATA bytes per packet */
	uint32_t burst;       /* packets per channel per tick */
	uint32_t window;      /* echo: most requests not yet echoed */
	uint64_t count;       /* sink/source packets; echo: 0 = endless */
	int subchannels;      /* to ask for; -1 = as many as the host allows */
};

/* Set before gvb_start; read by the driver. */
extern struct gtdev_cfg gtdev_cfg;
extern const struct gvb_driver gtdev_driver;

#endif
