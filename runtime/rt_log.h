/* Logging for the POSIX programs: one line per event, to stderr, with the
 * program's name and a component. */
#ifndef HVIS_RT_LOG_H
#define HVIS_RT_LOG_H

enum rt_log_level { RT_LOG_ERR, RT_LOG_WARN, RT_LOG_INFO, RT_LOG_DEBUG };

void rt_log_init(const char *prog, enum rt_log_level level);
void rt_log(enum rt_log_level level, const char *component, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));

#define rt_err(c, ...) rt_log(RT_LOG_ERR, c, __VA_ARGS__)
#define rt_warn(c, ...) rt_log(RT_LOG_WARN, c, __VA_ARGS__)
#define rt_info(c, ...) rt_log(RT_LOG_INFO, c, __VA_ARGS__)
#define rt_dbg(c, ...) rt_log(RT_LOG_DEBUG, c, __VA_ARGS__)

#endif
