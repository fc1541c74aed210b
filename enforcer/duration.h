/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef JIT_DURATION_H
#define JIT_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Longest grant the project allows: one day. */
#define JIT_DURATION_MAX_S (24u * 3600u)

/*
 * Parse a duration into seconds. Accepted forms: "90s", "15m", "3h", "1d",
 * "1h30m", "2h15m30s" (units d, h, m, s in that order, each at most once), a
 * bare number of seconds "600", and ISO 8601 "PT3H", "PT30M", "PT1H30M",
 * "PT90S", "P1D", "P1DT2H" (no years, months or weeks: their length is not
 * fixed). Returns 0 or -EINVAL (syntax) / -ERANGE (overflow). Zero is a
 * valid parse; callers check their own limits.
 */
int duration_parse(const char *s, uint64_t *ret_s);

/* Shortest form: "3h", "1h30m", "45s", "0s". Returns buf. */
char *duration_format(uint64_t s, char *buf, size_t size);

#endif
