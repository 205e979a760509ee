/* `vm backup`: the host side of a Hyper-V live backup. HOT_BACKUP checks
 * that the guest can take part, FREEZE quiesces its file systems, the
 * host's snapshot step (hvis-host --backup-cmd) runs as a child process
 * watched by the loop, and THAW ends it. Once a FREEZE went out a THAW
 * always follows, whatever failed, so the guest is never left frozen. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hic_priv.h"
#include "rt_log.h"

extern char **environ;

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
static void progress(const struct hic_job *j, const char *what)
{
	char line[256];
	int n;

	if (j->fd < 0)
		return;
	n = snprintf(line, sizeof(line), "progress: Backup: %s\n", what);
	if (n > 0 && (size_t)n < sizeof(line))
		hvm_ctl_write(j->fd, line, (size_t)n);
}

static void thaw(struct hic_svc *s, struct hic_job *j)
{
	progress(j, "thawing the guest's file systems");
	j->step = HIC_VSS_THAW;
	if (send_op(s, VSS_OP_THAW)) {
		fail(j, "thaw", NULL, VMB_OK);
		hic_job_finish(s, j, false, j->fail);
	}
}

static void snapshot_done(struct rt_loop *l, int fd, uint32_t events,
			  void *arg)
{
	struct hic_svc *s = arg;
	struct hic_job *j = s->job_active ? s->jobs : NULL;
	int st = 0;
	pid_t w;

	(void)events;
	if (!j || j->pidfd != fd)
		return;
	/* The pidfd is readable once the child exited, so 0 cannot last; an
	 * error (the child reaped elsewhere) must end the step too, or the
	 * still-readable pidfd would spin the loop. */
	w = waitpid(j->pid, &st, WNOHANG);
	if (w == 0)
		return;
	rt_loop_del(l, fd);
	close(fd);
	j->pidfd = -1;
	j->pid = 0;
	j->snap_status = st;
	if (w < 0 && !j->fail[0])
		snprintf(j->fail, sizeof(j->fail),
			 "backup command: no exit status: %s", strerror(errno));
	else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !j->fail[0])
		snprintf(j->fail, sizeof(j->fail),
			 "backup command failed (%s %d)",
			 WIFEXITED(st) ? "exit" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	thaw(s, j);
}

/* The command leads a process group of its own, so that a time limit
 * stops whatever it started too (sh -c "a | b", a snapshot tool's
 * helpers). */
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
		progress(j, "guest frozen, no snapshot command");
		thaw(s, j);
		return;
	}
	progress(j, "guest frozen, running the snapshot command");
	rc = spawn_cmd(cmd, s->ic->vm->cfg.name, &j->pid);
	if (rc == 0) {
		j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0);
		rc = j->pidfd < 0 ? -errno
				  : rt_loop_add(s->ic->vm->loop, j->pidfd,
						EPOLLIN, snapshot_done, s);
		if (rc == 0)
			return;
		hic_vss_cleanup(s, j);
	}
	j->pid = 0;
	fail(j, "cannot start the backup command", NULL, VMB_OK);
	rt_err("ic", "backup command: %s", strerror(-rc));
	thaw(s, j);
}

int hic_vss_start(struct hic_svc *s, struct hic_job *j)
{
	progress(j, "asking the guest whether it can take part");
	j->step = HIC_VSS_CHECK;
	return send_op(s, VSS_OP_HOT_BACKUP);
}

static void report(struct hic_svc *s, struct hic_job *j)
{
	uint64_t now = hic_now_ns();
	const char *cmd = s->ic->cfg.backup_cmd;

	fprintf(j->out, "Backup: guest file systems frozen, snapshot taken, "
		"thawed\n");
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
		progress(j, "freezing the guest's file systems");
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

/* Kill the command's whole process group and reap the command; its
 * wait status is returned. */
static int kill_cmd(struct hic_svc *s, struct hic_job *j)
{
	int st = 0;

	if (j->pidfd >= 0) {
		rt_loop_del(s->ic->vm->loop, j->pidfd);
		close(j->pidfd);
		j->pidfd = -1;
	}
	if (j->pid > 0) {
		kill(-j->pid, SIGKILL);
		waitpid(j->pid, &st, 0);
		j->pid = 0;
	}
	return st;
}

/* The job ends early (or normally): stop a backup command still running. */
void hic_vss_cleanup(struct hic_svc *s, struct hic_job *j)
{
	kill_cmd(s, j);
}

void hic_vss_tick(struct hic_svc *s, uint64_t now)
{
	struct hic_job *j = s->job_active ? s->jobs : NULL;
	uint32_t limit = s->ic->cfg.backup_timeout_ms;
	char buf[128];

	if (!j || j->kind != HIC_JOB_BACKUP || j->step != HIC_VSS_SNAPSHOT ||
	    j->pid <= 0 || now - j->snap_start_ns < limit * 1000000ull)
		return;
	j->snap_status = kill_cmd(s, j);
	snprintf(buf, sizeof(buf), "backup command killed after the time "
		 "limit (%.1f s)", limit / 1e3);
	rt_warn("ic", "VSS: %s", buf);
	if (!j->fail[0])
		snprintf(j->fail, sizeof(j->fail), "%s", buf);
	thaw(s, j);
}
