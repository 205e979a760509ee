/* guest/os/kvp_pool.c against the real hv_kvp_daemon of Linux's
 * hyperv-daemons, on one pool directory:
 *  (a) pools the daemon writes load in hvis;
 *  (b) pools hvis writes are served by the daemon (GET, ENUMERATE);
 *  (c) both updating one pool at once, under the files' locks.
 *
 * This program plays the kernel's hv_kvp driver: kvpd_shim.so (argv[1],
 * LD_PRELOADed into the daemon) turns the daemon's open() of
 * /dev/vmbus/hv_kvp into a SOCK_SEQPACKET connection to us and moves its
 * /var/lib/hyperv under a temp dir. Messages are the uapi's struct
 * hv_kvp_msg, strings UTF-8 with sizes counting the NUL, as the kernel
 * converts them from the host's UTF-16.
 *
 * Skipped (77) when the daemon ($HVIS_KVPD_DAEMON, default
 * /usr/sbin/hv_kvp_daemon) is not installed. Needs no root. */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../guest/guest_util.h"
#include "kvp_pool.h"

/* The uapi's wire format (include/uapi/linux/hyperv.h), in host byte
 * order: the daemon and the kernel share a machine. */
enum {
	KVPD_OP_GET = 0,
	KVPD_OP_SET = 1,
	KVPD_OP_DELETE = 2,
	KVPD_OP_ENUMERATE = 3,
	KVPD_OP_REGISTER1 = 100,
	KVPD_REG_SZ = 1,
};

#define KVPD_S_OK	0x00000000u
#define KVPD_S_CONT	0x80070103u	/* not found / past the end */

struct kvpd_value {
	uint32_t value_type;
	uint32_t key_size;	/* bytes, NUL included */
	uint32_t value_size;
	uint8_t key[KVP_POOL_KEY_SIZE];
	uint8_t value[KVP_POOL_VALUE_SIZE];
} __attribute__((packed));

struct kvpd_msg {
	/* Requests: operation, pool, 2 pad bytes. The daemon answers with
	 * a 32-bit status in the same place (a union in the uapi). */
	union {
		struct {
			uint8_t operation;
			uint8_t pool;
			uint16_t pad;
		} hdr;
		uint32_t error;
	};
	union {
		struct kvpd_value kv;			/* GET, SET */
		struct {
			uint32_t index;
			struct kvpd_value data;
		} __attribute__((packed)) en;		/* ENUMERATE */
		/* Not packed in the uapi: it gives the union 4-byte
		 * alignment, hence 2 bytes of tail padding. */
		struct {
			uint32_t key_size;
			uint8_t key[KVP_POOL_KEY_SIZE];
		} del;					/* DELETE */
		uint8_t version[KVP_POOL_KEY_SIZE];	/* REGISTER1 */
		/* struct hv_kvp_ipaddr_value, the largest member: adapter
		 * id, family, dhcp, ip, subnet, gateway, dns */
		uint8_t ip[128 * 2 + 2 + 1024 * 2 * 3 + 512 * 2];
	} body;
} __attribute__((packed));

_Static_assert(sizeof(struct kvpd_value) == 2572, "uapi exchg value");
_Static_assert(sizeof(((struct kvpd_msg *)0)->body) == 7428, "uapi body");
_Static_assert(sizeof(struct kvpd_msg) == 7432, "uapi hv_kvp_msg");
_Static_assert(offsetof(struct kvpd_msg, body.en.data.key) == 20,
	       "uapi enumerate key offset");

#define IO_TIMEOUT_MS	5000

static const char *shim_path;
static const char *daemon_path = "/usr/sbin/hv_kvp_daemon";

#define RACE_KEYS 120

/* Shared with the threads of (c). */
struct race {
	struct kvp_pool_set *set;
	atomic_int acked;	/* daemon SETs answered so far */
	atomic_int done;	/* the main thread's part is over */
	atomic_int stop;	/* the test failed: leave now */
	atomic_int rounds;	/* hvis_rewriter's completed rounds */
	unsigned hvis_errors;
	unsigned reader_misses;
	unsigned reader_rounds;
};

struct kvpd {
	char dir[64];
	char pools[96];
	char sock[96];
	int lfd;		/* listening socket */
	int fd;			/* the daemon's "device" */
	pid_t pid;
	struct kvp_pool_set *set;	/* hvis on the same pools */
	struct race race;
	pthread_t thr[2];
	int nthr;
};

/* ---- the kernel side of /dev/vmbus/hv_kvp ---- */

static void send_msg(struct kvpd *d, const struct kvpd_msg *m)
{
	assert_int_equal(write(d->fd, m, sizeof(*m)), sizeof(*m));
}

static void recv_msg(struct kvpd *d, struct kvpd_msg *m)
{
	struct pollfd p = { .fd = d->fd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, IO_TIMEOUT_MS), 1);
	assert_int_equal(read(d->fd, m, sizeof(*m)), sizeof(*m));
}

static uint32_t call(struct kvpd *d, struct kvpd_msg *m)
{
	send_msg(d, m);
	recv_msg(d, m);
	return m->error;
}

/* Copies s with its NUL; returns its size as the kernel counts it. */
static uint32_t put_str(uint8_t *dst, size_t cap, const char *s)
{
	size_t l = strlen(s);

	assert_true(l < cap);
	memcpy(dst, s, l + 1);
	return (uint32_t)l + 1;
}

static struct kvpd_msg *new_msg(uint8_t op, unsigned pool)
{
	static struct kvpd_msg m;	/* only the main thread talks */

	memset(&m, 0, sizeof(m));
	m.hdr.operation = op;
	m.hdr.pool = (uint8_t)pool;
	return &m;
}

static uint32_t d_set(struct kvpd *d, unsigned pool, const char *key,
		      const char *value)
{
	struct kvpd_msg *m = new_msg(KVPD_OP_SET, pool);

	m->body.kv.value_type = KVPD_REG_SZ;
	m->body.kv.key_size = put_str(m->body.kv.key, sizeof(m->body.kv.key),
				      key);
	m->body.kv.value_size = put_str(m->body.kv.value,
					sizeof(m->body.kv.value), value);
	return call(d, m);
}

/* The kernel's GET carries only the key (value_size 0), and the daemon
 * copies value_size bytes back; ask for the whole field to see it. */
static uint32_t d_get(struct kvpd *d, unsigned pool, const char *key,
		      char *value)
{
	struct kvpd_msg *m = new_msg(KVPD_OP_GET, pool);
	uint32_t err;

	m->body.kv.key_size = put_str(m->body.kv.key, sizeof(m->body.kv.key),
				      key);
	m->body.kv.value_size = KVP_POOL_VALUE_SIZE;
	err = call(d, m);
	memcpy(value, m->body.kv.value, KVP_POOL_VALUE_SIZE);
	value[KVP_POOL_VALUE_SIZE - 1] = '\0';
	return err;
}

static uint32_t d_del(struct kvpd *d, unsigned pool, const char *key)
{
	struct kvpd_msg *m = new_msg(KVPD_OP_DELETE, pool);

	m->body.del.key_size = put_str(m->body.del.key,
				       sizeof(m->body.del.key), key);
	return call(d, m);
}

static uint32_t d_enum(struct kvpd *d, unsigned pool, uint32_t index,
		       char *key, char *value)
{
	struct kvpd_msg *m = new_msg(KVPD_OP_ENUMERATE, pool);
	uint32_t err;

	m->body.en.index = index;
	err = call(d, m);
	memcpy(key, m->body.en.data.key, KVP_POOL_KEY_SIZE);
	key[KVP_POOL_KEY_SIZE - 1] = '\0';
	memcpy(value, m->body.en.data.value, KVP_POOL_VALUE_SIZE);
	value[KVP_POOL_VALUE_SIZE - 1] = '\0';
	return err;
}

/* ---- the daemon's life ---- */

static char **child_env(struct kvpd *d)
{
	extern char **environ;
	size_t n = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 4, sizeof(*env));
	assert_non_null(env);
	for (size_t i = 0, j = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			env[j++] = environ[i];
	for (n = 0; env[n]; n++)
		;
	assert_true(asprintf(&env[n], "LD_PRELOAD=%s", shim_path) > 0);
	assert_true(asprintf(&env[n + 1], "HVIS_KVPD_SOCK=%s", d->sock) > 0);
	assert_true(asprintf(&env[n + 2], "HVIS_KVPD_ROOT=%s", d->pools) > 0);
	return env;
}

static void free_env(char **env)
{
	size_t n = 0;

	while (env[n])
		n++;
	for (size_t i = n - 3; i < n; i++)
		free(env[i]);
	free(env);
}

static void spawn_daemon(struct kvpd *d)
{
	char **env = child_env(d);
	pid_t parent = getpid();

	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		/* Dies with us even if we crash before the teardown. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execle(daemon_path, daemon_path, "-n", (char *)NULL, env);
		_exit(127);
	}
	free_env(env);
}

/* Accepts the daemon's connection and completes the handshake: the
 * daemon announces KVP_OP_REGISTER1, the kernel answers with the same
 * op and its version string, which the daemon does not acknowledge. */
static void handshake(struct kvpd *d)
{
	struct pollfd p = { .fd = d->lfd, .events = POLLIN };
	struct kvpd_msg m;

	assert_int_equal(poll(&p, 1, IO_TIMEOUT_MS), 1);
	d->fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(d->fd >= 0);
	recv_msg(d, &m);
	assert_int_equal(m.hdr.operation, KVPD_OP_REGISTER1);
	memset(&m, 0, sizeof(m));
	m.hdr.operation = KVPD_OP_REGISTER1;
	strcpy((char *)m.body.version, "3.1");
	send_msg(d, &m);
}

/* Setup only allocates: cmocka skips the teardown of a failed setup,
 * so everything that needs cleaning up starts in the test (start()). */
static int setup(void **state)
{
	struct kvpd *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	d->fd = d->lfd = -1;
	*state = d;
	return 0;
}

/* A fresh pool directory and a daemon registered with us on it. */
static struct kvpd *start(void **state)
{
	struct kvpd *d = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	assert_int_equal(gt_mkdtemp("kvpd", d->dir, sizeof(d->dir)), 0);
	snprintf(d->pools, sizeof(d->pools), "%s/hyperv", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%s/hv_kvp", d->dir);
	strcpy(sa.sun_path, d->sock);
	d->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(d->lfd >= 0);
	assert_int_equal(bind(d->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(d->lfd, 1), 0);
	spawn_daemon(d);
	handshake(d);
	/* The daemon created the directory and the five files. */
	assert_int_equal(kvp_pool_open(d->pools, &d->set), KVP_POOL_OK);
	d->race.set = d->set;
	return d;
}

static void spawn_thread(struct kvpd *d, void *(*fn)(void *))
{
	assert_true(d->nthr < 2);
	assert_int_equal(pthread_create(&d->thr[d->nthr], NULL, fn, &d->race),
			 0);
	d->nthr++;
}

static void join_threads(struct kvpd *d)
{
	while (d->nthr > 0)
		assert_int_equal(pthread_join(d->thr[--d->nthr], NULL), 0);
}

static int teardown(void **state)
{
	struct kvpd *d = *state;
	int status;

	if (!d)
		return 0;
	atomic_store(&d->race.stop, 1);
	while (d->nthr > 0)
		pthread_join(d->thr[--d->nthr], NULL);
	/* Killed first: on a closed device it would reconnect. */
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
	}
	kvp_pool_close(d->set);
	if (d->fd >= 0)
		close(d->fd);
	if (d->lfd >= 0)
		close(d->lfd);
	if (d->dir[0])
		gt_rm_rf(d->dir);
	free(d);
	return 0;
}

/* ---- what each side should hold ---- */

#define MODEL_MAX 80

struct model {
	unsigned n;
	char key[MODEL_MAX][KVP_POOL_KEY_SIZE];
	char val[MODEL_MAX][KVP_POOL_VALUE_SIZE];
};

static int model_find(const struct model *m, const char *key)
{
	for (unsigned i = 0; i < m->n; i++)
		if (strcmp(m->key[i], key) == 0)
			return (int)i;
	return -1;
}

/* Both implementations update in place and append new keys. */
static void model_set(struct model *m, const char *key, const char *val)
{
	int i = model_find(m, key);

	if (i < 0) {
		assert_true(m->n < MODEL_MAX);
		i = (int)m->n++;
		strcpy(m->key[i], key);
	}
	strcpy(m->val[i], val);
}

/* Both move the later records up by one. */
static void model_del(struct model *m, const char *key)
{
	int i = model_find(m, key);

	assert_true(i >= 0);
	m->n--;
	memmove(m->key[i], m->key[i + 1], (m->n - (unsigned)i) *
		sizeof(m->key[0]));
	memmove(m->val[i], m->val[i + 1], (m->n - (unsigned)i) *
		sizeof(m->val[0]));
}

struct writer {
	struct kvpd *d;
	int daemon;	/* 1: through the daemon, 0: through hvis */
};

static void w_set(struct writer *w, unsigned pool, const char *key,
		  const char *val)
{
	if (w->daemon)
		assert_int_equal(d_set(w->d, pool, key, val), KVPD_S_OK);
	else
		assert_int_equal(kvp_pool_set(w->d->set, pool, key, val),
				 KVP_POOL_OK);
}

static void w_del(struct writer *w, unsigned pool, const char *key)
{
	if (w->daemon)
		assert_int_equal(d_del(w->d, pool, key), KVPD_S_OK);
	else
		assert_int_equal(kvp_pool_delete(w->d->set, pool, key),
				 KVP_POOL_OK);
}

/* The same edits through either writer: plain and UTF-8 keys, the
 * longest key and value, more than the daemon's 50-record allocation
 * block, values shortened in place (the daemon leaves the old tail
 * behind the new NUL), deletes at the front and in the middle (the
 * daemon moves records up with strcpy, stale bytes again) and a key
 * re-added after its delete. */
static void workload(struct writer *w, unsigned pool, struct model *m)
{
	unsigned count = pool == 0 || pool == 1 ? 60 : 4;
	char key[KVP_POOL_KEY_SIZE], val[KVP_POOL_VALUE_SIZE];

	for (unsigned i = 0; i < count; i++) {
		snprintf(key, sizeof(key), "pool%u-key%u", pool, i);
		snprintf(val, sizeof(val), "value %u of pool %u, padded %0*u",
			 i, pool, (int)(i % 40), i);
		w_set(w, pool, key, val);
		model_set(m, key, val);
	}
	snprintf(key, sizeof(key), "Schl\u00fcssel-%u-\u65e5\u672c", pool);
	snprintf(val, sizeof(val), "Wert \u20ac %u \u2713 \U0001F600", pool);
	w_set(w, pool, key, val);
	model_set(m, key, val);

	memset(key, 'K', KVP_POOL_KEY_SIZE - 1);
	key[KVP_POOL_KEY_SIZE - 1] = '\0';
	key[0] = (char)('0' + pool);
	memset(val, 'v', KVP_POOL_VALUE_SIZE - 1);
	val[KVP_POOL_VALUE_SIZE - 1] = '\0';
	w_set(w, pool, key, val);
	model_set(m, key, val);
	w_set(w, pool, key, "x");
	model_set(m, key, "x");

	snprintf(key, sizeof(key), "pool%u-key1", pool);
	w_set(w, pool, key, "short");
	model_set(m, key, "short");
	snprintf(key, sizeof(key), "pool%u-key2", pool);
	w_del(w, pool, key);
	model_del(m, key);
	snprintf(key, sizeof(key), "pool%u-key0", pool);
	w_del(w, pool, key);
	model_del(m, key);
	w_set(w, pool, key, "back");
	model_set(m, key, "back");
}

static void expect_in_hvis(struct kvpd *d, unsigned pool,
			   const struct model *m)
{
	char key[KVP_POOL_KEY_SIZE], val[KVP_POOL_VALUE_SIZE];
	struct kvp_pool_stats st;
	uint32_t n;

	assert_int_equal(kvp_pool_count(d->set, pool, &n), KVP_POOL_OK);
	assert_int_equal(n, m->n);
	for (unsigned i = 0; i < m->n; i++) {
		assert_int_equal(kvp_pool_enumerate(d->set, pool, i, key,
						    sizeof(key), val,
						    sizeof(val)), KVP_POOL_OK);
		assert_string_equal(key, m->key[i]);
		assert_string_equal(val, m->val[i]);
		assert_int_equal(kvp_pool_get(d->set, pool, m->key[i], val,
					      sizeof(val)), KVP_POOL_OK);
		assert_string_equal(val, m->val[i]);
	}
	assert_int_equal(kvp_pool_enumerate(d->set, pool, m->n, key,
					    sizeof(key), val, sizeof(val)),
			 KVP_POOL_ENOTFOUND);
	kvp_pool_get_stats(d->set, &st);
	assert_int_equal(st.bad_records, 0);
}

/* Pool 2 (Auto) the daemon enumerates from its own intrinsic data,
 * never from the file; GET still reads the file there. */
static void expect_in_daemon(struct kvpd *d, unsigned pool,
			     const struct model *m)
{
	char key[KVP_POOL_KEY_SIZE], val[KVP_POOL_VALUE_SIZE];

	for (unsigned i = 0; pool != 2 && i < m->n; i++) {
		assert_int_equal(d_enum(d, pool, i, key, val), KVPD_S_OK);
		assert_string_equal(key, m->key[i]);
		assert_string_equal(val, m->val[i]);
	}
	if (pool != 2)
		assert_int_equal(d_enum(d, pool, m->n, key, val), KVPD_S_CONT);
	for (unsigned i = 0; i < m->n; i++) {
		assert_int_equal(d_get(d, pool, m->key[i], val), KVPD_S_OK);
		assert_string_equal(val, m->val[i]);
	}
}

static void expect_file_size(struct kvpd *d, unsigned pool, unsigned n)
{
	char path[160];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/.kvp_pool_%u", d->pools, pool);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, (off_t)n * KVP_POOL_RECORD_SIZE);
}

/* (a) */
static void test_daemon_writes_hvis_reads(void **state)
{
	struct kvpd *d = start(state);
	struct writer w = { d, 1 };
	struct model *m = calloc(KVP_POOL_COUNT, sizeof(*m));
	char val[KVP_POOL_VALUE_SIZE];

	assert_non_null(m);
	for (unsigned p = 0; p < KVP_POOL_COUNT; p++)
		workload(&w, p, &m[p]);
	for (unsigned p = 0; p < KVP_POOL_COUNT; p++) {
		expect_file_size(d, p, m[p].n);
		expect_in_hvis(d, p, &m[p]);
	}
	/* Gone for both. */
	assert_int_equal(kvp_pool_get(d->set, 0, "pool0-key2", val,
				      sizeof(val)), KVP_POOL_ENOTFOUND);
	assert_int_equal(d_get(d, 0, "pool0-key2", val), KVPD_S_CONT);
	assert_int_equal(d_del(d, 0, "pool0-key2"), KVPD_S_CONT);
	free(m);
}

/* (b), then the daemon editing what hvis wrote and hvis seeing it. */
static void test_hvis_writes_daemon_reads(void **state)
{
	struct kvpd *d = start(state);
	struct writer w = { d, 0 };
	struct model *m = calloc(KVP_POOL_COUNT, sizeof(*m));
	char key[KVP_POOL_KEY_SIZE], val[KVP_POOL_VALUE_SIZE];

	assert_non_null(m);
	for (unsigned p = 0; p < KVP_POOL_COUNT; p++)
		workload(&w, p, &m[p]);
	for (unsigned p = 0; p < KVP_POOL_COUNT; p++) {
		expect_file_size(d, p, m[p].n);
		expect_in_daemon(d, p, &m[p]);
	}
	assert_int_equal(d_get(d, 1, "pool1-key2", val), KVPD_S_CONT);

	/* The intrinsic Auto pool carries the version we registered. */
	assert_int_equal(d_enum(d, 2, 1, key, val), KVPD_S_OK);
	assert_string_equal(key, "IntegrationServicesVersion");
	assert_string_equal(val, "3.1");

	struct writer dw = { d, 1 };

	w_set(&dw, 1, "pool1-key5", "changed by the daemon");
	model_set(&m[1], "pool1-key5", "changed by the daemon");
	w_del(&dw, 1, "pool1-key7");
	model_del(&m[1], "pool1-key7");
	w_set(&dw, 1, "from-daemon", "appended");
	model_set(&m[1], "from-daemon", "appended");
	expect_in_hvis(d, 1, &m[1]);
	free(m);
}

static void *hvis_writer(void *arg)
{
	struct race *r = arg;
	char key[32];

	for (int i = 0; i < RACE_KEYS; i++) {
		/* Keeps pace with the daemon so the two really overlap. */
		while (atomic_load(&r->acked) < i) {
			if (atomic_load(&r->stop))
				return NULL;
			sched_yield();
		}
		snprintf(key, sizeof(key), "hvis-%d", i);
		if (kvp_pool_set(r->set, 1, key, "written by hvis"))
			r->hvis_errors++;
	}
	return NULL;
}

/* Every SET the daemon has answered must be visible to hvis at every
 * moment: the daemon truncates and rewrites the whole file for each
 * update, so a reader that ignored its lock would find keys missing. */
static void *hvis_reader(void *arg)
{
	struct race *r = arg;
	char key[32], val[KVP_POOL_VALUE_SIZE];

	while (atomic_load(&r->acked) < RACE_KEYS &&
	       !atomic_load(&r->stop)) {
		int n = atomic_load(&r->acked);

		for (int i = n - 1; i >= 0 && i >= n - 8; i--) {
			snprintf(key, sizeof(key), "daemon-%d", i);
			if (kvp_pool_get(r->set, 1, key, val, sizeof(val)))
				r->reader_misses++;
		}
		r->reader_rounds++;
	}
	return NULL;
}

/* hvis and the daemon both appending to pool 1, hvis reading all along.
 * Returns how many hvis records the daemon dropped. */
static unsigned race_writers(struct kvpd *d)
{
	struct race *r = &d->race;
	char key[32], val[KVP_POOL_VALUE_SIZE];
	unsigned lost = 0;
	uint32_t n;

	spawn_thread(d, hvis_reader);
	spawn_thread(d, hvis_writer);
	for (int i = 0; i < RACE_KEYS; i++) {
		snprintf(key, sizeof(key), "daemon-%d", i);
		assert_int_equal(d_set(d, 1, key, "written by the daemon"),
				 KVPD_S_OK);
		atomic_store(&r->acked, i + 1);
	}
	join_threads(d);
	assert_int_equal(r->hvis_errors, 0);
	assert_int_equal(r->reader_misses, 0);
	assert_true(r->reader_rounds > 0);

	/* No daemon record lost to hvis, seen the same by both sides. */
	for (int i = 0; i < RACE_KEYS; i++) {
		snprintf(key, sizeof(key), "daemon-%d", i);
		assert_int_equal(kvp_pool_get(d->set, 1, key, val, sizeof(val)),
				 KVP_POOL_OK);
		assert_string_equal(val, "written by the daemon");
		assert_int_equal(d_get(d, 1, key, val), KVPD_S_OK);
		assert_string_equal(val, "written by the daemon");
	}
	/* The daemon reads the file and rewrites it under two separate
	 * lock holds, so an hvis record appended in between is dropped
	 * by the daemon's rewrite. No locking on our side can prevent
	 * that; count it, and check the survivors are intact. */
	for (int i = 0; i < RACE_KEYS; i++) {
		snprintf(key, sizeof(key), "hvis-%d", i);
		int rc = kvp_pool_get(d->set, 1, key, val, sizeof(val));

		if (rc == KVP_POOL_ENOTFOUND) {
			lost++;
			continue;
		}
		assert_int_equal(rc, KVP_POOL_OK);
		assert_string_equal(val, "written by hvis");
	}
	assert_int_equal(kvp_pool_count(d->set, 1, &n), KVP_POOL_OK);
	assert_int_equal(n, 2 * RACE_KEYS - lost);
	expect_file_size(d, 1, n);
	print_message("kvpd race: %u hvis read rounds; the daemon's split "
		      "read-modify-write dropped %u of %d hvis records\n",
		      r->reader_rounds, lost, RACE_KEYS);
	return lost;
}

/* Rewrites every hvis key with "round <r>", r = 0, 1, ..., finishing
 * the round under way once the main thread is done. */
static void *hvis_rewriter(void *arg)
{
	struct race *r = arg;
	char key[32], val[32];

	for (int round = 0; !atomic_load(&r->stop); round++) {
		snprintf(val, sizeof(val), "round %d", round);
		for (int i = 0; i < RACE_KEYS; i++) {
			snprintf(key, sizeof(key), "hvis-%d", i);
			if (kvp_pool_set(r->set, 1, key, val))
				r->hvis_errors++;
		}
		atomic_store(&r->rounds, round + 1);
		if (atomic_load(&r->done))
			break;
	}
	return NULL;
}

/* hvis updating (and re-adding what the daemon dropped) while the daemon
 * enumerates: the daemon never meets a torn pool, hvis loses nothing. */
static void race_hvis_writes_daemon_reads(struct kvpd *d, unsigned lost)
{
	struct race *r = &d->race;
	char key[KVP_POOL_KEY_SIZE], val[KVP_POOL_VALUE_SIZE];
	char want[32];
	uint32_t before = 2 * RACE_KEYS - lost, n;

	spawn_thread(d, hvis_rewriter);
	for (int i = 0; i < 100; i++) {
		uint32_t at = (uint32_t)rand() % before;

		assert_int_equal(d_enum(d, 1, at, key, val), KVPD_S_OK);
		assert_true(strncmp(key, "daemon-", 7) == 0 ||
			    strncmp(key, "hvis-", 5) == 0);
	}
	atomic_store(&r->done, 1);
	join_threads(d);
	assert_int_equal(r->hvis_errors, 0);
	snprintf(want, sizeof(want), "round %d", atomic_load(&r->rounds) - 1);
	for (int i = 0; i < RACE_KEYS; i++) {
		snprintf(key, sizeof(key), "hvis-%d", i);
		assert_int_equal(d_get(d, 1, key, val), KVPD_S_OK);
		assert_string_equal(val, want);
	}
	assert_int_equal(kvp_pool_count(d->set, 1, &n), KVP_POOL_OK);
	assert_int_equal(n, 2 * RACE_KEYS);
	assert_int_equal(d_enum(d, 1, n - 1, key, val), KVPD_S_OK);
	assert_int_equal(d_enum(d, 1, n, key, val), KVPD_S_CONT);
	print_message("kvpd race: %d hvis rounds over %d keys during 100 "
		      "daemon enumerations\n", atomic_load(&r->rounds),
		      RACE_KEYS);
}

/* (c) */
static void test_concurrent_updates(void **state)
{
	struct kvpd *d = start(state);

	race_hvis_writes_daemon_reads(d, race_writers(d));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_daemon_writes_hvis_reads,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_hvis_writes_daemon_reads,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_updates,
						setup, teardown),
	};
	const char *env = getenv("HVIS_KVPD_DAEMON");

	if (argc < 2) {
		fprintf(stderr, "usage: %s kvpd_shim.so\n", argv[0]);
		return 2;
	}
	shim_path = argv[1];
	if (env && *env)
		daemon_path = env;
	if (access(daemon_path, X_OK)) {
		printf("SKIP: no %s (hyperv-daemons)\n", daemon_path);
		return 77;
	}
	/* A daemon that died must not kill us through SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
