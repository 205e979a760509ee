/* Internals of the host integration services (hic*.c). */
#ifndef HVIS_HIC_PRIV_H
#define HVIS_HIC_PRIV_H

#include <pthread.h>
#include <sys/types.h>

#include "hic.h"
#include "hvm.h"
#include "ic/ic.h"

/* Heartbeat: Lost Communication after this many periods without answer. */
#define HIC_HB_LOST_PERIODS 3
/* KVP auto pool refresh (addresses for `vm show`), in probe periods. */
#define HIC_REFRESH_PERIODS 30
/* Items a `kvp list` or an auto pool refresh reads at most. */
#define HIC_LIST_MAX 1024u
/* Requests queued on one service, the active one included: each may hold
 * a control connection, so a guest that stops answering cannot make the
 * host run out of descriptors. */
#define HIC_JOBS_MAX 64
#define HIC_INTRINSIC_MAX 16
/* Instance GUIDs of the services: this, the service in the last byte. */
#define HIC_INSTANCE_BASE "b4a0c8d2-5f1e-4e6a-8c3d-696373766300"

struct hic_info {
	const char *name;  /* Get-VMIntegrationService's Name */
	const char *alias; /* short name for hvis-ctl and --services */
	const struct hdev_class *cls;
	enum ic_service svc;
};

extern const struct hic_info hic_infos[HIC__COUNT];

/* An answer decoded on the channel worker, for the loop thread. */
struct hic_res {
	struct hic_res *next;
	uint32_t session;
	int rc; /* ic_host_input's */
	struct ic_host_result r;
};

enum hic_job_kind {
	HIC_JOB_STOP,
	HIC_JOB_KVP,         /* one GET / SET / DELETE */
	HIC_JOB_KVP_LIST,    /* ENUMERATE from index 0 to the end */
	HIC_JOB_KVP_REFRESH, /* the auto pool into ic->intrinsic */
	HIC_JOB_BACKUP,
	HIC_JOB_KVP_REASON   /* a failed backup's reason, for job for_id */
};

/* The guest's words for a failed request, in its KVP auto pool (see
 * guest/gic.h): what a failed FREEZE/THAW or GET/SET_IP_INFO said. */
#define HIC_VSS_REASON_KEY "HvisVssLastFailure"
#define HIC_KVP_REASON_KEY "HvisKvpLastFailure"
#define HIC_REASON_MAX 512

/* REASON: the THAW was answered, the guest's reason is being read over
 * KVP (a job of its own on the KVP service). */
enum hic_vss_step { HIC_VSS_CHECK, HIC_VSS_FREEZE, HIC_VSS_SNAPSHOT,
		    HIC_VSS_THAW, HIC_VSS_REASON };

/* A request that needs one or more guest answers; queued per service,
 * the head one is active. */
struct hic_job {
	struct hic_job *next;
	uint64_t id;   /* unique in the process */
	enum hic_job_kind kind;
	int fd;        /* control client awaiting the reply; -1: none */
	struct hvm *vm; /* whose control socket fd is (set when queued) */
	bool json;     /* kvp list / kvp ip get: the reply as JSON */
	struct json_t *items; /* kvp list --json: the items so far */
	FILE *out;     /* reply body so far */
	char *body;
	size_t body_len;
	uint64_t start_ns;
	/* shutdown */
	uint32_t sd_flags;
	char reason[IC_SD_MSG_UTF8_MAX];
	/* KVP: the request; list: next index */
	struct kvp_data kvp;
	uint32_t count;
	bool reason_step; /* kvp ip: the failure's reason is being read */
	uint64_t for_id;  /* HIC_JOB_KVP_REASON: the backup job asking */
	/* VSS */
	enum hic_vss_step step;
	uint32_t hbu_flags;
	char fail[512]; /* first failure, reported after the thaw; "" = none */
	bool crash_only;  /* the guest froze nothing */
	bool ask_reason;  /* the guest answered a failure: read its words */
	char guest_why[HIC_REASON_MAX]; /* its words, or why there are none */
	bool reason_from_guest;
	pid_t pid;     /* backup command running, or 0 */
	uint64_t snap_start_ns;
	uint64_t next_note_ns; /* next "running for" progress line */
	uint64_t reason_start_ns;
	int snap_status; /* wait status of the backup command */
	/* The command's stdout and stderr (a pipe, on the loop), passed to
	 * the caller line by line as progress, up to HIC_CMD_OUT_MAX. */
	int out_fd;    /* -1: none */
	char line[256];
	size_t line_len, out_sent, out_dropped;
};

struct hic_kv {
	char *key;
	char *value;
};

struct hic_svc {
	struct hic *ic;
	enum hic_kind kind;
	const struct hic_info *info;
	bool enabled;
	struct hdev *dev;      /* offered device, NULL when none */
	struct hvm_chan *chan; /* open channel, NULL when none */
	bool started;          /* NEGOTIATE sent on this session */
	uint32_t neg_bad;      /* malformed NEGOTIATE answers this session */
	uint32_t session;      /* bumped at each open */

	/* Shared with the channel worker. */
	pthread_mutex_t lock;
	struct ic_host eng;
	uint64_t next_pkt_xid;
	uint64_t pend_pkt_xid;
	struct hic_res *rq;        /* answers not yet handled, oldest first */
	/* Input the host refused outside the engine: packets before it
	 * (type, unknown xid), answers after it that contradict their
	 * request (e.g. another pool or adapter than asked). */
	struct vmb_badstats rxbad;
	uint64_t late;             /* answers to requests given up on */

	/* Loop thread. */
	struct vmb_badstats bad_prev; /* engine counts of ended sessions */
	bool answered;     /* answered since offered / opened */
	bool lost;         /* no answer in time since the last one */
	const char *lost_why; /* how communication was lost */
	bool mismatch;     /* the guest shares no version with us */
	struct ic_ver fw, msg;
	bool negotiated;
	uint64_t sent_ns;  /* open request went out; 0: none */
	uint64_t requests, answers, failures, timeouts, send_errors;
	struct hic_job *jobs;
	bool job_active;
	uint32_t ticks;
	uint64_t hb_seq;
	uint32_t hb_missed;     /* periods the open probe went unanswered */
	uint64_t ts_last_ms;
	bool ts_sync_due;
	uint64_t ts_rtt;        /* last round trip, 100 ns */
	uint64_t ts_samples;
	uint64_t ts_last_parent; /* host time of the last sample sent */
	uint8_t buf[IC_MSG_MAX]; /* request being built */
};

struct hic_cmd;

struct hic {
	struct hvm *vm;
	struct hic_cfg cfg;
	int timer_fd;
	int64_t skew; /* added to host time in samples, 100 ns units */
	struct hic_svc svc[HIC__COUNT];
	struct hic_kv intrinsic[HIC_INTRINSIC_MAX];
	unsigned n_intrinsic;
	/* A refresh reads into staging and replaces intrinsic only once it
	 * read the whole pool: a refresh that fails part-way leaves the
	 * last complete read, never a mix of two. */
	struct hic_kv staging[HIC_INTRINSIC_MAX];
	uint64_t intrinsic_ms; /* when read; 0: never */
	struct hic_cmd *cmds;  /* backup commands not yet reaped */
};

uint64_t hic_now_ns(void);
const char *hic_status(const struct hic_svc *s);
/* Get-VMIntegrationService's SecondaryStatusDescription: why the status
 * is what it is ("" when there is nothing to add). */
const char *hic_status_detail(const struct hic_svc *s);
struct hic_svc *hic_svc_find(struct hic *ic, const char *name);
int hic_enable(struct hic_svc *s, bool on);
/* Whether the service's channel is open and negotiated. */
bool hic_ready(const struct hic_svc *s);
/* Bad input of every session by reason into out; returns the total. */
uint64_t hic_bad_total(struct hic_svc *s, struct vmb_badstats *out);
/* Answers that came after their request was given up (worker-counted). */
uint64_t hic_late(struct hic_svc *s);
/* The answer to the open request was malformed: the guest is no longer
 * communicating properly (Lost Communication until a good answer). */
void hic_answer_bad(struct hic_svc *s);
/* An answer the engine accepted contradicts the request: count it under
 * why, as a failure, and as hic_answer_bad(). */
void hic_answer_refuse(struct hic_svc *s, enum vmb_bad why);
/* Time sync: send a sample now if the channel is idle (a SYNC while
 * ts_sync_due). */
void hic_ts_send(struct hic_svc *s);

/* Send one request: build runs under the service lock with the engine.
 * VMB_OK, or a VMB_* / IC_UTF_* failure (nothing left open). */
typedef int hic_build_fn(struct ic_host *h, const void *arg, uint8_t *out,
			 size_t cap, size_t *len);
int hic_send(struct hic_svc *s, hic_build_fn *build, const void *arg);

/* Jobs (hic_job.c). */
struct hic_job *hic_job_new(enum hic_job_kind kind, int fd);
/* False when j was refused (queue full: j is freed, its client told). */
bool hic_job_queue(struct hic_svc *s, struct hic_job *j);
void hic_job_kick(struct hic_svc *s);
void hic_job_result(struct hic_svc *s, int rc, const struct ic_host_result *r);
/* The active job's request timed out. */
void hic_job_timeout(struct hic_svc *s);
/* Queue an auto pool read unless one is queued. */
void hic_kvp_refresh(struct hic_svc *s);
/* Fail every queued job (channel gone, disabled, host stopping). */
void hic_job_abort_all(struct hic_svc *s, const char *why);
void hic_job_finish(struct hic_svc *s, struct hic_job *j, bool ok,
		    const char *err);
const char *hic_status_text(uint32_t status);
/* Text the guest chose, as hic_put_guest_text writes it, into buf. */
void hic_guest_text(const char *text, char *buf, size_t cap);
/* Write text the guest chose (KVP keys and values, its OS name) followed
 * by end: control characters, C0, DEL and the C1 range that terminals
 * take as escape sequences, become \xNN, so a guest cannot drive the
 * administrator's terminal or forge lines of hvis-ctl output. */
void hic_put_guest_text(FILE *out, const char *text, const char *end);
/* `vm services` (hic_show.c): the listing, as JSON if json; the first
 * line says "warn: ..." when an enabled service is not OK. */
int hic_cmd_services(struct hic *ic, bool json, FILE *out);

/* VSS backup steps (hic_vss.c). */
int hic_vss_start(struct hic_svc *s, struct hic_job *j);
void hic_vss_result(struct hic_svc *s, struct hic_job *j, int rc,
		    const struct ic_host_result *r);
/* Kills the job's backup command, if any, without waiting for it, and
 * lets go of its output. */
void hic_vss_cleanup(struct hic_svc *s, struct hic_job *j);
/* The failure text of a backup ended by why from outside (channel
 * closed, service disabled, host stopping), saying what that means for
 * the snapshot at the step it was in. Returns buf. */
const char *hic_vss_abort_text(const struct hic_job *j, const char *why,
			       char *buf, size_t cap);
/* The KVP reason job for backup id ended: the guest's words (text), or
 * none and why not. */
void hic_vss_reason(struct hic *ic, uint64_t id, const char *text,
		    const char *none);
/* Periodic: stop a backup command that outlived its time limit. */
void hic_vss_tick(struct hic_svc *s, uint64_t now);
/* Periodic: reap backup commands that have no pidfd watch. */
void hic_vss_reap(struct hic *ic);
/* Host stopping, after every job ended: kill and reap what is left,
 * waiting a moment at most. */
void hic_vss_fini(struct hic *ic);

void hic_intrinsic_clear(struct hic *ic);

#endif
