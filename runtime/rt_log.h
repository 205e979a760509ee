/* Logging for the POSIX programs: one line per event, to stderr, with the
 * program's name and a component. */
#ifndef HVIS_RT_LOG_H
#define HVIS_RT_LOG_H

enum rt_log_level { RT_LOG_ERR, RT_LOG_WARN, RT_LOG_INFO, RT_LOG_DEBUG };

void rt_log_init(const char *prog, enum rt_log_level level);

/* Bytes of the control character at p, 0 if it is none: C0, DEL, and the
 * C1 range (U+0080..U+009F, C2 80..C2 9F in UTF-8) that terminals take as
 * escape sequences. Text from the other side of the bus is shown with
 * each as \xNN (its last byte), so that it cannot end a log line early,
 * forge the next one, or drive the reader's terminal. */
static inline unsigned rt_ctl_char(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p < 0x20 || *p == 0x7f)
		return 1;
	return p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f ? 2 : 0;
}

/* Every line rt_log writes has its message escaped that way, whatever
 * the arguments held: one event, one line. */
void rt_log(enum rt_log_level level, const char *component, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));

/* While held, lines are kept in memory instead of written: stderr may be
 * a file on a filesystem the guest froze for a backup, and a write there
 * would block the logging thread until the thaw. Holds nest; the last
 * release writes the kept lines in order, and says how many did not fit
 * (RT_LOG_HOLD_BYTES). Thread-safe. */
#define RT_LOG_HOLD_BYTES 65536
void rt_log_hold(void);
void rt_log_release(void);

#define rt_err(c, ...) rt_log(RT_LOG_ERR, c, __VA_ARGS__)
#define rt_warn(c, ...) rt_log(RT_LOG_WARN, c, __VA_ARGS__)
#define rt_info(c, ...) rt_log(RT_LOG_INFO, c, __VA_ARGS__)
#define rt_dbg(c, ...) rt_log(RT_LOG_DEBUG, c, __VA_ARGS__)

#endif
