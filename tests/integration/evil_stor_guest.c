/* A hostile guest on the synthetic SCSI controller, against a real
 * hvis-host with a disk: raw VMBus, its own rings, VSTOR packets built by
 * hand. SRBs whose length runs past their GPA range, CDBs longer than 16
 * bytes, sense lengths past the version's buffer, bad directions, GPA
 * ranges outside guest memory, bogus paths, targets and LUNs, requests
 * before the init sequence, short packets, sub-channel counts above what
 * the host allows and twice: each must be answered with a failure (the
 * guest never waits), counted by the host ("refused" in `hvis-ctl
 * channels --json`), and leave the channel working: a good READ after
 * them returns the disk's bytes.
 * With "noread": READs until both rings are full, never reading the
 * host's answers; removing the disk then must not wait for this guest
 * (the host's loop answers at once), nor may anything else.
 * Usage: evil_stor_guest VMBUS_SOCK CTL_SOCK DISK_IMAGE [noread] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "evil_util.h"
#include "rt_gmem.h"
#include "scsi/scsi_disk.h"
#include "storage/vstor_guest.h"
#include "vmbus/vmb_msg.h"
#include "vmbus/vmb_pkt.h"

#define GMEM_SIZE (16u << 20)
#define RING_PAGES 8u /* each direction: one GPADL_HEADER holds them */
#define REPLY_MS 3000

struct eg {
	const char *vmbus, *ctl, *image;
	struct eu_vmb v;
	uint32_t open_id;
	struct rt_gmem gmem;
	uint8_t *ring, *data;
	struct vmb_ring out, in;
	struct vstor_guest g;
};

static void open_chan(struct eg *e)
{
	uint64_t pfn[2 * RING_PAGES], len = RING_PAGES << VMB_PAGE_SHIFT;
	union vmb_msg_buf b, m;
	uint64_t first;

	e->ring = rt_gmem_alloc(&e->gmem, 2 * RING_PAGES);
	e->data = rt_gmem_alloc(&e->gmem, 16);
	EU_CHECK(e->ring && e->data, "allocation");
	first = rt_gmem_gpa(&e->gmem, e->ring) >> VMB_PAGE_SHIFT;
	for (unsigned i = 0; i < 2 * RING_PAGES; i++)
		pfn[i] = first + i;
	eu_vmb_post(&e->v, &b,
		    vmb_msg_enc_gpadl_header(&b, e->v.relid, 1, 2 * RING_PAGES,
					     pfn, 2 * RING_PAGES));
	eu_vmb_expect(&e->v, VMB_MSG_GPADL_CREATED, &m);
	EU_CHECK(vmb_ring_attach(&e->out, e->ring, len) == VMB_OK &&
		 vmb_ring_attach(&e->in, e->ring + len, len) == VMB_OK,
		 "ring attach");
	vmb_ring_init_shared(&e->out, true);
	vmb_ring_init_shared(&e->in, true);
	eu_vmb_post(&e->v, &b, vmb_msg_enc_open(&b, e->v.relid, ++e->open_id,
						1, 0, RING_PAGES, NULL, 0));
	eu_vmb_expect(&e->v, VMB_MSG_OPENCHANNEL_RESULT, &m);
	EU_CHECK(vmb_le32(m.open_result.status) == 0, "open refused");
}

/* ---- packets ---- */

static void send_raw(struct eg *e, uint64_t xid, const void *p, uint32_t len)
{
	struct vmb_iov iov = {(void *)p, len};
	bool sig;

	EU_CHECK(vmb_pkt_send_inband(&e->out, VMB_PKT_FLAG_COMPLETION_REQUESTED,
				     xid, &iov, 1, &sig) == VMB_OK, "send");
	eu_signal(e->v.efd_tx);
}

static void send_data(struct eg *e, uint64_t xid, const void *p,
		      const struct vmb_gpa_range *rg)
{
	bool sig;

	EU_CHECK(vmb_pkt_send_gpa(&e->out, VMB_PKT_FLAG_COMPLETION_REQUESTED,
				  xid, rg, 1, p, VSTOR_PKT_LEN, &sig) == VMB_OK,
		 "send");
	eu_signal(e->v.efd_tx);
}

/* The host's answer to xid, within REPLY_MS. */
static void answer(struct eg *e, uint64_t xid, struct vstor_packet *a)
{
	uint64_t buf[256], t0 = eu_now_ms();
	struct vmb_pkt pkt;
	uint32_t len;
	bool sig;
	int rc;

	while ((rc = vmb_ring_read(&e->in, buf, sizeof(buf), &len, &sig)) ==
	       VMB_EAGAIN) {
		EU_CHECK(eu_now_ms() - t0 < REPLY_MS, "no answer to %llx",
			 (unsigned long long)xid);
		eu_wait_event(e->v.efd_rx, 10);
	}
	EU_CHECK(rc == VMB_OK && vmb_pkt_parse(buf, len, &pkt) == VMB_OK,
		 "bad packet from the host");
	if (sig)
		eu_signal(e->v.efd_tx);
	if (pkt.type == VMB_PKT_INBAND && pkt.xid == 0) /* ENUMERATE_BUS */
		return answer(e, xid, a);
	/* a refusal of what could not be read may carry the header only */
	EU_CHECK(pkt.type == VMB_PKT_COMP && pkt.xid == xid &&
		 pkt.payload_len >= VSTOR_PKT_HDR_LEN,
		 "answer: type %u xid %llx, %u bytes", pkt.type,
		 (unsigned long long)pkt.xid, pkt.payload_len);
	memset(a, 0, sizeof(*a));
	memcpy(a, pkt.payload, pkt.payload_len < VSTOR_PKT_LEN
				       ? pkt.payload_len : VSTOR_PKT_LEN);
}

/* ---- the host's counters ---- */

static uint64_t refused(struct eg *e)
{
	char *r = eu_ctl(e->ctl, "channels --json\n");
	json_t *j = r && strchr(r, '{') ? json_loads(strchr(r, '{'), 0, NULL)
					: NULL, *c;
	uint64_t n = 0;
	size_t i;

	EU_CHECK(j, "channels --json: %s", r ? r : "nothing");
	json_array_foreach(json_object_get(j, "channels"), i, c)
		n += (uint64_t)json_integer_value(json_object_get(
			json_object_get(c, "device"), "refused"));
	json_decref(j);
	free(r);
	return n;
}

/* ---- the init sequence, by the book ---- */

static void init(struct eg *e)
{
	struct vstor_guest_cfg cfg = {.max_version = VSTOR_VERSION_WIN10,
				      .subchannels = 0, .ncpus = 1};
	uint8_t p[VSTOR_PKT_LEN];
	struct vstor_packet a;
	struct vmb_pkt pkt = {.type = VMB_PKT_COMP};
	struct vstor_guest_ev ev;
	uint64_t xid;
	uint32_t n;

	vstor_guest_init(&e->g, &cfg);
	while ((n = vstor_guest_next(&e->g, p, &xid))) {
		send_raw(e, xid, p, n);
		answer(e, xid, &a);
		pkt.xid = xid;
		pkt.payload = (const uint8_t *)&a;
		pkt.payload_len = VSTOR_PKT_LEN;
		vstor_guest_rx(&e->g, NULL, &pkt, &ev);
	}
	EU_CHECK(e->g.state == VSTOR_GS_READY, "init failed at step %d",
		 e->g.fail_step);
}

/* ---- SRBs ---- */

static void srb(struct eg *e, uint8_t lun, uint8_t op, uint32_t len,
		struct vstor_packet *p)
{
	uint8_t cdb[10] = {op};
	struct vstor_srb_req r = {.lun = lun, .cdb_len = 10, .cdb = cdb,
				  .dir = len ? VSTOR_DIR_READ : VSTOR_DIR_NONE,
				  .xfer_len = len};

	vmb_put_be16(cdb + 7, (uint16_t)(len / 512));
	memset(p, 0, sizeof(*p));
	vstor_guest_srb(&e->g, &r, (uint8_t *)p);
}

static struct vmb_gpa_range range(struct eg *e, uint64_t *pfn, uint32_t len)
{
	uint64_t first = rt_gmem_gpa(&e->gmem, e->data) >> VMB_PAGE_SHIFT;

	for (unsigned i = 0; i < 16; i++)
		pfn[i] = first + i;
	return (struct vmb_gpa_range){.byte_count = len, .pfn = pfn,
				      .pfn_count = vmb_gpa_pfn_count(0, len)};
}

/* Send p (with rg when given); the answer must fail; refused must grow
 * by counted. */
static void expect_refused(struct eg *e, const char *what,
			   struct vstor_packet *p, struct vmb_gpa_range *rg,
			   unsigned counted)
{
	static uint64_t xid = 100;
	uint64_t before = refused(e), t0 = eu_now_ms();
	struct vstor_packet a;

	eu_step("%s", what);
	if (rg)
		send_data(e, ++xid, p, rg);
	else
		send_raw(e, ++xid, p, VSTOR_PKT_LEN);
	answer(e, xid, &a);
	EU_CHECK(a.status || (a.srb.srb_status & VSTOR_SRB_STATUS_MASK) !=
				     SCSI_SRB_SUCCESS,
		 "%s: answered as a success", what);
	while (refused(e) < before + counted) {
		EU_CHECK(eu_now_ms() - t0 < REPLY_MS, "%s: not counted", what);
		eu_sleep_ms(10);
	}
}

static void bad_srbs(struct eg *e)
{
	struct vstor_packet p;
	struct vmb_gpa_range rg;
	uint64_t pfn[16];

	srb(e, 0, SCSI_OP_READ10, 8192, &p);
	rg = range(e, pfn, 4096);
	expect_refused(e, "transfer past the GPA range", &p, &rg, 1);
	srb(e, 0, SCSI_OP_READ10, 4096, &p);
	p.srb.cdb_length = 17;
	rg = range(e, pfn, 4096);
	expect_refused(e, "CDB of 17 bytes", &p, &rg, 1);
	srb(e, 0, SCSI_OP_READ10, 4096, &p);
	p.srb.sense_info_length = 200;
	expect_refused(e, "sense length past the buffer", &p, &rg, 1);
	srb(e, 0, SCSI_OP_READ10, 4096, &p);
	p.srb.data_in = 7;
	expect_refused(e, "direction 7", &p, &rg, 1);
	srb(e, 0, SCSI_OP_READ10, 4096, &p);
	expect_refused(e, "data without a GPA range", &p, NULL, 1);
	srb(e, 0, SCSI_OP_READ10, 4096, &p);
	pfn[0] = 1ull << 40;
	expect_refused(e, "GPA range outside guest memory", &p, &rg, 0);
	srb(e, 0, SCSI_OP_READ10, 4096, &p);
	p.srb.target = 3;
	rg = range(e, pfn, 4096);
	expect_refused(e, "target 3", &p, &rg, 0);
	srb(e, 200, SCSI_OP_TEST_UNIT_READY, 0, &p);
	expect_refused(e, "LUN 200", &p, NULL, 0);
	srb(e, 9, SCSI_OP_READ10, 4096, &p);
	expect_refused(e, "READ of an absent LUN", &p, &rg, 0);
}

static void bad_requests(struct eg *e)
{
	struct vstor_packet p = {.operation = VSTOR_OP_CREATE_SUB_CHANNELS,
				 .flags = VSTOR_FLAG_REQUEST_COMPLETION,
				 .sub_channel_count = 1000};

	expect_refused(e, "1000 sub-channels", &p, NULL, 1);
	p = (struct vstor_packet){.operation = VSTOR_OP_BEGIN_INIT,
				  .flags = VSTOR_FLAG_REQUEST_COMPLETION};
	expect_refused(e, "BEGIN_INITIALIZATION when ready", &p, NULL, 1);
	p = (struct vstor_packet){.operation = 99,
				  .flags = VSTOR_FLAG_REQUEST_COMPLETION};
	expect_refused(e, "operation 99", &p, NULL, 1);
	p = (struct vstor_packet){.operation = VSTOR_OP_COMPLETE_IO,
				  .flags = VSTOR_FLAG_REQUEST_COMPLETION};
	expect_refused(e, "COMPLETE_IO from a guest", &p, NULL, 1);
}

/* After all of it: a good READ gives the image's first 4 KiB. */
static void good_read(struct eg *e)
{
	struct vstor_packet p, a;
	struct vmb_gpa_range rg;
	uint64_t pfn[16];
	uint8_t want[4096];
	FILE *f = fopen(e->image, "rb");

	EU_CHECK(f && fread(want, 1, sizeof(want), f) == sizeof(want),
		 "reading %s", e->image);
	fclose(f);
	eu_step("a good READ after the bad ones");
	memset(e->data, 0xEE, 4096);
	srb(e, 0, SCSI_OP_READ10, 4096, &p);
	rg = range(e, pfn, 4096);
	send_data(e, 7, &p, &rg);
	answer(e, 7, &a);
	EU_CHECK(!a.status && (a.srb.srb_status & VSTOR_SRB_STATUS_MASK) ==
				     SCSI_SRB_SUCCESS &&
		 a.srb.data_transfer_length == 4096, "good READ failed");
	EU_CHECK(!memcmp(e->data, want, sizeof(want)), "READ data differs");
}

static void before_init(struct eg *e)
{
	struct vstor_packet p = {.operation = VSTOR_OP_EXECUTE_SRB,
				 .flags = VSTOR_FLAG_REQUEST_COMPLETION};

	expect_refused(e, "an SRB before the init sequence", &p, NULL, 1);
	eu_step("a 10-byte packet");
	send_raw(e, 5, &p, 10);
	answer(e, 5, &p);
	EU_CHECK(p.status, "short packet answered as a success");
}

/* READs until the host stops taking them (its answers fill our ring,
 * then its worker waits for room); the send ring is then full too. */
static void flood(struct eg *e)
{
	struct vstor_packet p;
	struct vmb_gpa_range rg;
	uint64_t pfn[16], xid = 1000, sent = 0;
	unsigned stuck = 0;
	bool sig;

	eu_step("READs without reading a single answer");
	srb(e, 0, SCSI_OP_READ10, 4096, &p);
	rg = range(e, pfn, 4096);
	while (stuck < 50) {
		if (vmb_pkt_send_gpa(&e->out, VMB_PKT_FLAG_COMPLETION_REQUESTED,
				     ++xid, &rg, 1, &p, VSTOR_PKT_LEN,
				     &sig) == VMB_OK) {
			sent++;
			stuck = 0;
			eu_signal(e->v.efd_tx);
			continue;
		}
		stuck++;
		eu_sleep_ms(10);
	}
	EU_CHECK(sent > 128, "only %llu READs taken", (unsigned long long)sent);
}

/* The host's loop must answer a removal and a status at once. */
static void remove_stuck(struct eg *e)
{
	uint64_t t0 = eu_now_ms();
	char *r;

	eu_step("disk remove while this guest reads nothing");
	r = eu_ctl_reply(eu_ctl_send(e->ctl, "disk remove --controller 0 "
					     "--lun 0\n"), 3000);
	EU_CHECK(r && !strncmp(r, "ok", 2), "disk remove: %s",
		 r ? r : "no answer within 3 s");
	free(r);
	r = eu_ctl_reply(eu_ctl_send(e->ctl, "disk list\n"), 3000);
	EU_CHECK(r && !strncmp(r, "ok", 2), "disk list: %s",
		 r ? r : "no answer within 3 s");
	free(r);
	eu_step("answered in %llu ms",
		(unsigned long long)(eu_now_ms() - t0));
}

int main(int argc, char **argv)
{
	struct eg e = {0};
	union vmb_msg_buf b;
	bool noread = argc == 5 && !strcmp(argv[4], "noread");

	EU_CHECK(argc == 4 || noread,
		 "usage: evil_stor_guest VMBUS CTL IMAGE [noread]");
	e.vmbus = argv[1];
	e.ctl = argv[2];
	e.image = argv[3];
	eu_vmb_attach(&e.v, e.vmbus, &e.gmem, GMEM_SIZE);
	open_chan(&e);
	if (noread) {
		init(&e);
		flood(&e);
		remove_stuck(&e);
	} else {
		before_init(&e);
		init(&e);
		bad_srbs(&e);
		bad_requests(&e);
		good_read(&e);
	}
	eu_vmb_post(&e.v, &b, vmb_msg_enc_empty(&b, VMB_MSG_UNLOAD));
	close(e.v.sock);
	close(e.v.efd_tx);
	close(e.v.efd_rx);
	rt_gmem_destroy(&e.gmem);
	eu_step("done");
	return 0;
}
