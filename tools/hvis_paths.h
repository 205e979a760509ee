/* Where a VM's sockets live: --dir if given, else
 * $XDG_RUNTIME_DIR/hvis/<vm-name>/, else ${TMPDIR:-/tmp}/hvis-<uid>/<vm-name>/.
 * Shared by hvis-host, hvis-guest, hvis-ctl and hvis-bench.
 *
 * A runtime directory is trusted only if this user made it: every
 * directory from the one the programs make under the base down to the
 * VM's own must be a real directory (not a symlink), owned by the caller
 * and writable by nobody else. Another local user who planted one (say
 * /tmp/hvis-1000 mode 0777 before its owner ran) would otherwise receive
 * the guest's memory and give it orders. */
#ifndef HVIS_PATHS_H
#define HVIS_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HVIS_DEFAULT_VM "demo"
#define HVIS_VMBUS_SOCK "vmbus.sock"
#define HVIS_CTL_SOCK "ctl.sock"
#define HVIS_NBD_SOCK "nbd.sock"

/* The VM's runtime directory into out, checked as above. With create,
 * missing directories are made (mode 0700) and *created says whether the
 * VM's own directory was made by this call (NULL allowed). 0, or -errno
 * with a one-line reason in why (why may be NULL): -ENAMETOOLONG,
 * -ENOENT (missing, not created), -ELOOP (a symlink), -EPERM (another
 * owner), -EACCES (writable by group or others), -ENOTDIR. */
int hvis_vm_dir(char *out, size_t cap, const char *dir, const char *name,
		bool create, bool *created, char *why, size_t why_cap);
/* Where hvis_vm_dir looks for VMs when no --dir is given: the directory
 * holding one folder per VM name (may not exist). 0 or -ENAMETOOLONG. */
int hvis_vm_base(char *out, size_t cap);
/* Check (and with create, make) one directory as hvis_vm_dir checks each
 * component: not a symlink, owned by the caller, not group/other
 * writable. Same returns. */
int hvis_secure_dir(const char *path, bool create, bool *created, char *why,
		    size_t why_cap);
/* The names of the VMs under base (folders holding a control socket),
 * comma-separated into out; their number in *n. */
void hvis_vm_names(const char *base, char *out, size_t cap, size_t *n);
/* A refused command line, in one line on stderr: "PROG: " and the
 * message (a usage of sixty lines would bury what was wrong). -1. */
int hvis_refuse(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* getopt_long's own refusal (it returned '?', or ':' with an optstring
 * starting with ':' and opterr 0), said the same way. -1. */
int hvis_refuse_getopt(const char *prog, int c, char **argv);
/* The VM's state directory (persistent data: the guest's KVP pool files
 * and the ifcfg files of `kvp ip set`): $XDG_STATE_HOME/hvis/<name>, or
 * $HOME/.local/state/hvis/<name> (the home from the password database
 * when HOME is unset). hvis/ and <name>/ are the programs' own and
 * checked as hvis_vm_dir checks them; of the directories above, every
 * one made here is checked too (made 0700). Same returns as
 * hvis_vm_dir; -ENOENT with a reason when no home is known. */
int hvis_state_dir(char *out, size_t cap, const char *name, bool create,
		   char *why, size_t why_cap);
/* dir + "/" + file into out; 0 or -ENAMETOOLONG. */
int hvis_path(char *out, size_t cap, const char *dir, const char *file);

/* "USER" or a numeric uid into uid; false if unknown. */
bool hvis_parse_user(const char *s, uid_t *uid);

/* "5.3" -> VMB_VERSION(5, 3); false if malformed. */
bool hvis_parse_version(const char *s, unsigned *version);
/* A decimal count in 0..max, digits only; false otherwise. */
bool hvis_parse_ulong(const char *s, unsigned long max, unsigned long *v);

#endif
