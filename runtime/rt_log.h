/* Logging for the POSIX programs: one line per event, to stderr, with the
 * program's name and a component. */
#ifndef HVIS_RT_LOG_H
#define HVIS_RT_LOG_H

enum rt_log_level { RT_LOG_ERR, RT_LOG_WARN, RT_LOG_INFO, RT_LOG_DEBUG };

void rt_log_init(const char *prog, enum rt_log_level level);
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
