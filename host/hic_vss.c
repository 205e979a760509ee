/* `vm backup`: the host side of a Hyper-V live backup. HOT_BACKUP checks
 * that the guest can take part, FREEZE quiesces its file systems, the
 * host's snapshot step (hvis-host --backup-cmd) runs as a child process
 * watched by the loop, and THAW ends it. Once a FREEZE went out a THAW
 * always follows, whatever failed, so the guest is never left frozen.
 *
 * The loop thread never waits for the command: one that writes into the
 * frozen file system sleeps uninterruptibly, and SIGKILL ends it only
 * after the thaw. A command that is stopped (time limit, job aborted) is
 * killed and let go of: its pidfd stays on the loop until the child can
 * be reaped, whether or not the backup it belonged to has ended. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hic_priv.h"
#include "rt_log.h"

extern char **environ;

/* How long a stopping host waits for its killed backup commands. */
#define HIC_CMD_REAP_MS 1000

static int build_vss(struct ic_host *h, const void *arg, uint8_t *out,
		     size_t cap, size_t *len)
{
	return vss_host_request(h, *(const uint8_t *)arg, out, cap, len);
}

static int send_op(struct hic_svc *s, uint8_t op)
{
	return hic_send(s, build_vss, &op);
}

/* Keep the first failure: it is what the backup reports. */
static void fail(struct hic_job *j, const char *what, const struct
		 ic_host_result *r, int rc)
{
	if (j->fail[0])
		return;
	if (!r)
		snprintf(j->fail, sizeof(j->fail),
			 "%s: no answer from the guest", what);
	else if (rc != VMB_OK)
		snprintf(j->fail, sizeof(j->fail),
			 "%s: malformed answer from the guest", what);
	else
		snprintf(j->fail, sizeof(j->fail),
			 "%s: guest status 0x%08x (%s)", what, r->status,
			 hic_status_text(r->status));
}

/* A backup takes seconds: tell an interactive hvis-ctl each step as it
 * starts ("progress: " lines come before the reply's status line). */
static void progress(struct hic_svc *s, const struct hic_job *j,
		     const char *what)
{
	char line[256];
	int n;

	if (j->fd < 0)
		return;
	n = snprintf(line, sizeof(line), "progress: Backup: %s\n", what);
	if (n > 0 && (size_t)n < sizeof(line))
		hvm_ctl_write(s->ic->vm, j->fd, line, (size_t)n);
}

/* False when the THAW could not be sent: the job has ended then. */
static bool thaw(struct hic_svc *s, struct hic_job *j)
{
	progress(s, j, "thawing the guest's file systems");
	j->step = HIC_VSS_THAW;
	if (send_op(s, VSS_OP_THAW)) {
		fail(j, "thaw", NULL, VMB_OK);
		hic_job_finish(s, j, false, j->fail);
		return false;
	}
	return true;
}

/* A backup command not yet reaped. On ic->cmds from its start until
 * waitpid collected it; watched through its pidfd, or by the periodic
 * sweep when it has none (pidfd_open or the watch failed). */
struct hic_cmd {
	struct hic_cmd *next;
	struct hic_svc *s;
	pid_t pid;
	int pidfd; /* -1: none */
};

static void cmd_free(struct hic_cmd *c)
{
	struct hic_cmd **pp;

	for (pp = &c->s->ic->cmds; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	if (c->pidfd >= 0) {
		rt_loop_del(c->s->ic->vm->loop, c->pidfd);
		close(c->pidfd);
	}
	free(c);
}

/* The command was reaped (w > 0) or cannot be (w < 0): if the snapshot
 * step still waits for it, that step ends; a command that was let go of
 * is only logged. */
static void cmd_ended(struct hic_cmd *c, pid_t w, int st)
{
	struct hic_svc *s = c->s;
	struct hic_job *j = s->job_active ? s->jobs : NULL;
	pid_t pid = c->pid;
	int err = errno;

	cmd_free(c);
	/* An unreaped child's pid is not reused, so the match is exact. */
	if (!j || j->kind != HIC_JOB_BACKUP || j->step != HIC_VSS_SNAPSHOT ||
	    j->pid != pid) {
		rt_info("ic", "VSS: stopped backup command (pid %d) reaped",
			(int)pid);
		return;
	}
	j->pid = 0;
	j->snap_status = st;
	if (w < 0 && !j->fail[0])
		snprintf(j->fail, sizeof(j->fail),
			 "backup command: no exit status: %s", strerror(err));
	else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !j->fail[0])
		snprintf(j->fail, sizeof(j->fail),
			 "backup command failed (%s %d)",
			 WIFEXITED(st) ? "exit" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	thaw(s, j);
}

/* Whether the command is gone now (reaped, or impossible to reap). */
static bool cmd_try_reap(struct hic_cmd *c)
{
	int st = 0;
	pid_t w = waitpid(c->pid, &st, WNOHANG);

	if (w == 0)
		return false;
	cmd_ended(c, w, st);
	return true;
}

static void cmd_readable(struct rt_loop *l, int fd, uint32_t events,
			 void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	/* The pidfd is readable once the child exited, so "not yet" cannot
	 * last; an error (the child reaped elsewhere) ends the command too,
	 * or the still-readable pidfd would spin the loop. */
	cmd_try_reap(arg);
}

/* The host's environment plus HVIS_VM=name, built for the child: setenv
 * would change it under the host's other threads. NULL if out of memory. */
static char **cmd_env(const char *vm_name, char *var, size_t cap)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "HVIS_VM=", 8) != 0)
			env[k++] = environ[i];
	snprintf(var, cap, "HVIS_VM=%s", vm_name);
	env[k] = var;
	return env;
}

/* The command leads a process group of its own, so that a time limit
 * stops whatever it started too (sh -c "a | b", a snapshot tool's
 * helpers). */
static int spawn_cmd(const char *cmd, const char *vm_name, pid_t *pid)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char var[128], **env = cmd_env(vm_name, var, sizeof(var));
	int rc;

	if (!env)
		return -ENOMEM;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
					 O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	return -rc;
}

/* Start cmd, on ic->cmds and watched. 0 or -errno (nothing started). */
static int cmd_start(struct hic_svc *s, struct hic_job *j, const char *cmd)
{
	struct hic_cmd *c = calloc(1, sizeof(*c));
	struct hic *ic = s->ic;
	int rc;

	if (!c)
		return -ENOMEM;
	rc = spawn_cmd(cmd, ic->vm->cfg.name, &c->pid);
	if (rc) {
		free(c);
		return rc;
	}
	c->s = s;
	c->next = ic->cmds;
	ic->cmds = c;
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd >= 0 && rt_loop_add(ic->vm->loop, c->pidfd, EPOLLIN,
					 cmd_readable, c)) {
		close(c->pidfd);
		c->pidfd = -1;
	}
	if (c->pidfd < 0)
		rt_warn("ic", "VSS: backup command (pid %d) not watched; "
			"polled each period", (int)c->pid);
	j->pid = c->pid;
	return 0;
}

/* The guest is frozen: run the snapshot step, then thaw. */
static void snapshot(struct hic_svc *s, struct hic_job *j)
{
	const char *cmd = s->ic->cfg.backup_cmd;
	int rc;

	j->step = HIC_VSS_SNAPSHOT;
	j->snap_start_ns = hic_now_ns();
	rt_info("ic", "VSS: guest frozen, snapshot step: %s",
		cmd ? cmd : "none");
	if (!cmd) {
		progress(s, j, "guest frozen, no snapshot command");
		thaw(s, j);
		return;
	}
	progress(s, j, "guest frozen, running the snapshot command");
	rc = cmd_start(s, j, cmd);
	if (rc == 0)
		return;
	fail(j, "cannot start the backup command", NULL, VMB_OK);
	rt_err("ic", "backup command: %s", strerror(-rc));
	thaw(s, j);
}

int hic_vss_start(struct hic_svc *s, struct hic_job *j)
{
	progress(s, j, "asking the guest whether it can take part");
	j->step = HIC_VSS_CHECK;
	return send_op(s, VSS_OP_HOT_BACKUP);
}

static void report(struct hic_svc *s, struct hic_job *j)
{
	uint64_t now = hic_now_ns();
	const char *cmd = s->ic->cfg.backup_cmd;

	/* The guest says only that its freeze and thaw succeeded, not
	 * which file systems (if any) it froze. */
	fprintf(j->out, "Backup: guest froze its file systems (reported OK), "
		"%s, guest thawed\n",
		cmd ? "snapshot taken" : "no snapshot command");
	fprintf(j->out, "  hot-backup flags:  0x%08x\n", j->hbu_flags);
	if (cmd)
		fprintf(j->out, "  snapshot command:  %s (exit %d)\n", cmd,
			WEXITSTATUS(j->snap_status));
	else
		fprintf(j->out, "  snapshot command:  none\n");
	fprintf(j->out, "  frozen for:        %.2f s\n",
		(double)(now - j->snap_start_ns) / 1e9);
	fprintf(j->out, "  total:             %.2f s\n",
		(double)(now - j->start_ns) / 1e9);
}

/* r NULL: the request timed out. */
void hic_vss_result(struct hic_svc *s, struct hic_job *j, int rc,
		    const struct ic_host_result *r)
{
	bool ok = r && rc == VMB_OK && r->status == IC_S_OK;

	switch (j->step) {
	case HIC_VSS_CHECK:
		if (!ok) {
			fail(j, "guest cannot take part in a backup", r, rc);
			hic_job_finish(s, j, false, j->fail);
			return;
		}
		j->hbu_flags = r->vss_flags;
		progress(s, j, "freezing the guest's file systems");
		j->step = HIC_VSS_FREEZE;
		if (send_op(s, VSS_OP_FREEZE))
			hic_job_finish(s, j, false, "cannot send FREEZE");
		return;
	case HIC_VSS_FREEZE:
		if (ok) {
			snapshot(s, j);
			return;
		}
		fail(j, "guest failed to freeze", r, rc);
		/* A timed-out freeze may still complete in the guest. */
		thaw(s, j);
		return;
	case HIC_VSS_SNAPSHOT:
		return;
	case HIC_VSS_THAW:
		if (!ok)
			fail(j, "guest failed to thaw", r, rc);
		if (j->fail[0]) {
			hic_job_finish(s, j, false, j->fail);
			return;
		}
		report(s, j);
		hic_job_finish(s, j, true, NULL);
		return;
	}
}

/* Stop the job's command without waiting for it: kill its whole process
 * group and let go of it. It stays on ic->cmds, reaped when it is gone,
 * which may be only after the guest thawed. */
static void stop_cmd(struct hic_job *j)
{
	if (j->pid <= 0)
		return;
	kill(-j->pid, SIGKILL);
	j->pid = 0;
}

/* The job ends early (or normally): stop a backup command still running. */
void hic_vss_cleanup(struct hic_svc *s, struct hic_job *j)
{
	(void)s;
	stop_cmd(j);
}

/* One waitpid(WNOHANG) round over ic->cmds: all of them, or only those
 * without a pidfd (the others are reaped when their pidfd is readable). */
static void sweep(struct hic *ic, bool all)
{
	struct hic_cmd *c = ic->cmds, *next;

	for (; c; c = next) {
		next = c->next;
		if (all || c->pidfd < 0)
			cmd_try_reap(c);
	}
}

/* The periodic sweep for commands without a pidfd. */
void hic_vss_reap(struct hic *ic)
{
	sweep(ic, false);
}

/* How often a stopping host looks whether its killed commands are gone:
 * a killed command usually dies within milliseconds. */
#define HIC_CMD_POLL_NS 10000000ull

/* Host stopping, the jobs already ended (their commands killed): reap
 * what dies within HIC_CMD_REAP_MS in all, polled with or without a
 * pidfd; a command still caught in a frozen file system is left to init
 * when the host exits. */
void hic_vss_fini(struct hic *ic)
{
	uint64_t end = hic_now_ns() + HIC_CMD_REAP_MS * 1000000ull;
	struct hic_cmd *c;

	for (c = ic->cmds; c; c = c->next)
		kill(-c->pid, SIGKILL);
	for (;;) {
		uint64_t now, ns;

		sweep(ic, true);
		now = hic_now_ns();
		if (!ic->cmds || now >= end)
			break;
		ns = end - now < HIC_CMD_POLL_NS ? end - now : HIC_CMD_POLL_NS;
		nanosleep(&(struct timespec){ .tv_nsec = (long)ns }, NULL);
	}
	while ((c = ic->cmds)) {
		rt_warn("ic", "VSS: backup command (pid %d) still not gone; "
			"left to init", (int)c->pid);
		cmd_free(c);
	}
}

void hic_vss_tick(struct hic_svc *s, uint64_t now)
{
	struct hic_job *j = s->job_active ? s->jobs : NULL;
	uint32_t limit = s->ic->cfg.backup_timeout_ms;
	char buf[128];

	if (!j || j->kind != HIC_JOB_BACKUP || j->step != HIC_VSS_SNAPSHOT ||
	    j->pid <= 0 || now - j->snap_start_ns < limit * 1000000ull)
		return;
	snprintf(buf, sizeof(buf), "backup command killed after the time "
		 "limit (%.1f s)", limit / 1e3);
	rt_warn("ic", "VSS: %s", buf);
	if (!j->fail[0])
		snprintf(j->fail, sizeof(j->fail), "%s", buf);
	/* THAW first: a command blocked in a write to the frozen file
	 * system dies of the SIGKILL only once the guest thawed. */
	if (thaw(s, j))
		stop_cmd(j);
}
