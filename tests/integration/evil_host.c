/* A hostile host for hvis-guest: a raw server on a socket path that
 * answers the guest with what no well-behaved host sends.
 *
 *   evil_host SOCK survive   junk frames, bad and duplicate VERSION_
 *                            RESPONSEs, bad offers, stale and duplicate
 *                            answers, then two channels whose rings it
 *                            corrupts; the guest must count, keep working
 *                            and stay idle; then it waits for the guest
 *                            to leave (the test stops it with SIGTERM)
 *   evil_host SOCK conn0     accepts 5.3 but names connection id 0
 *   evil_host SOCK busy      accepts 5.3 with a failed connection state
 *   evil_host SOCK refuse    refuses every version the guest tries
 *   evil_host SOCK full[-close]
 *                            opens the test device with the guest's send
 *                            ring made to look full before QUERY, then
 *                            never reads it nor signals
 *   evil_host SOCK echo-full[-close]
 *                            answers QUERY, then lets the guest's echo
 *                            traffic fill that ring and never reads it
 *   evil_host SOCK storage   offers a SCSI controller, runs the VSTOR
 *                            init by the book, then answers the guest's
 *                            scan with a completion for an id never sent,
 *                            a REPORT LUNS moving more than asked with
 *                            sense past the buffer and a list claiming
 *                            1000 LUNs, the same answer twice, and a
 *                            storm of ENUMERATE_BUS, then sub-channels
 *                            the guest never asked for; the guest must
 *                            count, settle with no LUN, refuse and close
 *                            the sub-channels and stay idle
 *   evil_host SOCK net       offers a synthetic network adapter, runs
 *                            NVSP and RNDIS by the book (core/net's host
 *                            engines, the guest's buffers mapped), answers
 *                            ARP requests and ICMP echo requests for
 *                            10.98.0.1 as transfer-page packets until the
 *                            guest leaves; at least one ARP and three
 *                            echo requests must have come
 *   evil_host SOCK net-idle  the same for a guest without a TAP: no frame
 *                            may come
 *   evil_host SOCK net-bad   net-idle, then bad transfer-page packets
 *                            (one of three ranges, the middle one past
 *                            the buffer, among them), RNDIS messages and
 *                            NVSP messages; each must
 *                            be refused and counted, and every transfer-
 *                            page packet completed all the same
 *   evil_host SOCK net-stall net, but no data send is ever completed:
 *                            exactly one message per send section may
 *                            come
 *   evil_host SOCK net-rsc   net offering RSC; after the first ARP answer,
 *                            malformed sequences of coalesced pieces
 *                            (net_rsc_hostile), then a good coalesced
 *                            TCP segment of 3000 bytes to a closed port:
 *                            the guest's kernel must answer it with one
 *                            RST acknowledging all of it
 *   evil_host SOCK flood[-close]
 *                            offers FLOOD_CHANNELS test channels, then
 *                            never reads the guest's socket again (its
 *                            GPADLs for them cannot all go out)
 *
 * In conn0, busy and refuse the protocol leaves the guest no way on: it
 * must exit (the script checks how). In the full and flood cases the guest must
 * stay responsive: after "evil_host: ready" the script stops it with
 * SIGTERM, or with -close this host closes its socket and the guest must
 * notice (the script times both). Exit 0 if the guest behaved. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evil_util.h"
#include "net/ncsum.h"
#include "net/nvsp_host.h"
#include "net/rndis_host.h"
#include "net/rndis_ppi.h"
#include "rt_gmem.h"
#include "scsi/scsi_disk.h"
#include "storage/vstor_host.h"
#include "testdev/tdev.h"
#include "vmbus/vmb_client.h"
#include "vmbus/vmb_msg.h"
#include "vmbus/vmb_pkt.h"
#include "vmbus/vmb_server.h"

#define REPLY_MS 5000
#define FILL_MS 5000
/* The echo traffic has filled the ring when less than this is free:
 * room for at most two more DATA packets of the default 64 bytes. */
#define FULL_FREE 256
#define LEAVE_MS 15000
#define FLOOD_CHANNELS 400u
#define CPU_SHARE_MAX 0.3
/* netvsc's buffers (guest/gnet_priv.h): 16 MiB and 1 MiB */
#define GNET_PAGES_RECV 4096u
#define GNET_PAGES_SEND 256u

struct echan {
	uint32_t relid;
	int efd_g2h, efd_h2g; /* guest signals us, we signal the guest */
	uint32_t gpadl, open_id;
	struct rt_gmap map;
	struct vmb_ring in, out; /* guest->host, host->guest */
};

struct eh {
	int lfd, sock;
	pid_t guest;
	struct rt_gmem gmem;
	uint32_t conn; /* where the guest must post */
	struct echan ch[3];
};

/* ---- messages ---- */

static void post_fds(struct eh *e, uint32_t sint, const void *msg,
		     uint32_t len, const int *fds, unsigned nfds)
{
	int rc = rt_xport_send(e->sock, RT_FRAME_MSG, sint, msg, len, fds,
			       nfds);

	EU_CHECK(rc == 0, "send to guest: %s", strerror(-rc));
}

static void post(struct eh *e, const union vmb_msg_buf *b, uint32_t len)
{
	EU_CHECK(len, "message encoding refused");
	post_fds(e, VMB_MSG_SINT, b->raw, len, NULL, 0);
}

/* The next message from the guest; it must be of type want. */
static uint32_t expect_msg(struct eh *e, uint32_t want, union vmb_msg_buf *m,
			   uint32_t *conn)
{
	struct rt_frame f;
	enum vmb_bad why;
	int rc = eu_recv(e->sock, REPLY_MS, &f), type;

	EU_CHECK(rc == 0, "no %s from the guest: %s",
		 vmb_msg_type_name(want), strerror(-rc));
	EU_CHECK(f.nfds == 0 && vmb_le16(f.hdr.type) == RT_FRAME_MSG,
		 "guest sent frame type %u with %u descriptors",
		 vmb_le16(f.hdr.type), f.nfds);
	type = vmb_msg_parse(m, f.payload, vmb_le32(f.hdr.len), &why);
	EU_CHECK(type == (int)want, "guest sent %s, want %s",
		 type > 0 ? vmb_msg_type_name((uint32_t)type) : "garbage",
		 vmb_msg_type_name(want));
	if (conn)
		*conn = vmb_le32(f.hdr.conn_id);
	else
		EU_CHECK(vmb_le32(f.hdr.conn_id) == e->conn,
			 "%s posted to connection %#x, want %#x",
			 vmb_msg_type_name(want), vmb_le32(f.hdr.conn_id),
			 e->conn);
	return vmb_le32(f.hdr.len);
}

static void accept_guest(struct eh *e)
{
	struct rt_frame_memory mem;
	struct rt_frame f;
	int rc;

	struct pollfd p = { .fd = e->lfd, .events = POLLIN };

	EU_CHECK(poll(&p, 1, REPLY_MS) == 1, "no guest came");
	e->sock = rt_xport_accept(e->lfd);
	EU_CHECK(e->sock >= 0, "accept: %s", strerror(-e->sock));
	e->guest = eu_peer_pid(e->sock);
	rc = eu_recv(e->sock, REPLY_MS, &f);
	EU_CHECK(rc == 0 && vmb_le16(f.hdr.type) == RT_FRAME_MEMORY &&
		 f.nfds == 1 && vmb_le32(f.hdr.len) == sizeof(mem),
		 "no memory frame from the guest");
	memcpy(&mem, f.payload, sizeof(mem));
	rc = rt_gmem_adopt(&e->gmem, f.fds[0]);
	EU_CHECK(rc == 0 && e->gmem.size == vmb_le64(mem.size),
		 "guest memory");
}

/* INITIATE_CONTACT for version on its connection id. */
static void expect_contact(struct eh *e, uint32_t version)
{
	union vmb_msg_buf m;
	uint32_t conn;

	expect_msg(e, VMB_MSG_INITIATE_CONTACT, &m, &conn);
	EU_CHECK(vmb_le32(m.initiate_contact.version) == version,
		 "guest tried version %#x, want %#x",
		 vmb_le32(m.initiate_contact.version), version);
	EU_CHECK(conn == vmb_msg_contact_conn_id(version),
		 "contact for %#x on connection %u", version, conn);
}

/* ---- offers and channels ---- */

/* Each offer names a device of its own: the guest refuses a second
 * offer of a device it holds, which is not what these offers test. */
static const char *offer_class = TDEV_CLASS_GUID;
/* Non-zero: the next offers are sub-channels of the last device, from
 * this index on. */
static uint16_t offer_sub;

static void offer(struct eh *e, uint32_t relid, const int *fds, unsigned n)
{
	static unsigned serial;
	struct vmb_msg_offer o;
	union vmb_msg_buf b;
	char inst[40];

	memset(&o, 0, sizeof(o));
	vmb_guid_parse(&o.offer.if_type, offer_class);
	serial += !offer_sub;
	snprintf(inst, sizeof(inst), "0bad0bad-5f1e-4e6a-8c3d-686f7374%04x",
		 serial & 0xffff);
	vmb_guid_parse(&o.offer.if_instance, inst);
	if (offer_sub)
		o.offer.sub_channel_index = vmb_le16(offer_sub++);
	o.child_relid = vmb_le32(relid);
	o.connection_id = vmb_le32(relid | VMB_MSG_SINT << 12);
	o.dedicated_interrupt = vmb_le16(1);
	post_fds(e, VMB_MSG_SINT, b.raw, vmb_msg_enc_offer(&b, &o), fds, n);
}

static void offer_chan(struct eh *e, struct echan *c, uint32_t relid)
{
	int fds[2];

	c->relid = relid;
	c->efd_g2h = fds[0] = eu_eventfd();
	c->efd_h2g = fds[1] = eu_eventfd();
	offer(e, relid, fds, 2);
}

/* The guest's GPADL_HEADER (and bodies) of relid for a buffer of at
 * most max pages; the PFNs are mapped here as the real host would.
 * Returns the pages. */
static uint32_t take_gpadl_of(struct eh *e, uint32_t relid, uint32_t max,
			      uint32_t *gpadl, struct rt_gmap *map)
{
	union vmb_msg_buf m;
	uint64_t *pfn = calloc(max, sizeof(*pfn));
	uint32_t len, n, total, got = 0, count;

	EU_CHECK(pfn, "out of memory");
	len = expect_msg(e, VMB_MSG_GPADL_HEADER, &m, NULL);
	EU_CHECK(vmb_le32(m.gpadl_header.child_relid) == relid &&
		 vmb_le16(m.gpadl_header.range_count) == 1,
		 "GPADL_HEADER for relid %u",
		 vmb_le32(m.gpadl_header.child_relid));
	*gpadl = vmb_le32(m.gpadl_header.gpadl);
	memcpy(&count, m.raw + sizeof(m.gpadl_header), 4);
	total = vmb_le32(count) / VMB_PAGE_SIZE;
	EU_CHECK(total >= 1 && total <= max, "buffer of %u pages", total);
	n = (len - sizeof(m.gpadl_header) - 8) / 8;
	EU_CHECK(n <= total, "GPADL header carries too many PFNs");
	memcpy(pfn, m.raw + sizeof(m.gpadl_header) + 8, n * 8);
	got = n;
	while (got < total) {
		len = expect_msg(e, VMB_MSG_GPADL_BODY, &m, NULL);
		n = (len - sizeof(m.gpadl_body)) / 8;
		EU_CHECK(got + n <= total, "GPADL bodies carry too many PFNs");
		memcpy(pfn + got, m.raw + sizeof(m.gpadl_body), n * 8);
		got += n;
	}
	EU_CHECK(rt_gmem_map_pfns(&e->gmem, pfn, total, map) == 0,
		 "guest buffer outside its memory");
	free(pfn);
	return total;
}

static void take_gpadl(struct eh *e, struct echan *c)
{
	EU_CHECK(take_gpadl_of(e, c->relid, 256, &c->gpadl, &c->map) >= 4,
		 "ring of fewer than 4 pages");
}

static void take_open(struct eh *e, struct echan *c)
{
	union vmb_msg_buf m;
	uint64_t split;

	expect_msg(e, VMB_MSG_OPENCHANNEL, &m, NULL);
	EU_CHECK(vmb_le32(m.open.child_relid) == c->relid &&
		 vmb_le32(m.open.ring_gpadl) == c->gpadl,
		 "OPENCHANNEL for relid %u", vmb_le32(m.open.child_relid));
	c->open_id = vmb_le32(m.open.open_id);
	split = (uint64_t)vmb_le32(m.open.downstream_page_offset)
		<< VMB_PAGE_SHIFT;
	EU_CHECK(vmb_ring_attach(&c->in, c->map.va, split) == VMB_OK &&
		 vmb_ring_attach(&c->out, (uint8_t *)c->map.va + split,
				 c->map.len - split) == VMB_OK,
		 "guest ring layout");
}

/* The driver's first packet is QUERY; answer it so that traffic starts. */
static void answer_query(struct eh *e, struct echan *c)
{
	struct tdev_comp r = { .op = vmb_le32(TDEV_OP_QUERY),
			       .value = vmb_le32(TDEV_VERSION) };
	uint64_t buf[64];
	struct vmb_pkt pkt;
	struct tdev_msg q;
	uint32_t len;
	bool sig;
	int rc;

	(void)e;
	EU_CHECK(eu_wait_event(c->efd_g2h, REPLY_MS), "no QUERY signal");
	rc = vmb_ring_read(&c->in, buf, sizeof(buf), &len, &sig);
	EU_CHECK(rc == VMB_OK && vmb_pkt_parse(buf, len, &pkt) == VMB_OK &&
		 tdev_parse(pkt.payload, pkt.payload_len, &q) == TDEV_ST_OK &&
		 q.op == TDEV_OP_QUERY, "QUERY missing or wrong");
	rc = vmb_pkt_send_comp(&c->out, pkt.xid, &r, sizeof(r), &sig);
	EU_CHECK(rc == VMB_OK, "completion: %s", vmb_strerror(rc));
	eu_signal(c->efd_h2g);
}

static void open_raw(struct eh *e, struct echan *c, uint32_t relid)
{
	union vmb_msg_buf b;

	offer_chan(e, c, relid);
	take_gpadl(e, c);
	post(e, &b, vmb_msg_enc_gpadl_created(&b, relid, c->gpadl, 0));
	take_open(e, c);
	post(e, &b, vmb_msg_enc_open_result(&b, relid, c->open_id, 0));
}

static void open_chan(struct eh *e, struct echan *c, uint32_t relid)
{
	open_raw(e, c, relid);
	answer_query(e, c);
}

static void hammer(void *arg)
{
	eu_signal(*(int *)arg);
}

static void guest_idle(struct eh *e, int efd, const char *what)
{
	double share = eu_cpu_share(e->guest, 500, hammer, &efd);

	EU_CHECK(share >= 0, "guest process gone after %s", what);
	EU_CHECK(share < CPU_SHARE_MAX, "guest used %.0f%% CPU after %s",
		 share * 100, what);
	eu_step("guest CPU after %s: %.0f%%", what, share * 100);
}

/* ---- scenarios ---- */

static void junk_before_contact(struct eh *e)
{
	uint8_t raw[sizeof(struct rt_frame_hdr) + 16];
	int fds[4];
	union vmb_msg_buf b;

	eu_step("junk frames, a short VERSION_RESPONSE, an unknown type, an "
		"offer before contact");
	memset(raw, 0, sizeof(raw));
	eu_hdr((struct rt_frame_hdr *)raw, 0x0badf00d, RT_FRAME_MSG, 0,
	       VMB_MSG_SINT, 16);
	EU_CHECK(eu_send_raw(e->sock, raw, sizeof(raw), NULL, 0) == 0, "send");
	vmb_msg_enc_version_response(&b, true, 0, 1);
	post_fds(e, 5, b.raw, 16, NULL, 0);
	post(e, &b, 9);
	memset(&b, 0, sizeof(b));
	b.hdr.type = vmb_le32(99);
	for (unsigned i = 0; i < 4; i++)
		fds[i] = eu_eventfd();
	post_fds(e, VMB_MSG_SINT, b.raw, 32, fds, 4);
	offer(e, 1, fds, 2);
	for (unsigned i = 0; i < 4; i++)
		close(fds[i]);
}

static void connect_53(struct eh *e)
{
	union vmb_msg_buf b, m;
	uint32_t conn;

	e->conn = VMB_MSG_REDIRECT_CONNECTION_ID;
	post(e, &b, vmb_msg_enc_version_response(&b, true, VMB_CONN_STATE_OK,
						 e->conn));
	eu_step("duplicate VERSION_RESPONSE");
	post(e, &b, vmb_msg_enc_version_response(&b, true, VMB_CONN_STATE_OK,
						 1));
	expect_msg(e, VMB_MSG_REQUESTOFFERS, &m, &conn);
	EU_CHECK(conn == e->conn, "REQUESTOFFERS on %#x, want %#x", conn,
		 e->conn);
}

static void bad_offers(struct eh *e)
{
	int fds[2] = { eu_eventfd(), eu_eventfd() };
	union vmb_msg_buf b;

	int pfd[2], bfd[2] = { eventfd(0, EFD_CLOEXEC),
			       eventfd(0, EFD_CLOEXEC) };

	eu_step("offers: relid 0, relid 5000, without eventfds, duplicate, "
		"a pipe and blocking eventfds for signals");
	EU_CHECK(pipe2(pfd, O_CLOEXEC | O_NONBLOCK) == 0 && bfd[0] >= 0 &&
		 bfd[1] >= 0, "pipe, eventfd: %s", strerror(errno));
	offer(e, 0, fds, 2);
	offer(e, VMB_RELID_MAX + 904, fds, 2);
	offer(e, 3, NULL, 0);
	offer(e, 3, fds, 2);
	offer(e, 4, pfd, 2);
	offer(e, 6, bfd, 2);
	for (unsigned i = 0; i < 2; i++) {
		close(fds[i]);
		close(pfd[i]);
		close(bfd[i]);
	}
	post(e, &b, vmb_msg_enc_empty(&b, VMB_MSG_ALLOFFERS_DELIVERED));
	post(e, &b, vmb_msg_enc_empty(&b, VMB_MSG_ALLOFFERS_DELIVERED));
	/* relid 1 opens: the guest's GPADL_HEADER also tells us that it
	 * has processed everything above. */
	open_chan(e, &e->ch[1], 1);
}

/* Answers to requests the guest never made, or made and had answered. */
static void stale_answers(struct eh *e)
{
	static const struct vmb_guid g0;
	union vmb_msg_buf b;

	eu_step("stale answers: GPADL_CREATED, OPEN_RESULT, TORNDOWN, "
		"MODIFYCHANNEL_RESPONSE, UNLOAD_RESPONSE, TL_CONNECT_RESULT, "
		"RESCIND of an unknown relid, a guest->host type");
	post(e, &b, vmb_msg_enc_gpadl_created(&b, 1, 999, 0));
	post(e, &b, vmb_msg_enc_gpadl_created(&b, 1, e->ch[1].gpadl, 0));
	post(e, &b, vmb_msg_enc_open_result(&b, 1, e->ch[1].open_id, 0));
	post(e, &b, vmb_msg_enc_open_result(&b, 1, e->ch[1].open_id + 9, 0));
	post(e, &b, vmb_msg_enc_gpadl_torndown(&b, 55));
	post(e, &b, vmb_msg_enc_modify_response(&b, 1, 0));
	post(e, &b, vmb_msg_enc_empty(&b, VMB_MSG_UNLOAD_RESPONSE));
	post(e, &b, vmb_msg_enc_tl_connect_result(&b, &g0, &g0, 0));
	post(e, &b, vmb_msg_enc_relid(&b, VMB_MSG_RESCIND_CHANNELOFFER, 77));
	post(e, &b, vmb_msg_enc_open(&b, 1, 1, 1, 0, 1, NULL, 0));
}

static void corrupt_rings(struct eh *e)
{
	struct echan *c1 = &e->ch[1], *c2 = &e->ch[2];

	eu_step("ring: write_index of the guest's inbound ring out of range");
	eu_ring_store(c1->out.hdr, offsetof(struct vmb_ring_hdr, write_index),
		      c1->out.size + 8);
	eu_signal(c1->efd_h2g);
	guest_idle(e, c1->efd_h2g, "a corrupt inbound ring");

	eu_step("ring: read_index of the guest's outbound ring out of range");
	open_chan(e, c2, 2);
	eu_ring_store(c2->in.hdr, offsetof(struct vmb_ring_hdr, read_index),
		      0xfffffff0u);
	guest_idle(e, c2->efd_h2g, "a corrupt outbound ring");
}

/* Rescind the broken channel: the guest must still close it, tear its
 * GPADL down and release the relid. */
static void rescind(struct eh *e, struct echan *c)
{
	union vmb_msg_buf b, m;

	eu_step("rescind of broken relid %u", c->relid);
	post(e, &b, vmb_msg_enc_relid(&b, VMB_MSG_RESCIND_CHANNELOFFER,
				      c->relid));
	expect_msg(e, VMB_MSG_GPADL_TEARDOWN, &m, NULL);
	EU_CHECK(vmb_le32(m.gpadl_teardown.gpadl) == c->gpadl,
		 "teardown of GPADL %u", vmb_le32(m.gpadl_teardown.gpadl));
	post(e, &b, vmb_msg_enc_gpadl_torndown(&b, c->gpadl));
	expect_msg(e, VMB_MSG_RELID_RELEASED, &m, NULL);
	EU_CHECK(vmb_le32(m.relid.child_relid) == c->relid,
		 "released relid %u", vmb_le32(m.relid.child_relid));
}

/* Wait for the guest to go (the test stops it). */
static void wait_leave(struct eh *e)
{
	uint64_t t0 = eu_now_ms();

	for (;;) {
		struct rt_frame f;
		int rc = eu_recv(e->sock, 100, &f);

		if (rc == -ECONNRESET)
			return;
		EU_CHECK(rc == 0 || rc == -ETIMEDOUT, "guest socket: %s",
			 strerror(-rc));
		if (rc == 0)
			eu_frame_close(&f);
		EU_CHECK(eu_now_ms() - t0 < LEAVE_MS, "guest did not leave");
	}
}

static void survive(struct eh *e)
{
	int fds_before;

	accept_guest(e);
	expect_contact(e, VMB_VERSION_WIN10_V5_3);
	fds_before = eu_fd_count(e->guest);
	junk_before_contact(e);
	connect_53(e);
	bad_offers(e);
	/* Every descriptor that came with a rejected frame was closed;
	 * relid 1 keeps its two eventfds and its worker's stop eventfd. */
	EU_CHECK(eu_fd_count(e->guest) == fds_before + 3,
		 "guest holds %d descriptors, want %d", eu_fd_count(e->guest),
		 fds_before + 3);
	stale_answers(e);
	corrupt_rings(e);
	rescind(e, &e->ch[1]);
	fprintf(stderr, "evil_host: ready\n");
	wait_leave(e);
}

/* ---- storage ---- */

struct vpkt {
	uint64_t buf[512];
	struct vmb_pkt pkt;
};

static void next_pkt(struct echan *c, struct vpkt *p)
{
	uint32_t len;
	bool sig;
	int rc;

	while ((rc = vmb_ring_read(&c->in, p->buf, sizeof(p->buf), &len,
				   &sig)) == VMB_EAGAIN)
		EU_CHECK(eu_wait_event(c->efd_g2h, REPLY_MS), "guest silent");
	EU_CHECK(rc == VMB_OK && vmb_pkt_parse(p->buf, len, &p->pkt) ==
				       VMB_OK, "bad packet from the guest");
}

static void send_comp(struct echan *c, uint64_t xid, const void *p,
		      uint32_t len)
{
	bool sig;

	EU_CHECK(vmb_pkt_send_comp(&c->out, xid, p, len, &sig) == VMB_OK,
		 "completion not written");
	eu_signal(c->efd_h2g);
}

/* The init sequence as storvsp answers it; returns the first SRB. */
static void vstor_init(struct echan *c, struct vstor_host *h,
		       struct vstor_host_act *a, struct vpkt *p)
{
	struct vstor_host_cfg cfg = {.max_version = VSTOR_VERSION_WIN10,
				     .max_transfer = 1 << 20, .primary = true};

	vstor_host_init(h, &cfg);
	for (;;) {
		next_pkt(c, p);
		vstor_host_rx(h, &p->pkt, a);
		if (a->kind == VSTOR_HA_SRB)
			return;
		if (a->kind != VSTOR_HA_NONE)
			send_comp(c, a->xid, a->reply, a->reply_len);
	}
}

/* REPORT LUNS "succeeds" past everything the guest asked for. */
static void bad_report(struct eh *e, struct echan *c,
		       const struct vstor_host_srb *s)
{
	struct vstor_packet r = {.operation = VSTOR_OP_COMPLETE_IO};
	uint8_t *d = s->xfer_len ? rt_gmem_ptr(&e->gmem, (s->range.pfn[0] << 12)
					       + s->range.byte_offset,
					       s->xfer_len) : NULL;

	EU_CHECK(d && s->cdb[0] == SCSI_OP_REPORT_LUNS,
		 "first SRB is not REPORT LUNS with data");
	memset(d, 0, s->xfer_len);
	vmb_put_be32(d, 1000 * 8);
	d[9] = 1;
	r.srb.srb_status = SCSI_SRB_SUCCESS | VSTOR_SRB_AUTOSENSE_VALID;
	r.srb.sense_info_length = 255;
	r.srb.data_transfer_length = 1u << 20;
	send_comp(c, 0x00000001ffffff00ull, &r, sizeof(r)); /* no such slot */
	send_comp(c, s->xid, &r, sizeof(r));
	send_comp(c, s->xid, &r, sizeof(r));
}

/* Whatever the guest asks next: there is no such LUN. */
static void no_luns(struct eh *e, struct echan *c, struct vstor_host *h)
{
	struct vstor_srb_result res = {.srb_status = SCSI_SRB_INVALID_LUN};
	struct vstor_host_act a;
	uint8_t out[VSTOR_PKT_LEN];
	struct vpkt p;
	uint64_t t0 = eu_now_ms();

	(void)e;
	while (eu_now_ms() - t0 < 1000) {
		uint32_t len;
		bool sig;

		if (vmb_ring_read(&c->in, p.buf, sizeof(p.buf), &len, &sig) ==
		    VMB_EAGAIN) {
			eu_wait_event(c->efd_g2h, 50);
			continue;
		}
		EU_CHECK(vmb_pkt_parse(p.buf, len, &p.pkt) == VMB_OK, "packet");
		vstor_host_rx(h, &p.pkt, &a);
		if (a.kind == VSTOR_HA_SRB)
			send_comp(c, a.xid, out,
				  vstor_host_complete(h, &a.srb, &res, out));
	}
}

/* Sub-channels the guest never asked for (this host allows none): it
 * maps their rings and opens them as VMBus goes, then storvsc refuses
 * each and the guest closes it (keeping the ring, as for any channel
 * left unused, until the host rescinds it). */
static void unasked_subchannels(struct eh *e)
{
	union vmb_msg_buf m;
	struct echan sub[3];

	eu_step("three sub-channels nobody asked for");
	offer_sub = 1;
	for (uint32_t relid = 2; relid <= 4; relid++) {
		open_raw(e, &sub[relid - 2], relid);
		expect_msg(e, VMB_MSG_CLOSECHANNEL, &m, NULL);
		EU_CHECK(vmb_le32(m.relid.child_relid) == relid,
			 "close of relid %u", vmb_le32(m.relid.child_relid));
	}
	offer_sub = 0;
}

static void storage(struct eh *e)
{
	struct vstor_host h;
	struct vstor_host_act a;
	uint8_t out[VSTOR_PKT_LEN];
	struct vpkt p;
	struct vmb_iov iov = {out, 0};
	bool sig;

	accept_guest(e);
	expect_contact(e, VMB_VERSION_WIN10_V5_3);
	connect_53(e);
	offer_class = VSTOR_CLASS_GUID;
	open_raw(e, &e->ch[0], 1);
	eu_step("VSTOR init by the book");
	vstor_init(&e->ch[0], &h, &a, &p);
	eu_step("a completion for an id never sent, a REPORT LUNS past its "
		"buffer and sense, the same answer twice");
	bad_report(e, &e->ch[0], &a.srb);
	eu_step("ENUMERATE_BUS storm");
	iov.len = vstor_host_enumerate(&h, out);
	for (int i = 0; i < 20; i++)
		vmb_pkt_send_inband(&e->ch[0].out, 0, 0, &iov, 1, &sig);
	eu_signal(e->ch[0].efd_h2g);
	no_luns(e, &e->ch[0], &h);
	unasked_subchannels(e);
	fprintf(stderr, "evil_host: ready\n");
	wait_leave(e);
}

/* The guest must give up: its socket closes, nothing else arrives. */
static void no_way_on(struct eh *e, const char *how)
{
	union vmb_msg_buf b;

	accept_guest(e);
	if (strcmp(how, "refuse") == 0) {
		for (unsigned i = 0; i < vmb_versions_count; i++) {
			expect_contact(e, vmb_versions[i]);
			post(e, &b, vmb_msg_enc_version_response(&b, false, 0,
								 0));
		}
	} else {
		expect_contact(e, VMB_VERSION_WIN10_V5_3);
		if (strcmp(how, "conn0") == 0)
			vmb_msg_enc_version_response(&b, true, 0, 0);
		else
			vmb_msg_enc_version_response(
				&b, true, 1, VMB_MSG_REDIRECT_CONNECTION_ID);
		post(e, &b, sizeof(b.version_response));
	}
	wait_leave(e);
}

/* ---- a send ring that never drains ---- */

static uint32_t ring_word(const struct vmb_ring *r, size_t off)
{
	return eu_ring_load(r->hdr, off);
}

/* A clean 5.3 connection with one test device offered, up to the
 * guest's OPENCHANNEL: c's rings are mapped, OPEN_RESULT not yet sent. */
static void connect_until_open(struct eh *e, struct echan *c,
			       const char *cls)
{
	union vmb_msg_buf b, m;

	accept_guest(e);
	expect_contact(e, VMB_VERSION_WIN10_V5_3);
	e->conn = VMB_MSG_REDIRECT_CONNECTION_ID;
	post(e, &b, vmb_msg_enc_version_response(&b, true, VMB_CONN_STATE_OK,
						 e->conn));
	expect_msg(e, VMB_MSG_REQUESTOFFERS, &m, NULL);
	offer_class = cls;
	offer_chan(e, c, 1);
	post(e, &b, vmb_msg_enc_empty(&b, VMB_MSG_ALLOFFERS_DELIVERED));
	take_gpadl(e, c);
	post(e, &b, vmb_msg_enc_gpadl_created(&b, 1, c->gpadl, 0));
	take_open(e, c);
}

/* Before the guest may send: a valid read_index 8 bytes past its
 * write_index leaves 8 bytes free, less than any packet needs. The
 * guest's QUERY (sent when OPEN_RESULT arrives) cannot go out. */
static void full_before_query(struct eh *e, struct echan *c)
{
	size_t wo = offsetof(struct vmb_ring_hdr, write_index);
	size_t ro = offsetof(struct vmb_ring_hdr, read_index);
	union vmb_msg_buf b;
	uint32_t wr = ring_word(&c->in, wo), rd = (wr + 8) % c->in.size;

	eu_step("guest's send ring made to look full (write %u, read %u) "
		"before OPEN_RESULT", wr, rd);
	eu_ring_store(c->in.hdr, ro, rd);
	post(e, &b, vmb_msg_enc_open_result(&b, c->relid, c->open_id, 0));
	guest_idle(e, c->efd_h2g, "a full send ring");
	EU_CHECK(ring_word(&c->in, wo) == wr && ring_word(&c->in, ro) == rd,
		 "guest wrote into a full ring: write %u, read %u",
		 ring_word(&c->in, wo), ring_word(&c->in, ro));
}

/* QUERY answered: the guest's echo traffic runs into a ring nobody
 * reads until it is full, and the guest then stops writing. */
static void full_by_echo(struct eh *e, struct echan *c)
{
	size_t wo = offsetof(struct vmb_ring_hdr, write_index);
	union vmb_msg_buf b;
	uint64_t t0;
	uint32_t wr = UINT32_MAX;

	post(e, &b, vmb_msg_enc_open_result(&b, c->relid, c->open_id, 0));
	answer_query(e, c);
	eu_step("QUERY answered; the guest's send ring is never read again");
	t0 = eu_now_ms();
	while (vmb_ring_free(&c->in) >= FULL_FREE ||
	       ring_word(&c->in, wo) != wr) {
		EU_CHECK(eu_now_ms() - t0 < FILL_MS, "echo traffic did not "
			 "fill the ring: %u bytes free",
			 vmb_ring_free(&c->in));
		wr = ring_word(&c->in, wo);
		eu_sleep_ms(50);
	}
	eu_step("ring full after %llu ms: %u bytes free",
		(unsigned long long)(eu_now_ms() - t0), vmb_ring_free(&c->in));
	guest_idle(e, c->efd_h2g, "a full send ring");
	EU_CHECK(ring_word(&c->in, wo) == wr,
		 "guest wrote into a full ring");
}

/* The guest stays responsive with its send ring full: it goes on
 * SIGTERM (we wait for it to leave), or notices that we closed. */
static void full_ring(struct eh *e, const char *how)
{
	struct echan *c = &e->ch[1];

	connect_until_open(e, c, TDEV_CLASS_GUID);
	if (strncmp(how, "echo-", 5) == 0)
		full_by_echo(e, c);
	else
		full_before_query(e, c);
	fprintf(stderr, "evil_host: ready\n");
	if (strstr(how, "-close")) {
		close(e->sock);
		e->sock = -1;
		eu_step("socket closed");
		return;
	}
	wait_leave(e);
}

/* The guest's process is gone (we read nothing to learn it). */
static void wait_exit(struct eh *e)
{
	uint64_t t0 = eu_now_ms();

	while (kill(e->guest, 0) == 0 &&
	       eu_fd_count(e->guest) >= 0) {
		EU_CHECK(eu_now_ms() - t0 < LEAVE_MS, "guest did not leave");
		eu_sleep_ms(10);
	}
}

/* Many offers, then deafness: the guest's answers (a GPADL for each
 * channel) pile up in its send queue, which must never stop it. */
static void flood(struct eh *e, const char *how)
{
	union vmb_msg_buf b, m;
	int fds[2];

	accept_guest(e);
	expect_contact(e, VMB_VERSION_WIN10_V5_3);
	e->conn = VMB_MSG_REDIRECT_CONNECTION_ID;
	post(e, &b, vmb_msg_enc_version_response(&b, true, VMB_CONN_STATE_OK,
						 e->conn));
	expect_msg(e, VMB_MSG_REQUESTOFFERS, &m, NULL);
	for (uint32_t relid = 1; relid <= FLOOD_CHANNELS; relid++) {
		fds[0] = eu_eventfd();
		fds[1] = eu_eventfd();
		offer(e, relid, fds, 2);
		close(fds[0]);
		close(fds[1]);
	}
	post(e, &b, vmb_msg_enc_empty(&b, VMB_MSG_ALLOFFERS_DELIVERED));
	eu_step("%u offers sent; reading nothing more", FLOOD_CHANNELS);
	fprintf(stderr, "evil_host: ready\n");
	if (strstr(how, "-close")) {
		eu_sleep_ms(500);
		close(e->sock);
		e->sock = -1;
		eu_step("socket closed");
		return;
	}
	wait_exit(e);
}

/* ---- network: NVSP and RNDIS by the book, ARP and ping answered ---- */

#define NET_SECONDS 60
#define NET_CTL_SUBS 16u  /* control answers' sub-allocations */
#define NET_DATA_SUBS 64u /* data frames' ones, reused in turn */
#define NET_BAD_XID 0x10000u
#define NET_BAD_PKTS 5u

static const uint8_t net_peer_mac[6] = {0x02, 0x00, 0x5e, 0x62, 0x00, 0x01};
static const uint8_t net_peer_ip[4] = {10, 98, 0, 1};

struct nethost {
	struct echan *c;
	struct nvsp_host nv;
	struct rndis_host rn;
	uint32_t rgpadl, sgpadl;
	struct rt_gmap rmap, smap;
	uint32_t ctl_next, data_next;
	unsigned frames, msgs, arps, pings;
	bool hostile;      /* send the bad packets after RNDIS init */
	bool stall;        /* never complete a data send */
	unsigned bad_done; /* their completions */
	bool rsc;          /* offer RSC; the sequences after the first ARP */
	bool rsc_sent;
	uint32_t rsc_sub;  /* next sub-allocation of the sequences */
	unsigned rsts;     /* RSTs acknowledging the good segment */
};

/* A transfer-page packet of n ranges of page set set, id xid. */
static void net_xfers(struct nethost *nh, uint16_t set,
		      const struct vmb_xfer_range *rg, uint32_t n,
		      uint32_t ctype, uint64_t xid)
{
	union nvsp_msg m;
	uint32_t mlen = nvsp_host_rndis_pkt(&nh->nv, ctype, &m);
	bool sig;

	EU_CHECK(vmb_pkt_send_xfer(&nh->c->out,
				   VMB_PKT_FLAG_COMPLETION_REQUESTED, xid, set,
				   rg, n, &m, mlen, &sig) == VMB_OK,
		 "transfer-page packet");
	eu_signal(nh->c->efd_h2g);
}

static void net_xfer(struct nethost *nh, uint16_t set, uint32_t off,
		     uint32_t len, uint32_t ctype, uint64_t xid)
{
	struct vmb_xfer_range rg = {vmb_le32(len), vmb_le32(off)};

	net_xfers(nh, set, &rg, 1, ctype, xid);
}

/* RNDIS bytes into a sub-allocation, named by a transfer-page packet
 * whose id is the sub-allocation's index (as OpenVMM does). */
static void net_to_guest(struct nethost *nh, uint32_t ctype,
			 const uint8_t *msg, uint32_t len)
{
	uint32_t sub = nh->nv.layout.sub_alloc_size, idx;

	idx = ctype == NVSP_CHANNEL_CONTROL
		      ? nh->ctl_next++ % NET_CTL_SUBS
		      : NET_CTL_SUBS + nh->data_next++ % NET_DATA_SUBS;
	EU_CHECK(len <= sub, "message of %u bytes", len);
	memcpy((uint8_t *)nh->rmap.va + (size_t)idx * sub, msg, len);
	net_xfer(nh, NVSP_RECV_BUF_ID, idx * sub, len, ctype, idx);
}

static void net_frame_out(struct nethost *nh, const uint8_t *f, uint32_t n)
{
	static const struct rndis_pkt_meta none;
	uint8_t msg[2048];
	uint32_t hl = rndis_pkt_build(msg, sizeof(msg), &none, n);

	EU_CHECK(hl && hl + n <= sizeof(msg), "frame of %u bytes", n);
	memcpy(msg + hl, f, n);
	net_to_guest(nh, NVSP_CHANNEL_DATA, msg, hl + n);
}

static void net_eth(uint8_t *out, const uint8_t *in, uint16_t type)
{
	memcpy(out, in + 6, 6);
	memcpy(out + 6, net_peer_mac, 6);
	vmb_put_be16(out + 12, type);
}

/* ---- RSC: coalesced pieces, malformed and good ---- */

#define NET_RSC_XID 0x20000u
#define NET_RSC_SEQ 0x01000000u
#define NET_RSC_PAY 3000u
#define NET_RSC_SUB0 (NET_CTL_SUBS + NET_DATA_SUBS + 4u)

struct rsc_piece {
	const uint8_t *data;
	uint32_t len;
	uint8_t flags;      /* RNDIS_PKTID_*; 0: a plain PACKET */
	bool verdict;       /* the checksum PPI (TCP and IP succeeded) */
};

/* Pieces as PACKETs in sub-allocations of their own, one transfer-page
 * packet with a range each. */
static void net_rsc_send(struct nethost *nh, const struct rsc_piece *p,
			 uint32_t n)
{
	struct vmb_xfer_range rg[64];
	uint32_t sub = nh->nv.layout.sub_alloc_size;
	union nvsp_msg m;
	uint32_t mlen = nvsp_host_rndis_pkt(&nh->nv, NVSP_CHANNEL_DATA, &m);
	bool sig;

	EU_CHECK(n <= 64, "%u pieces", n);
	for (uint32_t i = 0; i < n; i++) {
		struct rndis_pkt_meta mt = {0};
		uint32_t idx = nh->rsc_sub++;
		uint8_t *at = (uint8_t *)nh->rmap.va + (size_t)idx * sub;
		uint32_t hl;

		mt.present = (p[i].flags ? RNDIS_META_RSC : 0u) |
			     (p[i].verdict ? RNDIS_META_CSUM : 0u);
		mt.rsc_flags = p[i].flags;
		mt.rsc_id = 7;
		mt.csum = RNDIS_CSUM_RX_TCP_OK | RNDIS_CSUM_RX_TCP_INVALID |
			  RNDIS_CSUM_RX_IP_OK;
		hl = rndis_pkt_build(at, sub, &mt, p[i].len);
		EU_CHECK(hl && hl + p[i].len <= sub, "piece of %u", p[i].len);
		memcpy(at + hl, p[i].data, p[i].len);
		rg[i] = (struct vmb_xfer_range){vmb_le32(hl + p[i].len),
						vmb_le32(idx * sub)};
	}
	EU_CHECK(vmb_pkt_send_xfer(&nh->c->out,
				   VMB_PKT_FLAG_COMPLETION_REQUESTED,
				   NET_RSC_XID + nh->rsc_sub, NVSP_RECV_BUF_ID,
				   rg, n, &m, mlen, &sig) == VMB_OK,
		 "transfer-page packet of %u pieces", n);
	eu_signal(nh->c->efd_h2g);
}

/* The good frame to the guest (whose ARP request is f): TCP to port 9
 * from the peer, PSH without ACK, NET_RSC_PAY bytes; the TCP checksum
 * left invalid, the IPv4 one 0 (RSC rewrote the length: the guest makes
 * it). */
static void net_rsc_frame(uint8_t *fr, const uint8_t *f)
{
	uint32_t tot = 20u + 20u + NET_RSC_PAY;

	memset(fr, 0, 14 + tot);
	net_eth(fr, f, 0x0800);
	fr[14] = 0x45;
	vmb_put_be16(fr + 16, (uint16_t)tot);
	fr[22] = 64;
	fr[23] = 6;
	memcpy(fr + 26, net_peer_ip, 4);
	memcpy(fr + 30, f + 28, 4);     /* the asker's address */
	vmb_put_be16(fr + 34, 5555);
	vmb_put_be16(fr + 36, 9);
	vmb_put_be32(fr + 38, NET_RSC_SEQ);
	fr[46] = 0x50;
	fr[47] = 0x08;                  /* PSH */
	vmb_put_be16(fr + 48, 65535);
	for (uint32_t i = 0; i < NET_RSC_PAY; i++)
		fr[54 + i] = (uint8_t)i;
}

/* What no host should send of RSC, each dropped whole by the guest and
 * counted once (NET_RSC_BAD in all), then the good frame in 3 pieces. */
#define NET_RSC_BAD 9u
static void net_rsc_hostile(struct nethost *nh, const uint8_t *f)
{
	static uint8_t fr[14 + 40 + NET_RSC_PAY], big[1514];
	const uint8_t S = RNDIS_PKTID_SUBALLOC, F = RNDIS_PKTID_FIRST,
		      L = RNDIS_PKTID_LAST;
	struct rsc_piece g[3] = {{fr, 1514, S | F, true},
				 {fr + 1514, 1514, S, false},
				 {fr + 3028, 26, S | L, false}};
	struct rsc_piece p[45];

	nh->rsc_sub = NET_RSC_SUB0;
	net_rsc_frame(fr, f);
	memcpy(big, fr, sizeof(big));
	eu_step("RSC: a piece without a first; a first left open, a last "
		"alone; a first cut by a first whose IP length is not the "
		"frame's; a first cut by a plain frame, a last alone; 45 "
		"pieces; no checksum verdict");
	net_rsc_send(nh, &g[1], 1);                          /* 1 */
	net_rsc_send(nh, &g[0], 1);                          /* 2 */
	net_rsc_send(nh, &g[2], 1);                          /* 3 */
	p[0] = g[0];
	p[1] = (struct rsc_piece){fr, 1514, S | F | L, true};
	net_rsc_send(nh, p, 2);                              /* 4, 5 */
	p[1] = (struct rsc_piece){fr, 60, 0, false};
	p[2] = g[2];
	net_rsc_send(nh, p, 3);                              /* 6, 7 */
	for (unsigned i = 0; i < 45; i++)
		p[i] = (struct rsc_piece){big, 1514,
					  (uint8_t)(S | (i ? 0 : F) |
						    (i == 44 ? L : 0)),
					  i == 0};
	net_rsc_send(nh, p, 45);                             /* 8 */
	memcpy(p, g, sizeof(g));
	p[0].verdict = false;
	net_rsc_send(nh, p, 3);                              /* 9 */
	eu_step("RSC: a good TCP segment of %u bytes in 3 pieces",
		NET_RSC_PAY);
	net_rsc_send(nh, g, 3);
	nh->rsc_sent = true;
}

/* A TCP RST from the guest acknowledging the whole good segment. */
static void net_rsc_rst(struct nethost *nh, const uint8_t *f, uint32_t n)
{
	uint32_t ihl = (f[14] & 15u) * 4;

	if (!nh->rsc_sent || n < 14 + ihl + 20 || f[23] != 6 ||
	    vmb_be16(f + 14 + ihl) != 9 || !(f[14 + ihl + 13] & 0x04))
		return;
	EU_CHECK(vmb_be32(f + 14 + ihl + 8) == NET_RSC_SEQ + NET_RSC_PAY,
		 "RST acknowledging %u bytes, not %u",
		 vmb_be32(f + 14 + ihl + 8) - NET_RSC_SEQ, NET_RSC_PAY);
	nh->rsts++;
	eu_step("RST acknowledging %u coalesced bytes", NET_RSC_PAY);
}

/* An ARP request for the peer's address: the reply. */
static void net_arp(struct nethost *nh, const uint8_t *f, uint32_t n)
{
	uint8_t r[42];

	if (n < 42 || vmb_be16(f + 20) != 1 ||
	    memcmp(f + 38, net_peer_ip, 4))
		return;
	net_eth(r, f, 0x0806);
	memcpy(r + 14, f + 14, 6);      /* Ethernet, IPv4, 6, 4 */
	vmb_put_be16(r + 20, 2);        /* reply */
	memcpy(r + 22, net_peer_mac, 6);
	memcpy(r + 28, net_peer_ip, 4);
	memcpy(r + 32, f + 22, 10);     /* the asker's MAC and address */
	nh->arps++;
	eu_step("ARP request for 10.98.0.1 answered");
	net_frame_out(nh, r, sizeof(r));
	if (nh->rsc && !nh->rsc_sent)
		net_rsc_hostile(nh, f);
}

/* An ICMP echo request to the peer: the echo reply. */
static void net_icmp(struct nethost *nh, const uint8_t *f, uint32_t n)
{
	uint8_t r[1514];
	uint32_t ihl = n > 14 ? (f[14] & 15u) * 4 : 0, tot;

	if (n < 14 + 20 || ihl < 20 || f[23] != 1 ||
	    memcmp(f + 30, net_peer_ip, 4))
		return;
	tot = vmb_be16(f + 16);
	if (tot < ihl + 8 || 14 + tot > n || 14 + tot > sizeof(r) ||
	    f[14 + ihl] != 8)
		return;
	net_eth(r, f, 0x0800);
	memcpy(r + 14, f + 14, tot);
	memcpy(r + 26, f + 30, 4);      /* source: the peer */
	memcpy(r + 30, f + 26, 4);      /* destination: the asker */
	r[22] = 64;
	vmb_put_be16(r + 24, 0);
	vmb_put_be16(r + 24, ncsum(r + 14, ihl));
	r[14 + ihl] = 0;                /* echo reply */
	vmb_put_be16(r + 14 + ihl + 2, 0);
	vmb_put_be16(r + 14 + ihl + 2, ncsum(r + 14 + ihl, tot - ihl));
	if (++nh->pings <= 3) /* the first few: a flood follows */
		eu_step("echo request %u to 10.98.0.1 answered",
			vmb_be16(f + 14 + ihl + 6));
	net_frame_out(nh, r, 14 + tot);
}

static void net_frame_in(struct nethost *nh, const struct rndis_pkt *pk)
{
	EU_CHECK(pk->data_len >= 14, "frame of %u bytes", pk->data_len);
	nh->frames++;
	if (nh->stall)
		return;
	if (vmb_be16(pk->data + 12) == 0x0806)
		net_arp(nh, pk->data, pk->data_len);
	else if (vmb_be16(pk->data + 12) == 0x0800 &&
		 pk->data_len > 14 + 20 && pk->data[23] == 6)
		net_rsc_rst(nh, pk->data, pk->data_len);
	else if (vmb_be16(pk->data + 12) == 0x0800)
		net_icmp(nh, pk->data, pk->data_len);
}

/* A data message: the PACKETs the guest packed in it, each padded to
 * the alignment the host gave (counted in its msg_len). */
static void net_data(struct nethost *nh, const uint8_t *msg, uint32_t len)
{
	struct rndis_ppi_stats st = {0};
	struct rndis_pkt_iter it;
	struct rndis_pkt pk;
	int rc;

	nh->msgs++;
	rndis_pkt_iter_init(&it, msg, len, 1u << RNDIS_HOST_ALIGN_SHIFT);
	while ((rc = rndis_pkt_next(&it, &pk, &st)) == 1)
		net_frame_in(nh, &pk);
	EU_CHECK(rc == 0 && st.packets, "guest sent a bad RNDIS PACKET");
}

/* A packet of three ranges as a host batches frames, two good PACKETs
 * of a 60-byte frame each around one past the buffer: the guest must
 * refuse it whole (no frame of it comes out) and complete it. */
static void net_bad_batch(struct nethost *nh, uint8_t *spare, uint32_t sub)
{
	static const struct rndis_pkt_meta none;
	uint32_t at = (uint32_t)(spare - (uint8_t *)nh->rmap.va), hl = 0;
	struct vmb_xfer_range rg[3];

	for (unsigned i = 0; i < 3; i += 2) {
		uint8_t *p = spare + (size_t)(2 + i) * sub;

		hl = rndis_pkt_build(p, sub, &none, 60);
		memset(p + hl, 0xff, 60);
		rg[i] = (struct vmb_xfer_range){vmb_le32(hl + 60),
						vmb_le32(at + (2 + i) * sub)};
	}
	rg[1] = (struct vmb_xfer_range){vmb_le32(hl + 60),
					vmb_le32((uint32_t)nh->rmap.len - 8)};
	net_xfers(nh, NVSP_RECV_BUF_ID, rg, 3, NVSP_CHANNEL_DATA,
		  NET_BAD_XID + 4);
}

/* What no host should send, once RNDIS is up: a transfer-page packet
 * of another page set, one past the buffer, a PACKET longer than its
 * range, a control answer to no request, several ranges one of them
 * past the buffer (each must still be completed), an NVSP message of no
 * known type and a completion of no send. */
static void net_hostile(struct nethost *nh)
{
	uint32_t sub = nh->nv.layout.sub_alloc_size;
	uint8_t *spare = (uint8_t *)nh->rmap.va +
			 (size_t)(NET_CTL_SUBS + NET_DATA_SUBS) * sub;
	struct rndis_status_cmplt cm = {
		.hdr = {vmb_le32(RNDIS_MSG_SET_C), vmb_le32(sizeof(cm))},
		.req_id = vmb_le32(0x7777),
	};
	union nvsp_msg m = {.type = 999};
	struct vmb_iov iov = {&m, sizeof(m)};
	bool sig;

	eu_step("bad transfer pages, PACKET, control answer, message, "
		"completion");
	net_xfer(nh, 0xBEEF, 0, 64, NVSP_CHANNEL_DATA, NET_BAD_XID);
	net_xfer(nh, NVSP_RECV_BUF_ID, (uint32_t)nh->rmap.len - 8, 64,
		 NVSP_CHANNEL_DATA, NET_BAD_XID + 1);
	memset(spare, 0, 100);
	rndis_wr32(spare, RNDIS_MSG_PACKET);
	rndis_wr32(spare + 4, 4000);
	net_xfer(nh, NVSP_RECV_BUF_ID, (uint32_t)(spare - (uint8_t *)nh->rmap.va),
		 100, NVSP_CHANNEL_DATA, NET_BAD_XID + 2);
	memcpy(spare + sub, &cm, sizeof(cm));
	net_xfer(nh, NVSP_RECV_BUF_ID,
		 (uint32_t)(spare + sub - (uint8_t *)nh->rmap.va), sizeof(cm),
		 NVSP_CHANNEL_CONTROL, NET_BAD_XID + 3);
	net_bad_batch(nh, spare, sub);
	EU_CHECK(vmb_pkt_send_inband(&nh->c->out, 0, 0, &iov, 1, &sig) ==
			 VMB_OK, "inband message");
	EU_CHECK(vmb_pkt_send_comp(&nh->c->out, 12345, &m,
				   nvsp_host_rndis_done(&nh->nv,
							NVSP_STATUS_SUCCESS, &m),
				   &sig) == VMB_OK, "completion");
	eu_signal(nh->c->efd_h2g);
	fprintf(stderr, "evil_host: hostile packets sent\n");
}

/* The RNDIS message of a SEND_RNDIS_PKT, copied out of its section. */
static void net_rndis(struct nethost *nh, const struct nvsp_host_act *a)
{
	struct rndis_host_act ra;
	uint8_t msg[NVSP_HOST_SEND_SECTION];
	union nvsp_msg m;

	EU_CHECK(a->rndis.section != NVSP_SECTION_NONE &&
		 a->rndis.size <= sizeof(msg),
		 "RNDIS message not in a send section");
	memcpy(msg, (uint8_t *)nh->smap.va + a->rndis.offset, a->rndis.size);
	if (a->rndis.channel_type == NVSP_CHANNEL_DATA) {
		net_data(nh, msg, a->rndis.size);
	} else {
		rndis_host_offer_rsc(&nh->rn, nh->rsc && nh->nv.rsc);
		rndis_host_rx(&nh->rn, msg, a->rndis.size, &ra);
		if (ra.reply_len)
			net_to_guest(nh, NVSP_CHANNEL_CONTROL, ra.reply,
				     ra.reply_len);
		/* The offload parameters are the last step of the init. */
		if (nh->hostile && a->rndis.size >= 16 &&
		    rndis_rd32(msg) == RNDIS_MSG_SET &&
		    rndis_rd32(msg + 12) == RNDIS_OID_OFFLOAD_PARAMS)
			net_hostile(nh);
	}
	if (a->completion &&
	    !(nh->stall && a->rndis.channel_type == NVSP_CHANNEL_DATA))
		send_comp(nh->c, a->xid, &m,
			  nvsp_host_rndis_done(&nh->nv, NVSP_STATUS_SUCCESS,
					       &m));
}

static void net_pkt(struct nethost *nh, const struct vmb_pkt *pkt)
{
	struct nvsp_host_act a;

	nvsp_host_rx(&nh->nv, pkt, &a);
	switch (a.kind) {
	case NVSP_HA_MAP_RECV:
		EU_CHECK(a.gpadl == nh->rgpadl, "receive buffer GPADL %u",
			 a.gpadl);
		nvsp_host_recv_mapped(&nh->nv, (uint32_t)nh->rmap.len, &a);
		eu_step("receive buffer: %u sub-allocations",
			nh->nv.layout.num_sub_allocs);
		break;
	case NVSP_HA_MAP_SEND:
		EU_CHECK(a.gpadl == nh->sgpadl, "send buffer GPADL %u",
			 a.gpadl);
		nvsp_host_send_mapped(&nh->nv, (uint32_t)nh->smap.len, &a);
		break;
	case NVSP_HA_RNDIS:
		net_rndis(nh, &a);
		return;
	case NVSP_HA_RX_DONE:
		nh->bad_done += a.xid >= NET_BAD_XID &&
				a.xid < NET_BAD_XID + NET_BAD_PKTS;
		break;
	case NVSP_HA_REPLY:
	case NVSP_HA_NONE:
		break;
	default:
		EU_FAIL("NVSP action %d not expected", a.kind);
	}
	if (a.reply_due && a.completion)
		send_comp(nh->c, a.xid, &a.reply, a.reply_len);
}

/* Packets until the guest leaves; its messages on the socket (closing,
 * teardown, unload) are read and left unanswered. */
static void net_serve(struct eh *e, struct nethost *nh)
{
	struct pollfd p[2] = {{.fd = e->sock, .events = POLLIN},
			      {.fd = nh->c->efd_g2h, .events = POLLIN}};
	uint64_t t0 = eu_now_ms(), v;
	struct vpkt *vp = malloc(sizeof(*vp));
	struct rt_frame f;
	uint32_t len;
	bool sig;
	int rc;

	EU_CHECK(vp, "out of memory");
	for (;;) {
		EU_CHECK(eu_now_ms() - t0 < NET_SECONDS * 1000u,
			 "guest did not leave");
		poll(p, 2, 100);
		if (p[1].revents && read(p[1].fd, &v, sizeof(v)) < 0)
			EU_FAIL("eventfd: %s", strerror(errno));
		while (vmb_ring_read(&nh->c->in, vp->buf, sizeof(vp->buf),
				     &len, &sig) == VMB_OK) {
			EU_CHECK(vmb_pkt_parse(vp->buf, len, &vp->pkt) ==
					 VMB_OK, "bad packet from the guest");
			net_pkt(nh, &vp->pkt);
		}
		if (!p[0].revents)
			continue;
		rc = eu_recv(e->sock, 100, &f);
		if (rc == -ECONNRESET)
			break;
		EU_CHECK(rc == 0 || rc == -ETIMEDOUT, "guest socket: %s",
			 strerror(-rc));
		if (rc == 0)
			eu_frame_close(&f);
	}
	free(vp);
}

/* how: "net" (the guest's TAP pings the peer), "net-idle" (no TAP: no
 * frame may come), "net-bad" (no TAP, net_hostile) or "net-stall" (no
 * data send completed: the guest sends one message per send section,
 * then waits). */
static void net(struct eh *e, const char *how)
{
	bool rsc = strcmp(how, "net-rsc") == 0;
	bool ping = rsc || strcmp(how, "net") == 0;
	struct rndis_host_cfg rc = {.mac = {0x00, 0x15, 0x5d, 0x62, 0x00, 0x02},
				    .mtu = 1500, .link_speed = 100000000,
				    .link_up = true, .max_queues = 1};
	struct nvsp_host_cfg nc = {.max_version = NVSP_VERSION_61,
				   .primary = true};
	struct nethost nh = {.c = &e->ch[0],
			     .hostile = strcmp(how, "net-bad") == 0,
			     .stall = strcmp(how, "net-stall") == 0,
			     .rsc = rsc};
	union vmb_msg_buf b;

	connect_until_open(e, &e->ch[0], NVSP_CLASS_GUID);
	post(e, &b, vmb_msg_enc_open_result(&b, 1, e->ch[0].open_id, 0));
	eu_step("netvsc open; its receive and send buffers");
	take_gpadl_of(e, 1, GNET_PAGES_RECV, &nh.rgpadl, &nh.rmap);
	post(e, &b, vmb_msg_enc_gpadl_created(&b, 1, nh.rgpadl, 0));
	take_gpadl_of(e, 1, GNET_PAGES_SEND, &nh.sgpadl, &nh.smap);
	post(e, &b, vmb_msg_enc_gpadl_created(&b, 1, nh.sgpadl, 0));
	if (rsc)
		rc.backend = RNDIS_HCAP_CSUM_IP4 | RNDIS_HCAP_CSUM_TCP4 |
			     RNDIS_HCAP_CSUM_TCP6 | RNDIS_HCAP_RSC;
	nvsp_host_init(&nh.nv, &nc);
	rndis_host_init(&nh.rn, &rc);
	fprintf(stderr, "evil_host: ready\n");
	net_serve(e, &nh);
	eu_step("%u frames in %u messages; answered %u ARP requests, %u "
		"echo requests", nh.frames, nh.msgs, nh.arps, nh.pings);
	if (nh.stall)
		EU_CHECK(nh.msgs == nh.nv.send_sections, "%u messages sent "
			 "with %u sections never given back", nh.msgs,
			 nh.nv.send_sections);
	else if (rsc)
		EU_CHECK(nh.rsts == 1, "%u RSTs for the coalesced segment",
			 nh.rsts);
	else if (ping)
		EU_CHECK(nh.arps >= 1 && nh.pings >= 3, "too few answered");
	else
		EU_CHECK(nh.frames == 0, "frames from a guest without a TAP");
	EU_CHECK(nh.bad_done == (nh.hostile ? NET_BAD_PKTS : 0),
		 "%u of the bad transfer-page packets completed", nh.bad_done);
	rt_gmem_unmap(&nh.rmap);
	rt_gmem_unmap(&nh.smap);
}

static void echan_free(struct echan *c)
{
	if (c->map.va)
		rt_gmem_unmap(&c->map);
	if (c->relid) {
		close(c->efd_g2h);
		close(c->efd_h2g);
	}
}

int main(int argc, char **argv)
{
	struct eh e;

	if (argc != 3) {
		fprintf(stderr, "usage: evil_host SOCK "
			"survive|storage|net|net-idle|net-bad|net-stall|net-rsc|conn0|busy|refuse|full|full-close|"
			"echo-full|echo-full-close|flood|flood-close\n");
		return 2;
	}
	memset(&e, 0, sizeof(e));
	e.sock = -1;
	e.gmem.fd = -1;
	e.lfd = rt_xport_listen(argv[1]);
	EU_CHECK(e.lfd >= 0, "listen on %s: %s", argv[1], strerror(-e.lfd));
	if (strcmp(argv[2], "survive") == 0)
		survive(&e);
	else if (strcmp(argv[2], "storage") == 0)
		storage(&e);
	else if (strncmp(argv[2], "net", 3) == 0)
		net(&e, argv[2]);
	else if (strstr(argv[2], "full"))
		full_ring(&e, argv[2]);
	else if (strstr(argv[2], "flood"))
		flood(&e, argv[2]);
	else
		no_way_on(&e, argv[2]);
	for (unsigned i = 0; i < VMB_ARRAY_LEN(e.ch); i++)
		echan_free(&e.ch[i]);
	rt_gmem_destroy(&e.gmem);
	if (e.sock >= 0)
		close(e.sock);
	close(e.lfd);
	unlink(argv[1]);
	fprintf(stderr, "evil_host: guest behaved\n");
	return 0;
}
