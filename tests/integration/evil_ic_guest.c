/* A hostile guest for the integration service channels, against a real
 * hvis-host: it opens the five service channels itself and answers the
 * host's NEGOTIATE, heartbeat probes, time samples, shutdown, KVP and VSS
 * requests with malformed payloads. After each step the host's counters
 * (hvis-ctl "vm services") must have moved by exactly what the step
 * provoked, by reason; the service status must be what Hyper-V shows
 * (never OK after garbage); a pending control request must get a failure
 * reply, not hang; a good answer must bring the service back to OK.
 *
 *   evil_ic_guest VMBUS_SOCK CTL_SOCK
 *
 * The host runs with --test-devices 0 --services all --heartbeat-ms 200
 * --request-timeout 1 --timesync-ms 600000 (samples only when asked).
 * Good answers come from core/ic's guest engine; every malformed one is
 * a good one with a single thing broken. Exit 0 if the host passed. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evil_util.h"
#include "ic/ic.h"
#include "rt_gmem.h"
#include "vmbus/vmb_msg.h"
#include "vmbus/vmb_pkt.h"
#include "vmbus/vmb_server.h"

#define GMEM_SIZE (16u << 20)
#define RING_PAGES 8u /* each direction, header page included */
#define REPLY_MS 3000
#define TIMEOUT_MS 1000 /* the host's --request-timeout */
#define XID_NEVER (1ull << 40) /* a packet id the host never used */

/* Offsets in a payload: pipe header, icmsg header, body. */
#define OFF_MSGSIZE 4
#define OFF_TYPE 12
#define OFF_SIZE 18
#define OFF_STATUS 20
#define OFF_XID 24
#define OFF_FLAGS 25
#define OFF_BODY IC_HDR_LEN
#define OFF_KVP (OFF_BODY + (uint32_t)sizeof(struct kvp_hdr))
#define KVP_VALUE_SIZE (OFF_KVP + offsetof(struct kvp_wvalue, value_size))
#define KVP_VALUE (OFF_KVP + offsetof(struct kvp_wvalue, value))
#define KVP_IP(f) (OFF_KVP + offsetof(struct kvp_wip_bin, f))

enum svc { HB, SD, TS, KVP, VSS, NSVC };

static const struct {
	const char *name;  /* as "vm services" shows it */
	const char *guid;
	enum ic_service ic;
} svcs[NSVC] = {
	[HB] = { "Heartbeat", "57164f39-9115-4e78-ab55-382f3bd5422d",
		 IC_SVC_HEARTBEAT },
	[SD] = { "Shutdown", "0e0b6031-5213-4934-818b-38d90ced39db",
		 IC_SVC_SHUTDOWN },
	[TS] = { "Time Synchronization",
		 "9527e630-d0ae-497b-adce-e80ab0175caf", IC_SVC_TIMESYNC },
	[KVP] = { "Key-Value Pair Exchange",
		  "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", IC_SVC_KVP },
	[VSS] = { "VSS", "35fa2e29-ea23-4236-96ae-3a6ebacba440",
		  IC_SVC_VSS },
};

struct ch {
	enum svc svc;
	uint32_t relid;
	int efd_tx, efd_rx;  /* we signal / the host signals */
	uint8_t *ring;       /* outbound then inbound */
	struct vmb_ring out, in;
	struct ic_guest eng; /* builds the good answers */
	uint64_t last_xid;   /* packet id of the last request answered */
	size_t last_len;
	uint8_t last[IC_MSG_MAX];
};

/* One request from the host and the engine's good answer to it. */
struct req {
	uint64_t xid;
	uint32_t len;
	uint8_t p[IC_MSG_MAX + 64];
	struct ic_action act;
	size_t alen;
	uint8_t a[IC_MSG_MAX];
};

/* What "vm services" shows of one service. */
struct row {
	char status[32];
	char fw[12], msg[12];
	unsigned long long req, ans, fail, tmo, bad;
	uint64_t why[VMB_BAD__COUNT];
	uint64_t late;
};

struct eg {
	const char *vmbus, *ctl;
	int sock;
	uint32_t conn;
	uint32_t open_id;
	struct rt_gmem gmem;
	struct ch ch[NSVC];
	uint64_t want[NSVC][VMB_BAD__COUNT];
	uint64_t want_late[NSVC];
	uint64_t want_tmo[NSVC];
};

static struct req rq; /* large: one at a time */

/* ---- payload bytes ---- */

static void put16(uint8_t *p, uint32_t off, uint16_t v)
{
	v = vmb_le16(v);
	memcpy(p + off, &v, 2);
}

static void put32(uint8_t *p, uint32_t off, uint32_t v)
{
	v = vmb_le32(v);
	memcpy(p + off, &v, 4);
}

static uint64_t get64(const uint8_t *p, uint32_t off)
{
	uint64_t v;

	memcpy(&v, p + off, 8);
	return vmb_le64(v);
}

static uint16_t get16(const uint8_t *p, uint32_t off)
{
	uint16_t v;

	memcpy(&v, p + off, 2);
	return vmb_le16(v);
}

/* Cut the answer's body to body bytes, both sizes kept consistent. */
static void cut_body(struct req *q, uint32_t body)
{
	put32(q->a, OFF_MSGSIZE, (uint32_t)sizeof(struct ic_msg_hdr) + body);
	put16(q->a, OFF_SIZE, (uint16_t)body);
	q->alen = OFF_BODY + body;
}

/* ---- the host's counters ---- */

static void parse_row(const char *l, struct row *r)
{
	char en[8], st[32] = "";

	memcpy(st, l + 33, 24);
	for (int i = 23; i >= 0 && (st[i] == ' ' || !st[i]); i--)
		st[i] = '\0';
	snprintf(r->status, sizeof(r->status), "%s", st);
	EU_CHECK(sscanf(l + 24, " %7s", en) == 1 &&
		 sscanf(l + 58, " %11s %11s %llu %llu %llu %llu %llu", r->fw,
			r->msg, &r->req, &r->ans, &r->fail, &r->tmo,
			&r->bad) == 7,
		 "vm services row: %s", l);
}

static void parse_bad(const char *l, struct row *r)
{
	char name[32];
	unsigned long long v;
	int n;

	for (l += 26; sscanf(l, " %31[^=]=%llu%n", name, &v, &n) == 2;
	     l += n) {
		if (strcmp(name, "late-answers") == 0) {
			r->late = v;
			continue;
		}
		for (unsigned i = 0; i < VMB_BAD__COUNT; i++)
			if (strcmp(name, vmb_bad_name((enum vmb_bad)i)) == 0)
				r->why[i] = v;
	}
}

static void read_rows(struct eg *e, struct row rows[NSVC])
{
	char *reply = eu_ctl(e->ctl, "vm services\n"), *save = NULL;
	char *body = strchr(reply, '\n');
	bool bad_part = false;
	unsigned seen = 0;

	/* "warn: ..." when a service is not OK: the listing follows. */
	EU_CHECK(body && (strncmp(reply, "ok\n", 3) == 0 ||
			  strncmp(reply, "warn: ", 6) == 0),
		 "vm services: %s", reply);
	memset(rows, 0, sizeof(struct row) * NSVC);
	for (char *l = strtok_r(body + 1, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "Bad input by reason:", 20) == 0) {
			bad_part = true;
			continue;
		}
		for (unsigned k = 0; k < NSVC; k++) {
			const char *n = svcs[k].name;
			size_t nl = strlen(n), off = bad_part ? 2 : 0;

			if (strlen(l) < off + 24 || strncmp(l + off, n, nl) ||
			    l[off + nl] != ' ')
				continue;
			if (bad_part) {
				parse_bad(l, &rows[k]);
			} else {
				parse_row(l, &rows[k]);
				seen++;
			}
		}
	}
	free(reply);
	EU_CHECK(seen == NSVC, "vm services lacks services");
}

static bool rows_match(struct eg *e, const struct row rows[NSVC], bool fail)
{
	for (unsigned k = 0; k < NSVC; k++) {
		uint64_t sum = 0;

		for (unsigned i = 0; i < VMB_BAD__COUNT; i++) {
			uint64_t got = rows[k].why[i], want = e->want[k][i];

			sum += want;
			EU_CHECK(got <= want, "%s: host counted %llu %s, want "
				 "%llu", svcs[k].name,
				 (unsigned long long)got,
				 vmb_bad_name((enum vmb_bad)i),
				 (unsigned long long)want);
			if (got != want) {
				EU_CHECK(!fail, "%s: host counted %llu %s, "
					 "want %llu", svcs[k].name,
					 (unsigned long long)got,
					 vmb_bad_name((enum vmb_bad)i),
					 (unsigned long long)want);
				return false;
			}
		}
		/* The column and the reasons are read one after the
		 * other while the channel worker counts. */
		if (rows[k].bad != sum) {
			EU_CHECK(!fail, "%s: BadInput %llu, reasons sum to "
				 "%llu", svcs[k].name, rows[k].bad,
				 (unsigned long long)sum);
			return false;
		}
		if (rows[k].late != e->want_late[k] ||
		    rows[k].tmo != e->want_tmo[k]) {
			EU_CHECK(!fail, "%s: late answers %llu (want %llu), "
				 "timeouts %llu (want %llu)", svcs[k].name,
				 (unsigned long long)rows[k].late,
				 (unsigned long long)e->want_late[k],
				 rows[k].tmo,
				 (unsigned long long)e->want_tmo[k]);
			return false;
		}
	}
	return true;
}

/* Wait until the host has counted exactly what it must, none above. */
static void check_counters(struct eg *e)
{
	struct row rows[NSVC];
	uint64_t t0 = eu_now_ms();

	for (;;) {
		read_rows(e, rows);
		if (rows_match(e, rows, eu_now_ms() - t0 > REPLY_MS))
			return;
		eu_sleep_ms(10);
	}
}

static void expect_bad(struct eg *e, enum svc k, enum vmb_bad why,
		       unsigned n)
{
	e->want[k][why] += n;
	check_counters(e);
}

static void status_within(struct eg *e, enum svc k, const char *want,
			  unsigned ms)
{
	struct row rows[NSVC];
	uint64_t t0 = eu_now_ms();

	for (;;) {
		read_rows(e, rows);
		if (strcmp(rows[k].status, want) == 0)
			return;
		EU_CHECK(eu_now_ms() - t0 < ms, "%s: status \"%s\", want "
			 "\"%s\" within %u ms", svcs[k].name, rows[k].status,
			 want, ms);
		eu_sleep_ms(10);
	}
}

static void status_is(struct eg *e, enum svc k, const char *want)
{
	status_within(e, k, want, REPLY_MS);
}

/* A malformed heartbeat answer must cost the status at once, before the
 * next probe (sent at the next tick) could have gone unanswered for
 * HIC_HB_LOST_PERIODS: 3 x 200 ms after it, 600 ms at the earliest. */
#define HB_GARBAGE_MS 500

/* The status right now (no waiting): for "still not OK" checks. */
static void status_now(struct eg *e, enum svc k, const char *want)
{
	struct row rows[NSVC];

	read_rows(e, rows);
	EU_CHECK(strcmp(rows[k].status, want) == 0, "%s: status \"%s\", want "
		 "\"%s\"", svcs[k].name, rows[k].status, want);
}

/* ---- control requests that wait for the guest ---- */

static int ctl_start(struct eg *e, const char *req)
{
	eu_step("  hvis-ctl %.*s", (int)strcspn(req, "\n"), req);
	return eu_ctl_send(e->ctl, req);
}

/* The pending request's reply must be a failure naming why. */
static void ctl_fails(int fd, const char *why, int ms)
{
	char *r = eu_ctl_reply(fd, ms);

	EU_CHECK(r, "a pending request got no reply within %d ms", ms);
	EU_CHECK(strncmp(r, "error: ", 7) == 0 && strstr(r, why),
		 "reply \"%s\", want an error with \"%s\"", r, why);
	free(r);
}

static void ctl_ok(int fd, const char *what)
{
	char *r = eu_ctl_reply(fd, REPLY_MS);

	EU_CHECK(r, "no reply within %d ms", REPLY_MS);
	/* "warn: ...": a listing that says a service is not OK. */
	EU_CHECK((strncmp(r, "ok\n", 3) == 0 || strncmp(r, "warn: ", 6) == 0) &&
		 strstr(r, what),
		 "reply \"%s\", want ok with \"%s\"", r, what);
	free(r);
}

/* ---- VMBus: connection, offers, rings ---- */

static void post(struct eg *e, const union vmb_msg_buf *b, uint32_t len)
{
	int rc;

	EU_CHECK(len, "message encoding refused");
	rc = rt_xport_send(e->sock, RT_FRAME_MSG, e->conn, b->raw, len, NULL,
			   0);
	EU_CHECK(rc == 0, "send: %s", strerror(-rc));
}

static void expect_frame(struct eg *e, uint32_t want, union vmb_msg_buf *m,
			 struct rt_frame *f)
{
	enum vmb_bad why;
	int rc = eu_recv(e->sock, REPLY_MS, f), type;

	EU_CHECK(rc == 0, "no %s from the host: %s", vmb_msg_type_name(want),
		 strerror(-rc));
	type = vmb_msg_parse(m, f->payload, vmb_le32(f->hdr.len), &why);
	EU_CHECK(type == (int)want, "got message %d, want %s", type,
		 vmb_msg_type_name(want));
}

static void expect_msg(struct eg *e, uint32_t want, union vmb_msg_buf *m)
{
	struct rt_frame f;

	expect_frame(e, want, m, &f);
	eu_frame_close(&f);
}

static void connect_vmbus(struct eg *e)
{
	struct rt_frame_memory mem = {
		.version = vmb_le32(RT_XPORT_VERSION),
		.size = vmb_le64(e->gmem.size),
	};
	union vmb_msg_buf b, m;
	int rc;

	e->sock = rt_xport_connect(e->vmbus);
	EU_CHECK(e->sock >= 0, "connect %s: %s", e->vmbus, strerror(-e->sock));
	rc = rt_xport_send(e->sock, RT_FRAME_MEMORY, 0, &mem, sizeof(mem),
			   &e->gmem.fd, 1);
	EU_CHECK(rc == 0, "memory frame: %s", strerror(-rc));
	e->conn = VMB_MSG_CONNECTION_ID_4;
	post(e, &b, vmb_msg_enc_initiate_contact(&b, VMB_VERSION_WIN10_V5_3,
						 0, 0, 0, 0));
	expect_msg(e, VMB_MSG_VERSION_RESPONSE, &m);
	EU_CHECK(m.version_response.version_supported, "5.3 refused");
	e->conn = vmb_le32(m.version_response.msg_conn_id);
}

static int svc_of(const struct vmb_guid *g)
{
	for (unsigned k = 0; k < NSVC; k++) {
		struct vmb_guid c;

		vmb_guid_parse(&c, svcs[k].guid);
		if (vmb_guid_eq(&c, g))
			return (int)k;
	}
	return -1;
}

static void take_offers(struct eg *e)
{
	union vmb_msg_buf b, m;
	struct rt_frame f;

	post(e, &b, vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS));
	for (unsigned i = 0; i < NSVC; i++) {
		int k;

		expect_frame(e, VMB_MSG_OFFERCHANNEL, &m, &f);
		k = svc_of(&m.offer.offer.if_type);
		EU_CHECK(k >= 0 && f.nfds == 2 && !e->ch[k].relid,
			 "offer of relid %u: not a service or repeated",
			 vmb_le32(m.offer.child_relid));
		e->ch[k].svc = (enum svc)k;
		e->ch[k].relid = vmb_le32(m.offer.child_relid);
		e->ch[k].efd_tx = f.fds[0];
		e->ch[k].efd_rx = f.fds[1];
	}
	expect_msg(e, VMB_MSG_ALLOFFERS_DELIVERED, &m);
}

/* Rings in guest memory, described by GPADL relid (one per channel). */
static void make_rings(struct eg *e, struct ch *c)
{
	uint64_t pfn[2 * RING_PAGES], first;
	union vmb_msg_buf b, m;

	c->ring = rt_gmem_alloc(&e->gmem, 2 * RING_PAGES);
	EU_CHECK(c->ring, "ring allocation");
	first = rt_gmem_gpa(&e->gmem, c->ring) >> VMB_PAGE_SHIFT;
	for (unsigned i = 0; i < 2 * RING_PAGES; i++)
		pfn[i] = first + i;
	post(e, &b, vmb_msg_enc_gpadl_header(&b, c->relid, c->relid,
					     2 * RING_PAGES, pfn,
					     2 * RING_PAGES));
	expect_msg(e, VMB_MSG_GPADL_CREATED, &m);
	EU_CHECK(vmb_le32(m.gpadl_created.status) == 0, "GPADL refused");
}

static void open_chan(struct eg *e, struct ch *c)
{
	uint64_t len = (uint64_t)RING_PAGES << VMB_PAGE_SHIFT;
	union vmb_msg_buf b, m;

	memset(c->ring, 0, 2 * len);
	EU_CHECK(vmb_ring_attach(&c->out, c->ring, len) == VMB_OK &&
		 vmb_ring_attach(&c->in, c->ring + len, len) == VMB_OK,
		 "ring attach");
	vmb_ring_init_shared(&c->out, true);
	vmb_ring_init_shared(&c->in, true);
	ic_guest_init(&c->eng, svcs[c->svc].ic);
	c->last_len = 0;
	post(e, &b, vmb_msg_enc_open(&b, c->relid, ++e->open_id, c->relid, 0,
				     RING_PAGES, NULL, 0));
	expect_msg(e, VMB_MSG_OPENCHANNEL_RESULT, &m);
	EU_CHECK(vmb_le32(m.open_result.status) == 0, "open of relid %u "
		 "refused", c->relid);
}

static bool chan_open(struct eg *e, uint32_t relid)
{
	char *r = eu_ctl(e->ctl, "channels\n"), *save = NULL;
	bool open = false;

	for (char *l = strtok_r(r, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		unsigned id;
		char state[16];

		if (sscanf(l, "%u %*s %*s %*s %15s", &id, state) == 2 &&
		    id == relid)
			open = strcmp(state, "open") == 0;
	}
	free(r);
	return open;
}

static void close_chan(struct eg *e, struct ch *c)
{
	union vmb_msg_buf b;

	post(e, &b, vmb_msg_enc_relid(&b, VMB_MSG_CLOSECHANNEL, c->relid));
	for (uint64_t t0 = eu_now_ms(); chan_open(e, c->relid);) {
		EU_CHECK(eu_now_ms() - t0 < REPLY_MS, "relid %u still open",
			 c->relid);
		eu_sleep_ms(10);
	}
}

/* ---- packets ---- */

static void send_pkt(struct ch *c, uint64_t xid, const void *p, size_t len)
{
	struct vmb_iov iov = { (void *)p, (uint32_t)len };
	bool sig;
	int rc = vmb_pkt_send_inband(&c->out, 0, xid, &iov, 1, &sig);

	EU_CHECK(rc == VMB_OK, "answer not written: %s", vmb_strerror(rc));
	/* Always: a worker that misses nothing must also cope with extra
	 * signals. */
	eu_signal(c->efd_tx);
}

/* The next request on c within ms; false if none came. */
static bool recv_req(struct ch *c, struct req *q, int ms)
{
	uint64_t buf[(IC_MSG_MAX + 128) / 8];
	uint64_t t0 = eu_now_ms();
	struct vmb_pkt pkt;
	uint32_t len;
	bool sig;
	int rc;

	while ((rc = vmb_ring_read(&c->in, buf, sizeof(buf), &len, &sig)) ==
	       VMB_EAGAIN) {
		if (eu_now_ms() - t0 > (uint64_t)ms)
			return false;
		eu_wait_event(c->efd_rx, 10);
	}
	EU_CHECK(rc == VMB_OK && vmb_pkt_parse(buf, len, &pkt) == VMB_OK &&
		 pkt.type == VMB_PKT_INBAND && pkt.payload_len <= sizeof(q->p),
		 "%s: bad packet from the host", svcs[c->svc].name);
	if (sig)
		eu_signal(c->efd_tx);
	q->xid = pkt.xid;
	q->len = pkt.payload_len;
	memcpy(q->p, pkt.payload, pkt.payload_len);
	return true;
}

static bool is_refresh(const struct ch *c, const struct req *q)
{
	return c->svc == KVP && q->act.kind == IC_ACT_KVP &&
	       q->act.kvp.op == KVP_OP_ENUMERATE &&
	       q->act.kvp.pool == KVP_POOL_AUTO;
}

/* The engine's good answer to q: status (and kvp data) for the requests
 * the embedder answers. */
static void build(struct ch *c, struct req *q, uint32_t status,
		  const struct kvp_data *kd)
{
	int rc;

	q->alen = 0;
	rc = ic_guest_input(&c->eng, q->p, q->len, &q->act, q->a,
			    sizeof(q->a), &q->alen);
	EU_CHECK(rc == VMB_OK, "%s: engine refused the host's request (%d)",
		 svcs[c->svc].name, rc);
	if (!q->act.reply_pending)
		return;
	if (is_refresh(c, q))
		rc = kvp_guest_reply(&c->eng, IC_E_NO_MORE_ITEMS, NULL, q->a,
				     sizeof(q->a), &q->alen);
	else if (q->act.kind == IC_ACT_SHUTDOWN)
		rc = ic_sd_guest_reply(&c->eng, status, q->a, sizeof(q->a),
				       &q->alen);
	else if (q->act.kind == IC_ACT_KVP)
		rc = kvp_guest_reply(&c->eng, status, kd, q->a, sizeof(q->a),
				     &q->alen);
	else
		rc = vss_guest_reply(&c->eng, status,
				     VSS_HBU_NO_AUTO_RECOVERY, q->a,
				     sizeof(q->a), &q->alen);
	EU_CHECK(rc == VMB_OK && q->alen, "%s: engine answer (%d, op %u)",
		 svcs[c->svc].name, rc, q->act.kvp.op);
}

static void answer(struct ch *c, const struct req *q)
{
	send_pkt(c, q->xid, q->a, q->alen);
	c->last_xid = q->xid;
	c->last_len = q->alen;
	memcpy(c->last, q->a, q->alen);
}

static void answer_raw(struct ch *c, uint64_t xid, const struct req *q)
{
	send_pkt(c, xid, q->a, q->alen);
}

/* The KVP auto pool refresh (ENUMERATE of pool 2) may come at any time:
 * build() answers it as an empty pool, and it is sent at once. */
static bool refresh(struct ch *c, struct req *q)
{
	if (!is_refresh(c, q))
		return false;
	answer(c, q);
	return true;
}

/* The next request of icmsg type want, built with a good answer. */
static struct req *expect_req(struct ch *c, uint16_t want, uint32_t status,
			      const struct kvp_data *kd)
{
	struct req *q = &rq;

	do {
		EU_CHECK(recv_req(c, q, REPLY_MS), "%s: no request from the "
			 "host", svcs[c->svc].name);
		EU_CHECK(get16(q->p, OFF_TYPE) == want, "%s: request type %u, "
			 "want %u", svcs[c->svc].name, get16(q->p, OFF_TYPE),
			 want);
		build(c, q, status, kd);
	} while (refresh(c, q));
	return q;
}

static void no_request(struct ch *c, int ms)
{
	struct req *q = &rq;

	while (recv_req(c, q, ms)) {
		build(c, q, IC_S_OK, NULL);
		EU_CHECK(refresh(c, q), "%s: unexpected request type %u",
			 svcs[c->svc].name, get16(q->p, OFF_TYPE));
	}
}

/* Open, negotiate well: OK. */
static void open_ok(struct eg *e, enum svc k)
{
	struct ch *c = &e->ch[k];

	open_chan(e, c);
	answer(c, expect_req(c, IC_MSG_NEGOTIATE, IC_S_OK, NULL));
	status_is(e, k, "OK");
}

/* ---- negotiation ---- */

/* Answers the host must refuse while keeping NEGOTIATE open: each is
 * counted, none makes the service OK. */
static void negotiate_garbage(struct eg *e)
{
	struct ch *c = &e->ch[HB];
	struct req *q;
	uint8_t junk[16] = { 0 };

	eu_step("negotiate: truncated, size lies, wrong type, wrong id, no "
		"RESPONSE flag, unknown packet ids, not inband");
	open_chan(e, c);
	q = expect_req(c, IC_MSG_NEGOTIATE, IC_S_OK, NULL);
	send_pkt(c, q->xid, q->a, 20);
	put32(q->a, OFF_MSGSIZE, (uint32_t)q->alen);
	answer_raw(c, q->xid, q);
	put32(q->a, OFF_MSGSIZE, (uint32_t)q->alen - 8);
	put16(q->a, OFF_SIZE, (uint16_t)(q->alen - OFF_BODY + 1));
	answer_raw(c, q->xid, q);
	expect_bad(e, HB, VMB_BAD_TRUNCATED, 3);
	put16(q->a, OFF_SIZE, (uint16_t)(q->alen - OFF_BODY));
	put16(q->a, OFF_TYPE, IC_MSG_HEARTBEAT);
	answer_raw(c, q->xid, q);
	expect_bad(e, HB, VMB_BAD_TYPE, 1);
	put16(q->a, OFF_TYPE, IC_MSG_NEGOTIATE);
	q->a[OFF_XID]++;
	answer_raw(c, q->xid, q);
	expect_bad(e, HB, VMB_BAD_XID, 1);
	q->a[OFF_XID]--;
	q->a[OFF_FLAGS] = IC_FLAG_TRANSACTION | IC_FLAG_REQUEST;
	answer_raw(c, q->xid, q);
	expect_bad(e, HB, VMB_BAD_FIELD, 1);
	q->a[OFF_FLAGS] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
	/* The right answer under packet ids never used. */
	answer_raw(c, XID_NEVER, q);
	answer_raw(c, 0, q);
	expect_bad(e, HB, VMB_BAD_XID, 2);
	EU_CHECK(vmb_pkt_send_comp(&c->out, q->xid, junk, sizeof(junk),
				   &(bool){ 0 }) == VMB_OK, "completion");
	eu_signal(c->efd_tx);
	expect_bad(e, HB, VMB_BAD_TYPE, 1);
	status_now(e, HB, "No Contact");

	eu_step("negotiate: no good answer: NEGOTIATE again after the "
		"request timeout");
	EU_CHECK(recv_req(c, &rq, TIMEOUT_MS + REPLY_MS), "no second "
		 "NEGOTIATE");
	EU_CHECK(get16(rq.p, OFF_TYPE) == IC_MSG_NEGOTIATE, "not NEGOTIATE");
	e->want_tmo[HB]++;
	check_counters(e);
	status_now(e, HB, "No Contact");
	build(c, &rq, IC_S_OK, NULL);
	answer(c, &rq);
	status_is(e, HB, "OK");
	close_chan(e, c);
}

/* Garbled answers to NEGOTIATE, kind i of NEG_GARBLED. */
#define NEG_GARBLED 3

static void garble_negotiate(struct req *q, unsigned i)
{
	if (i == 0) {
		put16(q->a, OFF_BODY + 12, 9);
	} else if (i == 1) {
		put16(q->a, OFF_BODY, 2);
		put16(q->a, OFF_BODY + 2, 2);
	} else {
		cut_body(q, 12);
	}
}

/* Answer the next NEGOTIATE with garbled kind i: counted, and the
 * service neither OK nor showing versions. */
static void negotiate_garbled(struct eg *e, unsigned i)
{
	static const char *const what[NEG_GARBLED] = {
		"a message version never offered",
		"counts 2/2 for one pick each",
		"counts 1/1 without the versions" };
	static const enum vmb_bad why[NEG_GARBLED] = {
		VMB_BAD_VERSION, VMB_BAD_FIELD, VMB_BAD_TRUNCATED };
	struct ch *c = &e->ch[HB];
	struct req *q;
	struct row rows[NSVC];

	eu_step("  answer: %s", what[i]);
	q = expect_req(c, IC_MSG_NEGOTIATE, IC_S_OK, NULL);
	garble_negotiate(q, i);
	answer(c, q);
	expect_bad(e, HB, why[i], 1);
	status_now(e, HB, "No Contact");
	read_rows(e, rows);
	EU_CHECK(strcmp(rows[HB].fw, "-") == 0, "versions shown: %s",
		 rows[HB].fw);
}

/* A garbled answer to NEGOTIATE may be a passing fault: the host counts
 * it and proposes again at its next period (200 ms here), three times in
 * all per session. "No common version" ends the session's negotiation at
 * once. No probes on a channel that never negotiated. */
static void negotiate_refused(struct eg *e)
{
	struct ch *c = &e->ch[HB];
	struct req *q;

	eu_step("negotiate: two garbled answers, then a good one");
	open_chan(e, c);
	for (unsigned i = 0; i < NEG_GARBLED - 1; i++)
		negotiate_garbled(e, i);
	answer(c, expect_req(c, IC_MSG_NEGOTIATE, IC_S_OK, NULL));
	status_is(e, HB, "OK");
	close_chan(e, c);

	eu_step("negotiate: three garbled answers: the host gives up");
	open_chan(e, c);
	for (unsigned i = 0; i < NEG_GARBLED; i++)
		negotiate_garbled(e, i);
	no_request(c, 700);
	status_now(e, HB, "No Contact");
	close_chan(e, c);

	eu_step("negotiate: no common version (counts 0/0): final");
	open_chan(e, c);
	q = expect_req(c, IC_MSG_NEGOTIATE, IC_S_OK, NULL);
	put16(q->a, OFF_BODY, 0);
	put16(q->a, OFF_BODY + 2, 0);
	answer(c, q);
	no_request(c, 700);
	status_now(e, HB, "No Contact");
	check_counters(e);
	close_chan(e, c);
}

/* ---- heartbeat ---- */

static void heartbeat(struct eg *e)
{
	struct ch *c = &e->ch[HB];
	struct req *q;
	uint64_t seq;

	eu_step("heartbeat: a good probe answer, then seq + 5");
	open_ok(e, HB);
	answer(c, expect_req(c, IC_MSG_HEARTBEAT, IC_S_OK, NULL));
	status_now(e, HB, "OK");
	q = expect_req(c, IC_MSG_HEARTBEAT, IC_S_OK, NULL);
	seq = get64(q->a, OFF_BODY);
	EU_CHECK(seq == get64(q->p, OFF_BODY) + 1, "engine seq");
	put32(q->a, OFF_BODY, (uint32_t)(seq + 4));
	answer(c, q);
	status_within(e, HB, "Lost Communication", HB_GARBAGE_MS);
	expect_bad(e, HB, VMB_BAD_FIELD, 1);
	answer(c, expect_req(c, IC_MSG_HEARTBEAT, IC_S_OK, NULL));
	status_is(e, HB, "OK");

	eu_step("heartbeat: body shorter than a sequence number");
	q = expect_req(c, IC_MSG_HEARTBEAT, IC_S_OK, NULL);
	cut_body(q, 4);
	answer(c, q);
	status_within(e, HB, "Lost Communication", HB_GARBAGE_MS);
	expect_bad(e, HB, VMB_BAD_TRUNCATED, 1);
	answer(c, expect_req(c, IC_MSG_HEARTBEAT, IC_S_OK, NULL));
	status_is(e, HB, "OK");

	eu_step("heartbeat: an answer again (late), one never asked for");
	send_pkt(c, c->last_xid, c->last, c->last_len);
	e->want_late[HB]++;
	check_counters(e);
	send_pkt(c, XID_NEVER + 1, c->last, c->last_len);
	expect_bad(e, HB, VMB_BAD_XID, 1);

	eu_step("heartbeat: no answers: Lost Communication, then OK again");
	EU_CHECK(recv_req(c, &rq, REPLY_MS), "no probe");
	build(c, &rq, IC_S_OK, NULL);
	status_is(e, HB, "Lost Communication");
	/* The one probe stays open: its answer is the proof of life. */
	no_request(c, 200);
	answer(c, &rq);
	status_is(e, HB, "OK");
	close_chan(e, c);
	status_is(e, HB, "No Contact");
}

/* ---- shutdown ---- */

static void shutdown_svc(struct eg *e)
{
	struct ch *c = &e->ch[SD];
	struct req *q;
	int fd;

	eu_step("shutdown: wrong type, no RESPONSE flag, then silence");
	open_ok(e, SD);
	fd = ctl_start(e, "vm stop --reason evil\n");
	q = expect_req(c, IC_MSG_SHUTDOWN, IC_S_OK, NULL);
	EU_CHECK(strcmp(q->act.sd.message, "evil") == 0, "reason \"%s\"",
		 q->act.sd.message);
	put16(q->a, OFF_TYPE, IC_MSG_TIMESYNC);
	answer_raw(c, q->xid, q);
	put16(q->a, OFF_TYPE, IC_MSG_SHUTDOWN);
	q->a[OFF_FLAGS] = IC_FLAG_TRANSACTION;
	answer_raw(c, q->xid, q);
	ctl_fails(fd, "timed out waiting for the guest",
		  TIMEOUT_MS + REPLY_MS);
	e->want[SD][VMB_BAD_TYPE]++;
	e->want[SD][VMB_BAD_FIELD]++;
	e->want_tmo[SD]++;
	check_counters(e);
	status_now(e, SD, "Lost Communication");

	eu_step("shutdown: a truncated answer, then the good one: accepted");
	fd = ctl_start(e, "vm stop --force\n");
	q = expect_req(c, IC_MSG_SHUTDOWN, IC_S_OK, NULL);
	q->a[OFF_FLAGS] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
	send_pkt(c, q->xid, q->a, 27);
	expect_bad(e, SD, VMB_BAD_TRUNCATED, 1);
	answer(c, q);
	ctl_ok(fd, "Stop-VM: guest accepted shutdown (forced)");
	status_is(e, SD, "OK");
	close_chan(e, c);
}

/* ---- time sync ---- */

static void timesync(struct eg *e)
{
	struct ch *c = &e->ch[TS];
	struct req *q;
	char *r;

	eu_step("timesync: the SYNC answered, a sample answered truncated");
	open_ok(e, TS);
	q = expect_req(c, IC_MSG_TIMESYNC, IC_S_OK, NULL);
	EU_CHECK(q->act.kind == IC_ACT_TIME && q->act.ts.sync, "not a SYNC");
	answer(c, q);
	free(eu_ctl(e->ctl, "vm timesync --skew 0\n"));
	q = expect_req(c, IC_MSG_TIMESYNC, IC_S_OK, NULL);
	send_pkt(c, q->xid, q->a, 12);
	expect_bad(e, TS, VMB_BAD_TRUNCATED, 1);
	eu_step("timesync: no good answer: Lost Communication after the "
		"request timeout");
	eu_sleep_ms(TIMEOUT_MS);
	e->want_tmo[TS]++;
	check_counters(e);
	status_now(e, TS, "Lost Communication");
	eu_step("timesync: an answer to a sample never sent");
	send_pkt(c, XID_NEVER, q->a, q->alen);
	expect_bad(e, TS, VMB_BAD_XID, 1);
	r = eu_ctl(e->ctl, "vm timesync --skew 0\n");
	free(r);
	answer(c, expect_req(c, IC_MSG_TIMESYNC, IC_S_OK, NULL));
	status_is(e, TS, "OK");
	close_chan(e, c);
}

/* ---- KVP ---- */

static void kvp_value(struct kvp_data *kd, const char *v)
{
	memset(kd, 0, sizeof(*kd));
	kd->value_type = KVP_REG_SZ;
	snprintf(kd->value, sizeof(kd->value), "%s", v);
}

/* `kvp get Color` answered with one thing broken. */
static void kvp_bad_get(struct eg *e, const char *what, enum vmb_bad why,
			const char *err)
{
	static struct kvp_data kd;
	struct ch *c = &e->ch[KVP];
	struct req *q;
	int fd;

	eu_step("kvp get: %s", what);
	kvp_value(&kd, "blue");
	fd = ctl_start(e, "kvp get Color\n");
	q = expect_req(c, IC_MSG_KVP, IC_S_OK, &kd);
	EU_CHECK(q->act.kvp.op == KVP_OP_GET && q->act.kvp.pool == 0 &&
		 strcmp(q->act.kvp.key, "Color") == 0, "not the GET asked");
	if (strcmp(what, "unpaired UTF-16 surrogate") == 0) {
		put16(q->a, KVP_VALUE, 0xd800);
		put16(q->a, KVP_VALUE + 2, 0);
		put32(q->a, KVP_VALUE_SIZE, 4);
	} else if (strcmp(what, "value size past its field") == 0) {
		put32(q->a, KVP_VALUE_SIZE, 5000);
	} else if (strcmp(what, "another pool") == 0) {
		q->a[OFF_BODY + 1] = KVP_POOL_AUTO_EXTERNAL;
	} else if (strcmp(what, "another operation") == 0) {
		q->a[OFF_BODY] = KVP_OP_SET;
	} else {
		cut_body(q, 100);
	}
	answer(c, q);
	ctl_fails(fd, err, REPLY_MS);
	expect_bad(e, KVP, why, 1);
	status_now(e, KVP, "Lost Communication");
}

static void kvp_ip(struct eg *e, const char *what, const char *err)
{
	static struct kvp_data kd;
	struct ch *c = &e->ch[KVP];
	struct req *q;
	int fd;

	eu_step("kvp ip get: %s", what);
	memset(&kd, 0, sizeof(kd));
	snprintf(kd.ip.adapter_id, sizeof(kd.ip.adapter_id), "%s",
		 "00:15:5D:00:00:01");
	kd.ip.family = KVP_FAMILY_BOTH;
	kd.ip.n_ipv6 = 1;
	kd.ip.ipv6[0][0] = 0xfe;
	kd.ip.ipv6[0][1] = 0x80;
	kd.ip.ipv6_prefix[0] = 64;
	fd = ctl_start(e, "kvp ip get 00:15:5D:00:00:01\n");
	q = expect_req(c, IC_MSG_KVP, IC_S_OK, &kd);
	EU_CHECK(q->act.kvp.op == KVP_OP_GET_IP_INFO, "not GET_IP_INFO");
	if (!err) {
		answer(c, q);
		ctl_ok(fd, "Address:  fe80::/64");
		status_is(e, KVP, "OK");
		return;
	}
	if (strstr(what, "adapter"))
		put16(q->a, KVP_IP(adapter_id), 'X');
	else if (strstr(what, "prefix"))
		put32(q->a, KVP_IP(ipv6_prefix), 200);
	else
		put32(q->a, KVP_IP(n_ipv4), 1000);
	answer(c, q);
	ctl_fails(fd, err, REPLY_MS);
	expect_bad(e, KVP, VMB_BAD_FIELD, 1);
	status_now(e, KVP, "Lost Communication");
}

/* Message 4.0: IP information in the UTF-16 string form, where the
 * guest's text must still be nothing but addresses. */
static void kvp_ip_strings(struct eg *e)
{
	static const char *const addrs[] = {
		"192.0.2.10;2001:db8::10", "192.0.2.10\nok\nX: 1",
		"192.0.2.10;2001:db8::10" };
	static const char *const subnets[] = {
		"255.255.255.0;/64", "255.255.255.0", "255.255.255.0" };
	static struct kvp_data kd;
	struct ch *c = &e->ch[KVP];
	struct req *q;
	struct row rows[NSVC];
	int fd;

	eu_step("kvp: negotiated at message 4.0 (string IP form)");
	close_chan(e, c);
	open_chan(e, c);
	q = expect_req(c, IC_MSG_NEGOTIATE, IC_S_OK, NULL);
	put16(q->a, OFF_BODY + 12, 4);
	put16(q->a, OFF_BODY + 14, 0);
	/* The engine picked 5.0; it builds what 4.0 sends from now on. */
	c->eng.msg = (struct ic_ver){ 4, 0 };
	answer(c, q);
	status_is(e, KVP, "OK");
	read_rows(e, rows);
	EU_CHECK(strcmp(rows[KVP].msg, "4.0") == 0, "KVP message version %s",
		 rows[KVP].msg);
	for (unsigned i = 0; i < 3; i++) {
		eu_step("kvp ip get (4.0): %s", i == 0 ? "the good answer"
			: i == 1 ? "a newline in the address list"
			: "an address without its subnet");
		memset(&kd, 0, sizeof(kd));
		snprintf(kd.ip.adapter_id, sizeof(kd.ip.adapter_id),
			 "00:15:5D:00:00:01");
		kd.ip.family = KVP_FAMILY_BOTH;
		snprintf(kd.ip.ip_addr, sizeof(kd.ip.ip_addr), "%s", addrs[i]);
		snprintf(kd.ip.subnet, sizeof(kd.ip.subnet), "%s", subnets[i]);
		snprintf(kd.ip.gateway, sizeof(kd.ip.gateway), "192.0.2.1;");
		snprintf(kd.ip.dns, sizeof(kd.ip.dns), "192.0.2.53;");
		fd = ctl_start(e, "kvp ip get 00:15:5D:00:00:01\n");
		answer(c, expect_req(c, IC_MSG_KVP, IC_S_OK, &kd));
		if (i == 0) {
			ctl_ok(fd, "Address:  192.0.2.10/24\nAddress:  "
			       "2001:db8::10/64\nGateway:  192.0.2.1\n"
			       "DNS:      192.0.2.53\n");
			status_is(e, KVP, "OK");
			continue;
		}
		ctl_fails(fd, "not an address", REPLY_MS);
		expect_bad(e, KVP, VMB_BAD_FIELD, 1);
		status_now(e, KVP, "Lost Communication");
	}
}

/* The auto pool refresh after the negotiation, answered with more items
 * than the host keeps for `vm show`, which must still work. */
static void kvp_big_auto_pool(struct eg *e)
{
	static struct kvp_data kd;
	struct ch *c = &e->ch[KVP];
	struct req *q = &rq;

	eu_step("kvp: an auto pool of 40 items, then vm show");
	for (uint32_t i = 0;; i++) {
		EU_CHECK(recv_req(c, q, REPLY_MS), "kvp: no auto pool refresh");
		q->alen = 0;
		EU_CHECK(ic_guest_input(&c->eng, q->p, q->len, &q->act, q->a,
					sizeof(q->a), &q->alen) == VMB_OK &&
			 is_refresh(c, q) && q->act.kvp.index == i,
			 "kvp: not the auto pool refresh, index %u", i);
		kvp_value(&kd, i ? "x" : "EvilOS");
		snprintf(kd.key, sizeof(kd.key), i ? "Key%u" : "OSName", i);
		kd.pool = KVP_POOL_AUTO;
		EU_CHECK(kvp_guest_reply(&c->eng, i < 40 ? IC_S_OK
					 : IC_E_NO_MORE_ITEMS, &kd, q->a,
					 sizeof(q->a), &q->alen) == VMB_OK,
			 "kvp: engine answer");
		answer(c, q);
		if (i == 40)
			break;
	}
	/* Until the host has taken the end of the list. */
	for (uint64_t t0 = eu_now_ms();; eu_sleep_ms(10)) {
		char *r = eu_ctl(e->ctl, "vm show\n");
		bool done = strncmp(r, "ok\n", 3) == 0 &&
			    !strstr(r, "not read yet");

		EU_CHECK(!done || strstr(r, "EvilOS"), "vm show: %s", r);
		free(r);
		if (done)
			break;
		EU_CHECK(eu_now_ms() - t0 < REPLY_MS, "auto pool not read");
	}
}

static void kvp(struct eg *e)
{
	static struct kvp_data kd;
	struct ch *c = &e->ch[KVP];
	struct req *q;
	int fd;

	open_ok(e, KVP);
	kvp_big_auto_pool(e);
	kvp_bad_get(e, "unpaired UTF-16 surrogate", VMB_BAD_FIELD,
		    "kvp get: malformed answer from the guest");
	kvp_bad_get(e, "value size past its field", VMB_BAD_FIELD,
		    "kvp get: malformed answer from the guest");
	kvp_bad_get(e, "another pool", VMB_BAD_FIELD,
		    "the guest answered for pool 3, asked pool 0");
	kvp_bad_get(e, "another operation", VMB_BAD_FIELD,
		    "kvp get: malformed answer from the guest");
	kvp_bad_get(e, "body shorter than a value", VMB_BAD_TRUNCATED,
		    "kvp get: malformed answer from the guest");

	eu_step("kvp get: the good answer: OK again");
	kvp_value(&kd, "blue");
	fd = ctl_start(e, "kvp get Color\n");
	answer(c, expect_req(c, IC_MSG_KVP, IC_S_OK, &kd));
	ctl_ok(fd, "ok\nblue\n");
	status_is(e, KVP, "OK");

	kvp_ip(e, "another adapter's address", "answered for another adapter");
	kvp_ip(e, "the good answer", NULL);
	kvp_ip(e, "IPv6 prefix 200", "not an address");
	kvp_ip(e, "1000 IPv4 addresses", "malformed answer from the guest");
	kvp_ip_strings(e);

	eu_step("kvp list: the second item from another pool");
	fd = ctl_start(e, "kvp list\n");
	kvp_value(&kd, "v");
	snprintf(kd.key, sizeof(kd.key), "k");
	answer(c, expect_req(c, IC_MSG_KVP, IC_S_OK, &kd));
	q = expect_req(c, IC_MSG_KVP, IC_S_OK, &kd);
	EU_CHECK(q->act.kvp.op == KVP_OP_ENUMERATE && q->act.kvp.index == 1,
		 "not ENUMERATE 1");
	q->a[OFF_BODY + 1] = KVP_POOL_GUEST;
	answer(c, q);
	ctl_fails(fd, "kvp list: the guest answered for pool 1", REPLY_MS);
	expect_bad(e, KVP, VMB_BAD_FIELD, 1);

	eu_step("kvp get: 65 at once, the guest slow: the host queues 64");
	int many[65]; /* HIC_JOBS_MAX + 1 */
	for (unsigned i = 0; i < 65; i++)
		many[i] = eu_ctl_send(e->ctl, "kvp get Color\n");
	ctl_fails(many[64], "too many requests waiting for the guest",
		  REPLY_MS);
	kvp_value(&kd, "blue");
	for (unsigned i = 0; i < 64; i++) {
		answer(c, expect_req(c, IC_MSG_KVP, IC_S_OK, &kd));
		ctl_ok(many[i], "ok\nblue\n");
	}

	eu_step("kvp get: no answer at all");
	fd = ctl_start(e, "kvp get Color\n");
	expect_req(c, IC_MSG_KVP, IC_S_OK, &kd);
	ctl_fails(fd, "timed out waiting for the guest",
		  TIMEOUT_MS + REPLY_MS);
	e->want_tmo[KVP]++;
	check_counters(e);
	status_now(e, KVP, "Lost Communication");
	close_chan(e, c);
}

/* ---- VSS ---- */

static void vss(struct eg *e)
{
	struct ch *c = &e->ch[VSS];
	struct req *q;
	int fd;

	open_ok(e, VSS);
	eu_step("vss: HOT_BACKUP answered as FREEZE");
	fd = ctl_start(e, "vm backup\n");
	q = expect_req(c, IC_MSG_VSS, IC_S_OK, NULL);
	EU_CHECK(q->act.vss.op == VSS_OP_HOT_BACKUP, "not HOT_BACKUP first");
	q->a[OFF_BODY] = VSS_OP_FREEZE;
	answer(c, q);
	ctl_fails(fd, "guest cannot take part in a backup: malformed answer",
		  REPLY_MS);
	expect_bad(e, VSS, VMB_BAD_FIELD, 1);
	status_now(e, VSS, "Lost Communication");
	no_request(c, 100);

	eu_step("vss: FREEZE answered as THAW: the host thaws, reports it");
	fd = ctl_start(e, "vm backup\n");
	answer(c, expect_req(c, IC_MSG_VSS, IC_S_OK, NULL));
	q = expect_req(c, IC_MSG_VSS, IC_S_OK, NULL);
	EU_CHECK(q->act.vss.op == VSS_OP_FREEZE, "not FREEZE second");
	q->a[OFF_BODY] = VSS_OP_THAW;
	answer(c, q);
	q = expect_req(c, IC_MSG_VSS, IC_S_OK, NULL);
	EU_CHECK(q->act.vss.op == VSS_OP_THAW, "no THAW after a bad FREEZE");
	answer(c, q);
	ctl_fails(fd, "guest failed to freeze: malformed answer", REPLY_MS);
	expect_bad(e, VSS, VMB_BAD_FIELD, 1);

	eu_step("vss: THAW answered with the wrong type, then nothing");
	fd = ctl_start(e, "vm backup\n");
	answer(c, expect_req(c, IC_MSG_VSS, IC_S_OK, NULL));
	answer(c, expect_req(c, IC_MSG_VSS, IC_S_OK, NULL));
	q = expect_req(c, IC_MSG_VSS, IC_S_OK, NULL);
	EU_CHECK(q->act.vss.op == VSS_OP_THAW, "not THAW third");
	put16(q->a, OFF_TYPE, IC_MSG_KVP);
	answer_raw(c, q->xid, q);
	ctl_fails(fd, "guest failed to thaw: no answer from the guest",
		  TIMEOUT_MS + REPLY_MS);
	e->want[VSS][VMB_BAD_TYPE]++;
	e->want_tmo[VSS]++;
	check_counters(e);
	status_now(e, VSS, "Lost Communication");

	eu_step("vss: a THAW answer nobody asked for, then a good backup");
	put16(q->a, OFF_TYPE, IC_MSG_VSS);
	answer_raw(c, XID_NEVER, q);
	expect_bad(e, VSS, VMB_BAD_XID, 1);
	fd = ctl_start(e, "vm backup\n");
	for (unsigned i = 0; i < 3; i++)
		answer(c, expect_req(c, IC_MSG_VSS, IC_S_OK, NULL));
	ctl_ok(fd, "Backup: guest froze its file systems (reported OK), no "
	       "snapshot command, guest thawed");
	status_is(e, VSS, "OK");
	close_chan(e, c);
}

/* ---- the control socket ---- */

/* A client that sends its request a byte at a time must not hold the
 * host's loop thread: another client is answered meanwhile. A line
 * longer than the host takes is refused, not cut short and run. */
static void ctl_clients(struct eg *e)
{
	static char big[9000];
	uint64_t t0, after = 0;
	bool answered = false;
	int slow, fd;

	eu_step("control: a request trickled a byte every 250 ms");
	slow = eu_ctl_send(e->ctl, "v");
	fd = eu_ctl_send(e->ctl, "vm services\n");
	t0 = eu_now_ms();
	/* An answer within the first millisecond is one too. */
	for (unsigned i = 0; i < 12 && !answered; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		send(slow, "m", 1, MSG_NOSIGNAL);
		answered = poll(&p, 1, 250) > 0;
		after = eu_now_ms() - t0;
	}
	EU_CHECK(answered && after < 2000, "the host served nobody while "
		 "a client trickled (%s after %llu ms)",
		 answered ? "answered" : "no answer",
		 (unsigned long long)after);
	ctl_ok(fd, "Heartbeat");
	close(slow);

	eu_step("control: a request line of %zu bytes", sizeof(big) - 1);
	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	ctl_fails(eu_ctl_send(e->ctl, big), "request longer than", REPLY_MS);
}

int main(int argc, char **argv)
{
	struct eg e = { .sock = -1 };

	if (argc != 3) {
		fprintf(stderr, "usage: evil_ic_guest VMBUS_SOCK CTL_SOCK\n");
		return 2;
	}
	e.vmbus = argv[1];
	e.ctl = argv[2];
	EU_CHECK(rt_gmem_create(&e.gmem, GMEM_SIZE) == 0, "guest memory");
	connect_vmbus(&e);
	take_offers(&e);
	for (unsigned k = 0; k < NSVC; k++)
		make_rings(&e, &e.ch[k]);
	negotiate_garbage(&e);
	negotiate_refused(&e);
	heartbeat(&e);
	shutdown_svc(&e);
	timesync(&e);
	kvp(&e);
	vss(&e);
	ctl_clients(&e);
	check_counters(&e);
	close(e.sock);
	for (unsigned k = 0; k < NSVC; k++) {
		close(e.ch[k].efd_tx);
		close(e.ch[k].efd_rx);
		rt_gmem_free(&e.gmem, e.ch[k].ring, 2 * RING_PAGES);
	}
	rt_gmem_destroy(&e.gmem);
	fprintf(stderr, "evil_ic_guest: host survived every step\n");
	return 0;
}
