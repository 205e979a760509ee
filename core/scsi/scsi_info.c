/* The commands a disk answers from its description alone: INQUIRY and its
 * VPD pages, READ CAPACITY, MODE SENSE, REPORT LUNS, REQUEST SENSE. Each
 * builds its whole answer in cmd->out (SCSI_RESP_MAX bytes) and lets
 * scsi_data_in() cut it to the allocation length and the SRB buffer. */
#include "scsi_priv.h"

static const char msft_vendor[8] = {'M', 's', 'f', 't', ' ', ' ', ' ', ' '};
static const char msft_product[16] = {'V', 'i', 'r', 't', 'u', 'a', 'l', ' ',
				      'D', 'i', 's', 'k', ' ', ' ', ' ', ' '};
static const char msft_revision[4] = {'1', '.', '0', ' '};

/* ---- INQUIRY ---- */

/* Standard data as Hyper-V builds it: SPC-3, not removable (the medium of
 * a virtual disk never leaves its device), and command queueing. A LUN
 * with no disk keeps the layout with qualifier 3 / type 1Fh and no
 * queueing; Hyper-V names vendor and product there only for LUN 0. */
static uint32_t put_std_inquiry(uint8_t *out, uint8_t periph, bool ids)
{
	struct scsi_inquiry_std *q = (struct scsi_inquiry_std *)out;

	vmb_memset(q, 0, sizeof(*q));
	q->periph = periph;
	q->version = SCSI_INQ_VERSION_SPC3;
	q->format = SCSI_INQ_FORMAT_SPC3;
	q->additional_len = (uint8_t)(sizeof(*q) - 5);
	q->flags7 = periph == SCSI_PERIPH_DISK ? SCSI_INQ_CMDQUE : 0;
	if (ids) {
		vmb_memcpy(q->vendor, msft_vendor, sizeof(q->vendor));
		vmb_memcpy(q->product, msft_product, sizeof(q->product));
		vmb_memcpy(q->revision, msft_revision, sizeof(q->revision));
	}
	return sizeof(*q);
}

/* VPD pages this disk has, ascending as page 0x00 must list them: the
 * serial page only with a serial, the block pages only with unmap
 * (Hyper-V offers 0xB0-0xB2 only on disks that can deallocate). */
static uint32_t vpd_list(const struct scsi_disk *d, uint8_t *pages)
{
	uint32_t n = 0;

	pages[n++] = SCSI_VPD_SUPPORTED;
	if (d->desc.serial_len)
		pages[n++] = SCSI_VPD_SERIAL;
	pages[n++] = SCSI_VPD_DEVICE_ID;
	if (d->desc.unmap) {
		pages[n++] = SCSI_VPD_BLOCK_LIMITS;
		pages[n++] = SCSI_VPD_BLOCK_CHARS;
		pages[n++] = SCSI_VPD_LB_PROVISIONING;
	}
	return n;
}

static bool vpd_has(const struct scsi_disk *d, uint8_t page)
{
	uint8_t pages[8];
	uint32_t n = vpd_list(d, pages);

	for (uint32_t i = 0; i < n; i++) {
		if (pages[i] == page)
			return true;
	}
	return false;
}

static uint32_t vpd_devid(const struct scsi_disk *d, uint8_t *body)
{
	struct scsi_vpd_devid *p = (struct scsi_vpd_devid *)body;
	static const uint8_t oui[4] = {SCSI_NAA_MSFT_0, SCSI_NAA_MSFT_1,
				       SCSI_NAA_MSFT_2, SCSI_NAA_MSFT_3};
	const uint8_t *id = d->desc.id;

	vmb_memset(p, 0, sizeof(*p));
	p->t10_hdr.code_set = SCSI_DESIG_CODE_BINARY;
	p->t10_hdr.type = SCSI_DESIG_TYPE_T10;
	p->t10_hdr.length = sizeof(p->t10_vendor) + sizeof(p->t10_id);
	vmb_memcpy(p->t10_vendor, msft_vendor, sizeof(p->t10_vendor));
	vmb_memcpy(p->t10_id, id, sizeof(p->t10_id));
	p->naa_hdr.code_set = SCSI_DESIG_CODE_BINARY;
	p->naa_hdr.type = SCSI_DESIG_TYPE_NAA;
	p->naa_hdr.length = sizeof(p->naa_oui) + sizeof(p->naa_vendor);
	vmb_memcpy(p->naa_oui, oui, sizeof(oui));
	/* The identifier's first and last six bytes: with a random (version
	 * 4) GUID as id those are its most random ones. */
	vmb_memcpy(p->naa_vendor, id, 6);
	vmb_memcpy(p->naa_vendor + 6, id + SCSI_ID_LEN - 6, 6);
	return sizeof(*p);
}

/* MAXIMUM WRITE SAME LENGTH: Hyper-V's 8 MiB, or less with max_xfer. */
uint64_t scsi_ws_max_blocks(const struct scsi_disk *d)
{
	uint64_t max = SCSI_WRITE_SAME_MAX_BYTES;

	if (d->desc.max_xfer && d->desc.max_xfer < max)
		max = d->desc.max_xfer;
	return max >> d->block_shift;
}

/* Block limits as Hyper-V fills them; transfer lengths stay 0 (no limit
 * reported: the VSTOR channel's max_transfer_bytes bounds guests). WSNZ
 * is set because this target refuses WRITE SAME over 0 blocks (SBC-3's
 * "to the end of the medium"). */
static uint32_t vpd_block_limits(const struct scsi_disk *d, uint8_t *body)
{
	struct scsi_vpd_block_limits *p = (struct scsi_vpd_block_limits *)body;
	uint32_t gran = d->desc.unmap_gran ? d->desc.unmap_gran : 1;

	vmb_memset(p, 0, sizeof(*p));
	p->wsnz = SCSI_B0_WSNZ;
	scsi_put_be32(p->max_unmap_lbas, UINT32_MAX);
	scsi_put_be32(p->max_unmap_descs, SCSI_UNMAP_MAX_DESC);
	scsi_put_be32(p->opt_unmap_gran, gran);
	p->unmap_align[0] = SCSI_B0_UGAVALID;
	scsi_put_be64(p->max_ws_len, scsi_ws_max_blocks(d));
	return sizeof(*p);
}

static uint32_t vpd_block_chars(uint8_t *body)
{
	struct scsi_vpd_block_chars *p = (struct scsi_vpd_block_chars *)body;

	vmb_memset(p, 0, sizeof(*p));
	scsi_put_be16(p->rotation_rate, SCSI_B1_NON_ROTATING);
	return sizeof(*p);
}

/* Thin provisioning with UNMAP (LBPU). THRESHOLD EXPONENT: the smallest
 * e >= 1 with capacity / 2^e below 2^32, as SBC-3 asks of it. */
static uint32_t vpd_lbp(const struct scsi_ctx *c, uint8_t *body)
{
	struct scsi_vpd_lbp *p = (struct scsi_vpd_lbp *)body;
	uint8_t e = 1;

	while ((c->blocks >> e) >> 32)
		e++;
	vmb_memset(p, 0, sizeof(*p));
	p->threshold_exp = e;
	p->flags = SCSI_B2_LBPU;
	p->prov_type = SCSI_B2_TYPE_THIN;
	return sizeof(*p);
}

static uint32_t vpd_body(const struct scsi_ctx *c, uint8_t page,
			 uint8_t *body)
{
	const struct scsi_disk *d = c->d;

	switch (page) {
	case SCSI_VPD_SUPPORTED:
		return vpd_list(d, body);
	case SCSI_VPD_SERIAL:
		vmb_memcpy(body, d->desc.serial, d->desc.serial_len);
		return d->desc.serial_len;
	case SCSI_VPD_DEVICE_ID:
		return vpd_devid(d, body);
	case SCSI_VPD_BLOCK_LIMITS:
		return vpd_block_limits(d, body);
	case SCSI_VPD_BLOCK_CHARS:
		return vpd_block_chars(body);
	default:
		return vpd_lbp(c, body);
	}
}

/* Pages Hyper-V lacks (0x89, 0xB9, ... which Linux probes) are refused
 * with INVALID FIELD IN CDB, as it does. */
static int vpd_page(struct scsi_ctx *c, uint8_t page, uint32_t alloc)
{
	struct scsi_vpd_hdr *h = (struct scsi_vpd_hdr *)c->cmd->out;
	uint32_t n;

	if (!vpd_has(c->d, page))
		return scsi_illegal(c, SCSI_ERR_PAGE,
				    SCSI_ASC_INVALID_FIELD_CDB);
	n = vpd_body(c, page, c->cmd->out + sizeof(*h));
	h->periph = SCSI_PERIPH_DISK;
	h->page = page;
	scsi_put_be16(h->length, (uint16_t)n);
	return scsi_data_in(c, sizeof(*h) + n, alloc);
}

/* An allocation length shorter than the data is not an error (SPC-4):
 * the answer is cut. Hyper-V refuses one under 5 bytes (4 for VPD); no
 * guest sends one. CMDDT is obsolete and refused by both. */
int scsi_h_inquiry(struct scsi_ctx *c)
{
	const uint8_t *cdb = c->cdb;
	uint32_t alloc = scsi_be16(cdb + 3);

	if (cdb[1] & SCSI_INQ_CMDDT)
		return scsi_illegal(c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
	if (cdb[1] & SCSI_INQ_EVPD)
		return vpd_page(c, cdb[2], alloc);
	if (cdb[2])
		return scsi_illegal(c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
	return scsi_data_in(c, put_std_inquiry(c->cmd->out, SCSI_PERIPH_DISK,
					       true), alloc);
}

/* Hyper-V's answer to a standard INQUIRY for a LUN with no disk, checks
 * included: the buffer must be for data-in and hold the allocation
 * length, which must cover the 5-byte header; VPD is refused. */
int scsi_absent_inquiry(struct scsi_ctx *c, uint8_t lun)
{
	const uint8_t *cdb = c->cdb;
	uint32_t alloc = scsi_be16(cdb + 3);

	if (alloc > c->cmd->xfer_len || c->cmd->dir != SCSI_DIR_IN ||
	    alloc < 5)
		return scsi_illegal(c, SCSI_ERR_XFER, SCSI_ASC_INVALID_FIELD_CDB);
	if ((cdb[1] & SCSI_INQ_EVPD) || cdb[2])
		return scsi_illegal(c, SCSI_ERR_PAGE, SCSI_ASC_INVALID_FIELD_CDB);
	return scsi_data_in(c, put_std_inquiry(c->cmd->out, SCSI_PERIPH_NO_LUN,
					       lun == 0), alloc);
}

/* ---- REPORT LUNS ---- */

/* LUNs in ascending order, each once, in the single-level format:
 * peripheral device addressing (method 00b, bus 0) with the LUN in the
 * second byte, which is what Hyper-V's big-endian 16-bit LUN gives for
 * the 0-255 an SRB can address. Select report 01h (well-known LUNs only)
 * lists none: this target has no well-known LUN. */
int scsi_h_report_luns(struct scsi_ctx *c)
{
	struct scsi_lun_list_hdr *h = (struct scsi_lun_list_hdr *)c->cmd->out;
	uint8_t *e = c->cmd->out + sizeof(*h);
	uint8_t sel = c->cdb[2];
	uint32_t alloc = scsi_be32(c->cdb + 6), n = 0;
	uint64_t present[4] = {0};

	if (alloc < SCSI_RL_MIN_ALLOC || sel > SCSI_RL_SELECT_ALL_LUNS)
		return scsi_illegal(c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
	for (uint32_t i = 0; sel != SCSI_RL_SELECT_WELL_KNOWN &&
	     i < c->cmd->nluns; i++)
		present[c->cmd->luns[i] >> 6] |= 1ull << (c->cmd->luns[i] & 63);
	for (uint32_t lun = 0; lun < 256; lun++) {
		if (!(present[lun >> 6] >> (lun & 63) & 1))
			continue;
		vmb_memset(e + n * SCSI_LUN_ENTRY_LEN, 0, SCSI_LUN_ENTRY_LEN);
		e[n++ * SCSI_LUN_ENTRY_LEN + 1] = (uint8_t)lun;
	}
	vmb_memset(h, 0, sizeof(*h));
	scsi_put_be32(h->list_len, n * SCSI_LUN_ENTRY_LEN);
	return scsi_data_in(c, sizeof(*h) + n * SCSI_LUN_ENTRY_LEN, alloc);
}

/* ---- READ CAPACITY ---- */

/* No allocation length here: Hyper-V answers a buffer under 8 bytes with
 * SRB status DATA_OVERRUN and 05/24/00, so this does too. A last LBA
 * beyond 32 bits reads FFFFFFFFh ("use READ CAPACITY(16)"). PMI is
 * obsolete (SBC-4); with it the same capacity is returned. */
int scsi_h_read_capacity10(struct scsi_ctx *c)
{
	struct scsi_rc10_data *p = (struct scsi_rc10_data *)c->cmd->out;
	uint64_t last = c->blocks - 1;

	if (!(c->cdb[8] & SCSI_RC_PMI) && scsi_be32(c->cdb + 2))
		return scsi_illegal(c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
	if (c->cmd->xfer_len < sizeof(*p))
		return scsi_fail(c, SCSI_ERR_XFER, SCSI_SRB_DATA_OVERRUN,
				 SCSI_SK_ILLEGAL_REQUEST,
				 SCSI_ASC_INVALID_FIELD_CDB, 0);
	scsi_put_be32(p->last_lba, last > UINT32_MAX ? UINT32_MAX
						     : (uint32_t)last);
	scsi_put_be32(p->block_len, c->d->desc.block_size);
	return scsi_data_in(c, sizeof(*p), sizeof(*p));
}

/* LBPME only when the backend can deallocate; LBPRZ stays clear as on
 * Hyper-V (what an unmapped block reads back is not promised). */
static int read_capacity16(struct scsi_ctx *c)
{
	struct scsi_rc16_data *p = (struct scsi_rc16_data *)c->cmd->out;

	if (!(c->cdb[14] & SCSI_RC_PMI) && scsi_be64(c->cdb + 2))
		return scsi_illegal(c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
	vmb_memset(p, 0, sizeof(*p));
	scsi_put_be64(p->last_lba, c->blocks - 1);
	scsi_put_be32(p->block_len, c->d->desc.block_size);
	if (c->d->desc.unmap)
		p->lbp_lalba[0] = SCSI_RC16_LBPME;
	return scsi_data_in(c, sizeof(*p), scsi_be32(c->cdb + 10));
}

/* Of SERVICE ACTION IN(16) only READ CAPACITY(16); GET LBA STATUS and the
 * rest are unsupported service actions: INVALID FIELD IN CDB. */
int scsi_h_service_action_in16(struct scsi_ctx *c)
{
	if ((c->cdb[1] & SCSI_SA_MASK) != SCSI_SA_READ_CAPACITY16)
		return scsi_illegal(c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
	return read_capacity16(c);
}

/* ---- MODE SENSE ---- */

/* The block descriptor SPC-4 lets a device server return unless DBD is
 * set (Hyper-V never returns one; both are valid): short, with the count
 * saturated at FFFFFFFFh, or long for MODE SENSE(10) with LLBAA. */
static uint32_t put_block_desc(const struct scsi_ctx *c, uint8_t *p,
			       bool llbaa)
{
	uint32_t bs = c->d->desc.block_size;

	if (llbaa) {
		struct scsi_mode_bd_long *l = (struct scsi_mode_bd_long *)p;

		vmb_memset(l, 0, sizeof(*l));
		scsi_put_be64(l->blocks, c->blocks);
		scsi_put_be32(l->block_len, bs);
		return sizeof(*l);
	}
	struct scsi_mode_bd_short *s = (struct scsi_mode_bd_short *)p;

	vmb_memset(s, 0, sizeof(*s));
	scsi_put_be32(s->blocks, c->blocks > UINT32_MAX ? UINT32_MAX
							: (uint32_t)c->blocks);
	scsi_put_be24(s->block_len, bs);
	return sizeof(*s);
}

/* The caching page (SBC-3's 20-byte layout): WCE reports the write cache
 * for current and default values; nothing is changeable, since MODE
 * SELECT is not supported. */
static uint32_t put_caching(const struct scsi_ctx *c, uint8_t *p,
			    uint8_t pc)
{
	struct scsi_mode_caching *m = (struct scsi_mode_caching *)p;

	vmb_memset(m, 0, sizeof(*m));
	m->page = SCSI_MODE_PAGE_CACHING;
	m->length = sizeof(*m) - 2;
	if (pc != SCSI_MS_PC_CHANGEABLE && c->d->desc.write_cache)
		m->flags2 = SCSI_CACHING_WCE;
	return sizeof(*m);
}

static void put_mode_hdr(const struct scsi_ctx *c, bool ten, uint32_t len,
			 uint32_t bd_len, bool llbaa)
{
	uint8_t *out = c->cmd->out;
	uint8_t dsp = SCSI_DSP_DPOFUA;

	if (c->d->desc.read_only)
		dsp |= SCSI_DSP_WP;
	if (ten) {
		struct scsi_mode_hdr10 *h = (struct scsi_mode_hdr10 *)out;

		vmb_memset(h, 0, sizeof(*h));
		scsi_put_be16(h->data_len, (uint16_t)(len - 2));
		h->dsp = dsp;
		h->longlba = llbaa && bd_len ? SCSI_MH10_LONGLBA : 0;
		scsi_put_be16(h->bd_len, (uint16_t)bd_len);
		return;
	}
	struct scsi_mode_hdr6 *h = (struct scsi_mode_hdr6 *)out;

	h->data_len = (uint8_t)(len - 1);
	h->medium = 0;
	h->dsp = dsp;
	h->bd_len = (uint8_t)bd_len;
}

static bool mode_page_known(uint8_t page, uint8_t sub)
{
	if (page == SCSI_MODE_PAGE_CACHING)
		return sub == 0;
	return page == SCSI_MODE_PAGE_ALL &&
	       (sub == 0 || sub == SCSI_MODE_SUBPAGE_ALL);
}

/* Pages 08h and 3Fh (which holds only 08h). Saved values are refused with
 * SAVING PARAMETERS NOT SUPPORTED as SPC-4 says (Hyper-V uses INVALID
 * FIELD IN CDB; guests never ask). Allocation length 0 moves nothing. */
int scsi_h_mode_sense(struct scsi_ctx *c)
{
	const uint8_t *cdb = c->cdb;
	bool ten = cdb[0] == SCSI_OP_MODE_SENSE10;
	bool llbaa = ten && (cdb[1] & SCSI_MS10_LLBAA);
	uint8_t pc = cdb[2] >> SCSI_MS_PC_SHIFT;
	uint32_t hlen = ten ? sizeof(struct scsi_mode_hdr10)
			    : sizeof(struct scsi_mode_hdr6);
	uint32_t bd = 0, len;

	if (pc == SCSI_MS_PC_SAVED)
		return scsi_fail(c, SCSI_ERR_PAGE, SCSI_SRB_INVALID_REQUEST,
				 SCSI_SK_ILLEGAL_REQUEST,
				 SCSI_ASC_SAVING_NOT_SUPPORTED, 0);
	if (!mode_page_known(cdb[2] & SCSI_MS_PAGE_MASK, cdb[3]))
		return scsi_illegal(c, SCSI_ERR_PAGE, SCSI_ASC_INVALID_FIELD_CDB);
	if (!(cdb[1] & SCSI_MS_DBD))
		bd = put_block_desc(c, c->cmd->out + hlen, llbaa);
	len = hlen + bd + put_caching(c, c->cmd->out + hlen + bd, pc);
	put_mode_hdr(c, ten, len, bd, llbaa);
	return scsi_data_in(c, len, ten ? scsi_be16(cdb + 7) : cdb[4]);
}

/* ---- REQUEST SENSE ---- */

/* With autosense every CHECK CONDITION already carried its sense, so
 * there is none left to report (SPC-4) except a unit attention not
 * yet delivered, which this claims: reported here, it is not reported
 * again. Only fixed format: DESC is refused. */
int scsi_h_request_sense(struct scsi_ctx *c)
{
	uint8_t *s = c->cmd->out;

	if (c->cdb[1] & SCSI_RS_DESC)
		return scsi_illegal(c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
	if (!scsi_in_dir_ok(c))
		return scsi_illegal(c, SCSI_ERR_XFER, SCSI_ASC_INVALID_FIELD_CDB);
	if (scsi_ua_claim(c->d))
		scsi_sense_build(s, SCSI_SK_UNIT_ATTENTION,
				 SCSI_ASC_PARAMS_CHANGED,
				 SCSI_ASCQ_CAPACITY_CHANGED);
	else
		scsi_sense_build(s, SCSI_SK_NO_SENSE, SCSI_ASC_NONE, 0);
	return scsi_data_in(c, SCSI_SENSE_LEN, c->cdb[4]);
}
