/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <time.h>

#include "util.h"

int grow_array(void **array, size_t *cap, size_t need, size_t sz)
{
	size_t n = *cap ? *cap : 4;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2 / sz)
			return -ENOMEM;
		n *= 2;
	}
	p = realloc(*array, n * sz);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t now_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

uint64_t now_real_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}
