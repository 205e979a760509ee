/* hnet_add_nic's failures against a real VM (hvm, no guest): what it
 * could not finish is taken back, and it closes no fd it never opened;
 * as root, in a network namespace of the test's own, a second NIC on
 * one TAP device is refused. */
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvm.h"
#include "net/hnet.h"
#include "rt_log.h"

struct world {
	char dir[64], vmbus[96], ctl[96];
	struct rt_loop *loop;
	struct hvm vm;
};

static int world_start(void **state)
{
	static struct world w;
	struct hvm_cfg cfg = {.name = "hnet-add"};

	memset(&w, 0, sizeof(w));
	strcpy(w.dir, "/tmp/hvis-hnet-add.XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	snprintf(w.vmbus, sizeof(w.vmbus), "%s/vmbus.sock", w.dir);
	snprintf(w.ctl, sizeof(w.ctl), "%s/ctl.sock", w.dir);
	cfg.vmbus_path = w.vmbus;
	cfg.ctl_path = w.ctl;
	w.loop = rt_loop_new();
	assert_non_null(w.loop);
	assert_int_equal(hvm_init(&w.vm, &cfg, w.loop), 0);
	*state = &w;
	return 0;
}

static int world_stop(void **state)
{
	struct world *w = *state;

	hvm_fini(&w->vm);
	rt_loop_free(w->loop);
	rmdir(w->dir);
	return 0;
}

static unsigned live_devices(struct hvm *vm)
{
	unsigned n = 0;

	for (struct hdev *d = vm->devs; d; d = d->next)
		n += hvm_dev_live(vm, d);
	return n;
}

/* A bench port whose eventfds run out: no NIC stays offered. */
static void bench_open_fails(void **state)
{
	struct world *w = *state;
	struct hnet_nic_cfg cfg = {.bench = true, .queues = 8};
	struct rlimit old, low;
	char why[256] = "";
	int fd = dup(0), rc;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = (struct rlimit){.rlim_cur = (rlim_t)fd + 2,
			      .rlim_max = old.rlim_max};
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	rc = hnet_add_nic(&w->vm, &cfg, why, sizeof(why));
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(why, "bench port"));
	assert_int_equal(live_devices(&w->vm), 0);
}

/* No relid left for the device: fd 0 (someone else's) stays open. */
static void no_relid_keeps_fd0(void **state)
{
	struct world *w = *state;
	const struct hdev_class *test = hdev_class_find("test");
	struct hnet_nic_cfg cfg = {.bench = true, .queues = 1};
	char why[256] = "";
	int null = open("/dev/null", O_RDONLY);

	assert_non_null(test);
	assert_true(null >= 0);
	assert_int_equal(dup2(null, 0), 0);
	close(null);
	while (!hvm_add_device(&w->vm, test, 0, NULL, NULL))
		;
	assert_int_equal(hnet_add_nic(&w->vm, &cfg, why, sizeof(why)), -1);
	assert_string_equal(why, "adding the device failed");
	assert_int_not_equal(fcntl(0, F_GETFD), -1);
}

/* Two NICs on TAP hvadd0: the second refused, the first kept. */
static void same_tap_refused(void **state)
{
	struct world *w = *state;
	struct hnet_nic_cfg cfg = {.tap = "hvadd0", .queues = 1};
	char why[256] = "";

	if (geteuid() || access("/dev/net/tun", R_OK | W_OK) ||
	    unshare(CLONE_NEWNET))
		skip();
	assert_int_equal(hnet_add_nic(&w->vm, &cfg, why, sizeof(why)), 0);
	cfg.vlan = 5;
	assert_int_equal(hnet_add_nic(&w->vm, &cfg, why, sizeof(why)), -1);
	assert_string_equal(why, "a second adapter on the same TAP device "
				 "hvadd0: give each its own tap=NAME");
	assert_int_equal(live_devices(&w->vm), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bench_open_fails, world_start,
						world_stop),
		cmocka_unit_test_setup_teardown(no_relid_keeps_fd0,
						world_start, world_stop),
		cmocka_unit_test_setup_teardown(same_tap_refused, world_start,
						world_stop),
	};

	rt_log_init("test_hnet_add", RT_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
