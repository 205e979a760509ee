/* KVP pool files in the format of Linux's hv_kvp_daemon (hyperv-daemons):
 * <root>/.kvp_pool_0 .. .kvp_pool_4, each a flat array of 2560-byte
 * records (key 512 bytes + value 2048 bytes, NUL-terminated UTF-8, zero
 * padded). Every operation re-reads the file under an fcntl lock on the
 * whole file (F_RDLCK to read, F_WRLCK across a read-modify-write), so
 * changes by other processes, the Linux daemon included, are seen and no
 * concurrent update is lost. Delete moves the following records up by
 * one, as the daemon does, so enumeration order stays insertion order.
 *
 * Thread-safe: fcntl locks do not exclude threads of one process, so each
 * pool also has a mutex. */
#ifndef HVIS_GUEST_KVP_POOL_H
#define HVIS_GUEST_KVP_POOL_H

#include <stddef.h>
#include <stdint.h>

/* Pool numbers (KVP_POOL_EXTERNAL .. KVP_POOL_AUTO_INTERNAL) and their
 * count are the wire protocol's. */
#include "ic/kvp_wire.h"

#define KVP_POOL_KEY_SIZE	512	/* bytes on disk, NUL included */
#define KVP_POOL_VALUE_SIZE	2048
#define KVP_POOL_RECORD_SIZE	(KVP_POOL_KEY_SIZE + KVP_POOL_VALUE_SIZE)
#define KVP_POOL_DEFAULT_ROOT	"/var/lib/hyperv"

enum kvp_pool_err {
	KVP_POOL_OK = 0,
	KVP_POOL_ENOTFOUND = -1,	/* no such key / index past the end */
	KVP_POOL_EKEYLEN = -2,		/* key empty or >= 512 bytes */
	KVP_POOL_EVALLEN = -3,		/* value >= 2048 bytes */
	KVP_POOL_EIO = -4,		/* open/lock/read/write failed */
	KVP_POOL_EINVAL = -5,		/* bad pool number, not UTF-8, ... */
	KVP_POOL_EBADREC = -6,		/* a record on disk is malformed */
	KVP_POOL_ENOMEM = -7,
	KVP_POOL_ESPACE = -8,		/* caller's buffer too small */
};

struct kvp_pool_set;

struct kvp_pool_stats {
	uint64_t bad_records;	/* malformed records met while scanning */
	uint64_t io_errors;
	uint64_t loads;		/* whole-file reads: one per operation */
};

/* Opens (creating when missing, mode 0644; root directory 0755) the five
 * pool files under root (NULL: KVP_POOL_DEFAULT_ROOT). On KVP_POOL_EIO
 * errno tells why. */
int kvp_pool_open(const char *root, struct kvp_pool_set **out);
void kvp_pool_close(struct kvp_pool_set *set);

/* key and value are NUL-terminated UTF-8. get copies the value into
 * value[value_cap] (KVP_POOL_VALUE_SIZE always suffices). */
int kvp_pool_get(struct kvp_pool_set *set, unsigned pool, const char *key,
		 char *value, size_t value_cap);
/* Updates the value in place when the key exists, else appends. */
int kvp_pool_set(struct kvp_pool_set *set, unsigned pool, const char *key,
		 const char *value);
int kvp_pool_delete(struct kvp_pool_set *set, unsigned pool,
		    const char *key);
/* The index-th well-formed record (0-based, file order; malformed records
 * are skipped and counted), with one locked read of the file whatever the
 * index; KVP_POOL_ENOTFOUND past the last one. */
int kvp_pool_enumerate(struct kvp_pool_set *set, unsigned pool,
		       uint32_t index, char *key, size_t key_cap,
		       char *value, size_t value_cap);
/* Records in the file, malformed ones included. */
int kvp_pool_count(struct kvp_pool_set *set, unsigned pool,
		   uint32_t *count);

/* errno of the last KVP_POOL_EIO (0 if none); counters. */
int kvp_pool_last_errno(const struct kvp_pool_set *set);
void kvp_pool_get_stats(const struct kvp_pool_set *set,
			struct kvp_pool_stats *st);
const char *kvp_pool_strerror(int err);

/* Checks one on-disk record: key NUL-terminated, non-empty, valid UTF-8;
 * value NUL-terminated, valid UTF-8. On success points *key and *value
 * into rec. */
int kvp_pool_record_parse(const uint8_t rec[KVP_POOL_RECORD_SIZE],
			  const char **key, const char **value);
/* Whether s[0..len) is well-formed UTF-8 without NUL (no overlongs,
 * surrogates or code points above U+10FFFF): core/ic's check. */
int kvp_pool_utf8_valid(const char *s, size_t len);

#endif
