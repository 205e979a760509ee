/* What the integration services look like to hvis-ctl: `vm services`
 * (Get-VMIntegrationService) and the services' part of `vm show`, as
 * text and as JSON (docs/json.md). Text the guest chose is escaped. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hic_priv.h"
#include "rt_log.h"

static void ver_text(const struct hic_svc *s, struct ic_ver v, char *buf,
		     size_t cap)
{
	if (s->negotiated)
		snprintf(buf, cap, "%u.%u", v.major, v.minor);
	else
		snprintf(buf, cap, "-");
}

static void print_bad(struct hic_svc *s, FILE *out)
{
	struct vmb_badstats b;
	uint64_t late = hic_late(s);

	if (!hic_bad_total(s, &b) && !late)
		return;
	fprintf(out, "  %-24s", s->info->name);
	for (unsigned i = 0; i < VMB_BAD__COUNT; i++) {
		if (b.n[i]) {
			fprintf(out, " %s=%llu", vmb_bad_name((enum vmb_bad)i),
				(unsigned long long)b.n[i]);
		}
	}
	if (late)
		fprintf(out, " late-answers=%llu", (unsigned long long)late);
	fputc('\n', out);
}

/* Enabled services that are not OK, as "Name (status), ..." in buf;
 * how many. Scripts test `vm services` by its exit status. */
static unsigned not_ok(struct hic *ic, char *buf, size_t cap)
{
	unsigned n = 0;
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < HIC__COUNT; k++) {
		const struct hic_svc *s = &ic->svc[k];

		if (!s->enabled || strcmp(hic_status(s), "OK") == 0)
			continue;
		if (len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s%s (%s)",
						n ? ", " : "", s->info->name,
						hic_status(s));
		n++;
	}
	return n;
}

/* "ok", or "warn: ..." when a service is not OK: the listing follows
 * either way, and hvis-ctl exits non-zero on the warning. */
static void status_line(struct hic *ic, FILE *out)
{
	char bad[512];
	unsigned n = not_ok(ic, bad, sizeof(bad));

	if (n)
		fprintf(out, "warn: %u enabled service%s not OK: %s\n", n,
			n > 1 ? "s" : "", bad);
	else
		fprintf(out, "ok\n");
}

static void services_text(struct hic *ic, FILE *out)
{
	bool any = false;

	fprintf(out, "%-24s %-7s %-24s %-9s %-7s %8s %8s %8s %8s %8s %s\n",
		"Name", "Enabled", "PrimaryStatusDescription", "Framework",
		"Message", "Requests", "Answers", "Failures", "Timeouts",
		"BadInput", "SecondaryStatusDescription");
	for (unsigned k = 0; k < HIC__COUNT; k++) {
		struct hic_svc *s = &ic->svc[k];
		struct vmb_badstats b;
		char fw[12], msg[12];

		ver_text(s, s->fw, fw, sizeof(fw));
		ver_text(s, s->msg, msg, sizeof(msg));
		fprintf(out, "%-24s %-7s %-24s %-9s %-7s %8llu %8llu %8llu "
			"%8llu %8llu %s\n", s->info->name,
			s->enabled ? "True" : "False", hic_status(s), fw, msg,
			(unsigned long long)s->requests,
			(unsigned long long)s->answers,
			(unsigned long long)s->failures,
			(unsigned long long)s->timeouts,
			(unsigned long long)hic_bad_total(s, &b),
			hic_status_detail(s));
		any |= hic_bad_total(s, &b) || hic_late(s);
	}
	fprintf(out, "Bad input by reason:%s\n", any ? "" : " none");
	for (unsigned k = 0; k < HIC__COUNT; k++)
		print_bad(&ic->svc[k], out);
}

static json_t *ver_json(const struct hic_svc *s, struct ic_ver v)
{
	return s->negotiated ? json_sprintf("%u.%u", v.major, v.minor)
			     : json_null();
}

static json_t *service_json(struct hic_svc *s)
{
	json_t *why = json_object();
	struct vmb_badstats b;
	uint64_t total = hic_bad_total(s, &b);

	for (unsigned i = 0; i < VMB_BAD__COUNT; i++)
		if (b.n[i])
			json_object_set_new(why, vmb_bad_name((enum vmb_bad)i),
					    json_integer((json_int_t)b.n[i]));
	return json_pack(
		"{s:s, s:s, s:b, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, "
		"s:{s:I, s:o}, s:I}",
		"name", s->info->name, "alias", s->info->alias,
		"enabled", s->enabled, "primary_status", hic_status(s),
		"secondary_status", hic_status_detail(s),
		"framework_version", ver_json(s, s->fw),
		"message_version", ver_json(s, s->msg),
		"requests", (json_int_t)s->requests,
		"answers", (json_int_t)s->answers,
		"failures", (json_int_t)s->failures,
		"timeouts", (json_int_t)s->timeouts,
		"bad_input", "total", (json_int_t)total, "by_reason", why,
		"late_answers", (json_int_t)hic_late(s));
}

int hic_cmd_services(struct hic *ic, bool json, FILE *out)
{
	json_t *list, *o;

	status_line(ic, out);
	if (!json) {
		services_text(ic, out);
		return 0;
	}
	list = json_array();
	for (unsigned k = 0; k < HIC__COUNT; k++)
		json_array_append_new(list, service_json(&ic->svc[k]));
	o = json_pack("{s:s, s:s, s:o}", "schema", "hvis.services/1", "vm",
		      ic->vm->cfg.name, "services", list);
	json_dumpf(o, out, JSON_INDENT(2));
	fputc('\n', out);
	json_decref(o);
	return 0;
}

/* ---- the guest's own words (KVP auto pool) ---- */

void hic_put_guest_text(FILE *out, const char *text, const char *end)
{
	const unsigned char *p = (const unsigned char *)text;

	for (; *p; p++) {
		unsigned k = rt_ctl_char((const char *)p);

		if (!k) {
			fputc(*p, out);
			continue;
		}
		p += k - 1;
		fprintf(out, "\\x%02x", *p);
	}
	fputs(end, out);
}

/* An item of the auto pool read from the guest now attached, or NULL
 * (none attached: what the last guest said is not this VM's now). */
static const char *intrinsic(struct hic *ic, const char *key)
{
	if (!ic->vm->xc)
		return NULL;
	for (unsigned i = 0; i < ic->n_intrinsic; i++)
		if (ic->intrinsic[i].key &&
		    strcmp(ic->intrinsic[i].key, key) == 0)
			return ic->intrinsic[i].value;
	return NULL;
}

static const char *const show_keys[][2] = {
	{ "Computer name:", "FullyQualifiedDomainName" },
	{ "OS name:", "OSName" },
	{ "OS version:", "OSVersion" },
	{ "IPv4 addresses:", "NetworkAddressIPv4" },
	{ "IPv6 addresses:", "NetworkAddressIPv6" },
};

static const char *guest_note(const struct hic *ic)
{
	if (!ic->vm->xc)
		return ", no guest attached";
	if (!ic->svc[HIC_KVP].enabled)
		return ", Key-Value Pair Exchange disabled";
	return ic->intrinsic_ms ? "" : ", not read yet";
}

void hic_show(struct hvm *vm, FILE *out)
{
	struct hic *ic = vm->ic;

	if (!ic)
		return;
	fprintf(out, "Integration services:\n");
	for (unsigned k = 0; k < HIC__COUNT; k++) {
		const struct hic_svc *s = &ic->svc[k];

		fprintf(out, "  %-24s %-7s %s\n", s->info->name,
			s->enabled ? "True" : "False", hic_status(s));
	}
	fprintf(out, "Guest (KVP auto pool%s):\n", guest_note(ic));
	for (unsigned i = 0; i < VMB_ARRAY_LEN(show_keys); i++) {
		const char *v = intrinsic(ic, show_keys[i][1]);

		fprintf(out, "  %-18s ", show_keys[i][0]);
		hic_put_guest_text(out, v && *v ? v : "-", "\n");
	}
}

/* A ';'-separated list of the guest's as an array of its items. */
static json_t *list_json(const char *v)
{
	json_t *a = json_array();
	char *copy = v ? strdup(v) : NULL, *save = NULL;

	for (char *w = copy ? strtok_r(copy, ";", &save) : NULL; w;
	     w = strtok_r(NULL, ";", &save))
		json_array_append_new(a, json_string(w));
	free(copy);
	return a;
}

static json_t *text_json(const char *v)
{
	/* json_string refuses what is not UTF-8: then it is null. */
	return v && *v ? json_string(v) : json_null();
}

void hic_show_json(struct hvm *vm, json_t *o)
{
	struct hic *ic = vm->ic;
	json_t *svcs = json_array();

	if (!ic)
		return;
	for (unsigned k = 0; k < HIC__COUNT; k++) {
		const struct hic_svc *s = &ic->svc[k];

		json_array_append_new(svcs, json_pack(
			"{s:s, s:b, s:s}", "name", s->info->name,
			"enabled", s->enabled, "primary_status",
			hic_status(s)));
	}
	json_object_set_new(o, "integration_services", svcs);
	json_object_set_new(o, "guest_data", !vm->xc ? json_null() : json_pack(
		"{s:o, s:o, s:o, s:o, s:o}",
		"computer_name", text_json(intrinsic(ic, show_keys[0][1])),
		"os_name", text_json(intrinsic(ic, show_keys[1][1])),
		"os_version", text_json(intrinsic(ic, show_keys[2][1])),
		"ipv4", list_json(intrinsic(ic, show_keys[3][1])),
		"ipv6", list_json(intrinsic(ic, show_keys[4][1]))));
}
