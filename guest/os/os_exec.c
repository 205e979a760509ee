/* Helper-script runner: posix_spawn with a stdout pipe and a deadline. */
#include "os_exec.h"

#include <stdbool.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int spawn_child(const char *path, char *const argv[], int out_fd,
		       bool merge, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int rc;

	if (posix_spawn_file_actions_init(&fa))
		return -ENOMEM;
	if (posix_spawnattr_init(&attr)) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (merge)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	/* Own process group, so a timeout can kill the script's children
	 * too (they inherit the pipe and would keep it open). */
	posix_spawnattr_setpgroup(&attr, 0);
	/* A script starts as from a login shell, not with what this daemon
	 * chose for itself: no blocked signals, and SIGPIPE (which the
	 * runtime ignores) back to its default, else `cmd | head` in a
	 * script leaves cmd writing into EPIPE instead of ending. */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
				 POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(pid, path, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -rc;
}

/* Reads the pipe until EOF or the deadline; keeps what fits in out and
 * drains the rest so the script never blocks on a full pipe. */
static int read_output(int fd, char *out, size_t cap, int64_t deadline,
		       struct os_exec_result *res)
{
	char sink[512];

	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;

		size_t room = cap > res->out_len + 1 ? cap - res->out_len - 1 : 0;
		char *dst = room ? out + res->out_len : sink;
		size_t want = room ? room : sizeof(sink);
		ssize_t r = read(fd, dst, want);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		if (room)
			res->out_len += (size_t)r;
		else
			res->truncated = 1;
	}
}

static int reap(pid_t pid, int64_t deadline, int *status)
{
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static int run(const char *path, char *const argv[], char *out, size_t cap,
	       int timeout_ms, bool merge, struct os_exec_result *res)
{
	int pfd[2];
	pid_t pid;
	int status = 0;
	int rc;

	res->exit_status = -1;
	res->out_len = 0;
	res->truncated = 0;
	if (cap)
		out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	rc = spawn_child(path, argv, pfd[1], merge, &pid);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		return rc;
	}

	int64_t deadline = now_ms() + timeout_ms;

	rc = read_output(pfd[0], out, cap, deadline, res);
	close(pfd[0]);
	if (cap)
		out[res->out_len] = '\0';
	if (rc == 0)
		rc = reap(pid, deadline, &status);
	if (rc) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return rc;
	}
	if (WIFEXITED(status))
		res->exit_status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_status = 128 + WTERMSIG(status);
	return 0;
}

int os_exec_run(const char *path, char *const argv[], char *out, size_t cap,
		int timeout_ms, struct os_exec_result *res)
{
	return run(path, argv, out, cap, timeout_ms, false, res);
}

int os_exec_run_merged(const char *path, char *const argv[], char *out,
		       size_t cap, int timeout_ms, struct os_exec_result *res)
{
	return run(path, argv, out, cap, timeout_ms, true, res);
}
