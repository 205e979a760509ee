/* Logging: "prog[pid]: component: message" on stderr, one write per line
 * so that lines of concurrent threads and processes do not interleave. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rt_log.h"

static const char *log_prog = "hvis";
static enum rt_log_level log_level = RT_LOG_INFO;

/* The hold: kept lines and what did not fit, under hold_mu. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned hold_depth;
static char hold_buf[RT_LOG_HOLD_BYTES];
static size_t hold_len;
static unsigned long hold_dropped;

static void out(const char *p, size_t n)
{
	if (write(STDERR_FILENO, p, n) < 0)
		return; /* nowhere left to report it */
}

/* Keeps the line if a hold is on; false if it is to be written now. */
static bool held(const char *line, size_t n)
{
	bool on;

	pthread_mutex_lock(&hold_mu);
	on = hold_depth > 0;
	if (on && n <= sizeof(hold_buf) - hold_len) {
		memcpy(hold_buf + hold_len, line, n);
		hold_len += n;
	} else if (on) {
		hold_dropped++;
	}
	pthread_mutex_unlock(&hold_mu);
	return on;
}

void rt_log_hold(void)
{
	pthread_mutex_lock(&hold_mu);
	hold_depth++;
	pthread_mutex_unlock(&hold_mu);
}

void rt_log_release(void)
{
	char note[96];
	int n;

	pthread_mutex_lock(&hold_mu);
	if (hold_depth && --hold_depth == 0) {
		out(hold_buf, hold_len);
		hold_len = 0;
		if (hold_dropped) {
			n = snprintf(note, sizeof(note), "%s[%ld]: log: %lu "
				     "lines dropped while held\n", log_prog,
				     (long)getpid(), hold_dropped);
			out(note, (size_t)n < sizeof(note) ? (size_t)n : 0);
			hold_dropped = 0;
		}
	}
	pthread_mutex_unlock(&hold_mu);
}

void rt_log_init(const char *prog, enum rt_log_level level)
{
	const char *slash;

	if (prog) {
		slash = strrchr(prog, '/');
		log_prog = slash ? slash + 1 : prog;
	}
	log_level = level;
}

/* msg into out after n bytes already there, control characters as
 * \xNN; stops short of cap - 1 (room for the '\n'). The new length. */
static size_t escape_into(char *out, size_t n, size_t cap, const char *msg)
{
	static const char hex[] = "0123456789abcdef";

	for (; *msg && n + 1 < cap; msg++) {
		unsigned k = rt_ctl_char(msg);
		unsigned char c = (unsigned char)msg[k ? k - 1 : 0];

		if (!k) {
			out[n++] = *msg;
			continue;
		}
		if (n + 5 >= cap)
			break;
		memcpy(out + n, "\\x", 2);
		out[n + 2] = hex[c >> 4];
		out[n + 3] = hex[c & 15];
		n += 4;
		msg += k - 1;
	}
	return n;
}

void rt_log(enum rt_log_level level, const char *component, const char *fmt,
	    ...)
{
	char msg[1024], line[1024];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_prog,
		     (long)getpid(), component ? component : "-");
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	n = (int)escape_into(line, (size_t)n, sizeof(line), msg);
	line[n++] = '\n';
	if (!held(line, (size_t)n))
		out(line, (size_t)n);
}
