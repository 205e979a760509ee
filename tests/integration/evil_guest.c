/* A hostile guest against a real hvis-host: broken frames, broken
 * channel messages and corrupted rings, each followed by a look at the
 * host's counters through its control socket (hvis-ctl's "vm show").
 * Every counter must move by exactly what the step provoked, every reply
 * the protocol has must come (and none other), and the host must keep
 * serving: no crash, no descriptor leak, no spinning worker.
 *
 *   evil_guest VMBUS_SOCK CTL_SOCK [flood]
 *
 * flood: after the handshake, send requests without end and never read
 * an answer; the host must keep answering hvis-ctl within a second, drop
 * this guest once its queue for it is full, and count it.
 *
 * The host runs with --test-devices 2 --subchannels 0 (relids 1 and 2).
 * Exit 0 if the host passed every step. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "evil_util.h"
#include "rt_gmem.h"
#include "testdev/tdev.h"
#include "vmbus/vmb_msg.h"
#include "vmbus/vmb_pkt.h"
#include "vmbus/vmb_server.h"

#define GMEM_SIZE (16u << 20)
#define RING_PAGES 4u /* each direction, header page included */
#define RING_GPADL 7u
#define REPLY_MS 3000
/* A host worker may use this share of one CPU while a broken channel is
 * hammered with signals (it should use none). */
#define CPU_SHARE_MAX 0.3

/* The counters of "vm show", in its order. */
enum ctr {
	C_TRUNCATED, C_OVERSIZE, C_TYPE, C_STATE, C_RELID, C_GPADL, C_XID,
	C_VERSION, C_FIELD, C_RING, C_TRANSPORT, C_REFUSED, C_CORRUPT,
	C_STALLED, C_BUFREF, C__N
};

static const char *const ctr_names[C__N] = {
	"truncated", "oversize", "bad-type", "bad-state", "bad-relid",
	"bad-gpadl", "bad-xid", "bad-version", "bad-field", "bad-ring",
	"transport", "gpadl-refused", "ring-corrupt", "not-reading",
	"buffer-refused",
};

struct eg {
	const char *vmbus, *ctl;
	int sock;
	pid_t host;
	struct rt_gmem gmem;
	uint32_t conn;       /* message connection id from VERSION_RESPONSE */
	int efd[3][2];       /* by relid: [0] we signal, [1] host signals */
	uint8_t *ring;       /* 2 * RING_PAGES, outbound first */
	struct vmb_ring out, in;
	uint64_t want[C__N]; /* counters as they must be */
};

/* ---- the host's counters ---- */

static char *ctl_request(const char *path, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = 0, cap = 8192;
	char *buf = malloc(cap);
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	EU_CHECK(buf && fd >= 0, "control socket: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	EU_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		 "host control socket gone (host dead?): %s", strerror(errno));
	EU_CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req),
		 "control request");
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	EU_CHECK(strncmp(buf, "ok\n", 3) == 0, "control reply: %s", buf);
	return buf;
}

/* Read every counter and the Errors total. */
static void read_counters(const struct eg *e, uint64_t got[C__N],
			  uint64_t *total)
{
	char *reply = ctl_request(e->ctl, "vm show\n"), *save = NULL;
	unsigned seen = 0;
	bool have_total = false;

	for (char *l = strtok_r(reply, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char name[32];
		unsigned long long v;

		if (sscanf(l, "Errors: %llu", &v) == 1) {
			*total = v;
			have_total = true;
			continue;
		}
		if (sscanf(l, " %31s %llu", name, &v) != 2)
			continue;
		for (unsigned i = 0; i < C__N; i++) {
			if (strcmp(name, ctr_names[i]) == 0) {
				got[i] = v;
				seen++;
			}
		}
	}
	free(reply);
	EU_CHECK(seen == C__N && have_total, "vm show lacks counters");
}

/* Wait until the host has counted exactly what it must: every counter
 * equal to want (none above), the total their sum. */
static void check_counters(struct eg *e)
{
	uint64_t got[C__N], total = 0, sum = 0, t0 = eu_now_ms();
	bool same;

	for (unsigned i = 0; i < C__N; i++)
		sum += e->want[i];
	do {
		read_counters(e, got, &total);
		same = total == sum;
		for (unsigned i = 0; i < C__N; i++) {
			EU_CHECK(got[i] <= e->want[i],
				 "host counted %llu %s, want %llu",
				 (unsigned long long)got[i], ctr_names[i],
				 (unsigned long long)e->want[i]);
			same = same && got[i] == e->want[i];
		}
		if (!same)
			eu_sleep_ms(10);
	} while (!same && eu_now_ms() - t0 < REPLY_MS);
	for (unsigned i = 0; i < C__N && !same; i++)
		EU_CHECK(got[i] == e->want[i],
			 "host counted %llu %s, want %llu",
			 (unsigned long long)got[i], ctr_names[i],
			 (unsigned long long)e->want[i]);
	EU_CHECK(same, "Errors total %llu, want %llu",
		 (unsigned long long)total, (unsigned long long)sum);
}

static void expect_count(struct eg *e, enum ctr c, unsigned n)
{
	e->want[c] += n;
	check_counters(e);
}

/* ---- messages ---- */

static void post_to(struct eg *e, uint32_t conn, const void *msg,
		    uint32_t len)
{
	int rc = rt_xport_send(e->sock, RT_FRAME_MSG, conn, msg, len, NULL, 0);

	EU_CHECK(rc == 0, "send: %s", strerror(-rc));
}

static void post(struct eg *e, const union vmb_msg_buf *b, uint32_t len)
{
	EU_CHECK(len, "message encoding refused");
	post_to(e, e->conn, b->raw, len);
}

/* The next message from the host, of type want; descriptors that came
 * with it stay in *f for the caller. */
static void expect_frame(struct eg *e, uint32_t want, union vmb_msg_buf *m,
			 struct rt_frame *f)
{
	enum vmb_bad why;
	int rc = eu_recv(e->sock, REPLY_MS, f), type;

	EU_CHECK(rc == 0, "no %s from the host: %s",
		 vmb_msg_type_name(want), strerror(-rc));
	EU_CHECK(vmb_le16(f->hdr.type) == RT_FRAME_MSG &&
		 vmb_le32(f->hdr.conn_id) == VMB_MSG_SINT,
		 "frame type %u on SINT %u", vmb_le16(f->hdr.type),
		 vmb_le32(f->hdr.conn_id));
	type = vmb_msg_parse(m, f->payload, vmb_le32(f->hdr.len), &why);
	EU_CHECK(type == (int)want, "got %s, want %s",
		 type > 0 ? vmb_msg_type_name((uint32_t)type) : "garbage",
		 vmb_msg_type_name(want));
}

static void expect_msg(struct eg *e, uint32_t want, union vmb_msg_buf *m)
{
	struct rt_frame f;

	expect_frame(e, want, m, &f);
	EU_CHECK(f.nfds == 0, "%s came with %u descriptors",
		 vmb_msg_type_name(want), f.nfds);
}

/* Nothing more from the host (call once its counters settled). */
static void expect_quiet(struct eg *e)
{
	struct rt_frame f;
	int rc = eu_recv(e->sock, 30, &f);

	if (rc == 0)
		eu_frame_close(&f);
	EU_CHECK(rc == -ETIMEDOUT, "unexpected frame from the host "
		 "(type %u, message %u)", vmb_le16(f.hdr.type),
		 vmb_le32(*(uint32_t *)f.payload));
}

static void expect_gpadl_created(struct eg *e, uint32_t relid, uint32_t id,
				 bool ok)
{
	union vmb_msg_buf m;

	expect_msg(e, VMB_MSG_GPADL_CREATED, &m);
	EU_CHECK(vmb_le32(m.gpadl_created.child_relid) == relid &&
		 vmb_le32(m.gpadl_created.gpadl) == id,
		 "GPADL_CREATED for relid %u gpadl %u, want %u/%u",
		 vmb_le32(m.gpadl_created.child_relid),
		 vmb_le32(m.gpadl_created.gpadl), relid, id);
	EU_CHECK((vmb_le32(m.gpadl_created.status) == 0) == ok,
		 "GPADL %u: status %#x, want %s", id,
		 vmb_le32(m.gpadl_created.status), ok ? "success" : "failure");
}

static void expect_open_result(struct eg *e, uint32_t relid,
			       uint32_t open_id, bool ok)
{
	union vmb_msg_buf m;

	expect_msg(e, VMB_MSG_OPENCHANNEL_RESULT, &m);
	EU_CHECK(vmb_le32(m.open_result.child_relid) == relid &&
		 vmb_le32(m.open_result.open_id) == open_id,
		 "OPEN_RESULT for relid %u open id %u, want %u/%u",
		 vmb_le32(m.open_result.child_relid),
		 vmb_le32(m.open_result.open_id), relid, open_id);
	EU_CHECK((vmb_le32(m.open_result.status) == 0) == ok,
		 "open %u: status %#x, want %s", open_id,
		 vmb_le32(m.open_result.status), ok ? "success" : "failure");
}

/* GPADL_HEADER of one range of byte_count bytes, range_buflen buflen,
 * carrying n PFNs: any of them may disagree with the others. */
static uint32_t gpadl_header(union vmb_msg_buf *b, uint32_t relid,
			     uint32_t id, uint32_t buflen, uint32_t byte_count,
			     const uint64_t *pfn, uint32_t n)
{
	struct vmb_wire_gpa_range r = { vmb_le32(byte_count), 0 };
	uint32_t at = sizeof(struct vmb_msg_gpadl_header);

	memset(b, 0, sizeof(*b));
	b->gpadl_header.hdr.type = vmb_le32(VMB_MSG_GPADL_HEADER);
	b->gpadl_header.child_relid = vmb_le32(relid);
	b->gpadl_header.gpadl = vmb_le32(id);
	b->gpadl_header.range_buflen = vmb_le16((uint16_t)buflen);
	b->gpadl_header.range_count = vmb_le16(1);
	memcpy(b->raw + at, &r, sizeof(r));
	at += sizeof(r);
	for (uint32_t i = 0; i < n; i++, at += 8) {
		uint64_t v = vmb_le64(pfn[i]);

		memcpy(b->raw + at, &v, 8);
	}
	return at;
}

static uint32_t open_msg(union vmb_msg_buf *b, uint32_t relid,
			 uint32_t open_id, uint32_t gpadl, uint32_t pgoff)
{
	return vmb_msg_enc_open(b, relid, open_id, gpadl, 0, pgoff, NULL, 0);
}

/* ---- transport ---- */

static void send_memory(struct eg *e)
{
	struct rt_frame_memory m = {
		.version = vmb_le32(RT_XPORT_VERSION),
		.size = vmb_le64(e->gmem.size),
	};
	int rc = rt_xport_send(e->sock, RT_FRAME_MEMORY, 0, &m, sizeof(m),
			       &e->gmem.fd, 1);

	EU_CHECK(rc == 0, "memory frame: %s", strerror(-rc));
}

static void attach(struct eg *e)
{
	e->sock = rt_xport_connect(e->vmbus);
	EU_CHECK(e->sock >= 0, "connect %s: %s", e->vmbus, strerror(-e->sock));
	e->host = eu_peer_pid(e->sock);
	EU_CHECK(e->host > 0, "host pid unknown");
	/* Descriptor counts taken from here on must include the host's end
	 * of this connection: wait until its loop has accepted it. */
	for (uint64_t t0 = eu_now_ms();; eu_sleep_ms(10)) {
		char *r = ctl_request(e->ctl, "vm show\n");
		bool in = strstr(r, "Off (waiting for a guest)") == NULL;

		free(r);
		if (in)
			break;
		EU_CHECK(eu_now_ms() - t0 < REPLY_MS, "host never accepted");
	}
}

static void send_hdr_frame(struct eg *e, uint32_t magic, uint16_t type,
			   uint16_t nfds_claimed, uint32_t len_claimed,
			   uint32_t len, const int *fds, unsigned nfds)
{
	uint8_t buf[sizeof(struct rt_frame_hdr) + 400];
	union vmb_msg_buf b;
	int rc;

	memset(buf, 0, sizeof(buf));
	eu_hdr((struct rt_frame_hdr *)buf, magic, type, nfds_claimed,
	       VMB_MSG_CONNECTION_ID_4, len_claimed);
	vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS);
	memcpy(buf + sizeof(struct rt_frame_hdr), b.raw, 8);
	rc = eu_send_raw(e->sock, buf, sizeof(struct rt_frame_hdr) + len, fds,
			 nfds);
	EU_CHECK(rc == 0, "raw send: %s", strerror(-rc));
}

/* Malformed frames, before and after the memory frame. None may cost
 * the host a descriptor or the connection. */
static void bad_frames(struct eg *e)
{
	int fds[5], before = eu_fd_count(e->host);

	for (unsigned i = 0; i < 5; i++)
		fds[i] = eu_eventfd();
	eu_step("frames: bad magic, length mismatch, descriptor count lies, "
		"too many descriptors, oversize, short, unknown type, "
		"message before memory");
	send_hdr_frame(e, 0x12345678, RT_FRAME_MSG, 0, 8, 8, NULL, 0);
	send_hdr_frame(e, RT_XPORT_MAGIC, RT_FRAME_MSG, 0, 20, 8, NULL, 0);
	send_hdr_frame(e, RT_XPORT_MAGIC, RT_FRAME_MSG, 1, 8, 8, NULL, 0);
	send_hdr_frame(e, RT_XPORT_MAGIC, RT_FRAME_MSG, 0, 8, 8, fds, 2);
	send_hdr_frame(e, RT_XPORT_MAGIC, RT_FRAME_MSG, 5, 8, 8, fds, 5);
	send_hdr_frame(e, RT_XPORT_MAGIC, RT_FRAME_MSG, 0, 300, 300, NULL, 0);
	EU_CHECK(eu_send_raw(e->sock, "HVIS\2\0", 6, NULL, 0) == 0, "send");
	send_hdr_frame(e, RT_XPORT_MAGIC, 9, 0, 8, 8, NULL, 0);
	send_hdr_frame(e, RT_XPORT_MAGIC, RT_FRAME_MSG, 0, 8, 8, NULL, 0);
	expect_count(e, C_TRANSPORT, 9);
	EU_CHECK(eu_fd_count(e->host) == before,
		 "host holds %d descriptors, had %d", eu_fd_count(e->host),
		 before);

	send_memory(e);
	/* The memory is the host's to map; wait until it has. */
	for (uint64_t t0 = eu_now_ms(); eu_now_ms() - t0 < REPLY_MS;) {
		char *r = ctl_request(e->ctl, "vm show\n");
		bool mapped = strstr(r, "Guest memory:    16 MiB") != NULL;

		free(r);
		if (mapped)
			break;
		eu_sleep_ms(10);
	}
	before = eu_fd_count(e->host);
	eu_step("frames: descriptors on a message frame");
	send_hdr_frame(e, RT_XPORT_MAGIC, RT_FRAME_MSG, 3, 8, 8, fds, 3);
	expect_count(e, C_TRANSPORT, 1);
	EU_CHECK(eu_fd_count(e->host) == before,
		 "host holds %d descriptors after fds on a message, had %d",
		 eu_fd_count(e->host), before);
	for (unsigned i = 0; i < 5; i++)
		close(fds[i]);
}

/* ---- negotiation ---- */

static uint32_t contact(union vmb_msg_buf *b, uint32_t version)
{
	return vmb_msg_enc_initiate_contact(b, version, 0, 0, 0, 0);
}

static void expect_version(struct eg *e, bool ok)
{
	union vmb_msg_buf m;

	expect_msg(e, VMB_MSG_VERSION_RESPONSE, &m);
	EU_CHECK(!!m.version_response.version_supported == ok,
		 "VERSION_RESPONSE %s, want %s",
		 m.version_response.version_supported ? "yes" : "no",
		 ok ? "yes" : "no");
	if (ok)
		e->conn = vmb_le32(m.version_response.msg_conn_id);
}

static void negotiate(struct eg *e)
{
	union vmb_msg_buf b;
	uint32_t len;

	eu_step("negotiation: request before contact");
	post_to(e, VMB_MSG_CONNECTION_ID_4, b.raw,
		vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS));
	expect_count(e, C_STATE, 1);

	eu_step("negotiation: 5.3 contact on the pre-5.0 connection id");
	post_to(e, VMB_MSG_CONNECTION_ID, b.raw,
		contact(&b, VMB_VERSION_WIN10_V5_3));
	expect_version(e, false);
	expect_count(e, C_VERSION, 1);

	eu_step("negotiation: contact naming SINT 5");
	len = contact(&b, VMB_VERSION_WIN10_V5_3);
	b.initiate_contact.msg_sint = 5;
	post_to(e, VMB_MSG_CONNECTION_ID_4, b.raw, len);
	expect_version(e, false);
	expect_count(e, C_FIELD, 1);

	eu_step("negotiation: 5.3");
	post_to(e, VMB_MSG_CONNECTION_ID_4, b.raw,
		contact(&b, VMB_VERSION_WIN10_V5_3));
	expect_version(e, true);
	EU_CHECK(e->conn == VMB_MSG_REDIRECT_CONNECTION_ID,
		 "message connection id %#x", e->conn);

	eu_step("negotiation: second contact");
	post_to(e, VMB_MSG_CONNECTION_ID_4, b.raw,
		contact(&b, VMB_VERSION_WIN10_V5_3));
	expect_version(e, false);
	expect_count(e, C_STATE, 1);

	eu_step("negotiation: request on the wrong connection id");
	post_to(e, VMB_MSG_CONNECTION_ID_4, b.raw,
		vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS));
	expect_count(e, C_VERSION, 1);
	expect_quiet(e);
}

static void request_offers(struct eg *e)
{
	struct vmb_guid test;
	union vmb_msg_buf b, m;
	struct rt_frame f;

	eu_step("offers");
	vmb_guid_parse(&test, TDEV_CLASS_GUID);
	post(e, &b, vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS));
	for (uint32_t relid = 1; relid <= 2; relid++) {
		expect_frame(e, VMB_MSG_OFFERCHANNEL, &m, &f);
		EU_CHECK(vmb_le32(m.offer.child_relid) == relid &&
			 vmb_guid_eq(&m.offer.offer.if_type, &test),
			 "offer of relid %u", vmb_le32(m.offer.child_relid));
		EU_CHECK(f.nfds == 2, "offer with %u descriptors", f.nfds);
		e->efd[relid][0] = f.fds[0];
		e->efd[relid][1] = f.fds[1];
	}
	expect_msg(e, VMB_MSG_ALLOFFERS_DELIVERED, &m);
}

/* ---- channel messages ---- */

static void bad_messages(struct eg *e)
{
	static const uint32_t unknown[] = { 0, 25, 26, 0xffffffffu };
	union vmb_msg_buf b;

	eu_step("messages: truncated");
	open_msg(&b, 1, 1, RING_GPADL, RING_PAGES);
	post(e, &b, 12);
	post(e, &b, 4);
	expect_count(e, C_TRUNCATED, 2);

	eu_step("messages: unknown types and host->guest types");
	for (unsigned i = 0; i < VMB_ARRAY_LEN(unknown); i++) {
		memset(&b, 0, sizeof(b));
		b.hdr.type = vmb_le32(unknown[i]);
		post(e, &b, 64);
	}
	memset(&b, 0, sizeof(b));
	b.hdr.type = vmb_le32(VMB_MSG_OFFERCHANNEL);
	post(e, &b, sizeof(struct vmb_msg_offer));
	b.hdr.type = vmb_le32(VMB_MSG_GPADL_CREATED);
	post(e, &b, sizeof(struct vmb_msg_gpadl_created));
	post(e, &b, vmb_msg_enc_relid(&b, VMB_MSG_CLOSE_RESERVED_RESPONSE, 1));
	expect_count(e, C_TYPE, VMB_ARRAY_LEN(unknown) + 3);

	eu_step("messages: on the pre-5.0 connection id");
	post_to(e, VMB_MSG_CONNECTION_ID, b.raw,
		open_msg(&b, 1, 1, RING_GPADL, RING_PAGES));
	expect_count(e, C_VERSION, 1);

	eu_step("messages: channel requests for channels in the wrong state");
	post(e, &b, vmb_msg_enc_relid(&b, VMB_MSG_CLOSECHANNEL, 1));
	expect_count(e, C_STATE, 1);
	post(e, &b, vmb_msg_enc_relid(&b, VMB_MSG_RELID_RELEASED, 1));
	post(e, &b, vmb_msg_enc_relid(&b, VMB_MSG_CLOSECHANNEL, 77));
	expect_count(e, C_RELID, 2);
	post(e, &b, vmb_msg_enc_modify(&b, 1, 1));
	expect_msg(e, VMB_MSG_MODIFYCHANNEL_RESPONSE, &b);
	EU_CHECK(vmb_le32(b.modify_response.child_relid) == 1 &&
		 vmb_le32(b.modify_response.status) != 0,
		 "MODIFYCHANNEL of a closed channel accepted");
	expect_count(e, C_STATE, 1);

	eu_step("messages: reserved channels, which this host does not offer");
	post(e, &b, vmb_msg_enc_open_reserved(&b, 1, 0, VMB_MSG_SINT,
					      RING_GPADL, RING_PAGES));
	expect_msg(e, VMB_MSG_OPENCHANNEL_RESULT, &b);
	EU_CHECK(vmb_le32(b.open_result.child_relid) == 1 &&
		 vmb_le32(b.open_result.open_id) == 0 &&
		 vmb_le32(b.open_result.status) != 0,
		 "OPEN_RESERVED not refused");
	post(e, &b, vmb_msg_enc_close_reserved(&b, 1, 0, VMB_MSG_SINT));
	/* Neither is counted: the next count covers both. */
	post(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 4242));
	expect_count(e, C_GPADL, 1);
	expect_quiet(e);
}

static void bad_gpadls(struct eg *e)
{
	uint64_t npages = e->gmem.size >> VMB_PAGE_SHIFT, pfn[32];
	union vmb_msg_buf b;

	eu_step("GPADL: PFNs beyond guest memory");
	for (unsigned i = 0; i < 4; i++)
		pfn[i] = npages + 5 + i;
	post(e, &b, gpadl_header(&b, 1, 100, 8 + 4 * 8, 4 * VMB_PAGE_SIZE,
				 pfn, 4));
	expect_gpadl_created(e, 1, 100, false);
	pfn[0] = 16;
	pfn[1] = npages; /* the first page past the end */
	post(e, &b, gpadl_header(&b, 1, 101, 8 + 2 * 8, 2 * VMB_PAGE_SIZE,
				 pfn, 2));
	expect_gpadl_created(e, 1, 101, false);
	pfn[0] = 1ull << 52; /* wraps to 0 if shifted without a check */
	post(e, &b, gpadl_header(&b, 1, 102, 8 + 8, VMB_PAGE_SIZE, pfn, 1));
	expect_gpadl_created(e, 1, 102, false);
	expect_count(e, C_REFUSED, 3);

	for (unsigned i = 0; i < 32; i++)
		pfn[i] = 32 + i;
	eu_step("GPADL: more PFNs than the range needs");
	post(e, &b, gpadl_header(&b, 1, 103, 8 + 3 * 8, 2 * VMB_PAGE_SIZE,
				 pfn, 3));
	expect_gpadl_created(e, 1, 103, false);
	eu_step("GPADL: more PFNs than range_buflen");
	post(e, &b, gpadl_header(&b, 1, 104, 8 + 2 * 8, 2 * VMB_PAGE_SIZE,
				 pfn, 3));
	expect_gpadl_created(e, 1, 104, false);
	eu_step("GPADL: fewer PFNs than the range needs");
	post(e, &b, gpadl_header(&b, 1, 105, 8 + 2 * 8, 3 * VMB_PAGE_SIZE,
				 pfn, 2));
	expect_gpadl_created(e, 1, 105, false);
	eu_step("GPADL: range of 0 bytes, odd range_buflen");
	post(e, &b, gpadl_header(&b, 1, 106, 8 + 8, 0, pfn, 1));
	expect_gpadl_created(e, 1, 106, false);
	post(e, &b, gpadl_header(&b, 1, 107, 8 + 8 + 4, VMB_PAGE_SIZE, pfn,
				 1));
	expect_gpadl_created(e, 1, 107, false);
	expect_count(e, C_GPADL, 5);

	eu_step("GPADL: bodies: too many PFNs, wrong number, unknown gpadl");
	/* 30 pages: the header carries 26, one body the other 4. */
	post(e, &b, gpadl_header(&b, 1, 108, 8 + 30 * 8, 30 * VMB_PAGE_SIZE,
				 pfn, 26));
	post(e, &b, vmb_msg_enc_gpadl_body(&b, 1, 108, pfn, 5));
	expect_gpadl_created(e, 1, 108, false);
	post(e, &b, gpadl_header(&b, 1, 109, 8 + 30 * 8, 30 * VMB_PAGE_SIZE,
				 pfn, 26));
	post(e, &b, vmb_msg_enc_gpadl_body(&b, 7, 109, pfn, 4));
	expect_gpadl_created(e, 1, 109, false);
	post(e, &b, vmb_msg_enc_gpadl_body(&b, 1, 4343, pfn, 4));
	/* and one for a GPADL that is already complete */
	post(e, &b, vmb_msg_enc_gpadl_body(&b, 1, 109, pfn, 4));
	expect_count(e, C_GPADL, 4);

	eu_step("GPADL: unknown and out-of-range relid");
	post(e, &b, gpadl_header(&b, 99, 110, 16, VMB_PAGE_SIZE, pfn, 1));
	expect_gpadl_created(e, 99, 110, false);
	post(e, &b, gpadl_header(&b, 5000, 111, 16, VMB_PAGE_SIZE, pfn, 1));
	expect_gpadl_created(e, 5000, 111, false);
	expect_count(e, C_RELID, 2);
	expect_quiet(e);
}

/* A whole GPADL: header, then as many bodies as its n PFNs need. */
static void send_gpadl(struct eg *e, uint32_t relid, uint32_t id,
		       const uint64_t *pfn, uint32_t n)
{
	union vmb_msg_buf b;
	uint32_t at = n < VMB_GPADL_HEADER_PFNS ? n : VMB_GPADL_HEADER_PFNS;

	post(e, &b, vmb_msg_enc_gpadl_header(&b, relid, id, n, pfn, at));
	for (uint32_t msg = 1; at < n; msg++) {
		uint32_t k = n - at < VMB_GPADL_BODY_PFNS ? n - at
							  : VMB_GPADL_BODY_PFNS;

		post(e, &b, vmb_msg_enc_gpadl_body(&b, msg, id, pfn + at, k));
		at += k;
	}
}

/* Eight GPADLs of 8000 pages that alternate between two PFNs (8000
 * mappings each) would take the host to 64,000 of the 65,530 mappings a
 * process may have: it refuses what would pass its per-guest cap, and
 * a teardown gives the room back. */
static void map_cap(struct eg *e)
{
	enum { PAGES = 8000, FIT = 32768 / PAGES };
	static uint64_t pfn[PAGES];
	union vmb_msg_buf b, m;

	for (unsigned i = 0; i < PAGES; i++)
		pfn[i] = 64 + 2 * (i & 1);
	eu_step("GPADL: scattered pages up to the mapping cap and past it");
	for (uint32_t id = 300; id < 300 + FIT + 1; id++) {
		send_gpadl(e, 1, id, pfn, PAGES);
		expect_gpadl_created(e, 1, id, id < 300 + FIT);
	}
	expect_count(e, C_REFUSED, 1);
	for (uint32_t id = 300; id < 300 + FIT; id++) {
		post(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, id));
		expect_msg(e, VMB_MSG_GPADL_TORNDOWN, &m);
	}
	send_gpadl(e, 1, 300 + FIT, pfn, PAGES);
	expect_gpadl_created(e, 1, 300 + FIT, true);
	post(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 300 + FIT));
	expect_msg(e, VMB_MSG_GPADL_TORNDOWN, &m);
	expect_quiet(e);
}

/* ---- rings ---- */

static void ring_gpadl(struct eg *e)
{
	uint64_t pfn[2 * RING_PAGES], first;
	union vmb_msg_buf b;

	e->ring = rt_gmem_alloc(&e->gmem, 2 * RING_PAGES);
	EU_CHECK(e->ring, "ring allocation");
	first = rt_gmem_gpa(&e->gmem, e->ring) >> VMB_PAGE_SHIFT;
	for (unsigned i = 0; i < 2 * RING_PAGES; i++)
		pfn[i] = first + i;
	eu_step("GPADL: a good one, then its id again");
	post(e, &b, vmb_msg_enc_gpadl_header(&b, 1, RING_GPADL, 2 * RING_PAGES,
					     pfn, 2 * RING_PAGES));
	expect_gpadl_created(e, 1, RING_GPADL, true);
	post(e, &b, vmb_msg_enc_gpadl_header(&b, 1, RING_GPADL, 2 * RING_PAGES,
					     pfn, 2 * RING_PAGES));
	expect_gpadl_created(e, 1, RING_GPADL, false);
	expect_count(e, C_GPADL, 1);
	/* Teardown of a GPADL under another relid's name. */
	post(e, &b, vmb_msg_enc_gpadl_teardown(&b, 2, RING_GPADL));
	expect_count(e, C_GPADL, 1);
}

static void bad_opens(struct eg *e)
{
	union vmb_msg_buf b;

	eu_step("open: unknown relid");
	post(e, &b, open_msg(&b, 99, 1, RING_GPADL, RING_PAGES));
	expect_open_result(e, 99, 1, false);
	expect_count(e, C_RELID, 1);
	eu_step("open: another relid's GPADL, an unknown GPADL");
	post(e, &b, open_msg(&b, 2, 2, RING_GPADL, RING_PAGES));
	expect_open_result(e, 2, 2, false);
	post(e, &b, open_msg(&b, 1, 3, 555, RING_PAGES));
	expect_open_result(e, 1, 3, false);
	expect_count(e, C_GPADL, 2);
	eu_step("open: downstream offset 0, 1, at and past the end");
	post(e, &b, open_msg(&b, 1, 4, RING_GPADL, 0));
	expect_open_result(e, 1, 4, false);
	post(e, &b, open_msg(&b, 1, 5, RING_GPADL, 1));
	expect_open_result(e, 1, 5, false);
	post(e, &b, open_msg(&b, 1, 6, RING_GPADL, 2 * RING_PAGES));
	expect_open_result(e, 1, 6, false);
	post(e, &b, open_msg(&b, 1, 7, RING_GPADL, 0xffffffffu));
	expect_open_result(e, 1, 7, false);
	expect_count(e, C_FIELD, 4);
	expect_quiet(e);
}

/* Fresh rings (zero indices), then OPENCHANNEL on them. */
static void open_chan(struct eg *e, uint32_t open_id)
{
	uint64_t len = (uint64_t)RING_PAGES << VMB_PAGE_SHIFT;
	union vmb_msg_buf b;

	memset(e->ring, 0, 2 * len);
	EU_CHECK(vmb_ring_attach(&e->out, e->ring, len) == VMB_OK &&
		 vmb_ring_attach(&e->in, e->ring + len, len) == VMB_OK,
		 "ring attach");
	vmb_ring_init_shared(&e->out, true);
	vmb_ring_init_shared(&e->in, true);
	post(e, &b, open_msg(&b, 1, open_id, RING_GPADL, RING_PAGES));
	expect_open_result(e, 1, open_id, true);
}

static void close_chan(struct eg *e)
{
	union vmb_msg_buf b;

	post(e, &b, vmb_msg_enc_relid(&b, VMB_MSG_CLOSECHANNEL, 1));
	/* CLOSECHANNEL has no answer; the channel list shows it closed. */
	for (uint64_t t0 = eu_now_ms(); eu_now_ms() - t0 < REPLY_MS;) {
		char *r = ctl_request(e->ctl, "channels\n");
		bool open = strstr(r, " open ") != NULL;

		free(r);
		if (!open)
			return;
		eu_sleep_ms(10);
	}
	EU_FAIL("channel still open after CLOSECHANNEL");
}

static void query_send(struct eg *e)
{
	struct tdev_query q = { .h.op = vmb_le32(TDEV_OP_QUERY),
				.version = vmb_le32(TDEV_VERSION) };
	struct vmb_iov iov = { &q, sizeof(q) };
	bool sig;
	int rc;

	rc = vmb_pkt_send_inband(&e->out, VMB_PKT_FLAG_COMPLETION_REQUESTED,
				 42, &iov, 1, &sig);
	EU_CHECK(rc == VMB_OK, "QUERY not written: %s", vmb_strerror(rc));
	if (sig)
		eu_signal(e->efd[1][0]);
}

/* A QUERY through the rings and its completion back: the channel works. */
static void query(struct eg *e)
{
	uint64_t buf[64];
	struct tdev_comp c;
	struct vmb_pkt pkt;
	uint32_t len;
	bool sig;
	int rc;

	query_send(e);
	EU_CHECK(eu_wait_event(e->efd[1][1], REPLY_MS), "no signal from host");
	rc = vmb_ring_read(&e->in, buf, sizeof(buf), &len, &sig);
	EU_CHECK(rc == VMB_OK && vmb_pkt_parse(buf, len, &pkt) == VMB_OK &&
		 pkt.type == VMB_PKT_COMP && pkt.xid == 42 &&
		 tdev_parse_comp(pkt.payload, pkt.payload_len, &c) ==
			 TDEV_ST_OK && c.status == TDEV_ST_OK,
		 "QUERY completion missing or wrong");
}

static void hammer(void *arg)
{
	eu_signal(*(int *)arg);
}

enum corruption {
	BAD_WRITE_INDEX,   /* past the data area */
	BAD_MISALIGNED,    /* not a multiple of 8 */
	BAD_LEN8,          /* descriptor runs past what was written */
	BAD_OFFSET8,       /* payload offset beyond the packet */
	BAD_READ_INDEX,    /* of the ring the host writes */
	BAD__COUNT
};

static const char *const corruption_names[BAD__COUNT] = {
	"write_index past the ring", "misaligned write_index",
	"descriptor len8 past the ring", "descriptor offset8 past len8",
	"read_index of the host's ring out of range",
};

static void corrupt(struct eg *e, enum corruption how)
{
	struct vmb_ring_hdr *h = e->out.hdr;
	struct vmb_pktdesc d = { .type = vmb_le16(VMB_PKT_INBAND),
				 .offset8 = vmb_le16(2) };
	uint32_t w = 0;

	switch (how) {
	case BAD_WRITE_INDEX:
		w = e->out.size + 8;
		break;
	case BAD_MISALIGNED:
		w = 13;
		break;
	case BAD_LEN8:
		d.len8 = vmb_le16(0xffff);
		memcpy(e->out.data, &d, sizeof(d));
		w = 24;
		break;
	case BAD_OFFSET8:
		d.offset8 = vmb_le16(5);
		d.len8 = vmb_le16(3);
		memcpy(e->out.data, &d, sizeof(d));
		w = 32;
		break;
	case BAD_READ_INDEX:
		/* The host finds it when it answers the next request. */
		eu_ring_store(e->in.hdr,
			      offsetof(struct vmb_ring_hdr, read_index),
			      0xfffffff0u);
		query_send(e);
		return;
	case BAD__COUNT:
		break;
	}
	eu_ring_store(h, offsetof(struct vmb_ring_hdr, write_index),
		      vmb_le32(w));
	eu_signal(e->efd[1][0]);
}

static void corrupt_rings(struct eg *e)
{
	for (unsigned how = 0; how < BAD__COUNT; how++) {
		double share;

		eu_step("ring: %s", corruption_names[how]);
		open_chan(e, 100 + how);
		query(e);
		corrupt(e, (enum corruption)how);
		expect_count(e, C_CORRUPT, 1);
		/* Signals keep coming; a broken channel must ignore them
		 * without spinning. */
		share = eu_cpu_share(e->host, 500, hammer, &e->efd[1][0]);
		EU_CHECK(share >= 0, "host process gone");
		EU_CHECK(share < CPU_SHARE_MAX,
			 "host used %.0f%% CPU with a broken channel",
			 share * 100);
		eu_step("host CPU with the broken channel: %.0f%%",
			share * 100);
		close_chan(e);
		/* A broken channel's count outlives the channel. */
		check_counters(e);
	}
	expect_quiet(e);
}

/* ---- sessions ---- */

static void wait_guest_gone(struct eg *e)
{
	for (uint64_t t0 = eu_now_ms(); eu_now_ms() - t0 < REPLY_MS;) {
		char *r = ctl_request(e->ctl, "vm show\n");
		bool off = strstr(r, "State:           Off") != NULL;

		free(r);
		if (off)
			return;
		eu_sleep_ms(10);
	}
	EU_FAIL("host did not notice the guest leaving");
}

static void forget_offers(struct eg *e)
{
	for (unsigned r = 1; r <= 2; r++) {
		for (unsigned i = 0; i < 2; i++) {
			if (e->efd[r][i] >= 0)
				close(e->efd[r][i]);
			e->efd[r][i] = -1;
		}
	}
}

/* Everything above, then vanish with a channel open and a GPADL half
 * described: the host must clean both up for the next guest. */
static void session_main(struct eg *e)
{
	union vmb_msg_buf b;
	uint64_t pfn[26];

	attach(e);
	bad_frames(e);
	negotiate(e);
	request_offers(e);
	bad_messages(e);
	bad_gpadls(e);
	map_cap(e);
	ring_gpadl(e);
	bad_opens(e);
	corrupt_rings(e);
	eu_step("leave with an open channel and a half-described GPADL");
	open_chan(e, 200);
	query(e);
	for (unsigned i = 0; i < 26; i++)
		pfn[i] = 64 + i;
	post(e, &b, gpadl_header(&b, 2, 120, 8 + 30 * 8, 30 * VMB_PAGE_SIZE,
				 pfn, 26));
	check_counters(e);
	expect_quiet(e);
	close(e->sock);
	forget_offers(e);
	rt_gmem_free(&e->gmem, e->ring, 2 * RING_PAGES);
	wait_guest_gone(e);
}

/* Memory frames the host cannot take: it must drop the guest (there is
 * no way on without memory), count it, and wait for the next. */
static void session_bad_memory(struct eg *e, unsigned how)
{
	static const char *const what[] = { "a second memory frame",
		"memory frame with the wrong size", "memory frame version 2",
		"memory frame without its memfd" };
	struct rt_frame_memory m = {
		.version = vmb_le32(how == 2 ? 2 : RT_XPORT_VERSION),
		.size = vmb_le64(e->gmem.size + (how == 1 ? 4096 : 0)),
	};
	struct rt_frame f;
	int rc;

	eu_step("transport: %s", what[how]);
	attach(e);
	if (how == 0)
		send_memory(e);
	rc = rt_xport_send(e->sock, RT_FRAME_MEMORY, 0, &m, sizeof(m),
			   &e->gmem.fd, how == 3 ? 0 : 1);
	EU_CHECK(rc == 0, "memory frame: %s", strerror(-rc));
	rc = eu_recv(e->sock, REPLY_MS, &f);
	EU_CHECK(rc == -ECONNRESET, "host kept the guest after %s (%s)",
		 what[how], strerror(-rc));
	close(e->sock);
	expect_count(e, C_TRANSPORT, 1);
	wait_guest_gone(e);
}

/* How long hvis-ctl waits for "vm show", in ms. */
static uint64_t ctl_latency(const struct eg *e)
{
	uint64_t t0 = eu_now_ms();

	free(ctl_request(e->ctl, "vm show\n"));
	return eu_now_ms() - t0;
}

/* Contact requests without end, never reading an answer. Each one makes
 * the host answer (VERSION_RESPONSE, refused), so its queue for us grows
 * until it must drop us instead of waiting for us to read. */
static void session_flood(struct eg *e)
{
	union vmb_msg_buf b;
	uint32_t len = contact(&b, VMB_VERSION_WIN10_V5_3);
	uint64_t got[C__N], total, sent = 0, worst = 0, t0;
	int rc;

	eu_step("flood: requests without end, never reading");
	attach(e);
	send_memory(e);
	post_to(e, VMB_MSG_CONNECTION_ID_4, b.raw, len);
	expect_version(e, true);
	read_counters(e, got, &total);
	EU_CHECK(got[C_STALLED] == 0, "not-reading counted before the flood");
	for (t0 = eu_now_ms();; sent++) {
		rc = rt_xport_send(e->sock, RT_FRAME_MSG,
				   VMB_MSG_CONNECTION_ID_4, b.raw, len, NULL, 0);
		if (rc)
			break;
		if (sent % 8192 == 0) {
			uint64_t ms = ctl_latency(e);

			worst = ms > worst ? ms : worst;
		}
		EU_CHECK(eu_now_ms() - t0 < 60000, "host never dropped us");
	}
	EU_CHECK(rc == -EPIPE || rc == -ECONNRESET, "flood send: %s",
		 strerror(-rc));
	eu_step("flood: dropped after %llu requests in %llu ms; hvis-ctl "
		"answered within %llu ms at worst", (unsigned long long)sent,
		(unsigned long long)(eu_now_ms() - t0),
		(unsigned long long)worst);
	EU_CHECK(worst < 1000, "hvis-ctl waited %llu ms during the flood",
		 (unsigned long long)worst);
	close(e->sock);
	wait_guest_gone(e);
	read_counters(e, got, &total);
	EU_CHECK(got[C_STALLED] == 1, "not-reading: %llu, want 1",
		 (unsigned long long)got[C_STALLED]);
}

int main(int argc, char **argv)
{
	struct eg e = { .sock = -1 };

	if (argc != 3 && (argc != 4 || strcmp(argv[3], "flood"))) {
		fprintf(stderr, "usage: evil_guest VMBUS_SOCK CTL_SOCK "
			"[flood]\n");
		return 2;
	}
	e.vmbus = argv[1];
	e.ctl = argv[2];
	memset(e.efd, -1, sizeof(e.efd));
	EU_CHECK(rt_gmem_create(&e.gmem, GMEM_SIZE) == 0, "guest memory");
	if (argc == 4) {
		session_flood(&e);
	} else {
		session_main(&e);
		for (unsigned how = 0; how < 4; how++)
			session_bad_memory(&e, how);
	}
	rt_gmem_destroy(&e.gmem);
	fprintf(stderr, "evil_guest: host survived every step\n");
	return 0;
}
