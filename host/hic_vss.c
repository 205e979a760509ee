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
 * be reaped, whether or not the backup it belonged to has ended.
 *
 * What the backup is, is reported as the guest said it (vss_wire.h): a
 * FREEZE answered VSS_E_INCONSISTENT_SNAPSHOT froze nothing, so the
 * snapshot still runs but the backup is crash-consistent only; a THAW
 * answered VSS_E_WRITER_TIMEOUT means the guest thawed by its own timeout
 * during the snapshot, which then fails; a guest that goes away while
 * frozen thaws, which fails it too (hic_vss_abort_text). After any guest
 * failure status the guest's words are read from its KVP auto pool (a
 * HIC_JOB_KVP_REASON job on the KVP service; the loop never waits for
 * it, the backup ends when it ends) and shown with the result.
 *
 * The command's stdout and stderr come to the caller as progress lines,
 * read from a non-blocking pipe on the loop, at most HIC_CMD_OUT_MAX
 * bytes (a control socket's buffer holds that much, so writing them
 * never waits for a slow hvis-ctl); a long command shows its running
 * time every HIC_VSS_NOTE_S seconds. */
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
#define HIC_CMD_REAP_MS 500
/* The command's output passed to the caller, at most. */
#define HIC_CMD_OUT_MAX (64 * 1024)
/* A "running for" line this often while the command runs. */
#define HIC_VSS_NOTE_S 5

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
	/* A status from the guest: its words are in its KVP auto pool
	 * (those of its last failure, if this is a later one). */
	if (r && rc == VMB_OK)
		j->ask_reason = true;
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
static void say(const struct hic_job *j, const char *prefix,
		const char *what)
{
	char line[512];
	int n;

	if (j->fd < 0)
		return;
	n = snprintf(line, sizeof(line), "progress: %s%s\n", prefix, what);
	if (n > 0 && (size_t)n < sizeof(line))
		hvm_ctl_write(j->vm, j->fd, line, (size_t)n);
}

static void progress(const struct hic_job *j, const char *what)
{
	say(j, "Backup: ", what);
}

/* ---- the command's output, to the caller ---- */

/* One line of it (control characters as '?': it is shown on the
 * caller's terminal), counted against HIC_CMD_OUT_MAX. */
static void out_line(struct hic_job *j)
{
	char *p = j->line;

	j->line[j->line_len] = '\0';
	for (size_t i = 0; i < j->line_len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			p[i] = '?';
	/* Counted as sent to the caller: "progress:   LINE\n". */
	size_t cost = j->line_len + 13;

	if (j->out_sent + cost > HIC_CMD_OUT_MAX)
		j->out_dropped += j->line_len + 1;
	else
		say(j, "  ", j->line);
	j->out_sent += cost;
	j->line_len = 0;
}

static void out_bytes(struct hic_job *j, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\n') {
			out_line(j);
			continue;
		}
		j->line[j->line_len++] = b[i];
		if (j->line_len == sizeof(j->line) - 1)
			out_line(j);
	}
}

/* What the pipe holds now, 64 KiB at most a call (a command that never
 * stops writing must not hold the loop: the watch is level-triggered, so
 * the rest comes next round); false at its end (or an error). */
static bool out_read(struct hic_job *j)
{
	char buf[4096];
	ssize_t n = 0;

	for (unsigned i = 0; i < 16; i++) {
		n = read(j->out_fd, buf, sizeof(buf));
		if (n <= 0)
			return n < 0 && errno == EAGAIN;
		out_bytes(j, buf, (size_t)n);
	}
	return true;
}

/* Let go of the pipe: a partial last line is passed on, and what was
 * dropped is said. */
static void out_close(struct rt_loop *l, struct hic_job *j)
{
	char note[96];

	if (j->out_fd < 0)
		return;
	rt_loop_del(l, j->out_fd);
	close(j->out_fd);
	j->out_fd = -1;
	if (j->line_len)
		out_line(j);
	if (!j->out_dropped)
		return;
	snprintf(note, sizeof(note), "(%zu more bytes of the command's output "
		 "not shown)", j->out_dropped);
	progress(j, note);
}

static void out_readable(struct rt_loop *l, int fd, uint32_t events,
			 void *arg)
{
	struct hic_job *j = arg;

	(void)fd;
	(void)events;
	if (!out_read(j))
		out_close(l, j);
}

/* False when the THAW could not be sent: the job has ended then. */
static bool thaw(struct hic_svc *s, struct hic_job *j)
{
	progress(j, "thawing the guest's file systems");
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
	/* What it wrote before it ended; a child it left may write on,
	 * unheard. */
	out_read(j);
	out_close(s->ic->vm->loop, j);
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
 * helpers). Its stdout and stderr go to out_fd (-1: the host's stderr). */
static int spawn_cmd(const char *cmd, const char *vm_name, int out_fd,
		     pid_t *pid)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char var[128], **env = cmd_env(vm_name, var, sizeof(var));
	sigset_t pipe_sig;
	int rc;

	if (!env)
		return -ENOMEM;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
					 O_RDONLY, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	posix_spawnattr_init(&at);
	/* A command writing after the host let go of its output ends as
	 * any writer to a closed pipe, whatever the host ignores. */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	posix_spawnattr_setsigdefault(&at, &pipe_sig);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
				 POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	return -rc;
}

/* A pipe for the command's output: the read end non-blocking on the
 * loop as j->out_fd, the write end into *wfd (-1 if none could be made:
 * the output then goes to the host's log as before). */
static void out_open(struct rt_loop *l, struct hic_job *j, int *wfd)
{
	int p[2];

	*wfd = -1;
	if (pipe2(p, O_CLOEXEC))
		return;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) ||
	    rt_loop_add(l, p[0], EPOLLIN, out_readable, j)) {
		close(p[0]);
		close(p[1]);
		return;
	}
	j->out_fd = p[0];
	*wfd = p[1];
}

/* Start cmd, on ic->cmds and watched. 0 or -errno (nothing started). */
static int cmd_start(struct hic_svc *s, struct hic_job *j, const char *cmd)
{
	struct hic_cmd *c = calloc(1, sizeof(*c));
	struct hic *ic = s->ic;
	int rc;

	int wfd;

	if (!c)
		return -ENOMEM;
	out_open(ic->vm->loop, j, &wfd);
	rc = spawn_cmd(cmd, ic->vm->cfg.name, wfd, &c->pid);
	if (wfd >= 0)
		close(wfd);
	if (rc) {
		out_close(ic->vm->loop, j);
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

/* The guest is frozen (or froze nothing: crash_only): run the snapshot
 * step, then thaw. */
static void snapshot(struct hic_svc *s, struct hic_job *j)
{
	const char *cmd = s->ic->cfg.backup_cmd;
	const char *state = j->crash_only ? "guest not frozen" : "guest frozen";
	char line[128];
	int rc;

	j->step = HIC_VSS_SNAPSHOT;
	j->snap_start_ns = hic_now_ns();
	j->next_note_ns = j->snap_start_ns + HIC_VSS_NOTE_S * 1000000000ull;
	rt_info("ic", "VSS: %s, snapshot step: %s", state, cmd ? cmd : "none");
	snprintf(line, sizeof(line), "%s, %s", state,
		 cmd ? "running the snapshot command" : "no snapshot command");
	progress(j, line);
	if (!cmd) {
		thaw(s, j);
		return;
	}
	rc = cmd_start(s, j, cmd);
	if (rc == 0)
		return;
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

	/* The guest says only that its freeze and thaw succeeded, not
	 * which file systems it froze (one at least: a freeze of none is
	 * answered VSS_E_INCONSISTENT_SNAPSHOT). */
	if (j->crash_only)
		fprintf(j->out, "Backup: crash-consistent only: the guest "
			"froze nothing, %s, guest thawed\n",
			cmd ? "snapshot taken" : "no snapshot command");
	else
		fprintf(j->out, "Backup: guest froze its file systems "
			"(reported OK), %s, guest thawed\n",
			cmd ? "snapshot taken" : "no snapshot command");
	if (j->crash_only)
		fprintf(j->out, "  guest's reason:    %s\n", j->guest_why);
	fprintf(j->out, "  hot-backup flags:  0x%08x\n", j->hbu_flags);
	if (cmd)
		fprintf(j->out, "  snapshot command:  %s (exit %d)\n", cmd,
			WEXITSTATUS(j->snap_status));
	else
		fprintf(j->out, "  snapshot command:  none\n");
	fprintf(j->out, "  %-19s%.2f s\n", j->crash_only ? "snapshot took:"
		: "frozen for:", (double)(now - j->snap_start_ns) / 1e9);
	fprintf(j->out, "  total:             %.2f s\n",
		(double)(now - j->start_ns) / 1e9);
}

/* The end: the report, or the first failure with the guest's words. */
static void finish(struct hic_svc *s, struct hic_job *j)
{
	char err[sizeof(j->fail) + sizeof(j->guest_why) + 32];

	if (!j->fail[0]) {
		if (j->crash_only)
			say(j, "Backup: warning: ", "crash-consistent only: "
			    "the guest froze nothing");
		report(s, j);
		hic_job_finish(s, j, true, NULL);
		return;
	}
	if (j->guest_why[0])
		snprintf(err, sizeof(err), "%s; %s%s", j->fail,
			 j->reason_from_guest ? "the guest says: " : "",
			 j->guest_why);
	else
		snprintf(err, sizeof(err), "%s", j->fail);
	hic_job_finish(s, j, false, err);
}

/* Read the guest's words over KVP, or say why they cannot be. The job
 * may end before this returns (a reason job that cannot start). */
static void ask_reason(struct hic_svc *s, struct hic_job *j)
{
	struct hic_svc *kvp = &s->ic->svc[HIC_KVP];
	struct hic_job *k;

	if (!kvp->enabled || !hic_ready(kvp)) {
		snprintf(j->guest_why, sizeof(j->guest_why), "reason not available: "
			 "%s", kvp->enabled ? "the guest's KVP service is not "
			 "connected" : "KVP disabled");
		finish(s, j);
		return;
	}
	k = hic_job_new(HIC_JOB_KVP_REASON, -1);
	if (!k) {
		snprintf(j->guest_why, sizeof(j->guest_why), "reason not available: "
			 "out of memory");
		finish(s, j);
		return;
	}
	k->for_id = j->id;
	k->kvp.op = KVP_OP_GET;
	k->kvp.pool = KVP_POOL_AUTO;
	snprintf(k->kvp.key, sizeof(k->kvp.key), "%s", HIC_VSS_REASON_KEY);
	j->step = HIC_VSS_REASON;
	j->reason_start_ns = hic_now_ns();
	if (!hic_job_queue(kvp, k))
		hic_vss_reason(s->ic, j->id, NULL, "reason not available: too "
			       "many KVP requests waiting");
}

void hic_vss_reason(struct hic *ic, uint64_t id, const char *text,
		    const char *none)
{
	struct hic_svc *s = &ic->svc[HIC_VSS];
	struct hic_job *j = s->job_active ? s->jobs : NULL;

	/* The backup may have ended meanwhile (disabled, host stopping). */
	if (!j || j->kind != HIC_JOB_BACKUP || j->step != HIC_VSS_REASON ||
	    j->id != id)
		return;
	j->reason_from_guest = text != NULL;
	if (text)
		hic_guest_text(text, j->guest_why, sizeof(j->guest_why));
	else
		snprintf(j->guest_why, sizeof(j->guest_why), "%s", none);
	finish(s, j);
}

static void thaw_answered(struct hic_svc *s, struct hic_job *j, bool ok,
			  int rc, const struct ic_host_result *r)
{
	if (!ok && r && rc == VMB_OK && r->status == VSS_E_WRITER_TIMEOUT) {
		/* The first failure is kept; this one is the verdict. */
		snprintf(j->fail, sizeof(j->fail), "the guest thawed early, by "
			 "its own freeze timeout, before the snapshot ended: "
			 "the snapshot is not consistent (guest status "
			 "0x%08x)", r->status);
		j->ask_reason = true;
	} else if (!ok) {
		fail(j, "guest failed to thaw", r, rc);
	}
	if (j->ask_reason || j->crash_only)
		ask_reason(s, j);
	else
		finish(s, j);
}

static void freeze_answered(struct hic_svc *s, struct hic_job *j, bool ok,
			    int rc, const struct ic_host_result *r)
{
	if (ok) {
		snapshot(s, j);
		return;
	}
	if (r && rc == VMB_OK && r->status == VSS_E_INCONSISTENT_SNAPSHOT) {
		j->crash_only = true;
		progress(j, "the guest froze nothing: the backup will be "
			 "crash-consistent only");
		snapshot(s, j);
		return;
	}
	fail(j, "guest failed to freeze", r, rc);
	/* A timed-out freeze may still complete in the guest. */
	thaw(s, j);
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
		freeze_answered(s, j, ok, rc, r);
		return;
	case HIC_VSS_THAW:
		thaw_answered(s, j, ok, rc, r);
		return;
	case HIC_VSS_SNAPSHOT:
	case HIC_VSS_REASON:
		return;
	}
}

const char *hic_vss_abort_text(const struct hic_job *j, const char *why,
			       char *buf, size_t cap)
{
	switch (j->step) {
	case HIC_VSS_SNAPSHOT:
		snprintf(buf, cap, "backup failed: %s during the snapshot "
			 "step%s: a guest that goes away thaws, so the "
			 "snapshot is not consistent", why, j->crash_only
			 ? "" : ", while the guest was frozen");
		break;
	case HIC_VSS_FREEZE:
	case HIC_VSS_THAW:
		snprintf(buf, cap, "backup failed: %s while the guest %s "
			 "(a guest that goes away thaws)", why,
			 j->step == HIC_VSS_FREEZE ? "was freezing"
						   : "was thawing");
		break;
	case HIC_VSS_REASON:
		snprintf(buf, cap, "%s (then %s, while the host read the "
			 "guest's reason)", j->fail[0] ? j->fail
			 : "crash-consistent only", why);
		break;
	default:
		snprintf(buf, cap, "%s", why);
	}
	return buf;
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

/* The job ends early (or normally): stop a backup command still running
 * and let go of its output. */
void hic_vss_cleanup(struct hic_svc *s, struct hic_job *j)
{
	stop_cmd(j);
	out_close(s->ic->vm->loop, j);
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

/* A long command: how long it has run, every HIC_VSS_NOTE_S. */
static void note_running(struct hic_job *j, uint64_t now, uint32_t limit)
{
	char line[128];

	if (now < j->next_note_ns)
		return;
	j->next_note_ns += HIC_VSS_NOTE_S * 1000000000ull;
	snprintf(line, sizeof(line), "snapshot command running for %.0f s "
		 "(time limit %.0f s)", (double)(now - j->snap_start_ns) / 1e9,
		 limit / 1e3);
	progress(j, line);
}

void hic_vss_tick(struct hic_svc *s, uint64_t now)
{
	struct hic_job *j = s->job_active ? s->jobs : NULL;
	uint32_t limit = s->ic->cfg.backup_timeout_ms;
	char buf[128];

	if (j && j->kind == HIC_JOB_BACKUP && j->step == HIC_VSS_REASON &&
	    now - j->reason_start_ns >= 2ull * s->ic->cfg.timeout_ms * 1000000)
		hic_vss_reason(s->ic, j->id, NULL, "reason not available: the "
			       "guest's KVP service did not answer in time");
	if (!j || j->kind != HIC_JOB_BACKUP || j->step != HIC_VSS_SNAPSHOT ||
	    j->pid <= 0)
		return;
	if (now - j->snap_start_ns < limit * 1000000ull) {
		note_running(j, now, limit);
		return;
	}
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
