/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "duration.h"
#include "util.h"

struct unit {
	char c;
	uint64_t s;
};

/* Largest unit first: both forms require this order. */
static const struct unit friendly_units[] = {
	{ 'd', 86400 },
	{ 'h', 3600 },
	{ 'm', 60 },
	{ 's', 1 },
};

static const struct unit iso_date_units[] = {
	{ 'D', 86400 },
};

static const struct unit iso_time_units[] = {
	{ 'H', 3600 },
	{ 'M', 60 },
	{ 'S', 1 },
};

/* Leading digits of *p into *ret; -EINVAL if none, -ERANGE on overflow. */
static int parse_digits(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*p = s;
	*ret = v;
	return 0;
}

static int add_scaled(uint64_t *total, uint64_t n, uint64_t scale)
{
	if (n > UINT64_MAX / scale || *total > UINT64_MAX - n * scale)
		return -ERANGE;
	*total += n * scale;
	return 0;
}

/*
 * A run of <digits><unit> with units taken from units[] in order, each at
 * most once. Stops at the first character that cannot start another
 * component; *count tells how many components were read.
 */
static int parse_components(const char **p, const struct unit *units,
			    size_t n_units, uint64_t *total, unsigned *count)
{
	size_t next = 0;
	int r;

	*count = 0;
	while (**p >= '0' && **p <= '9') {
		const char *s = *p;
		uint64_t n;
		size_t i;

		r = parse_digits(&s, &n);
		if (r < 0)
			return r;
		for (i = next; i < n_units; i++)
			if (units[i].c == *s)
				break;
		if (i == n_units)
			return -EINVAL;
		r = add_scaled(total, n, units[i].s);
		if (r < 0)
			return r;
		next = i + 1;
		*p = s + 1;
		(*count)++;
	}
	return 0;
}

static int parse_iso(const char *s, uint64_t *ret_s)
{
	uint64_t total = 0;
	unsigned n_date, n_time = 0;
	int r;

	s++; /* 'P' */
	r = parse_components(&s, iso_date_units, ARRAY_SIZE(iso_date_units),
			     &total, &n_date);
	if (r < 0)
		return r;
	if (*s == 'T') {
		s++;
		r = parse_components(&s, iso_time_units,
				     ARRAY_SIZE(iso_time_units), &total,
				     &n_time);
		if (r < 0)
			return r;
		/* "P1DT" has a designator with nothing after it. */
		if (n_time == 0)
			return -EINVAL;
	}
	if (*s || n_date + n_time == 0)
		return -EINVAL;
	*ret_s = total;
	return 0;
}

int duration_parse(const char *s, uint64_t *ret_s)
{
	uint64_t total = 0;
	const char *p = s;
	unsigned n;
	int r;

	if (s[0] == 'P')
		return parse_iso(s, ret_s);

	r = parse_digits(&p, &total);
	if (r < 0)
		return r;
	if (!*p) {
		*ret_s = total;
		return 0;
	}

	total = 0;
	p = s;
	r = parse_components(&p, friendly_units, ARRAY_SIZE(friendly_units),
			     &total, &n);
	if (r < 0)
		return r;
	if (*p || n == 0)
		return -EINVAL;
	*ret_s = total;
	return 0;
}

char *duration_format(uint64_t s, char *buf, size_t size)
{
	size_t off = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (s == 0) {
		snprintf(buf, size, "0s");
		return buf;
	}
	for (size_t i = 0; i < ARRAY_SIZE(friendly_units); i++) {
		uint64_t n = s / friendly_units[i].s;
		int w;

		if (n == 0)
			continue;
		s -= n * friendly_units[i].s;
		w = snprintf(buf + off, size - off, "%llu%c",
			     (unsigned long long)n, friendly_units[i].c);
		/* Cut at the last whole unit rather than mid-number. */
		if (w < 0 || (size_t)w >= size - off) {
			buf[off] = '\0';
			break;
		}
		off += (size_t)w;
	}
	return buf;
}
