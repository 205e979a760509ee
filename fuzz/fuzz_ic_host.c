/* Host IC response parsers. data[0] picks the service and the version to
 * negotiate, data[1] the request to open (KVP / VSS operation); the rest
 * is the guest's answer. After negotiation the host's next transaction id
 * is 1, so seeds can carry real guest answers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ic/ic.h"

static const enum ic_service svcs[] = { IC_SVC_HEARTBEAT, IC_SVC_SHUTDOWN,
	IC_SVC_TIMESYNC, IC_SVC_KVP, IC_SVC_VSS };

static uint8_t out[IC_MSG_MAX], req[IC_MSG_MAX];
static struct ic_action act;
static struct kvp_data kd;
static struct ic_host_result res;

static int open_request(struct ic_host *h, uint8_t sel)
{
	size_t n;

	switch (h->svc) {
	case IC_SVC_HEARTBEAT:
		return ic_hb_host_probe(h, sel, req, sizeof(req), &n);
	case IC_SVC_SHUTDOWN:
		return ic_sd_host_request(h, 0, 0, sel & 7, "bye", req,
					  sizeof(req), &n);
	case IC_SVC_TIMESYNC:
		return ic_ts_host_sample(h, 1, 2, 3, sel & 3, req, sizeof(req),
					 &n);
	case IC_SVC_KVP:
		memset(&kd, 0, sizeof(kd));
		kd.op = sel % KVP_OP_COUNT;
		kd.value_type = KVP_REG_SZ;
		strcpy(kd.key, "key");
		return kvp_host_request(h, &kd, req, sizeof(req), &n);
	case IC_SVC_VSS:
		return vss_host_request(h, sel % VSS_OP_COUNT, req, sizeof(req),
					&n);
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ic_guest g;
	static struct ic_host h;
	const struct ic_ver *fw, *msg;
	unsigned nfw, nmsg;
	size_t n, m;

	if (size < 2)
		return 0;
	ic_guest_init(&g, svcs[data[0] % 5]);
	ic_versions(g.svc, &fw, &nfw, &msg, &nmsg);
	ic_host_init(&h, g.svc, fw, nfw, &msg[(data[0] / 5) % nmsg], 1);
	if (ic_host_negotiate(&h, req, sizeof(req), &n) ||
	    ic_guest_input(&g, req, n, &act, out, sizeof(out), &m) ||
	    ic_host_input(&h, out, m, &res) || open_request(&h, data[1]))
		abort();
	ic_host_input(&h, data + 2, size - 2, &res);
	return 0;
}
