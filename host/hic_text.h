/* Text the guest sends the host, checked before the host's user sees it:
 * the KVP GET_IP_INFO answer (in hic_job.c). The guest's other strings
 * go through hic_put_guest_text (hic_priv.h). Needs no event loop or VM:
 * fuzz/fuzz_host_text.c calls it directly. */
#ifndef HVIS_HIC_TEXT_H
#define HVIS_HIC_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "ic/kvp.h"

/* The guest's GET_IP_INFO answer ip as the lines `kvp ip get` prints:
 * "Address:" ADDR/PREFIX for each address, then "Gateway:" and "DNS:"
 * lines. binary: ip holds the message 5.0 form (counts and arrays), else
 * the ';'-separated string lists. Every item must be an address (each
 * address with a subnet of its family) and every count fit its array:
 * the text would reach the host's user as the guest wrote it otherwise.
 * As snprintf: writes at most cap bytes into out, NUL included (out may
 * be NULL when cap is 0), and *len gets the length of the whole text.
 * false if ip holds something that is not an address (then the text is
 * cut short and not to be shown). */
bool hic_ip_text(const struct kvp_ip *ip, bool binary, char *out,
		 size_t cap, size_t *len);

#endif
