/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl posture: listening management ports and their protection. */
#include "jitctl.h"
#include "util.h"

COMMAND(posture, "posture", "",
	"listening management ports and what protects them",
	"List the sockets listening on this host on management "
	"ports (SSH, Telnet, RDP, WinRM, VNC, the Docker API, the "
	"kubelet, and the policies' management_ports), and the "
	"policies that protect them. Each one that no policy "
	"protects is a finding of severity High, shown with a "
	"policy that would protect it. The exit status is 0 with "
	"or without findings.",
	NULL);

static int cmd_posture(struct ctx *ctx, int argc, char **argv)
{
	struct table t = { .ncols = 6 };
	json_t *reply = NULL, *l;
	size_t i, findings = 0;
	int rc;

	if ((rc = want_args(ctx, argc, argv, 0, 0)))
		return rc;
	rc = call(ctx, json_pack("{s:s}", "op", "posture"), &reply);
	if (!list_to_show(ctx, &reply, "listeners",
			  "no management port is listening on this host", &rc))
		return rc;
	table_row(&t, "PORT", "SERVICE", "LISTENING ON", "PROTECTED BY",
		  "SEVERITY", "NOTE");
	json_array_foreach(json_object_get(reply, "listeners"), i, l)
	{
		char port[32], addrs[256], by[256];

		snprintf(port, sizeof(port), "%s/%lld", str(l, "protocol"),
			 (long long)num(l, "port"));
		join_strings(json_object_get(l, "addresses"), addrs,
			     sizeof(addrs), "-");
		join_strings(json_object_get(l, "policies"), by, sizeof(by),
			     "NOTHING");
		findings += json_is_true(json_object_get(l, "finding"));
		table_row(&t, port, str(l, "service"), addrs, by,
			  json_is_true(json_object_get(l, "finding"))
				  ? str(l, "severity")
				  : "-",
			  str(l, "note"));
	}
	table_print(&t);
	json_array_foreach(json_object_get(reply, "listeners"), i, l)
	{
		if (!json_is_true(json_object_get(l, "finding")))
			continue;
		printf("\n%s/%lld (%s) is open to everyone. %s. This policy "
		       "would protect it:\n\n%s",
		       str(l, "protocol"), (long long)num(l, "port"),
		       str(l, "service"), str(l, "recommendation"),
		       str(l, "policy_snippet"));
	}
	if (!findings)
		printf("\nevery listening management port is protected\n");
	json_decref(reply);
	return 0;
}
