/* LD_PRELOAD shim: a pthread_join of a thread that is not running (never
 * made, or joined already) aborts the program. glibc only returns an
 * error there, and a caller that ignores it hides the bug; the thread
 * id may also belong to a new thread by then. Threads are recorded as
 * pthread_create makes them; past JC_MAX unjoined ones nothing is
 * checked any more. Built without sanitizers: it sits before them. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define JC_MAX 4096

static pthread_mutex_t jc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t jc_live[JC_MAX];
static unsigned jc_n;
static bool jc_full;

static void *jc_real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f)
		abort();
	return f;
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr,
		   void *(*fn)(void *), void *arg)
{
	int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
		    void *) = jc_real("pthread_create");
	int rc = real(t, attr, fn, arg);

	pthread_mutex_lock(&jc_lock);
	if (!rc && jc_n < JC_MAX)
		jc_live[jc_n++] = *t;
	else if (!rc)
		jc_full = true;
	pthread_mutex_unlock(&jc_lock);
	return rc;
}

/* t taken off the list; false when it was not on it. */
static bool jc_take(pthread_t t)
{
	bool found;

	pthread_mutex_lock(&jc_lock);
	found = jc_full;
	for (unsigned i = 0; i < jc_n; i++) {
		if (!pthread_equal(jc_live[i], t))
			continue;
		jc_live[i] = jc_live[--jc_n];
		found = true;
		break;
	}
	pthread_mutex_unlock(&jc_lock);
	return found;
}

int pthread_join(pthread_t t, void **ret)
{
	static const char msg[] = "join_check: pthread_join of a thread that "
				  "is not running\n";
	int (*real)(pthread_t, void **) = jc_real("pthread_join");

	if (!jc_take(t)) {
		if (write(2, msg, sizeof(msg) - 1) < 0)
			abort();
		abort();
	}
	return real(t, ret);
}
