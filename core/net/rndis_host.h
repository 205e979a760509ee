/* The host's RNDIS device (what netvsp answers), as a sans-I/O engine.
 *
 * The embedder (the host's netvsp on the primary channel) hands in each
 * RNDIS control message the guest sent (channel type 1, already copied
 * out of the send buffer or the GPA ranges) and gets back the completion
 * to send (through the receive buffer) and an event when the device's
 * state changed: packet filter, offload parameters, RSS parameters, the
 * MAC address, HALT, RESET. Data PACKETs go to core/net/rndis_ppi.h.
 *
 * Every byte from the guest is untrusted: each length and offset is
 * checked against the message; a malformed request is counted by reason
 * and answered with a failure completion (INVALID_DATA, INVALID_LENGTH,
 * BUFFER_TOO_SHORT) when its kind has one, and the state stays as it
 * was. An OID the device does not know gets NOT_SUPPORTED (counted, not
 * a fault). One thread calls in at a time. */
#ifndef HVIS_RNDIS_HOST_H
#define HVIS_RNDIS_HOST_H

#include "net/rndis_wire.h"

/* What the backend can do (rndis_host_cfg.backend). */
#define RNDIS_HCAP_CSUM_IP4 0x01u  /* IPv4 header checksum */
#define RNDIS_HCAP_CSUM_TCP4 0x02u
#define RNDIS_HCAP_CSUM_UDP4 0x04u
#define RNDIS_HCAP_CSUM_TCP6 0x08u
#define RNDIS_HCAP_CSUM_UDP6 0x10u
#define RNDIS_HCAP_LSO4 0x20u       /* advertised only with CSUM_IP4 too */
#define RNDIS_HCAP_LSO6 0x40u
#define RNDIS_HCAP_RSC 0x80u

/* The LSO limits Hyper-V's vmswitch advertises (OpenVMM does the same). */
#define RNDIS_LSO_MAX_SIZE 62780u
#define RNDIS_LSO_MIN_SEGS 2u

/* The INITIALIZE answer OpenVMM gives: 8 packets a message, any size,
 * 8-byte alignment. */
#define RNDIS_HOST_MAX_PKTS 8u
#define RNDIS_HOST_MAX_XFER 0xEFFFFFFFu
#define RNDIS_HOST_ALIGN_SHIFT 3u

#define RNDIS_HOST_NAME_MAX 32  /* friendly name characters */

struct rndis_host_cfg {
	uint8_t mac[6];
	bool mac_change;       /* honour a "NetworkAddress" parameter */
	uint32_t mtu;          /* IP MTU, MAXIMUM_FRAME_SIZE's answer (OpenVMM
				  keeps the frame, 1514, and answers it - 14) */
	uint32_t link_speed;   /* units of 100 bps (100000000: 10 Gbps) */
	bool link_up;
	uint32_t max_queues;   /* >= 1; RSS offered when >= 2 */
	uint32_t backend;      /* RNDIS_HCAP_* */
	bool offer_udp_csum;
	bool offer_lso;
	bool offer_rsc;
	char name[RNDIS_HOST_NAME_MAX + 1]; /* ASCII, FRIENDLY_NAME's answer
					       (Linux makes it the alias);
					       empty: "Network Adapter" */
};

/* Why a message was refused. */
enum rndis_host_bad {
	RNDIS_HBAD_SHORT,      /* shorter than its kind's fixed part */
	RNDIS_HBAD_MSGLEN,     /* msg_len below that or past the bytes given */
	RNDIS_HBAD_TYPE,       /* a type a guest does not send here */
	RNDIS_HBAD_STATE,      /* before INITIALIZE or after HALT */
	RNDIS_HBAD_VERSION,    /* INITIALIZE of another major version */
	RNDIS_HBAD_BUFFER,     /* an OID buffer outside the message */
	RNDIS_HBAD_OID_LEN,    /* an OID value of the wrong length */
	RNDIS_HBAD_OID_VALUE,  /* an OID value out of range */
	RNDIS_HBAD_RSS,        /* RSS parameters malformed */
	RNDIS_HBAD_CONFIG,     /* a config parameter malformed */
	RNDIS_HBAD__COUNT
};

const char *rndis_host_bad_name(enum rndis_host_bad b);

struct rndis_host_stats {
	uint64_t requests;     /* messages answered with success */
	uint64_t unsupported;  /* OIDs answered NOT_SUPPORTED */
	uint64_t bad[RNDIS_HBAD__COUNT];
};

enum rndis_host_ev {
	RNDIS_HE_NONE,
	RNDIS_HE_INIT,     /* (re)initialized: filter 0, offloads and RSS off */
	RNDIS_HE_FILTER,   /* filter changed (0: hold receive back) */
	RNDIS_HE_OFFLOAD,  /* offload settings changed */
	RNDIS_HE_RSS,      /* RSS enabled, disabled or re-tabled */
	RNDIS_HE_MAC,      /* the guest set a new current MAC */
	RNDIS_HE_HALT,     /* the guest stopped the device: no reply; RSC
			      off */
	RNDIS_HE_RESET     /* the guest reset the device: RSC off until
			      asked again */
};

/* Offloads in force: what was asked, within what is offered. */
struct rndis_offload_state {
	bool tx_ip4, tx_tcp4, tx_udp4, tx_tcp6, tx_udp6; /* host computes */
	bool rx_ip4, rx_tcp4, rx_udp4, rx_tcp6, rx_udp6; /* host checks */
	bool lso4, lso6;
	bool rsc4, rsc6;
};

struct rndis_rss_state {
	bool enabled;
	uint32_t hash_info;   /* NDIS_HASH_* */
	uint8_t key[NDIS_RSS_KEY_LEN];
	uint32_t table[NDIS_RSS_TABLE_MAX]; /* queue per entry, filled to 128 */
	uint32_t entries;     /* as the guest sent, before filling */
};

enum rndis_host_state {
	RNDIS_HS_UNINIT,      /* waiting for INITIALIZE */
	RNDIS_HS_READY,
	RNDIS_HS_HALTED
};

struct rndis_host {
	struct rndis_host_cfg cfg;
	enum rndis_host_state state;
	uint8_t mac[6];       /* current */
	uint32_t filter;
	uint32_t guest_max_xfer; /* INITIALIZE's: the most the guest takes in
				    one message (bound for receive batches) */
	uint32_t offered;     /* RNDIS_HCAP_* advertised */
	struct rndis_offload_state offload;
	struct rndis_rss_state rss;
	struct rndis_host_stats st;
};

/* The largest completion: a QUERY of the full offload capabilities. */
#define RNDIS_HOST_REPLY_MAX 256u

struct rndis_host_act {
	enum rndis_host_ev ev;
	uint32_t reply_len;    /* 0: nothing to send */
	uint8_t reply[RNDIS_HOST_REPLY_MAX];
};

void rndis_host_init(struct rndis_host *h, const struct rndis_host_cfg *cfg);

/* One control message (len bytes; its msg_len may be shorter). */
void rndis_host_rx(struct rndis_host *h, const uint8_t *msg, uint32_t len,
		   struct rndis_host_act *a);

/* An INDICATE_STATUS of status (RNDIS_ST_MEDIA_CONNECT, ..._DISCONNECT,
 * ..._NETWORK_CHANGE, or ..._LINK_SPEED_CHANGE carrying speed in units
 * of 100 bps) into out; returns its length. */
uint32_t rndis_host_indicate(uint32_t status, uint32_t speed,
			     uint8_t out[RNDIS_HOST_REPLY_MAX]);

/* RSC offered or not from now (netvsp: the guest's NVSP asked for it,
 * its NDIS_CONFIG RSC bit from 6.1, before RNDIS starts); not offered,
 * it is off too. */
void rndis_host_offer_rsc(struct rndis_host *h, bool on);

/* The link changed under the device: what later queries answer. */
void rndis_host_set_link(struct rndis_host *h, bool up, uint32_t speed);

#endif
