/* The words of a control request: options with bounded numbers, flags
 * and plain words, for every request that takes them (storage's disk
 * requests, the network's nic capture, the VM's device requests). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvm.h"

/* s as a number of o's range, with a unit letter after it where o takes
 * a size. */
static int opt_num(const char *s, const struct hvm_ctl_opt *o,
		   unsigned long long *v)
{
	static const char units[] = "KMGT";
	const char *u = NULL;
	char *end;

	/* strtoull would also take blanks and a sign ("-1" wraps) */
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end && (!o->size || end[1] || !(u = strchr(units, *end))))
		return -1;
	for (long k = u ? u - units + 1 : 0; k > 0; k--) {
		if (*v > (~0ull >> 10))
			return -1;
		*v <<= 10;
	}
	return *v < o->min || *v > o->max ? -1 : 0;
}

int hvm_ctl_num(const char *s, unsigned long long min, unsigned long long max,
		unsigned long long *v)
{
	struct hvm_ctl_opt o = {.min = min, .max = max};

	return opt_num(s, &o, v);
}

static const struct hvm_ctl_opt *opt_find(const char *a,
					  const struct hvm_ctl_opt *opts,
					  unsigned nopts)
{
	for (unsigned i = 0; i < nopts; i++)
		if (!strcmp(a, opts[i].name))
			return &opts[i];
	return NULL;
}

/* Why o's value val (NULL: none) was refused. */
static void opt_why(const struct hvm_ctl_opt *o, const char *val, char *why,
		    size_t n)
{
	int k;

	if (o->size)
		k = snprintf(why, n, "%s wants a size in bytes (K, M, G or T "
			     "after it for KiB, MiB, ...)", o->name);
	else
		k = snprintf(why, n, "%s wants a whole number from %llu to "
			     "%llu", o->name, o->min, o->max);
	if (k < 0 || (size_t)k >= n)
		return;
	if (val)
		snprintf(why + k, n - (size_t)k, ", not '%s'", val);
	else
		snprintf(why + k, n - (size_t)k, " after it");
}

/* Option o at argv[*i], its value (if it takes one) next. */
static int opt_take(const struct hvm_ctl_opt *o, char *const *argv, int argc,
		    int *i, char *why, size_t n)
{
	const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
	unsigned long long v;

	if (!o->max) {
		*o->v = 1;
		return 0;
	}
	(*i)++;
	/* the caller's value only once it is in range */
	if (!opt_num(val, o, &v)) {
		*o->v = v;
		return 0;
	}
	opt_why(o, val, why, n);
	return -1;
}

int hvm_ctl_args(char *const *argv, int argc, const struct hvm_ctl_opt *opts,
		 unsigned nopts, const char **pos, unsigned npos, char *why,
		 size_t n)
{
	unsigned np = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct hvm_ctl_opt *o = opt_find(a, opts, nopts);

		if (o && opt_take(o, argv, argc, &i, why, n))
			return -1;
		if (o)
			continue;
		if (a[0] == '-' || np == npos) {
			snprintf(why, n, "%s '%s'", a[0] == '-' ?
				 "unknown option" : "unexpected argument", a);
			return -1;
		}
		pos[np++] = a;
	}
	return 0;
}
