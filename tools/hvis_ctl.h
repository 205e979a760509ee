/* hvis-ctl's parts: talking to one host (hvis-ctl.c), checking the
 * command line (hvis_ctl_args.c) and the views over several requests or
 * several VMs (hvis_ctl_vms.c: vm list, vm watch). */
#ifndef HVIS_CTL_H
#define HVIS_CTL_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* Exit statuses: the request failed or no host answered (1); the command
 * line was wrong (2); `vm services` found an enabled service not OK (3). */
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_NOT_OK 3

extern volatile sig_atomic_t ctl_interrupted;

/* Send one request line to the host at path and return its whole reply
 * (malloc'd), or NULL with *err set to -errno (-EPERM: a host of another
 * user than uid). Progress lines go to stderr as they arrive; quiet: no
 * message of its own on failure. */
char *ctl_request(const char *path, uid_t uid, const char *req, int *err);
/* Why path could not be reached, in one line with what to do (name:
 * the VM's, NULL when the socket was named with --ctl). */
void ctl_unreachable(const char *path, const char *name, int err);
/* Print a reply: its body on stdout, its status line's words on stderr
 * unless it is "ok". The exit status it calls for. */
int ctl_show_reply(const char *reply);

/* The command and its words are ones hvis-ctl knows (hvis_ctl_args.c);
 * 0, or -1 after saying why in one line. */
int ctl_check_command(int argc, char **argv);

/* vm list: the VMs in the runtime directory (or dir). */
int ctl_vm_list(const char *dir, uid_t uid, bool json);
/* vm watch: the status every second until Ctrl-C. */
int ctl_vm_watch(const char *path, uid_t uid);

#endif
