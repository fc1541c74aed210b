/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl status: the agent, its table, protection and journal. */
#include <time.h>

#include "jitctl.h"
#include "util.h"

COMMAND(status, "status", "", "the agent, its table, protection and journal",
	"Show the agent (pid, version), its table and protection "
	"mode (owner+persist or plain), the policies in force, the "
	"protected ports, live grants and pending requests, the "
	"journal, the tamper watch, the agent's capabilities, "
	"other tables that filter input too, and the policy files "
	"that were rejected.",
	NULL);

/* The agent, its table and protection, the policies in force. */
static void print_agent(json_t *reply)
{
	time_t t = (time_t)(json_integer_value(
				    json_object_get(reply, "last_reload_ms")) /
			    1000);
	char when[64] = "-";
	struct tm tm;

	if (t && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("agent:       running, pid %lld, version %s\n",
	       (long long)json_integer_value(json_object_get(reply, "pid")),
	       str(reply, "version"));
	printf("table:       %s %s\n", str(reply, "table_family"),
	       str(reply, "table"));
	printf("protection:  %s (%s)\n", str(reply, "protection"),
	       streq(str(reply, "protection"), "owner+persist")
		       ? "only the agent can change or delete the table; it "
			 "stays if the agent stops"
		       : "the table stays if the agent stops; other root "
			 "processes can change it");
	printf("policies:    %lld in force from %s (last commit %s)\n",
	       (long long)json_integer_value(
		       json_object_get(reply, "policies")),
	       str(reply, "policy_dir"), when);
	if (json_is_true(json_object_get(reply, "policy_dir_missing")))
		printf("             WARNING: %s is missing; the policies "
		       "above stay in force until it is back\n",
		       str(reply, "policy_dir"));
}

/* The ruleset's denies: port, interface, action. */
static void print_protected(json_t *rs)
{
	struct table t = { .ncols = 3 };
	json_t *v;
	size_t i;

	if (!json_array_size(json_object_get(rs, "deny"))) {
		printf("protected:   nothing (no policy in force)\n");
		return;
	}
	printf("protected:\n");
	table_row(&t, "  PORT", "INTERFACE", "ACTION");
	json_array_foreach(json_object_get(rs, "deny"), i, v)
	{
		char p[48], col[52];

		ports_text(v, p, sizeof(p));
		snprintf(col, sizeof(col), "  %s", p);
		table_row(&t, col,
			  streq(str(v, "interface"), "*") ? "all"
							  : str(v, "interface"),
			  str(v, "action"));
	}
	table_print(&t);
}

static void print_journal(json_t *jr)
{
	const char *damaged = str(jr, "damaged");

	if (damaged && *damaged)
		printf("journal:     DEGRADED in %s: %s (skipped, the records "
		       "after them kept, the file kept aside as "
		       "*.damaged-*)\n",
		       str(jr, "state_dir"), damaged);
	if (damaged && *damaged && streq(str(jr, "error"), "damaged"))
		return;
	if (streq(str(jr, "state"), "degraded"))
		printf("journal:     DEGRADED in %s: %s; %lld "
		       "decision(s) "
		       "not yet recorded (grants are refused until it "
		       "can be written)\n",
		       str(jr, "state_dir"), str(jr, "error"),
		       (long long)num(jr, "unrecorded"));
	else if (jr)
		printf("journal:     ok in %s (%lld KiB, snapshot %lld "
		       "KiB%s)\n",
		       str(jr, "state_dir"),
		       (long long)num(jr, "journal_bytes") / 1024,
		       (long long)num(jr, "snapshot_bytes") / 1024,
		       json_is_true(json_object_get(jr, "compacting"))
			       ? ", compacting"
			       : "");
}

static void print_spa(json_t *spa)
{
	json_t *c = json_object_get(spa, "counters");

	if (json_is_true(json_object_get(spa, "enabled")))
		printf("SPA:         on, udp/%lld, %lld stanza(s) from "
		       "%s; %lld accepted, %lld refused, %lld bad "
		       "HMAC, %lld replays, %lld stale\n",
		       (long long)num(spa, "port"),
		       (long long)num(spa, "stanzas"), str(spa, "access_file"),
		       (long long)num(c, "accepted"),
		       (long long)num(c, "refused"),
		       (long long)num(c, "bad_hmac"),
		       (long long)num(c, "replays"),
		       (long long)num(c, "stale"));
	else if (spa)
		printf("SPA:         off (jit-enforcer --spa-access "
		       "FILE turns it on)\n");
	if (json_is_string(json_object_get(spa, "errors")))
		printf("             WARNING: the access file was "
		       "rejected; the last good one stays in force:\n"
		       "%s",
		       str(spa, "errors"));
}

/* Fleet mode: this host's name and labels, and whether NATS answers. */
static void print_fleet(json_t *fleet)
{
	json_t *labels = json_object_get(fleet, "labels");
	json_t *audit = json_object_get(fleet, "audit");
	char text[512] = "", since[64];
	const char *k;
	json_t *v;
	size_t off = 0;

	if (!fleet)
		return;
	if (!json_is_true(json_object_get(fleet, "enabled"))) {
		printf("fleet:       off (no %s)\n",
		       *str(fleet, "config") ? str(fleet, "config")
					     : "fleet config");
	} else {
		json_object_foreach(labels, k, v)
		{
			int n = snprintf(text + off, sizeof(text) - off,
					 "%s%s=%s", off ? "," : "", k,
					 json_string_value(v) ?: "");

			if (n < 0 || (size_t)n >= sizeof(text) - off)
				break;
			off += (size_t)n;
		}
		printf("fleet:       host %s (%s), %lld fleet grant(s) live, "
		       "audit sent to %lld of %lld\n",
		       str(fleet, "host"), text[0] ? text : "no labels",
		       (long long)num(fleet, "grants"),
		       (long long)num(audit, "acked_seq"),
		       (long long)num(audit, "next_seq") - 1);
		if (json_is_true(json_object_get(fleet, "reachable"))) {
			printf("             servers reachable, watching its "
			       "grants\n");
		} else {
			time_text(num(fleet, "unreachable_since_ms"), since,
				  sizeof(since));
			printf("             UNREACHABLE since %s%s%s%s: new "
			       "fleet grants and fleet revokes cannot arrive; "
			       "local requests work\n",
			       since, *str(fleet, "last_error") ? " (" : "",
			       str(fleet, "last_error"),
			       *str(fleet, "last_error") ? ")" : "");
		}
	}
	if (json_is_string(json_object_get(fleet, "errors")))
		printf("             WARNING: the fleet config was rejected:\n"
		       "%s",
		       str(fleet, "errors"));
}

/* The tamper watch and the agent's capabilities. */
static void print_guards(json_t *reply)
{
	printf("tampering:   %s; %lld change(s) by other processes undone\n",
	       json_is_true(json_object_get(reply, "tamper_watch"))
		       ? "watching nftables events"
		       : "NOT watching nftables events",
	       (long long)num(reply, "tamper_events"));
	if (json_is_string(json_object_get(reply, "capabilities_effective")))
		printf("privileges:  effective capabilities %s%s\n",
		       str(reply, "capabilities_effective"),
		       streq(str(reply, "capabilities_effective"),
			     "0000000000001000")
			       ? " (CAP_NET_ADMIN only)"
			       : "");
}

/* Input chains of other tables: their drops still apply. */
static void print_other_chains(json_t *chains)
{
	struct table t = { .ncols = 5 };
	json_t *c;
	size_t i;

	if (!json_array_size(chains))
		return;
	printf("\nother tables filter input too. Their drops still "
	       "apply to protected ports;\ntheir accepts cannot open "
	       "one (an accept ends only their own chain):\n");
	table_row(&t, "  TABLE", "CHAIN", "PRIORITY", "POLICY", "RUNS");
	json_array_foreach(chains, i, c)
	{
		char tab[160], prio[16];

		snprintf(tab, sizeof(tab), "  %s %s", str(c, "family"),
			 str(c, "table"));
		snprintf(prio, sizeof(prio), "%lld",
			 (long long)num(c, "priority"));
		table_row(&t, tab, str(c, "chain"), prio, str(c, "policy"),
			  str(c, "runs"));
	}
	table_print(&t);
}

static int cmd_status(struct ctx *ctx, int argc, char **argv)
{
	json_auto_t *reply = NULL;
	int r;

	if ((r = want_args(ctx, argc, argv, 0, 0)))
		return r;
	r = call(ctx, json_pack("{s:s}", "op", "status"), &reply);
	if (r || ctx->json)
		return r;
	print_agent(reply);
	print_protected(json_object_get(reply, "ruleset"));
	printf("grants:      %lld live, %lld pending approval\n",
	       (long long)num(reply, "grants"),
	       (long long)num(reply, "pending"));
	print_journal(json_object_get(reply, "journal"));
	print_spa(json_object_get(reply, "spa"));
	print_fleet(json_object_get(reply, "fleet"));
	print_guards(reply);
	print_other_chains(json_object_get(reply, "other_input_chains"));
	if (json_is_string(json_object_get(reply, "policy_errors")))
		printf("\nrejected policy files (one that had a good version "
		       "keeps it in force; a new one is not in force):\n%s",
		       str(reply, "policy_errors"));
	return r;
}
