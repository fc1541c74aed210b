/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The channels the daemon runs (see channel.h). */
#include "channel.h"
#include "util.h"

const struct jit_channel *const channels[] = {
	&channel_spa,
	&channel_fleet,
};
const size_t channels_count = ARRAY_SIZE(channels);

int channels_setup(struct jit_daemon *d)
{
	for (size_t i = 0; i < channels_count; i++) {
		int r = channels[i]->setup(d);

		if (r < 0)
			return r;
	}
	return 0;
}

void channels_reload(struct jit_daemon *d)
{
	for (size_t i = 0; i < channels_count; i++)
		(void)channels[i]->reload(d);
}

void channels_teardown(struct jit_daemon *d)
{
	for (size_t i = channels_count; i-- > 0;)
		channels[i]->teardown(d);
}

void channels_audit_line(struct jit_daemon *d, const char *line)
{
	for (size_t i = 0; i < channels_count; i++)
		if (channels[i]->audit_line)
			channels[i]->audit_line(d, line);
}

void channels_policies_changed(struct jit_daemon *d, bool initial)
{
	for (size_t i = 0; i < channels_count; i++)
		if (channels[i]->policies_changed)
			channels[i]->policies_changed(d, initial);
}

uint64_t channels_flush(struct jit_daemon *d, uint64_t now_ms, bool all)
{
	uint64_t next = 0;

	for (size_t i = 0; i < channels_count; i++) {
		uint64_t n = channels[i]->flush
				     ? channels[i]->flush(d, now_ms, all)
				     : 0;

		if (n && (!next || n < next))
			next = n;
	}
	return next;
}

void channels_journal_recovered(struct jit_daemon *d)
{
	for (size_t i = 0; i < channels_count; i++)
		if (channels[i]->journal_recovered)
			channels[i]->journal_recovered(d);
}

void channels_status(struct jit_daemon *d, json_t *obj)
{
	for (size_t i = 0; i < channels_count; i++)
		json_object_set_new(obj, channels[i]->name,
				    channels[i]->status(d));
}
