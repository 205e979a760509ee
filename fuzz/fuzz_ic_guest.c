/* Guest IC engine input. data[0] picks the service and the version to
 * negotiate, data[1] bit 0 whether to negotiate first; the rest is one
 * payload from the host. A request handed to the embedder is answered
 * (KVP with strings that fill their fields), and the same payload is fed
 * again to exercise the out-of-order path. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ic/ic.h"

static const enum ic_service svcs[] = { IC_SVC_HEARTBEAT, IC_SVC_SHUTDOWN,
	IC_SVC_TIMESYNC, IC_SVC_KVP, IC_SVC_VSS };

static uint8_t out[IC_MSG_MAX], req[IC_MSG_MAX];
static struct ic_action act;
static struct kvp_data kr;
static struct ic_host_result res;

static void negotiate(struct ic_guest *g, struct ic_host *h, unsigned vi)
{
	const struct ic_ver *fw, *msg;
	unsigned nfw, nmsg;
	size_t n, m;

	ic_versions(g->svc, &fw, &nfw, &msg, &nmsg);
	ic_host_init(h, g->svc, fw, nfw, &msg[vi % nmsg], 1);
	if (ic_host_negotiate(h, req, sizeof(req), &n) ||
	    ic_guest_input(g, req, n, &act, out, sizeof(out), &m) ||
	    ic_host_input(h, out, m, &res))
		abort();
}

static void answer(struct ic_guest *g, enum ic_action_kind kind)
{
	size_t n;

	switch (kind) {
	case IC_ACT_SHUTDOWN:
		ic_sd_guest_reply(g, IC_S_OK, out, sizeof(out), &n);
		break;
	case IC_ACT_VSS:
		vss_guest_reply(g, IC_S_OK, VSS_HBU_NO_AUTO_RECOVERY, out,
				sizeof(out), &n);
		break;
	case IC_ACT_KVP:
		memset(kr.key, 'k', KVP_KEY_BYTES / 2 - 1);
		memset(kr.value, 'v', KVP_VALUE_BYTES / 2 - 1);
		kr.value_type = KVP_REG_SZ;
		strcpy(kr.ip.adapter_id, "eth0");
		strcpy(kr.ip.ip_addr, "10.0.0.2");
		kr.ip.n_ipv4 = 1;
		if (kvp_guest_reply(g, IC_S_OK, &kr, out, sizeof(out), &n))
			kvp_guest_reply(g, IC_E_FAIL, NULL, out, sizeof(out),
					&n);
		break;
	default:
		break;
	}
	if (g->pending)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ic_guest g;
	static struct ic_host h;
	size_t n;

	if (size < 2)
		return 0;
	ic_guest_init(&g, svcs[data[0] % 5]);
	if (data[1] & 1)
		negotiate(&g, &h, data[0] / 5);
	ic_guest_input(&g, data + 2, size - 2, &act, out, sizeof(out), &n);
	if (n > sizeof(out))
		abort();
	if (act.reply_pending) {
		enum ic_action_kind kind = act.kind;

		ic_guest_input(&g, data + 2, size - 2, &act, out, sizeof(out),
			       &n);
		answer(&g, kind);
	}
	return 0;
}
