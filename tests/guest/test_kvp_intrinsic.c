/* Auto-pool intrinsic data against uname(2) and /etc/os-release read
 * independently (the shell sources the file). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/utsname.h>

#include <cmocka.h>

#include "guest_util.h"
#include "kvp_intrinsic.h"

static const char *const names[KVP_AUTO_COUNT] = {
	"FullyQualifiedDomainName", "IntegrationServicesVersion",
	"NetworkAddressIPv4", "NetworkAddressIPv6", "OSBuildNumber",
	"OSName", "OSMajorVersion", "OSMinorVersion", "OSVersion",
	"ProcessorArchitecture",
};

static void value_of(const struct kvp_auto *a, uint32_t i, char *v,
		     size_t cap)
{
	char k[512];

	assert_int_equal(kvp_auto_enumerate(a, i, k, sizeof(k), v, cap), 0);
	assert_string_equal(k, names[i]);
}

/* Hyper-V reads IntegrationServicesVersion as a version number: digits
 * in dot-separated groups, as Linux's "3.1". */
static bool dotted_numeric(const char *v)
{
	bool digit = false;

	for (; *v; v++) {
		if (*v >= '0' && *v <= '9')
			digit = true;
		else if (*v == '.' && digit)
			digit = false;
		else
			return false;
	}
	return digit;
}

/* What a POSIX shell makes of VAR in os-release. */
static void shell_var(const char *file, const char *var, char *out,
		      size_t cap)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), ". '%s' && printf '%%s' \"$%s\"", file,
		 var);
	FILE *p = popen(cmd, "r");

	assert_non_null(p);
	size_t n = fread(out, 1, cap - 1, p);

	out[n] = '\0';
	pclose(p);
}

/* The canonical name is not empty and starts with the host name's first
 * label, a whole label (or is the host name). */
static void check_fqdn(const struct kvp_auto *a)
{
	char host[256], v[2048];
	size_t label;

	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	label = strcspn(host, ".");
	value_of(a, 0, v, sizeof(v));
	assert_true(v[0] != '\0');
	assert_true(label > 0);
	assert_memory_equal(v, host, label);
	assert_true(v[label] == '\0' || v[label] == '.');
}

static void test_against_uname_and_os_release(void **state)
{
	struct kvp_auto a;
	struct utsname u;
	char v[2048], want[512];

	(void)state;
	assert_int_equal(kvp_auto_init(&a, NULL, "6.3.9600.16384"), 0);
	assert_int_equal(uname(&u), 0);
	value_of(&a, 4, v, sizeof(v));
	assert_string_equal(v, u.release);
	snprintf(want, sizeof(want), "%s", u.release);
	if (strchr(want, '-'))
		*strchr(want, '-') = '\0';
	value_of(&a, 8, v, sizeof(v));
	assert_string_equal(v, want);
	value_of(&a, 9, v, sizeof(v));
	assert_string_equal(v, u.machine);
	value_of(&a, 1, v, sizeof(v));
	assert_string_equal(v, "6.3.9600.16384");
	assert_true(dotted_numeric(v));
	value_of(&a, 7, v, sizeof(v));
	assert_string_equal(v, "");
	if (access("/etc/os-release", R_OK) == 0) {
		shell_var("/etc/os-release", "NAME", want, sizeof(want));
		value_of(&a, 5, v, sizeof(v));
		assert_string_equal(v, want);
		shell_var("/etc/os-release", "VERSION_ID", want, sizeof(want));
		value_of(&a, 6, v, sizeof(v));
		assert_string_equal(v, want);
	}
	check_fqdn(&a);
}

/* Without os-release (or without NAME / VERSION_ID in it) the name is
 * uname's sysname and the major version empty, as in hv_kvp_daemon. */
static void test_os_release_fallbacks(void **state)
{
	char dir[64], path[128], v[2048];
	static const char text[] = "PRETTY_NAME=\"No Name 3\"\nID=x\n";
	struct kvp_auto a;
	struct utsname u;

	(void)state;
	assert_int_equal(uname(&u), 0);
	assert_int_equal(kvp_auto_init(&a, "/nonexistent", "1.0"), 0);
	value_of(&a, 5, v, sizeof(v));
	assert_string_equal(v, u.sysname);
	value_of(&a, 6, v, sizeof(v));
	assert_string_equal(v, "");
	value_of(&a, 4, v, sizeof(v));
	assert_string_equal(v, u.release);
	check_fqdn(&a);
	assert_int_equal(gt_mkdtemp("osrel", dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/os-release", dir);
	assert_int_equal(gt_write_file(path, text, strlen(text), 0644), 0);
	assert_int_equal(kvp_auto_init(&a, path, "1.0"), 0);
	gt_rm_rf(dir);
	value_of(&a, 5, v, sizeof(v));
	assert_string_equal(v, u.sysname);
	value_of(&a, 6, v, sizeof(v));
	assert_string_equal(v, "");
}

static void test_version_form(void **state)
{
	(void)state;
	assert_true(dotted_numeric("1.0"));
	assert_true(dotted_numeric("3.1"));
	assert_true(dotted_numeric("10"));
	assert_false(dotted_numeric("hvis-1.0"));
	assert_false(dotted_numeric("1..0"));
	assert_false(dotted_numeric(".1"));
	assert_false(dotted_numeric("1."));
	assert_false(dotted_numeric(""));
}

static void test_addresses(void **state)
{
	struct kvp_auto a;
	char v[2048];

	(void)state;
	assert_int_equal(kvp_auto_init(&a, "/nonexistent", NULL), 0);
	value_of(&a, 1, v, sizeof(v));
	assert_string_equal(v, "Unknown version");
	value_of(&a, 2, v, sizeof(v));
	assert_null(strstr(v, "127.0.0.1"));
	/* Every item is an IPv4 address. */
	for (char *s = strtok(v, ";"); s; s = strtok(NULL, ";")) {
		struct in_addr ia;

		assert_int_equal(inet_pton(AF_INET, s, &ia), 1);
	}
	value_of(&a, 3, v, sizeof(v));
	for (char *s = strtok(v, ";"); s; s = strtok(NULL, ";")) {
		struct in6_addr ia;

		assert_int_equal(inet_pton(AF_INET6, s, &ia), 1);
		assert_string_not_equal(s, "::1");
	}
}

static void test_enumerate_bounds(void **state)
{
	struct kvp_auto a;
	char k[512], v[8], small[4];

	(void)state;
	assert_int_equal(kvp_auto_init(&a, "/nonexistent", "x"), 0);
	assert_int_equal(kvp_auto_enumerate(&a, KVP_AUTO_COUNT, k, sizeof(k),
					    v, sizeof(v)), KVP_AUTO_ENOTFOUND);
	assert_int_equal(kvp_auto_enumerate(&a, 5, small, sizeof(small), v,
					    sizeof(v)), KVP_AUTO_ESPACE);
	assert_string_equal(kvp_auto_key_name(9), "ProcessorArchitecture");
	assert_null(kvp_auto_key_name(10));
}

static void test_os_release_parser(void **state)
{
	char dir[64], path[128], name[64] = "keep", ver[64] = "keep";
	char want[128];
	static const char text[] =
		"# comment\nPRETTY_NAME=\"Some OS 9\"\n"
		"NAME=\"Some \\\"Quoted\\\" OS\"\nVERSION_ID='9.1'\n"
		"NAMEX=wrong\n";
	struct kvp_auto a;

	(void)state;
	kvp_auto_parse_os_release(text, strlen(text), name, sizeof(name), ver,
				  sizeof(ver));
	assert_string_equal(name, "Some \"Quoted\" OS");
	assert_string_equal(ver, "9.1");
	/* The shell agrees. */
	assert_int_equal(gt_mkdtemp("osrel", dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/os-release", dir);
	assert_int_equal(gt_write_file(path, text, strlen(text), 0644), 0);
	shell_var(path, "NAME", want, sizeof(want));
	assert_string_equal(name, want);
	assert_int_equal(kvp_auto_init(&a, path, NULL), 0);
	assert_string_equal(a.os_name, want);
	assert_string_equal(a.os_major, "9.1");
	gt_rm_rf(dir);

	/* Truncation keeps the buffers terminated. */
	char tiny[4];

	kvp_auto_parse_os_release("NAME=abcdefgh\n", 14, tiny, sizeof(tiny),
				  ver, sizeof(ver));
	assert_string_equal(tiny, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_uname_and_os_release),
		cmocka_unit_test(test_os_release_fallbacks),
		cmocka_unit_test(test_version_form),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_enumerate_bounds),
		cmocka_unit_test(test_os_release_parser),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
