/* Shutdown service: accept the host's request, then carry it out with the
 * configured command, or by stopping hvis-guest. */
#include <stdio.h>
#include <string.h>

#include "gic.h"
#include "os_exec.h"
#include "rt_log.h"

#define SD_ENV "/usr/bin/env"
#define SD_SHELL "/bin/sh"
#define SD_TIMEOUT_MS 60000
#define SD_REASON_ENV_MAX (sizeof("HVIS_SHUTDOWN_REASON=") + \
			   IC_SD_MSG_UTF8_MAX)

static const char *sd_action(const struct ic_sd_req *sd)
{
	if (sd->reboot)
		return "reboot";
	return sd->hibernate ? "hibernate" : "poweroff";
}

/* The command runs without this process's shell quoting: the host's
 * text reaches it only as an environment value. */
static void run_cmd(struct gic_svc *s, const struct ic_sd_req *sd)
{
	char reason[SD_REASON_ENV_MAX];
	char action[48], force[32], code[48];
	const char *act = sd_action(sd);
	char *argv[] = {
		SD_ENV, action, force, reason, code, SD_SHELL, "-c",
		(char *)s->cfg->shutdown_cmd, "hvis-shutdown", (char *)act,
		sd->force ? "force" : NULL, NULL,
	};
	unsigned tmo = s->cfg->shutdown_timeout_ms;
	struct os_exec_result res;
	int rc;

	snprintf(action, sizeof(action), "HVIS_SHUTDOWN_ACTION=%s", act);
	snprintf(force, sizeof(force), "HVIS_SHUTDOWN_FORCE=%d", sd->force);
	snprintf(reason, sizeof(reason), "HVIS_SHUTDOWN_REASON=%s",
		 sd->message);
	snprintf(code, sizeof(code), "HVIS_SHUTDOWN_REASON_CODE=%#x",
		 sd->reason);
	rc = os_exec_run(SD_ENV, argv, NULL, 0,
			 (int)(tmo ? tmo : SD_TIMEOUT_MS), &res);
	if (rc)
		rt_err(s->name, "shutdown command: %s", strerror(-rc));
	else if (res.exit_status)
		rt_err(s->name, "shutdown command exited %d", res.exit_status);
	else
		rt_info(s->name, "shutdown command done");
}

void gic_sd_act(struct gic_svc *s, const struct ic_sd_req *sd, uint64_t xid)
{
	const char *cmd = s->cfg->shutdown_cmd;
	uint32_t status = IC_S_OK;
	size_t len = 0;

	rt_info(s->name, "host requests %s%s (reason %#x, \"%s\")",
		sd_action(sd), sd->force ? ", forced" : "", sd->reason,
		sd->message);
	if (sd->hibernate && !cmd) {
		rt_warn(s->name, "hibernation is not supported: refused");
		status = IC_E_FAIL;
		s->st.os_failures++;
	}
	/* Answer first: once the action runs, the channel may be gone. */
	if (ic_sd_guest_reply(&s->eng, status, s->out, sizeof(s->out),
			      &len) == VMB_OK)
		gic_reply(s, xid, len);
	if (status != IC_S_OK)
		return;
	if (cmd) {
		rt_info(s->name, "running: %s", cmd);
		run_cmd(s, sd);
		return;
	}
	rt_info(s->name, "stopping hvis-guest (%s requested by the host)",
		sd_action(sd));
	if (s->stop)
		s->stop(s->arg);
}
