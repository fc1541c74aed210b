/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Security alerts, in the shape cloud security suites use: a stable type,
 * a display name, a description with the concrete values, an intent (MITRE
 * ATT&CK tactic), technique ids, a severity, the entities involved, first
 * and last seen, a count, remediation steps and the host.
 */
#ifndef JIT_ALERT_H
#define JIT_ALERT_H

#include <jansson.h>
#include <stdint.h>

/**
 * struct jit_alert_def - what does not change between alerts of one type
 * @type: stable id ("JIT_TABLE_TAMPERED")
 * @name: display name
 * @intent: MITRE ATT&CK tactic as cloud alerts name it ("DefenseEvasion")
 * @techniques: technique ids, NULL-terminated
 * @severity: Informational, Low, Medium or High
 * @remediation: steps, NULL-terminated
 */
struct jit_alert_def {
	const char *type;
	const char *name;
	const char *intent;
	const char *techniques[4];
	const char *severity;
	const char *remediation[5];
};

extern const struct jit_alert_def alert_table_tampered;
extern const struct jit_alert_def alert_journal_failed;
extern const struct jit_alert_def alert_journal_damaged;
extern const struct jit_alert_def alert_repeated_attempts;
extern const struct jit_alert_def alert_distributed_attempts;
extern const struct jit_alert_def alert_port_sweep;
extern const struct jit_alert_def alert_after_grant_end;
extern const struct jit_alert_def alert_wide_grant;
extern const struct jit_alert_def alert_spa_replay;
extern const struct jit_alert_def alert_spa_bad_hmac;
extern const struct jit_alert_def alert_spa_refused;
extern const struct jit_alert_def alert_fleet_squatted;
extern const struct jit_alert_def alert_detection_off;
/* Every one of them (the metrics count alerts by type from 0). */
extern const struct jit_alert_def *const alert_defs[];
extern const size_t alert_defs_count;

/*
 * Build one alert object. entities is taken (may be NULL). Times are unix
 * ms; the id is a random UUID.
 */
json_t *alert_build(const struct jit_alert_def *def, const char *description,
		    json_t *entities, uint64_t first_ms, uint64_t last_ms,
		    unsigned count);

/* "2026-11-29T04:35:26.156Z" */
char *iso_time(uint64_t ms, char *buf, size_t n);

#endif
