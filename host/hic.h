/* The host's integration services (heartbeat, shutdown, time sync, KVP,
 * VSS): one device class per service driving core/ic's host engines, a
 * per-VM registry with Hyper-V's status words, and the hvis-ctl requests
 * that wait for the guest's answer.
 *
 * Threads: all state lives on the VM's loop thread. A service channel's
 * worker only decodes answers (ic_host_input, under the service lock) and
 * queues the results for the loop thread through hvm_defer().
 *
 * Time sync reference counter (message version 4): CLOCK_MONOTONIC in
 * 100 ns units, which host and guest processes on one machine share, as
 * a Hyper-V partition shares its reference counter with the host. */
#ifndef HVIS_HIC_H
#define HVIS_HIC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct hvm;
struct hic;

enum hic_kind {
	HIC_HEARTBEAT,
	HIC_SHUTDOWN,
	HIC_TIMESYNC,
	HIC_KVP,
	HIC_VSS,
	HIC__COUNT
};

#define HIC_ALL ((1u << HIC__COUNT) - 1)

struct hic_cfg {
	uint32_t probe_ms;      /* heartbeat period; 0 = 1000 */
	uint32_t sample_ms;     /* time sync sample period; 0 = 5000 */
	uint32_t timeout_ms;    /* wait for one guest answer; 0 = 10000 */
	const char *backup_cmd; /* host snapshot step of a backup; NULL */
	/* The backup command's process group is killed after this long
	 * (the backup then fails, after the thaw); 0 = 120000. */
	uint32_t backup_timeout_ms;
	unsigned enable;        /* services enabled at start (1 << kind) */
	/* Highest message version offered per service, major << 16 |
	 * minor, as an older Hyper-V host; 0 = every version known. */
	uint32_t msg_cap[HIC__COUNT];
};

/* Sets vm->ic and offers the enabled services. 0 or -errno. */
int hic_init(struct hvm *vm, const struct hic_cfg *cfg);
/* After hvm_fini: fails waiting requests, kills the backup command and
 * reaps it, waiting half a second at most so that SIGTERM ends the host
 * within a second (one caught in a frozen file system is left to init). */
void hic_fini(struct hvm *vm);

/* "heartbeat,kvp" / "all" / "none" (names or aliases) into a mask. 0, or
 * -EINVAL with what is wrong in why. */
int hic_parse_services(const char *list, unsigned *mask, char *why,
		       size_t cap);

/* "SERVICE=X.Y" (a --services name) into the service and X.Y as
 * major << 16 | minor, which must be a message version the host knows
 * for that service. 0 or -EINVAL. */
int hic_parse_ic_version(const char *arg, enum hic_kind *kind,
			 uint32_t *ver, char *why, size_t cap);

/* A control request line. Returns HIC_CTL_NOT_MINE when the request is
 * not a service one, 0 or -1 when the reply is in out, HIC_CTL_LATER
 * when fd was kept: the reply goes to fd (and fd is closed) once the
 * guest answered or the request timed out. fd -1: answer now only. */
#define HIC_CTL_NOT_MINE (-2)
#define HIC_CTL_LATER 1
int hic_ctl_exec(struct hvm *vm, const char *line, int fd, FILE *out);

/* Lines for `vm show`: the guest's addresses and the services' status;
 * and the same as members of vm show's JSON object o. */
void hic_show(struct hvm *vm, FILE *out);
struct json_t;
void hic_show_json(struct hvm *vm, struct json_t *o);

#endif
