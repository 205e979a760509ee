/* storvsp's control requests, in Hyper-V's words:
 *   disk add PATH [--controller K] [--lun N] [--read-only]
 *                                          Add-VMHardDiskDrive
 *   disk remove --controller K --lun N     Remove-VMHardDiskDrive
 *   disk list [--json]                     Get-VMHardDiskDrive
 *   disk resize --controller K --lun N --size BYTES[K|M|G|T]
 *                                          Resize-VHD on an attached disk
 * and the --disk option's syntax PATH[,lun=N][,ro][,controller=K] (a
 * comma in PATH doubled). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hstor_priv.h"

static int disk_opt(char *o, struct hstor_disk_cfg *cfg)
{
	unsigned long long v;

	if (!strcmp(o, "ro") || !strcmp(o, "read-only")) {
		cfg->read_only = true;
		return 0;
	}
	if (!strcmp(o, "direct=off")) {
		cfg->no_direct = true;
		return 0;
	}
	if (!strncmp(o, "lun=", 4) && !hvm_ctl_num(o + 4, 0, HSTOR_LUNS - 1, &v)) {
		cfg->lun = (int)v;
		return 0;
	}
	if (!strncmp(o, "controller=", 11) &&
	    !hvm_ctl_num(o + 11, 0, HSTOR_CONTROLLERS - 1, &v)) {
		cfg->controller = (int)v;
		return 0;
	}
	return -1;
}

/* The path ends at the first single comma; ",," in it is one comma
 * (as in qemu's options). Returns what follows, or NULL. */
static char *path_end(char *arg)
{
	char *o = arg;

	for (char *p = arg; *p; p++) {
		if (*p == ',' && p[1] != ',') {
			*o = '\0';
			return p + 1;
		}
		*o++ = *p;
		p += *p == ',';
	}
	*o = '\0';
	return NULL;
}

int hstor_parse_disk(char *arg, struct hstor_disk_cfg *cfg, char *why,
		     size_t n)
{
	char *save = NULL, *rest, *o;

	memset(cfg, 0, sizeof(*cfg));
	cfg->controller = cfg->lun = -1;
	rest = path_end(arg);
	cfg->path = arg;
	if (!*cfg->path) {
		snprintf(why, n, "--disk needs a path: PATH[,lun=N][,ro]"
			 "[,controller=K] (a comma in PATH written ,,)");
		return -1;
	}
	for (o = rest ? strtok_r(rest, ",", &save) : NULL; o;
	     o = strtok_r(NULL, ",", &save)) {
		if (disk_opt(o, cfg)) {
			snprintf(why, n, "--disk: '%s' is not lun=0..%u, ro, "
				 "controller=0..%u or direct=off", o,
				 HSTOR_LUNS - 1, HSTOR_CONTROLLERS - 1);
			return -1;
		}
	}
	return 0;
}

/* ---- requests ---- */

/* The words of a request; ctrl and lun NONE where not given. */
#define NONE ULLONG_MAX
struct where {
	unsigned long long ctrl, lun, size, ro;
	const char *path;
};

static int where_parse(char *const *argv, int argc, struct where *w,
		       char *why, size_t n)
{
	const struct hvm_ctl_opt opts[] = {
		{"--controller", 0, HSTOR_CONTROLLERS - 1, false, &w->ctrl},
		{"--lun", 0, HSTOR_LUNS - 1, false, &w->lun},
		{"--size", 1, ULLONG_MAX, true, &w->size},
		{"--read-only", 0, 0, false, &w->ro},
	};

	*w = (struct where){.ctrl = NONE, .lun = NONE};
	return hvm_ctl_args(argv, argc, opts, sizeof(opts) / sizeof(opts[0]),
			    &w->path, 1, why, n);
}

/* A place given, or -1: the disk's own choice. */
static int or_any(unsigned long long v)
{
	return v == NONE ? -1 : (int)v;
}

static int cmd_add(struct hvm *vm, const struct where *w, FILE *out)
{
	struct hstor_disk_cfg cfg = {.path = w->path, .read_only = w->ro,
				     .controller = or_any(w->ctrl),
				     .lun = or_any(w->lun)};
	unsigned ctrl, lun;
	char why[256];

	if (!w->path || w->size) {
		fprintf(out, "error: usage: disk add PATH [--controller K] "
			"[--lun N] [--read-only]\n");
		return -1;
	}
	if (hstor_add_disk(vm, &cfg, &ctrl, &lun, why, sizeof(why))) {
		fprintf(out, "error: %s\n", why);
		return -1;
	}
	fprintf(out, "ok\ncontroller %u lun %u\n", ctrl, lun);
	return 0;
}

static int cmd_remove(struct hvm *vm, const struct where *w, FILE *out)
{
	char why[256];

	if (w->ctrl == NONE || w->lun == NONE || w->path || w->size || w->ro) {
		fprintf(out, "error: usage: disk remove --controller K "
			"--lun N\n");
		return -1;
	}
	if (hstor_remove_disk(vm, (unsigned)w->ctrl, (unsigned)w->lun, why,
			      sizeof(why))) {
		fprintf(out, "error: %s\n", why);
		return -1;
	}
	fprintf(out, "ok\n");
	return 0;
}

static int cmd_resize(struct hvm *vm, const struct where *w, FILE *out)
{
	char why[256];

	if (w->ctrl == NONE || w->lun == NONE || !w->size || w->path || w->ro) {
		fprintf(out, "error: usage: disk resize --controller K --lun N "
			"--size BYTES[K|M|G|T]\n");
		return -1;
	}
	if (hstor_resize_disk(vm, (unsigned)w->ctrl, (unsigned)w->lun,
			      w->size, why, sizeof(why))) {
		fprintf(out, "error: %s\n", why);
		return -1;
	}
	fprintf(out, "ok\n");
	return 0;
}

/* ---- disk list ---- */

struct lun_fig {
	uint64_t reads, writes, flushes, bytes_read, bytes_written, errors;
};

static void lun_fig(const struct hstor_lun *l, struct lun_fig *f)
{
	struct scsi_stats s;

	memset(&s, 0, sizeof(s));
	scsi_disk_stats(&l->disk, &s);
	*f = (struct lun_fig){.reads = s.cmds[SCSI_CLS_READ],
			      .writes = s.cmds[SCSI_CLS_WRITE],
			      .flushes = s.cmds[SCSI_CLS_FLUSH],
			      .bytes_read = s.bytes_read,
			      .bytes_written = s.bytes_written};
	for (unsigned i = SCSI_IOERR_NONE + 1; i < SCSI_IOERR__COUNT; i++)
		f->errors += s.io_err[i];
}

/* The name hvis-guest exports the LUN under: it numbers controllers in
 * the order they are offered, lowest free number first, as the host
 * numbers them here. */
static void export_name(const struct hstor_lun *l, char *buf, size_t n)
{
	snprintf(buf, n, "scsi%u-lun%u", l->ctrl->index, l->lun);
}

static json_t *lun_json(const struct hstor_lun *l)
{
	struct lun_fig f;
	char exp[32];

	lun_fig(l, &f);
	export_name(l, exp, sizeof(exp));
	return json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:b, "
			 "s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
			 "controller_type", "SCSI",
			 "controller_number", (json_int_t)l->ctrl->index,
			 "controller_location", (json_int_t)l->lun,
			 "guest_export", exp,
			 "path", l->path, "backend", l->info.kind,
			 "size_bytes", (json_int_t)(scsi_disk_blocks(&l->disk) *
						    l->info.block_size),
			 "block_size", (json_int_t)l->info.block_size,
			 "read_only", l->info.read_only, "io",
			 "reads", (json_int_t)f.reads,
			 "writes", (json_int_t)f.writes,
			 "flushes", (json_int_t)f.flushes,
			 "bytes_read", (json_int_t)f.bytes_read,
			 "bytes_written", (json_int_t)f.bytes_written,
			 "errors", (json_int_t)f.errors);
}

static void lun_text(const struct hstor_lun *l, FILE *out)
{
	struct lun_fig f;
	char exp[32];

	lun_fig(l, &f);
	export_name(l, exp, sizeof(exp));
	fprintf(out, "SCSI %10u %10u %12llu %-3s %10llu %10llu %8llu %-12s "
		"%s\n", l->ctrl->index, l->lun,
		(unsigned long long)(scsi_disk_blocks(&l->disk) *
				     l->info.block_size),
		l->info.read_only ? "yes" : "no",
		(unsigned long long)f.reads, (unsigned long long)f.writes,
		(unsigned long long)f.errors, exp, l->path);
}

static void cmd_list(struct hvm *vm, bool json, FILE *out)
{
	json_t *list = json_array();

	if (!json)
		fprintf(out, "ok\n%-4s %10s %10s %12s %-3s %10s %10s %8s %-12s "
			"%s\n", "TYPE", "CONTROLLER", "LOCATION", "SIZE", "RO",
			"READS", "WRITES", "ERRORS", "GUEST-EXPORT", "PATH");
	for (unsigned k = 0; k < HSTOR_CONTROLLERS; k++) {
		struct hstor_ctrl *ctrl = hstor_ctrl_of(vm, k);

		for (unsigned i = 0; ctrl && i < HSTOR_LUNS; i++) {
			struct hstor_lun *l = atomic_load(&ctrl->luns[i]);

			if (l && json)
				json_array_append_new(list, lun_json(l));
			else if (l)
				lun_text(l, out);
		}
	}
	if (json)
		hvm_ctl_json(json_pack("{s:s, s:s, s:o}", "schema",
				       "hvis.disks/1", "vm", vm->cfg.name,
				       "disks", list), out);
	else
		json_decref(list);
}

int hstor_ctl_exec(struct hvm *vm, char *const *argv, int argc, bool json,
		   FILE *out)
{
	struct where w;
	char why[256];

	if (argc < 2 || strcmp(argv[0], "disk"))
		return HSTOR_CTL_NOT_MINE;
	if (!strcmp(argv[1], "list") && argc == 2) {
		cmd_list(vm, json, out);
		return 0;
	}
	if (where_parse(argv + 2, argc - 2, &w, why, sizeof(why))) {
		fprintf(out, "error: disk %s: %s; try: disk add PATH | disk "
			"remove --controller K --lun N | disk list | disk "
			"resize --controller K --lun N --size BYTES\n", argv[1],
			why);
		return -1;
	}
	if (!strcmp(argv[1], "add"))
		return cmd_add(vm, &w, out);
	if (!strcmp(argv[1], "remove"))
		return cmd_remove(vm, &w, out);
	if (!strcmp(argv[1], "resize"))
		return cmd_resize(vm, &w, out);
	fprintf(out, "error: unknown disk request; try: disk add | disk "
		"remove | disk list | disk resize\n");
	return -1;
}
