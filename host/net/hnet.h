/* netvsp: the host side of the synthetic network adapter (hdev_class
 * "net"). Each NIC is one device backed by a TAP device of the host that
 * hvis-host makes (runtime/rt_tap, with a virtio-net header); frames the
 * guest sends are written to it, frames the host's stack sends through it
 * go to the guest. Each NIC has K channels (the primary and K - 1
 * sub-channels the guest may ask for), each with a TAP queue of its own;
 * the guest's RSS table says which channel a received frame goes to. */
#ifndef HVIS_HNET_H
#define HVIS_HNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hvm;

#define HNET_NICS_MAX 16u

struct hnet_nic_cfg {
	const char *tap;       /* TAP interface name on the host */
	bool have_mac;
	uint8_t mac[6];        /* the guest's; else 00:15:5d:VM:VM:index */
	unsigned queues;       /* channels; 0: the CPUs, at most 8 */
	bool bench;            /* the bench port instead of a TAP */
	uint32_t bench_rx;     /* its frames toward the guest; 0: none */
	bool spoofing;         /* mac-spoofing=on */
	uint32_t vlan;         /* vlan=N, access mode; 0: none */
};

/* --nic TAP=NAME[,mac=XX:XX:XX:XX:XX:XX][,queues=K]; arg is cut up in
 * place. 0, or
 * -1 with the reason in why. */
int hnet_parse_nic(char *arg, struct hnet_nic_cfg *cfg, char *why, size_t n);

/* Make the TAP (in the host's namespace) and add the NIC to vm; a TAP
 * that one of vm's NICs has already is refused. 0, or -1 with the
 * reason in why (nothing of the NIC left behind). Loop thread. */
int hnet_add_nic(struct hvm *vm, const struct hnet_nic_cfg *cfg, char *why,
		 size_t n);

#endif
