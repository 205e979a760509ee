/* Guest integration services: heartbeat, shutdown, time sync, KVP and
 * VSS, one gvb driver each, on top of core/ic's guest engine and the OS
 * adapters of guest/os.
 *
 * Each channel has one struct gic_svc: the engine, the OS resources of the
 * service (KVP pool files, fsfreeze, the time sync sink) and a reply
 * buffer. Everything a request needs, OS work included, runs on that
 * channel's worker thread, so a slow script or freeze stalls only its own
 * service; the OS adapters bound every wait (script timeouts, the freeze
 * watchdog). The engine keeps one transaction open, which is the one
 * being worked on: the answer goes back on the same channel with the
 * transaction id of the packet that carried the request.
 *
 * Time sync reference counter: the host's vmreferencetime (message 4.0)
 * is CLOCK_MONOTONIC in 100 ns units. hvis-host and hvis-guest run on one
 * machine and share that clock, as a Hyper-V guest shares the reference
 * TSC page with its host, so the guest reads the same counter to carry
 * the host's time from the sample to now.
 *
 * Teardown (rescind, host gone, exit): the channel's worker is joined,
 * packets still in the ring are dropped unanswered (the host no longer
 * waits for them) and the service's resources are released; fsfreeze
 * thaws whatever is still frozen when it is destroyed. */
#ifndef HVIS_GIC_H
#define HVIS_GIC_H

#include <stddef.h>
#include <stdint.h>

#include "gvb.h"
#include "ic/ic.h"
#include "timesync_sink.h"

#define GIC_HEARTBEAT_GUID "57164f39-9115-4e78-ab55-382f3bd5422d"
#define GIC_SHUTDOWN_GUID "0e0b6031-5213-4934-818b-38d90ced39db"
#define GIC_TIMESYNC_GUID "9527e630-d0ae-497b-adce-e80ab0175caf"
#define GIC_KVP_GUID "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"
#define GIC_VSS_GUID "35fa2e29-ea23-4236-96ae-3a6ebacba440"

/* What hvis-guest reports as IntegrationServicesVersion. Dotted numbers
 * only: Hyper-V reads this item as a version number (Linux's daemon
 * reports the driver's HV_DRV_VERSION, "3.1"), and a name in it would
 * not parse. */
#define GIC_IC_VERSION "1.0"

/* Run-time options of the five services (hvis-guest's command line). */
struct gic_cfg {
	/* Shutdown: command run by /bin/sh -c after the OK went back, with
	 * HVIS_SHUTDOWN_ACTION=poweroff|reboot|hibernate,
	 * HVIS_SHUTDOWN_FORCE=0|1, HVIS_SHUTDOWN_REASON=<host message> and
	 * HVIS_SHUTDOWN_REASON_CODE=0x... in its environment and the action
	 * (then "force" when forced) as its positional parameters. NULL:
	 * stop hvis-guest cleanly (exit status 0); hibernation is then
	 * refused. */
	const char *shutdown_cmd;
	unsigned shutdown_timeout_ms;	/* command deadline; 0: 60 s */
	/* Time sync sink. */
	struct tsync_config ts;
	/* KVP: pool files and ifcfg files (NULL: /var/lib/hyperv), helper
	 * scripts (NULL: /usr/libexec/hypervkvpd), os-release (NULL: the
	 * system's). configure_ifs: SET_IP_INFO may run hv_set_ifconfig on
	 * this machine's interfaces; else it is refused (E_ACCESSDENIED). */
	const char *kvp_root;
	const char *kvp_scripts;
	const char *os_release;
	bool configure_ifs;
	/* VSS: filesystems (NULL: every freezable mount), hooks, thaw
	 * deadline in ms (0: 30 s), mountinfo (NULL: the process's). */
	const char *const *freeze;
	size_t n_freeze;
	const char *pre_freeze;
	const char *post_thaw;
	unsigned freeze_timeout_ms;
	const char *mountinfo;
};

/* Set before gvb_start; read when a service channel opens. */
extern struct gic_cfg gic_cfg;

extern const struct gvb_driver gic_heartbeat_driver;
extern const struct gvb_driver gic_shutdown_driver;
extern const struct gvb_driver gic_timesync_driver;
extern const struct gvb_driver gic_kvp_driver;
extern const struct gvb_driver gic_vss_driver;

/* ---- one service instance, independent of the transport ---- */

struct gic_svc;

/* Sends one reply payload with transaction id xid; VMB_OK or an error. */
typedef int gic_send_fn(void *arg, uint64_t xid, const void *buf,
			size_t len);
/* The default shutdown action: stop the program. */
typedef void gic_stop_fn(void *arg);

struct gic_svc_stats {
	uint64_t send_errors;	/* replies the channel did not take */
	uint64_t os_failures;	/* requests answered with a failure after
				 * the OS work failed */
	uint64_t dropped;	/* requests arriving after the channel
				 * stopped */
	uint64_t truncated;	/* KVP keys and values cut to fit the
				 * wire */
};

struct gic_kvp;
struct fsfreeze;

struct gic_svc {
	enum ic_service svc;
	const char *name;
	const struct gic_cfg *cfg;
	gic_send_fn *send;
	gic_stop_fn *stop;
	void *arg;
	struct ic_guest eng;
	struct gic_svc_stats st;
	uint64_t refused_logged; /* refusals logged at warning level */
	/* Clocks read when the current packet arrived (time sync). */
	struct timespec rx_real, rx_mono;
	/* Per-service OS resources. */
	struct tsync_sink *sink;
	struct gic_kvp *kvp;
	struct fsfreeze *fsf;
	uint8_t out[IC_MSG_MAX];
};

/* Allocates and opens the service's OS resources (pool files, the time
 * sync sink, the fsfreeze watchdog); NULL on failure (logged). */
struct gic_svc *gic_svc_new(enum ic_service svc, const struct gic_cfg *cfg,
			    gic_send_fn *send, gic_stop_fn *stop, void *arg);
/* Releases everything (thaws what is frozen); logs the counters. */
void gic_svc_free(struct gic_svc *s, const char *why);
/* One inband payload from the host, with its packet's transaction id. */
void gic_svc_input(struct gic_svc *s, uint64_t xid, const void *payload,
		   size_t len);

/* ---- failure reasons for the host (gic_reason.c) ----
 *
 * A VSS answer is a 12-byte message and a KVP IP answer has no text
 * field: the status code says what kind of failure it was (vss_wire.h,
 * IC_E_NOT_FOUND for an unknown adapter), and the words (which path,
 * which helper, what it said) are published as items of the KVP auto
 * pool, where a Hyper-V host reads the guest's intrinsic data:
 *   HvisVssLastFailure  the last FREEZE or THAW failure ("" when the
 *                       last FREEZE succeeded and its THAW did too)
 *   HvisKvpLastFailure  the last GET_IP_INFO / SET_IP_INFO failure ("" once
 *                       one succeeds)
 * They come after the ten keys Linux's daemon reports in an ENUMERATE of
 * the auto pool and answer a GET by name, so hvis-host reads one after a
 * failed request. A FREEZE clears the VSS item and its THAW only writes
 * a failure, so the item still holds the freeze's reason when the host
 * asks after the THAW it always sends. Values are plain text, at most
 * GIC_REASON_MAX - 1 bytes. */
#define GIC_REASON_MAX 512
enum gic_reason { GIC_REASON_VSS, GIC_REASON_KVP, GIC_REASON__COUNT };

void gic_reason_set(enum gic_reason slot, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void gic_reason_clear(enum gic_reason slot);
/* The item named key into value; false if key is no reason item. */
bool gic_reason_get(const char *key, char *value, size_t cap);
/* The index-th reason item (0-based); false past the last. */
bool gic_reason_enum(uint32_t index, char *key, size_t key_cap,
		     char *value, size_t value_cap);

/* ---- per-service parts (gic_sd.c, gic_ts.c, gic_kvp.c, gic_vss.c) ---- */

/* Sends s->out[0..len) as the answer to xid; counts a failed send. */
void gic_reply(struct gic_svc *s, uint64_t xid, size_t len);

void gic_sd_act(struct gic_svc *s, const struct ic_sd_req *sd, uint64_t xid);
int gic_ts_open(struct gic_svc *s);
void gic_ts_close(struct gic_svc *s);
void gic_ts_act(struct gic_svc *s, const struct ic_ts_sample *ts);
int gic_kvp_open(struct gic_svc *s);
void gic_kvp_close(struct gic_svc *s);
void gic_kvp_act(struct gic_svc *s, const struct kvp_data *d, uint64_t xid);
int gic_vss_open(struct gic_svc *s);
void gic_vss_close(struct gic_svc *s);
void gic_vss_act(struct gic_svc *s, uint8_t op, uint64_t xid);

/* KVP IP information between the engine's form and kvp_ipinfo's
 * (gic_kvp_ip.c). binary: message version 5.0 (addresses as bytes),
 * else the ';'-separated strings are copied. Return 0, or -1 when a list
 * does not fit or an address is malformed. */
struct kvp_ip_info;
int gic_ip_to_wire(const struct kvp_ip_info *in, bool binary,
		   struct kvp_ip *out);
int gic_ip_from_wire(const struct kvp_ip *in, bool binary,
		     struct kvp_ip_info *out);

#endif
