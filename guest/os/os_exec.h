/* Running the helper scripts of the integration services (hv_get_dns_info,
 * hv_set_ifconfig, VSS hooks): no shell, arguments passed as they are,
 * stdout captured, a hard deadline. */
#ifndef HVIS_GUEST_OS_EXEC_H
#define HVIS_GUEST_OS_EXEC_H

#include <stddef.h>

struct os_exec_result {
	int exit_status;	/* exit code, or 128 + signal number */
	size_t out_len;		/* bytes stored in out (NUL not counted) */
	int truncated;		/* the script wrote more than fit */
};

/* Runs path with argv (argv[0] is conventionally path; NULL-terminated),
 * stdin from /dev/null, stdout captured into out (always NUL-terminated
 * when cap > 0; out may be NULL with cap 0 to discard it), stderr
 * inherited. The script runs in its own process group; after timeout_ms
 * the whole group is killed. Returns 0 when the script ran to an exit or
 * a signal (see res), -ETIMEDOUT when it was killed, or -errno when it
 * could not be started. */
int os_exec_run(const char *path, char *const argv[], char *out, size_t cap,
		int timeout_ms, struct os_exec_result *res);
/* The same with stderr captured into out too, interleaved as written: for
 * a helper whose only output is what went wrong. */
int os_exec_run_merged(const char *path, char *const argv[], char *out,
		       size_t cap, int timeout_ms,
		       struct os_exec_result *res);

#endif
