/* Logging: "prog[pid]: component: message" on stderr, one write per line
 * so that lines of concurrent threads and processes do not interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rt_log.h"

static const char *log_prog = "hvis";
static enum rt_log_level log_level = RT_LOG_INFO;

void rt_log_init(const char *prog, enum rt_log_level level)
{
	const char *slash;

	if (prog) {
		slash = strrchr(prog, '/');
		log_prog = slash ? slash + 1 : prog;
	}
	log_level = level;
}

void rt_log(enum rt_log_level level, const char *component, const char *fmt,
	    ...)
{
	char line[1024];
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_prog,
		     (long)getpid(), component ? component : "-");
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep room for '\n' */
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return; /* nowhere left to report it */
}
