/* netvsc's sub-channels and RSS, as Linux's netvsc does them: once RNDIS
 * knows the host's receive queues (its RSS step is next), SUBCHANNEL
 * asks for one channel per CPU beyond the primary (--net-queues: fewer),
 * up to the host's queues; the host's grant is followed by its offers,
 * each taken only if asked for; once all granted are open (or after
 * GNET_SUBCH_WAIT_MS, with those that did) RNDIS sets RSS over them:
 * the standard key, TCP and IP hashes, entry i to channel i mod n. The
 * table --net-rss-table gives is set after, on the loop's tick, before
 * the TAP gets one queue per channel, and set again whenever a SIGHUP
 * read its file anew (gnet_cfg.table_gen), as ethtool -X would. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gnet_priv.h"
#include "rt_file.h"
#include "rt_log.h"

/* Adapters by instance: how a sub-channel finds its primary's. */
static struct gnet_nic *nics;

void gnet_nic_link(struct gnet_nic *n)
{
	n->next = nics;
	nics = n;
}

void gnet_nic_unlink(struct gnet_nic *n)
{
	for (struct gnet_nic **pp = &nics; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			return;
		}
	}
}

static struct gnet_nic *nic_find(const struct vmb_guid *g)
{
	struct gnet_nic *n = nics;

	while (n && memcmp(&n->instance, g, sizeof(*g)))
		n = n->next;
	return n;
}

/* A sub-channel past the count asked for (or none asked) is the host's
 * doing: refused, counted, said once per adapter. */
int gnet_chan_prepare(struct gvb_chan *c)
{
	struct gnet_nic *n = nic_find(&c->offer.offer.if_instance);

	if (!n || !n->open)
		return -1; /* an orphan sub-channel */
	if (c->sub_index >= GNET_CHANS ||
	    c->sub_index > atomic_load(&n->asked) || n->ch[c->sub_index].c) {
		if (rt_ctr_get(&n->unasked) == 0)
			rt_warn("net", "relid %u: the host offers sub-channel "
				"%u, not asked for: refused (and any more)",
				n->c->relid, c->sub_index);
		rt_ctr_add(&n->unasked, 1);
		return -1;
	}
	return gnet_chan_init(n, c);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* RSS over the primary and the sub-channels open from 1 on (ch[0].lock):
 * the RNDIS engine's next step sets it. */
static void rss_go(struct gnet_nic *n)
{
	uint32_t k = 1;

	while (k <= n->granted && n->ch[k].open)
		k++;
	n->subch_wait = false;
	atomic_store(&n->nchan, k);
	nvsp_guest_set_channels(&n->ch[0].nvsp, k);
	/* the table may name only these (the engine fills i mod queues) */
	n->rndis.info.rss_queues = k;
	if (k <= n->granted)
		rt_warn("net", "relid %u: %u of %u sub-channels open; RSS over "
			"%u channels", n->c->relid, k - 1, n->granted, k);
	gnet_rndis_next(n);
}

static void check_open(struct gnet_nic *n)
{
	uint32_t k = 1;

	while (k <= n->granted && n->ch[k].open)
		k++;
	if (n->subch_wait && k > n->granted)
		rss_go(n);
}

void gnet_chan_opened(struct gnet_chan *ch)
{
	struct gnet_nic *n = ch->nic;

	pthread_mutex_lock(&ch->lock);
	pthread_mutex_lock(&n->ch[0].lock);
	/* the data path's engine: the primary's, READY */
	ch->nvsp = n->ch[0].nvsp;
	memset(&ch->nvsp.st, 0, sizeof(ch->nvsp.st));
	ch->open = true;
	/* the primary may have stopped meanwhile: nothing to go on with */
	if (n->open)
		check_open(n);
	pthread_mutex_unlock(&n->ch[0].lock);
	pthread_mutex_unlock(&ch->lock);
}

void gnet_chan_ask(struct gnet_nic *n)
{
	struct nvsp_guest_out o;
	struct vmb_iov iov = {&o.msg, 0};
	int rc;

	iov.len = nvsp_guest_subchannels(&n->ch[0].nvsp,
					 n->rndis.info.rss_queues, &o);
	if (!iov.len) {
		gnet_chan_granted(n, 0);
		return;
	}
	/* before it goes: an offer may come before the answer is read */
	atomic_store(&n->asked, n->ch[0].nvsp.subch_asked);
	rc = gvb_send(n->c, o.xid, o.flags, &iov, 1, true);
	if (rc) {
		rt_warn("net", "relid %u: SUBCHANNEL not sent: %s",
			n->c->relid, vmb_strerror(rc));
		gnet_chan_granted(n, 0);
	}
}

void gnet_chan_granted(struct gnet_nic *n, uint32_t count)
{
	n->granted = (uint16_t)count;
	n->subch_wait = true;
	n->subch_until = 0;
	if (count)
		rt_info("net", "relid %u: %u sub-channels granted",
			n->c->relid, count);
	check_open(n);
}

/* The table of gnet_cfg (ch[0].lock, loop thread): sent, or found
 * unusable (both: done with this generation); false while another
 * request is out (the next tick tries again). */
static bool table_send(struct gnet_nic *n)
{
	uint32_t t[NDIS_RSS_TABLE_MAX], k = n->rndis.info.rss_queues, len;
	uint8_t msg[RNDIS_GUEST_MSG_MAX];

	for (uint32_t i = 0; i < NDIS_RSS_TABLE_MAX; i++) {
		t[i] = gnet_cfg.ntable ? gnet_cfg.table[i % gnet_cfg.ntable]
				       : i % k;
		if (t[i] >= k) {
			rt_warn("net", "relid %u: the RSS table names channel "
				"%u, past the %u open: table kept",
				n->c->relid, t[i], k);
			return true;
		}
	}
	len = rndis_guest_set_rss(&n->rndis, t, msg);
	if (len)
		gnet_ctl_send(n, msg, len);
	return len != 0;
}

static void table_set(struct gnet_nic *n)
{
	if (n->rndis.state != RNDIS_GS_READY || n->rndis.info.rss_queues < 2 ||
	    n->table_gen == gnet_cfg.table_gen)
		return;
	if (table_send(n))
		n->table_gen = gnet_cfg.table_gen;
}

void gnet_chan_tick(struct gnet_nic *n)
{
	pthread_mutex_lock(&n->ch[0].lock);
	if (n->subch_wait && !n->subch_until)
		n->subch_until = now_ms() + GNET_SUBCH_WAIT_MS;
	else if (n->subch_wait && now_ms() >= n->subch_until)
		rss_go(n);
	table_set(n);
	pthread_mutex_unlock(&n->ch[0].lock);
}

void gnet_chan_log(const struct gnet_chan *ch)
{
	uint64_t bad = 0;

	for (unsigned i = 0; i < RNDIS_PBAD__COUNT; i++)
		bad += ch->ppi.bad[i];
	for (unsigned i = 0; i < NVSP_GBAD__COUNT; i++)
		bad += ch->nvsp.st.bad[i];
	rt_info("net", "relid %u (queue %u): sent %llu frames in %llu "
		"messages (%llu dropped), received %llu (%llu dropped); "
		"refused from host: %llu", ch->c->relid, ch->q,
		(unsigned long long)rt_ctr_get(&ch->tx_frames),
		(unsigned long long)rt_ctr_get(&ch->tx_msgs),
		(unsigned long long)rt_ctr_get(&ch->tx_drops),
		(unsigned long long)rt_ctr_get(&ch->rx_frames),
		(unsigned long long)rt_ctr_get(&ch->rx_drops),
		(unsigned long long)bad);
}

int gnet_parse_table(const char *arg, char *why, size_t n)
{
	uint32_t t[NDIS_RSS_TABLE_MAX];
	unsigned nt = 0;
	const char *p = arg;
	char *end;

	while (*p && nt < NDIS_RSS_TABLE_MAX) {
		unsigned long v = strtoul(p, &end, 10);

		if (end == p || v >= GNET_CHANS ||
		    (*end && *end != ',' && !isspace((unsigned char)*end)))
			break;
		t[nt++] = (uint32_t)v;
		p = end + strspn(end, ", \t\r\n");
	}
	if (*p || !nt) {
		snprintf(why, n, "want up to %u channel numbers below %u, "
			 "separated by commas or spaces", NDIS_RSS_TABLE_MAX,
			 GNET_CHANS);
		return -1;
	}
	memcpy(gnet_cfg.table, t, nt * sizeof(t[0]));
	gnet_cfg.ntable = nt;
	gnet_cfg.table_gen++;
	return 0;
}

int gnet_table_load(char *why, size_t n)
{
	const char *bad = NULL;
	char buf[4096];
	ssize_t len = 0;
	int fd = rt_file_open(gnet_cfg.table_file, O_RDONLY, 0, 0, why, n);

	if (fd < 0)
		return -1;
	if ((len = read(fd, buf, sizeof(buf))) < 0)
		bad = strerror(errno);
	else if (len == (ssize_t)sizeof(buf))
		bad = "longer than 4 KiB";
	close(fd);
	if (bad) {
		snprintf(why, n, "%s", bad);
		return -1;
	}
	buf[len] = '\0';
	return gnet_parse_table(buf, why, n);
}
