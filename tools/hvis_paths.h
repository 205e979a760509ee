/* Where a VM's sockets live: --dir if given, else
 * $XDG_RUNTIME_DIR/hvis/<vm-name>/, else /tmp/hvis-<uid>/<vm-name>/.
 * Shared by hvis-host, hvis-guest, hvis-ctl and hvis-bench. */
#ifndef HVIS_PATHS_H
#define HVIS_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#define HVIS_DEFAULT_VM "demo"
#define HVIS_VMBUS_SOCK "vmbus.sock"
#define HVIS_CTL_SOCK "ctl.sock"

/* 0, or -errno (-ENAMETOOLONG if it does not fit). With create, make the
 * directory and its parents (mode 0700). */
int hvis_vm_dir(char *out, size_t cap, const char *dir, const char *name,
		bool create);
/* dir + "/" + file into out; 0 or -ENAMETOOLONG. */
int hvis_path(char *out, size_t cap, const char *dir, const char *file);

/* "5.3" -> VMB_VERSION(5, 3); false if malformed. */
bool hvis_parse_version(const char *s, unsigned *version);
/* A decimal count in 0..max, digits only; false otherwise. */
bool hvis_parse_ulong(const char *s, unsigned long max, unsigned long *v);

#endif
