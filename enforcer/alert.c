/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <sys/random.h>
#include <time.h>

#include "alert.h"
#include "audit.h"
#include "util.h"

const struct jit_alert_def alert_journal_failed = {
	.type = "JIT_JOURNAL_FAILED",
	.name = "Just-in-time access decisions cannot be recorded",
	.intent = "Impact",
	.techniques = { "T1499", NULL },
	.severity = "High",
	.remediation = {
		"Free space on (or remount read-write) the file system of the "
		"agent's state directory; check it for I/O errors.",
		"Until then new grants are refused; revokes and expiries take "
		"effect and are recorded as soon as the journal can be "
		"written.",
		NULL,
	},
};

const struct jit_alert_def alert_journal_damaged = {
	.type = "JIT_JOURNAL_DAMAGED",
	.name = "The journal of just-in-time access decisions is damaged",
	.intent = "Impact",
	.techniques = { "T1565.001", NULL },
	.severity = "High",
	.remediation = {
		"A line of the journal failed its checksum: check the disk of "
		"the agent's state directory for errors.",
		"The damaged line was skipped and every record after it kept; "
		"the file is kept as journal.<gen>.damaged-<time> for "
		"inspection. Review the grants listed by 'jitctl grants' and "
		"revoke any that should not be live.",
		NULL,
	},
};

const struct jit_alert_def alert_table_tampered = {
	.type = "JIT_TABLE_TAMPERED",
	.name = "Just-in-time firewall rules changed by another process",
	.intent = "DefenseEvasion",
	.techniques = { "T1562.004", NULL },
	.severity = "High",
	.remediation = {
		"Find out why the named process changed the jit-enforcer "
		"table; it may be an attacker disabling the firewall.",
		"Check the host for other signs of compromise and for "
		"unexpected root processes.",
		"The agent restored the table; use a kernel with table "
		"owner and persist support (Linux 6.9+) so that other "
		"processes cannot change it at all.",
		NULL,
	},
};

const struct jit_alert_def alert_repeated_attempts = {
	.type = "JIT_REPEATED_ATTEMPTS",
	.name = "Repeated connection attempts on a closed management port",
	.intent = "PreAttack",
	.techniques = { "T1110", "T1133", NULL },
	.severity = "Medium",
	.remediation = {
		"If the source is not one of yours, block it at the network "
		"edge; it keeps trying a port that is closed to it.",
		"If it is one of yours, the person may need just-in-time "
		"access: jitctl request POLICY --port PORT --from ADDRESS.",
		"Check that the service behind the port enforces strong "
		"authentication, for when access is granted.",
		NULL,
	},
};

const struct jit_alert_def alert_distributed_attempts = {
	.type = "JIT_DISTRIBUTED_ATTEMPTS",
	.name = "Connection attempts from many sources on a closed management "
		"port",
	.intent = "PreAttack",
	.techniques = { "T1110", "T1595", NULL },
	.severity = "High",
	.remediation = {
		"Many sources trying one management port suggests a "
		"distributed brute-force or a botnet sweep; keep the port "
		"closed and grant access only for short periods.",
		"Narrow allowed_sources in the policy to the networks your "
		"admins use.",
		"Consider filtering the sources upstream (provider firewall, "
		"DDoS protection).",
		NULL,
	},
};

const struct jit_alert_def alert_port_sweep = {
	.type = "JIT_MANAGEMENT_PORT_SWEEP",
	.name = "One source swept several management ports",
	.intent = "PreAttack",
	.techniques = { "T1046", "T1595.001", NULL },
	.severity = "Medium",
	.remediation = {
		"A source trying several management ports is mapping remote "
		"access services; block it at the network edge if it is not "
		"one of yours.",
		"Make sure every management port on the host is protected "
		"(jitctl posture).",
		NULL,
	},
};

const struct jit_alert_def alert_after_grant_end = {
	.type = "JIT_ATTEMPT_AFTER_GRANT_END",
	.name = "Connection attempt from a source whose just-in-time access "
		"ended",
	.intent = "InitialAccess",
	.techniques = { "T1133", NULL },
	.severity = "Low",
	.remediation = {
		"Usually a person whose access expired; they can request it "
		"again with jitctl request.",
		"If the grant was revoked on purpose, or attempts go on, find "
		"out who uses that address: a tool may keep credentials that "
		"should have been retired.",
		NULL,
	},
};

const struct jit_alert_def alert_wide_grant = {
	.type = "JIT_WIDE_GRANT",
	.name = "Just-in-time access approved for a wide source range",
	.intent = "InitialAccess",
	.techniques = { "T1133", NULL },
	.severity = "Medium",
	.remediation = {
		"Grant access to the single address the person connects "
		"from, not to a whole network.",
		"Restrict allowed_sources in the policy so that wide prefixes "
		"cannot be requested.",
		"Revoke the grant (jitctl revoke ID) if it was not intended.",
		NULL,
	},
};

const struct jit_alert_def alert_spa_replay = {
	.type = "JIT_SPA_REPLAY",
	.name = "A single packet authorization packet was replayed",
	.intent = "CredentialAccess",
	.techniques = { "T1557", "T1040", NULL },
	.severity = "High",
	.remediation = {
		"Someone captured an SPA packet on its way and sent it again; "
		"the replay was refused.",
		"Find where the packet was captured (the path between the "
		"client and this host) and who sent the copy (the source "
		"address).",
		"If the packet asked for its own source (fwknop -s), set "
		"REQUIRE_SOURCE_ADDRESS Y in the stanza so that a copy sent "
		"from elsewhere opens nothing.",
		NULL,
	},
};

const struct jit_alert_def alert_spa_bad_hmac = {
	.type = "JIT_SPA_BAD_HMAC",
	.name = "Repeated SPA packets with a wrong key from one source",
	.intent = "CredentialAccess",
	.techniques = { "T1110", NULL },
	.severity = "Medium",
	.remediation = {
		"A source sends SPA packets that no stanza's HMAC key "
		"authenticates: someone guessing keys, or a client with an "
		"old key.",
		"If the source is one of your users, give them the current "
		"key (jitctl spa-keygen).",
		"Otherwise block the source upstream; the packets opened "
		"nothing.",
		NULL,
	},
};

const struct jit_alert_def alert_spa_refused = {
	.type = "JIT_SPA_REFUSED",
	.name = "An authenticated SPA request was refused",
	.intent = "InitialAccess",
	.techniques = { "T1133", NULL },
	.severity = "Low",
	.remediation = {
		"A packet made with a valid key asked for access that the "
		"stanza or the policies do not allow.",
		"If the person should have that access, change the policy or "
		"the stanza; if not, find out who holds the key, and replace "
		"it if it leaked.",
		NULL,
	},
};

const struct jit_alert_def alert_fleet_squatted = {
	.type = "JIT_FLEET_MSGID_SQUATTED",
	.name = "Another client used this host's audit message id first",
	.intent = "DefenseEvasion",
	.techniques = { "T1070", NULL },
	.severity = "High",
	.remediation = {
		"The fleet's audit stream said it already held a message with "
		"an id this host had never sent: a line of this host's audit "
		"trail may have been dropped in favour of another's.",
		"Find which client published it (the stream's message with "
		"that id), and rotate the credentials that could.",
		NULL,
	},
};

const struct jit_alert_def alert_detection_off = {
	.type = "JIT_DETECTION_OFF",
	.name = "A policy turned detection off",
	.intent = "DefenseEvasion",
	.techniques = { "T1562.001", NULL },
	.severity = "High",
	.remediation = {
		"A policy file sets an alert threshold, or log_rate, to 0: "
		"the lowest value of all policies applies, so that one file "
		"turns this detection off for the whole host.",
		"If nobody meant to, restore the file (its earlier content "
		"hash is in the audit trail) and find out who changed it.",
		NULL,
	},
};

const struct jit_alert_def *const alert_defs[] = {
	&alert_table_tampered,	     &alert_journal_failed,
	&alert_journal_damaged,	     &alert_repeated_attempts,
	&alert_distributed_attempts, &alert_port_sweep,
	&alert_after_grant_end,	     &alert_wide_grant,
	&alert_spa_replay,	     &alert_spa_bad_hmac,
	&alert_spa_refused,	     &alert_fleet_squatted,
	&alert_detection_off,
};
const size_t alert_defs_count = ARRAY_SIZE(alert_defs);

char *iso_time(uint64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t len;

	gmtime_r(&t, &tm);
	len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + len, n - len, ".%03uZ", (unsigned)(ms % 1000));
	return buf;
}

static void uuid4(char out[37])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0) {
			/* Never fails for 16 bytes once seeded; be safe. */
			uint64_t t = now_real_ms() ^ (uint64_t)getpid() << 32;

			memcpy(b, &t, 8);
			memcpy(b + 8, &t, 8);
			break;
		}
		got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x"
		 "%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

json_t *alert_build(const struct jit_alert_def *def, const char *description,
		    json_t *entities, uint64_t first_ms, uint64_t last_ms,
		    unsigned count)
{
	json_t *tech = json_array(), *rem = json_array(), *a;
	char id[37], host[256] = "", first[40], last[40];

	uuid4(id);
	snprintf(host, sizeof(host), "%s", audit_host());
	for (size_t i = 0; def->techniques[i]; i++)
		json_array_append_new(tech, json_string(def->techniques[i]));
	for (size_t i = 0; def->remediation[i]; i++)
		json_array_append_new(rem, json_string(def->remediation[i]));
	a = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:s, "
		      "s:i, s:o, s:s}",
		      "id", id, "alert_type", def->type, "display_name",
		      def->name, "description", description, "intent",
		      def->intent, "techniques", tech, "severity",
		      def->severity, "entities",
		      entities ? entities : json_object(), "first_seen",
		      iso_time(first_ms, first, sizeof(first)), "last_seen",
		      iso_time(last_ms, last, sizeof(last)), "count",
		      (int)count, "remediation", rem, "host", host);
	return a;
}
