/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Metrics as the agent sends them (JSON) and as Prometheus reads them (the
 * text exposition format, version 0.0.4). A metric family is
 *
 *   {"name": "jit_enforcer_grants_live", "type": "gauge", "help": "...",
 *    "samples": [{"labels": {"result": "granted"}, "value": 3}]}
 *
 * and a list of them is what `jitctl metrics` prints as text.
 */
#ifndef JIT_METRICS_H
#define JIT_METRICS_H

#include <jansson.h>
#include <stdbool.h>

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
bool metrics_name_ok(const char *name);
/* [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved) */
bool metrics_label_ok(const char *name);

/*
 * Append a family to families (a JSON array); returns it (borrowed), or
 * NULL without memory. type is "counter" or "gauge".
 */
json_t *metrics_family(json_t *families, const char *name, const char *type,
		       const char *help);
/*
 * Add a sample to family: value (taken: a JSON integer or real), then
 * label name and value pairs, ending with NULL.
 */
__attribute__((sentinel)) void metrics_sample(json_t *family, json_t *value,
					      ...);

/*
 * The families as Prometheus text: for each, "# HELP", "# TYPE" and one
 * line per sample, label values and help escaped. Returns 0 with *ret
 * (malloc'ed) or -EINVAL with why filled in (a name that is not a metric
 * or label name, a counter not named *_total, a type other than counter
 * or gauge, a value that is not a number, a family named twice), or
 * -ENOMEM.
 */
int metrics_format(json_t *families, char **ret, char *why, size_t whylen);

#endif
