/* netvsp's configuration: --nic specs and adding a NIC with its TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hnet_port.h"

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &end) != 6 || strlen(s) != 17)
		return false;
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	/* a guest's own address is unicast */
	return !(mac[0] & 1);
}

static bool nic_opt(char *o, struct hnet_nic_cfg *cfg)
{
	if (strncmp(o, "tap=", 4) == 0 && o[4] && strlen(o + 4) < 16) {
		cfg->tap = o + 4;
		return true;
	}
	if (strncmp(o, "mac=", 4) == 0 && parse_mac(o + 4, cfg->mac)) {
		cfg->have_mac = true;
		return true;
	}
	if (strncmp(o, "queues=", 7) == 0) {
		char *end;
		unsigned long k = strtoul(o + 7, &end, 10);

		cfg->queues = (unsigned)k;
		return o[7] && !*end && k >= 1 && k <= HNET_QUEUES_MAX;
	}
	if (hnet_sw_opt(o, cfg))
		return true;
	return hnet_bench_opt(o, cfg);
}

int hnet_parse_nic(char *arg, struct hnet_nic_cfg *cfg, char *why, size_t n)
{
	char *save = NULL;

	memset(cfg, 0, sizeof(*cfg));
	for (char *o = strtok_r(arg, ",", &save); o;
	     o = strtok_r(NULL, ",", &save)) {
		if (!nic_opt(o, cfg)) {
			snprintf(why, n, "--nic: '%s' is not tap=NAME (at most "
				 "15 characters), mac=XX:XX:XX:XX:XX:XX "
				 "(unicast), queues=K (1 to %u), "
				 "mac-spoofing=on|off, vlan=1..%u, bench or "
				 "(after bench) rx=SIZE (14 to %u)", o,
				 HNET_QUEUES_MAX, HNET_VLAN_MAX, 14 + 65535u);
			return -1;
		}
	}
	if (!cfg->tap == !cfg->bench) {
		snprintf(why, n,
			 "--nic needs tap=NAME or bench[,rx=SIZE] (one of "
			 "them)[,mac=XX:XX:XX:XX:XX:XX][,queues=K]"
			 "[,mac-spoofing=on][,vlan=N]");
		return -1;
	}
	return 0;
}

/* The NICs of vm, and the first free index. */
static unsigned free_index(struct hvm *vm)
{
	unsigned used = 0;

	for (struct hdev *d = vm->devs; d; d = d->next)
		if (d->cls == &hnet_class)
			used |= 1u << ((struct hnet_nic *)d->priv)->index;
	for (unsigned i = 0; i < HNET_NICS_MAX; i++)
		if (!(used & 1u << i))
			return i;
	return HNET_NICS_MAX;
}

/* Hyper-V's prefix 00:15:5d, then two bytes of the VM's name (FNV-1a)
 * and the NIC's index: stable across runs, distinct between VMs. */
static void default_mac(const struct hvm *vm, unsigned index, uint8_t *mac)
{
	uint32_t h = 2166136261u;

	for (const char *p = vm->cfg.name ? vm->cfg.name : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	mac[0] = 0x00;
	mac[1] = 0x15;
	mac[2] = 0x5d;
	mac[3] = (uint8_t)(h >> 8);
	mac[4] = (uint8_t)h;
	mac[5] = (uint8_t)index;
}

/* Hyper-V's vRSS default: a queue per CPU, at most 8. */
static unsigned default_queues(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus < 1 ? 1 : cpus > HNET_QUEUES_DEFAULT ? HNET_QUEUES_DEFAULT
							 : (unsigned)cpus;
}

/* Until its sub-channel opens a queue has no reader: out of the
 * kernel's choice, so that no flow's frames wait there. */
static int queues_idle(struct rt_tap *tap, char *why, size_t n)
{
	for (unsigned q = 1; q < tap->queues; q++) {
		int rc = rt_tap_queue_enable(tap, q, false);

		if (rc) {
			snprintf(why, n, "%s: detaching queue %u: %s", tap->name,
				 q, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

struct hnet_nic *hnet_nic_named(struct hvm *vm, const char *name,
				bool *removing)
{
	for (struct hdev *d = vm->devs; d; d = d->next) {
		struct hnet_nic *nic = d->priv;

		if (d->cls != &hnet_class || strcmp(nic->tap.name, name))
			continue;
		*removing = !hvm_dev_live(vm, d);
		return nic;
	}
	return NULL;
}

/* A NIC is named by its TAP (the bench port: "bench"), and a TAP is
 * one device: a second NIC on it would take a queue of the first one's;
 * a TAP named bench beside the bench port would make the name mean
 * two NICs. */
static int name_free(struct hvm *vm, const char *name, char *why, size_t n)
{
	bool removing;

	if (!hnet_nic_named(vm, name, &removing))
		return 0;
	if (removing)
		snprintf(why, n, "the NIC %s is being removed: try again once "
			 "the guest has let go of it", name);
	else if (!strcmp(name, HNET_BENCH_NAME))
		snprintf(why, n, "a NIC named %s is there already (the bench "
			 "port's name): give the TAP another name, or use one "
			 "bench port", name);
	else
		snprintf(why, n, "a second adapter on the same TAP device %s: "
			 "give each its own tap=NAME", name);
	return -1;
}

/* The TAP of a NIC that has one, its queues idle. */
static int tap_open(struct rt_tap *tap, const struct rt_tap_cfg *tc,
		    char *why, size_t n)
{
	if (rt_tap_open(tap, tc, why, n))
		return -1;
	if (!queues_idle(tap, why, n))
		return 0;
	rt_tap_close(tap);
	return -1;
}

/* The NIC just offered: its bench port (a TAP's is open already), its
 * switch port, its MAC. On failure the device is taken back (and freed
 * if no guest saw it). */
static int nic_init(struct hvm *vm, struct hnet_nic *nic,
		    const struct hnet_nic_cfg *cfg, unsigned index, char *why,
		    size_t n)
{
	if ((cfg->bench && hnet_bench_open(nic, cfg, why, n)) ||
	    hnet_sw_init(nic, cfg, why, n)) {
		hvm_remove_channel(vm, nic->d->primary_relid, NULL, 0);
		return -1;
	}
	nic->index = index;
	if (cfg->have_mac)
		memcpy(nic->mac, cfg->mac, 6);
	else
		default_mac(vm, index, nic->mac);
	return 0;
}

int hnet_add_nic(struct hvm *vm, const struct hnet_nic_cfg *cfg, char *why,
		 size_t n)
{
	/* the MTU the guest is told: no frame larger than a sub-allocation */
	struct rt_tap_cfg tc = { .name = cfg->tap,
				 .queues = cfg->queues ? cfg->queues
						       : default_queues(),
				 .vnet_hdr = true, .mtu = HNET_MTU };
	unsigned index = free_index(vm);
	/* no fd yet: closing it closes none (fd 0 is someone else's) */
	struct rt_tap tap = {.ns_fd = -1};
	struct hnet_nic *nic;
	struct hdev *d;

	if (index == HNET_NICS_MAX) {
		snprintf(why, n, "at most %u NICs", HNET_NICS_MAX);
		return -1;
	}
	if (name_free(vm, cfg->bench ? HNET_BENCH_NAME : cfg->tap, why, n) ||
	    (!cfg->bench && tap_open(&tap, &tc, why, n)))
		return -1;
	/* offered now, opened by the guest only later on this thread */
	if (hvm_add_device(vm, &hnet_class, tc.queues - 1, NULL, &d)) {
		rt_tap_close(&tap);
		snprintf(why, n, "adding the device failed");
		return -1;
	}
	nic = d->priv;
	nic->tap = tap;
	nic->queues = tc.queues;
	return nic_init(vm, nic, cfg, index, why, n);
}
