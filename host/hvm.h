/* The emulated Hyper-V host: one VM with a VMBus server, its synthetic
 * devices, the transport to one guest at a time and a control socket.
 *
 * Threads: everything here runs on the VM's event-loop thread (transport,
 * control socket, vmb_server calls, offers, open/close), except the
 * devices' receive callbacks, which run on each channel's worker thread
 * and reach the loop thread only through hvm_defer(). */
#ifndef HVIS_HVM_H
#define HVIS_HVM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rt_chan.h"
#include "rt_gmem.h"
#include "rt_loop.h"
#include "rt_xport.h"
#include "vmbus/vmb_server.h"

struct hvm;
struct hvm_chan;
struct hdev;
struct hic;

/* A device class: what a synthetic device does on its channels. */
struct hdev_class {
	const char *name;       /* "test" */
	const char *class_guid; /* interface type GUID, text */
	/* Per-device state; max_sub = sub-channels the guest may ask for. */
	int (*create)(struct hdev *d);
	void (*destroy)(struct hdev *d);
	/* Channel about to start: set c->priv. 0 or a failure status. */
	uint32_t (*open)(struct hvm_chan *c);
	/* Optional: the channel's worker runs and c->rt is set (the device
	 * may now let other threads send on it). Loop thread. */
	void (*started)(struct hvm_chan *c);
	/* Channel stopped (worker joined): free c->priv. */
	void (*close)(struct hvm_chan *c);
	/* A packet from the guest, on the channel's worker thread. */
	rt_chan_rx_fn *rx; /* arg = struct hvm_chan * */
	/* Optional: after each receive batch, on the worker thread (start
	 * the I/O the batch queued). */
	rt_chan_batch_fn *batch_end;
	/* Optional: the device's other work on the worker thread, run when
	 * the eventfd open() put in c->aux_fd is signalled (see
	 * rt_chan_aux_fn). */
	rt_chan_aux_fn *aux;
	/* c->aux_fd is a descriptor aux reads itself (rt_chan_cfg's
	 * aux_level), not an eventfd. */
	bool aux_level;
	/* Optional: the channel is stopping and its sends already fail with
	 * VMB_ESHUTDOWN; end the device's own threads that send on it
	 * (e.g. I/O completions) before the channel is freed. Loop
	 * thread. */
	void (*quiesce)(struct hvm_chan *c);
	/* Device-specific counters for hvis-ctl; may be NULL. */
	void (*describe)(struct hvm_chan *c, FILE *out);
};

const struct hdev_class *hdev_class_find(const char *name);

struct hdev {
	const struct hdev_class *cls;
	struct hvm *vm;
	uint32_t id;              /* serial, never reused */
	struct vmb_guid instance;
	uint32_t primary_relid;   /* 0 once removed */
	uint32_t max_sub;         /* sub-channels the guest may ask for */
	uint32_t nsub;            /* sub-channels offered */
	void *priv;
	struct hdev *next;
};

enum hvm_chan_state { HVM_CHAN_OFFERED, HVM_CHAN_OPEN, HVM_CHAN_RESCINDED };

struct hvm_chan {
	struct hvm *vm;
	struct hdev *dev;
	uint32_t relid;
	uint16_t sub_index;
	enum hvm_chan_state state;
	int efd_g2h;              /* guest signals host; -1 if none */
	int efd_h2g;              /* host signals guest */
	struct rt_chan *rt;       /* running while open */
	int aux_fd;               /* the device's, when its class has aux */
	int cpu;
	uint32_t gen;             /* guest generation the channel opened in */
	_Atomic uint32_t dev_version; /* device protocol, set by the device */
	uint64_t g2h_len, h2g_len; /* ring bytes incl. header page */
	struct rt_chan_stats last; /* counters of the last open session */
	void *priv;               /* device's per-channel state */
};

/* Mappings one guest's GPADLs may make the host hold at once (each run
 * of consecutive pages is one; the kernel allows a process 65530 in all,
 * by default): room for rings and the large scattered buffers of the
 * storage and network devices, and a bound no guest can push the host
 * past. */
#define HVM_GUEST_MAP_RUNS 32768u

struct hvm_cfg {
	const char *name;      /* VM name */
	const char *vmbus_path;
	const char *ctl_path;
	uint32_t max_version;  /* 0 = newest */
	bool once;             /* exit when the guest goes away */
	bool poll;             /* channel workers poll instead of sleeping */
};

/* Work for the loop thread, queued from a channel worker. */
typedef void hvm_work_fn(struct hvm *vm, struct hdev *d, uint32_t arg);

struct hvm_work {
	hvm_work_fn *fn;
	uint32_t dev_id;
	uint32_t gen;
	uint32_t arg;
	struct hvm_work *next;
};

struct hvm {
	struct hvm_cfg cfg;
	struct rt_loop *loop;
	int lfd;                  /* VMBus listening socket */
	int ctl_fd;               /* control listening socket */
	struct ctl_client *ctl_clients; /* requests still arriving */
	struct ctl_out *ctl_outs; /* replies still leaving */
	unsigned ctl_nclients;
	struct rt_xport_conn *xc; /* connected guest, NULL if none */
	pid_t guest_pid;          /* its process (SO_PEERCRED), 0 unknown */
	int guest_pidfd;          /* pidfd of it, -1 if none */
	uint64_t guest_since_ns;  /* CLOCK_MONOTONIC when it attached */
	uint32_t gen;             /* guest generation, bumped per guest */
	uint64_t guests_served;
	struct rt_gmem gmem;
	bool have_gmem;
	struct vmb_server srv;
	uint32_t version;         /* 0 until a guest connected */
	uint8_t sint;
	int ncpu;
	struct hvm_chan **chans;  /* by relid */
	struct hdev *devs;
	uint32_t next_dev_id;
	/* transport errors, counted */
	uint64_t xport_bad;
	uint64_t xport_stalled;   /* guests dropped for not reading */
	uint64_t map_refused;
	uint64_t map_capped;      /* GPADLs refused for HVM_GUEST_MAP_RUNS */
	/* The guest's GPADLs as mapped, and devices' holds on them
	 * (hvm_gpadl_get); the lock guards them and map_runs. */
	pthread_mutex_t gpadl_lock;
	struct hvm_gpadl *gpadls;
	uint32_t map_runs;        /* mappings the guest's GPADLs hold now */
	uint64_t gpadl_refused;   /* hvm_gpadl_get refused: bad id or relid */
	uint64_t gpadl_held;      /* teardowns that waited for a device */
	uint64_t ring_bad;        /* ring corruption on channels since closed */
	/* loop-thread work queue */
	int work_fd;              /* eventfd */
	pthread_mutex_t work_lock;
	struct hvm_work *work;
	bool stopping;            /* hvm_fini under way */
	struct hic *ic;           /* integration services (hic.h), or NULL */
};

int hvm_init(struct hvm *vm, const struct hvm_cfg *cfg, struct rt_loop *l);
void hvm_fini(struct hvm *vm);

/* Add a device of class cls (offered at once if a guest listens). Its
 * instance GUID: instance, or one of the VM's own made from the device's
 * serial when NULL; it never changes while the device exists. */
int hvm_add_device(struct hvm *vm, const struct hdev_class *cls,
		   uint32_t max_sub, const struct vmb_guid *instance,
		   struct hdev **out);
/* Rescind relid (and, for a primary channel, its sub-channels). Returns
 * how many channels were rescinded, their relids in gone[max] (0: no
 * such channel). */
unsigned hvm_remove_channel(struct hvm *vm, uint32_t relid, uint32_t *gone,
			    unsigned max);
/* Whether d's primary channel is offered and not rescinded. */
bool hvm_dev_live(const struct hvm *vm, const struct hdev *d);
/* Stop-VM -TurnOff: drop the guest now (the caller killed it). */
void hvm_turn_off(struct hvm *vm);
/* Offer count more sub-channels of d. Loop thread. */
int hvm_offer_subchannels(struct hvm *vm, struct hdev *d, uint32_t count);

/* From any thread: run fn on the loop thread for device d of the current
 * guest (dropped if the device or the guest is gone by then). */
int hvm_defer(struct hvm *vm, hvm_work_fn *fn, struct hdev *d, uint32_t gen,
	      uint32_t arg);

/* A device's hold on a GPADL the guest created for one of its channels:
 * its pages, in order, mapped as one range (byte offsets the guest gives
 * into the buffer are checked against len by the device). */
struct hvm_gpadl;
struct hvm_gpadl_ref {
	uint8_t *va;
	uint64_t len;          /* its page count * 4096 */
	uint32_t id;
	struct hvm_gpadl *g;   /* private */
};

/* Hold GPADL id of channel c, from any thread. 0, or -ENOENT if the guest
 * has no such GPADL on c (another channel's included), -EBUSY if it is
 * being torn down; refusals are counted in vm->gpadl_refused. The memory
 * stays mapped until hvm_gpadl_put, whatever the guest does: a teardown
 * meanwhile is answered (GPADL_TORNDOWN) only after the last put. Holds
 * nest. A buffer the guest gave on the primary channel (as netvsc gives
 * its receive buffer) is looked up there, whichever channel uses it. */
int hvm_gpadl_get(struct hvm_chan *c, uint32_t id,
		  struct hvm_gpadl_ref *out);
/* Let go, from any thread, never waiting for the loop thread (a teardown
 * it completes is finished there later); ref is zeroed, and a zeroed ref
 * is ignored. Every hold must be let go before the device's destroy
 * returns. */
void hvm_gpadl_put(struct hvm_gpadl_ref *ref);

/* Control socket (hvm_ctl.c). */
int hvm_ctl_start(struct hvm *vm);
void hvm_ctl_stop(struct hvm *vm);
/* Execute one request line, reply into out; 0 or -1 (error reply), or
 * HVM_CTL_LATER: the request kept the client socket fd to answer later
 * (fd -1: no such socket, the request must answer now). */
#define HVM_CTL_LATER 1
int hvm_ctl_exec(struct hvm *vm, char *line, int fd, FILE *out);
/* A request line's words into buf (as long as line), at most max;
 * their count, or -1 on an unbalanced quote or too many words. */
int hvm_ctl_words(const char *line, char *buf, char **argv, int max);
/* Part of a reply to the control client on fd, never waiting for it:
 * what its socket does not take at once waits in a bounded queue; a
 * client that stops reading is cut off. hvm_ctl_done closes fd once
 * everything went out (or the client was cut off). Loop thread. */
void hvm_ctl_write(struct hvm *vm, int fd, const void *buf, size_t n);
/* An "ok" reply whose body is o as JSON (o is released). */
struct json_t;
void hvm_ctl_json(struct json_t *o, FILE *out);
void hvm_ctl_done(struct hvm *vm, int fd);

/* The words of a request, parsed (hvm_ctl_args.c): one option is
 * --NAME alone (max 0: a flag, *v set to 1) or --NAME N with N a whole
 * number from min to max (size: K, M, G or T after it multiplies by
 * 1024 each). Each request states its own bounds. */
struct hvm_ctl_opt {
	const char *name;
	unsigned long long min, max;
	bool size;
	unsigned long long *v;
};
/* argv's words: the options of opts (one absent leaves its *v as it
 * was), the other words in order into pos[0..npos). 0, or -1 with one
 * line in why naming the word and what was wanted instead. */
int hvm_ctl_args(char *const *argv, int argc, const struct hvm_ctl_opt *opts,
		 unsigned nopts, const char **pos, unsigned npos, char *why,
		 size_t n);
/* s, digits only (no sign, blank or unit), as a number from min to max;
 * 0, or -1. */
int hvm_ctl_num(const char *s, unsigned long long min, unsigned long long max,
		unsigned long long *v);

#endif
