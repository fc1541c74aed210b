/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "util.h"

struct jit_audit {
	int fd;
	bool use_syslog;
	bool trail; /* every line carries the audit schema's fields */
	const char *tag;
	int priority;
	char host[256];
};

/*
 * The fields every line of the audit trail has (docs/audit-schema.json),
 * null where a line has nothing to say, after "time" and "host".
 */
static const char *const trail_keys[] = {
	"event", "result",    "channel", "policy",
	"ports", "requestor", "source",	 "actor",
};

void audit_set_trail(struct jit_audit *a)
{
	if (a)
		a->trail = true;
}

static char audit_host_name[256];

void audit_set_host(const char *name)
{
	snprintf(audit_host_name, sizeof(audit_host_name), "%s",
		 name ? name : "");
}

const char *audit_host(void)
{
	char *h = audit_host_name;

	if (!h[0] && (gethostname(h, sizeof(audit_host_name) - 1) < 0 || !h[0]))
		snprintf(h, sizeof(audit_host_name), "localhost");
	return h;
}

int audit_open(const char *path, bool use_syslog, const char *tag, int priority,
	       struct jit_audit **ret)
{
	struct jit_audit *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->fd = -1;
	a->use_syslog = use_syslog;
	a->tag = tag;
	a->priority = priority;
	if (path) {
		/* Never through a symlink, never a terminal. */
		a->fd = open(path,
			     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
				     O_NOFOLLOW | O_NOCTTY,
			     0640);
		if (a->fd < 0) {
			int r = -errno;

			free(a);
			return r;
		}
	}
	*ret = a;
	return 0;
}

struct jit_audit *audit_close(struct jit_audit *a)
{
	if (a) {
		if (a->fd >= 0)
			close(a->fd);
		free(a);
	}
	return NULL;
}

int audit_event(struct jit_audit *a, json_t *event)
{
	return audit_event_line(a, event, NULL);
}

int audit_event_line(struct jit_audit *a, json_t *event, char **ret)
{
	_cleanup_free_ char *line = NULL;
	uint64_t ms = now_real_ms();
	time_t t = (time_t)(ms / 1000);
	json_t *ordered;
	char when[40];
	struct tm tm;
	int r = 0;

	if (ret)
		*ret = NULL;
	if (!event)
		return -ENOMEM;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03uZ",
		 (unsigned)(ms % 1000));
	/* Time first, so the lines read and sort well. */
	ordered = json_pack("{s:s}", "time", when);
	if (ordered && a && a->trail)
		json_object_set_new(ordered, "host", json_string(audit_host()));
	json_object_update(ordered, event);
	json_decref(event);
	for (size_t i = 0; a && a->trail && i < ARRAY_SIZE(trail_keys); i++)
		if (!json_object_get(ordered, trail_keys[i]))
			json_object_set_new(
				ordered, trail_keys[i],
				streq(trail_keys[i], "channel")
					? json_string("agent")
				: streq(trail_keys[i], "actor")
					? json_pack("{s:n, s:n}", "user", "uid")
					: json_null());
	line = json_dumps(ordered, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(ordered);
	if (!line)
		return -ENOMEM;
	if (a && a->use_syslog)
		syslog(a->priority, "%s %s", a->tag, line);
	if (a && a->fd >= 0) {
		size_t n = strlen(line);
		ssize_t w;

		line[n] = '\n';
		w = write(a->fd, line, n + 1);
		if (w != (ssize_t)(n + 1)) {
			r = w < 0 ? -errno : -ENOSPC;
			/* A full disk took part of the line: cut it, so that
			 * the next line does not start in the middle of this
			 * one. */
			if (w > 0) {
				off_t end = lseek(a->fd, 0, SEEK_END);

				if (end >= w)
					(void)!ftruncate(a->fd, end - w);
			}
		}
		line[n] = '\0';
	}
	if (ret)
		*ret = TAKE_PTR(line);
	return r;
}
