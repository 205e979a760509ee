/* The host's receive-buffer sub-allocations: per-queue FIFO free lists
 * and chains of what the guest holds, in one link array. */
#include "net/nvsp_rxbuf.h"

/* link[i]: HELD set while the guest holds i, HEAD on the first of a
 * chain; the low bits name the next index of the free list or chain, or
 * END. */
#define HELD 0x80000000u
#define HEAD 0x40000000u
#define NEXT 0x3FFFFFFFu
#define END NEXT

static const char *const bad_names[NVSP_RXB_BAD__COUNT] = {
	[NVSP_RXB_BAD_RANGE] = "range",
	[NVSP_RXB_BAD_NOT_HELD] = "not-held",
	[NVSP_RXB_BAD_NOT_HEAD] = "not-head",
};

const char *nvsp_rxbuf_bad_name(enum nvsp_rxbuf_bad b)
{
	return (unsigned)b < NVSP_RXB_BAD__COUNT ? bad_names[b] : "?";
}

static void push(uint32_t *link, struct nvsp_rxq *q, uint32_t i)
{
	link[i] = END;
	if (q->head == END)
		q->head = i;
	else
		link[q->tail] = i;
	q->tail = i;
	q->nfree++;
}

static uint32_t pop(uint32_t *link, struct nvsp_rxq *q)
{
	uint32_t i = q->head;

	q->head = link[i] & NEXT;
	if (q->head == END)
		q->tail = END;
	q->nfree--;
	return i;
}

static void queue_init(uint32_t *link, struct nvsp_rxq *q, uint32_t first,
		       uint32_t end)
{
	*q = (struct nvsp_rxq){ .first = first, .end = end,
				.head = END, .tail = END };
	for (uint32_t i = first; i < end; i++)
		push(link, q, i);
}

int nvsp_rxbuf_init(struct nvsp_rxbuf *rb, uint32_t *link, uint32_t count,
		    uint32_t sub_size, uint32_t nqueues)
{
	uint32_t per, start = NVSP_RXBUF_CONTROL;

	if (nqueues < 1 || nqueues > NVSP_RXBUF_MAX_QUEUES || count >= END ||
	    count < NVSP_RXBUF_CONTROL + nqueues)
		return VMB_EINVAL;
	vmb_memset(rb, 0, sizeof(*rb));
	rb->link = link;
	rb->count = count;
	rb->sub_size = sub_size;
	rb->nqueues = nqueues;
	per = (count - NVSP_RXBUF_CONTROL) / nqueues;
	queue_init(link, &rb->ctl, 0, NVSP_RXBUF_CONTROL);
	for (uint32_t k = 0; k < nqueues; k++, start += per)
		queue_init(link, &rb->q[k], start,
			   k + 1 == nqueues ? count : start + per);
	return VMB_OK;
}

int nvsp_rxbuf_split(struct nvsp_rxbuf *rb, uint32_t nqueues)
{
	uint32_t per, start = NVSP_RXBUF_CONTROL;

	if (nqueues < 1 || nqueues > NVSP_RXBUF_MAX_QUEUES ||
	    rb->count < NVSP_RXBUF_CONTROL + nqueues)
		return VMB_EINVAL;
	for (uint32_t k = 0; k < rb->nqueues; k++)
		if (rb->q[k].held)
			return VMB_EBUSY;
	rb->nqueues = nqueues;
	per = (rb->count - NVSP_RXBUF_CONTROL) / nqueues;
	for (uint32_t k = 0; k < nqueues; k++, start += per) {
		struct nvsp_rxq *q = &rb->q[k];
		uint64_t bad[NVSP_RXB_BAD__COUNT];

		/* refusals are the guest's record: they only grow */
		vmb_memcpy(bad, q->bad, sizeof(bad));
		queue_init(rb->link, q, start,
			   k + 1 == nqueues ? rb->count : start + per);
		vmb_memcpy(q->bad, bad, sizeof(bad));
	}
	return VMB_OK;
}

static int take(struct nvsp_rxbuf *rb, struct nvsp_rxq *q, uint32_t n,
		uint32_t *ids)
{
	if (n == 0 || q->nfree < n)
		return VMB_EAGAIN;
	for (uint32_t i = 0; i < n; i++)
		ids[i] = pop(rb->link, q);
	for (uint32_t i = 0; i < n; i++)
		rb->link[ids[i]] = HELD | (i + 1 < n ? ids[i + 1] : END);
	rb->link[ids[0]] |= HEAD;
	q->held += n;
	q->allocs++;
	return VMB_OK;
}

int nvsp_rxbuf_alloc(struct nvsp_rxbuf *rb, uint32_t q, uint32_t n,
		     uint32_t *ids)
{
	if (q >= rb->nqueues)
		return VMB_EINVAL;
	return take(rb, &rb->q[q], n, ids);
}

void nvsp_rxbuf_trim(struct nvsp_rxbuf *rb, uint32_t q, const uint32_t *ids,
		     uint32_t n, uint32_t keep)
{
	struct nvsp_rxq *rq;

	if (q >= rb->nqueues || keep < 1 || keep >= n)
		return;
	rq = &rb->q[q];
	rb->link[ids[keep - 1]] = (rb->link[ids[keep - 1]] & ~NEXT) | END;
	/* back in reverse, so that the free list keeps the order taken */
	for (uint32_t i = n; i-- > keep;) {
		rb->link[ids[i]] = rq->head;
		rq->head = ids[i];
		if (rq->tail == END)
			rq->tail = ids[i];
		rq->nfree++;
	}
	rq->held -= n - keep;
}

/* The first of n free indices in a row in q's range, or END. */
static uint32_t find_run(const struct nvsp_rxbuf *rb, const struct nvsp_rxq *q,
			 uint32_t n)
{
	uint32_t run = 0;

	for (uint32_t i = q->first; i < q->end; i++) {
		run = rb->link[i] & HELD ? 0 : run + 1;
		if (run == n)
			return i + 1 - n;
	}
	return END;
}

/* Takes [s, s + n) out of q's free list, keeping the others' order. */
static void unlink_run(struct nvsp_rxbuf *rb, struct nvsp_rxq *q, uint32_t s,
		       uint32_t n)
{
	uint32_t prev = END, i = q->head;

	while (i != END) {
		uint32_t next = rb->link[i] & NEXT;

		if (i - s < n && prev == END)
			q->head = next;
		else if (i - s < n)
			rb->link[prev] = next;
		else
			prev = i;
		i = next;
	}
	q->tail = prev;
	q->nfree -= n;
}

int nvsp_rxbuf_alloc_run(struct nvsp_rxbuf *rb, uint32_t q, uint32_t n,
			 uint32_t *first)
{
	struct nvsp_rxq *rq;
	uint32_t s;

	if (q >= rb->nqueues)
		return VMB_EINVAL;
	rq = &rb->q[q];
	s = n ? find_run(rb, rq, n) : END;
	if (s == END)
		return VMB_EAGAIN;
	unlink_run(rb, rq, s, n);
	for (uint32_t i = 0; i < n; i++)
		rb->link[s + i] = HELD | (i + 1 < n ? s + i + 1 : END);
	rb->link[s] |= HEAD;
	rq->held += n;
	rq->allocs++;
	*first = s;
	return VMB_OK;
}

/* Whether i may join a chain of q: a chain's head the host holds, in
 * q's own range (never the control reserve). */
static bool joinable(const struct nvsp_rxbuf *rb, const struct nvsp_rxq *q,
		     uint32_t i)
{
	return i >= q->first && i < q->end &&
	       (rb->link[i] & (HELD | HEAD)) == (HELD | HEAD);
}

static uint32_t chain_tail(const struct nvsp_rxbuf *rb, uint32_t i)
{
	while ((rb->link[i] & NEXT) != END)
		i = rb->link[i] & NEXT;
	return i;
}

int nvsp_rxbuf_join(struct nvsp_rxbuf *rb, uint32_t q, const uint32_t *ids,
		    uint32_t n)
{
	struct nvsp_rxq *rq;
	uint32_t i;

	if (q >= rb->nqueues || n == 0)
		return VMB_EINVAL;
	rq = &rb->q[q];
	/* HEAD goes off each one checked, so that an id named twice fails
	 * the check: linked twice, it would close a loop */
	for (i = 0; i < n && joinable(rb, rq, ids[i]); i++)
		rb->link[ids[i]] &= ~HEAD;
	if (i < n) {
		while (i--)
			rb->link[ids[i]] |= HEAD;
		return VMB_EINVAL;
	}
	for (i = 0; i + 1 < n; i++) {
		uint32_t t = chain_tail(rb, ids[i]);

		rb->link[t] = (rb->link[t] & ~NEXT) | ids[i + 1];
	}
	rb->link[ids[0]] |= HEAD;
	rq->allocs -= n - 1;
	return VMB_OK;
}

int nvsp_rxbuf_alloc_control(struct nvsp_rxbuf *rb, uint32_t *id)
{
	return take(rb, &rb->ctl, 1, id);
}

uint32_t nvsp_rxbuf_owner(const struct nvsp_rxbuf *rb, uint32_t id)
{
	uint32_t per = (rb->count - NVSP_RXBUF_CONTROL) / rb->nqueues;
	uint32_t k;

	if (id < NVSP_RXBUF_CONTROL)
		return 0;
	k = (id - NVSP_RXBUF_CONTROL) / per;
	return k < rb->nqueues ? k : rb->nqueues - 1;
}

static struct nvsp_rxq *rxq_of(struct nvsp_rxbuf *rb, uint32_t id)
{
	return id < NVSP_RXBUF_CONTROL ? &rb->ctl
				       : &rb->q[nvsp_rxbuf_owner(rb, id)];
}

/* Why xid cannot be freed, or NVSP_RXB_BAD__COUNT. */
static enum nvsp_rxbuf_bad check(const struct nvsp_rxbuf *rb, uint64_t xid)
{
	if (xid >= rb->count)
		return NVSP_RXB_BAD_RANGE;
	if (!(rb->link[xid] & HELD))
		return NVSP_RXB_BAD_NOT_HELD;
	if (!(rb->link[xid] & HEAD))
		return NVSP_RXB_BAD_NOT_HEAD;
	return NVSP_RXB_BAD__COUNT;
}

int nvsp_rxbuf_free(struct nvsp_rxbuf *rb, uint32_t q, uint64_t xid,
		    uint32_t *n)
{
	enum nvsp_rxbuf_bad why;
	struct nvsp_rxq *owner;
	uint32_t i = (uint32_t)xid;

	*n = 0;
	if (q >= rb->nqueues)
		return VMB_EINVAL;
	/* Another queue's links are its thread's: not even read here. */
	if (xid < rb->count && nvsp_rxbuf_owner(rb, i) != q)
		return VMB_EAGAIN;
	why = check(rb, xid);
	if (why != NVSP_RXB_BAD__COUNT) {
		rb->q[q].bad[why]++;
		return VMB_ENOENT;
	}
	owner = rxq_of(rb, i);
	while (i != END) {
		uint32_t next = rb->link[i] & NEXT;

		push(rb->link, owner, i);
		owner->held--;
		(*n)++;
		i = next;
	}
	owner->frees++;
	return VMB_OK;
}

uint32_t nvsp_rxbuf_held(const struct nvsp_rxbuf *rb)
{
	uint32_t held = rb->ctl.held;

	for (uint32_t k = 0; k < rb->nqueues; k++)
		held += rb->q[k].held;
	return held;
}
