/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state file of earlier versions, written: the agent only reads it
 * (once, to import it into the journal), and its tests need such files.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#include "state-writer.h"
#include "util.h"

static json_t *request_state(const struct jit_request *r)
{
	char src[JIT_PREFIX_STRLEN];

	return json_pack(
		"{s:I, s:s, s:I, s:s, s:s, s:i, s:i, s:i, s:I, s:s, "
		"s:I, s:I, s:I, s:s, s:s, s:s, s:I}",
		"id", (json_int_t)r->id, "policy", r->policy, "uid",
		(json_int_t)r->uid, "user", r->user, "source",
		prefix_format(&r->key.source, src, sizeof(src)), "protos",
		(int)r->key.protos, "port_lo", (int)r->key.port_lo, "port_hi",
		(int)r->key.port_hi, "duration_s", (json_int_t)r->duration_s,
		"reason", request_reason(r), "requested_ms",
		(json_int_t)r->requested_ms, "start_ms",
		(json_int_t)r->start_ms, "end_ms", (json_int_t)r->end_ms,
		"status", status_name(r->status), "status_reason",
		r->status_reason, "decided_by", r->decided_by, "replaced_by",
		(json_int_t)r->replaced_by);
}

/* A growing text; ok turns false on the first allocation failure. */
struct text {
	char *p;
	size_t len, cap;
	bool ok;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (!t->ok ||
	    grow_array((void **)&t->p, &t->cap, t->len + n + 1, 1) < 0) {
		t->ok = false;
		return;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

/* Append j (taken) as compact JSON. */
static void text_json(struct text *t, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (!s) {
		t->ok = false;
		return;
	}
	text_add(t, s, strlen(s));
	free(s);
}

/*
 * The body is written record by record: a tree of every request at once
 * would cost some 2 KiB per request (hundreds of MiB at 100,000 grants).
 */
int state_encode(struct jit_grants *g, const struct jit_policy_set *set,
		 uint64_t now_ms, char **ret, size_t *ret_len)
{
	struct text t = { .ok = true };
	char head[160];
	size_t pos;
	int n;

	/* Room for the header line, filled in once the body is known. */
	memset(head, ' ', 96);
	text_add(&t, head, 96);
	pos = t.len;
	n = snprintf(head, sizeof(head),
		     "{\"version\":%d,\"written_ms\":%" PRIu64
		     ",\"next_id\":%" PRIu64 ",\"requests\":[",
		     JIT_STATE_VERSION, now_ms, grants_next_id(g));
	text_add(&t, head, (size_t)n);
	for (size_t i = 0; i < grants_count(g); i++) {
		if (i)
			text_add(&t, ",", 1);
		text_json(&t, request_state(grants_at(g, i)));
	}
	text_add(&t, "],\"policies\":[", 14);
	for (size_t i = 0, k = 0; set && i < policy_set_file_count(set); i++) {
		const struct jit_policy_file *f = policy_set_file(set, i);
		size_t len;
		const char *text = policy_file_text(f, &len);

		if (!text)
			continue;
		if (k++)
			text_add(&t, ",", 1);
		text_json(&t,
			  json_pack("{s:s, s:s%}", "path", policy_file_path(f),
				    "text", text, len));
	}
	text_add(&t, "]}", 2);
	if (!t.ok) {
		free(t.p);
		return -ENOMEM;
	}
	n = snprintf(head, sizeof(head), "%s %d %08" PRIx32 " %zu\n",
		     JIT_STATE_MAGIC, JIT_STATE_VERSION,
		     state_crc32(t.p + pos, t.len - pos), t.len - pos);
	/* Move the body up against the header. */
	memmove(t.p + n, t.p + pos, t.len - pos + 1);
	memcpy(t.p, head, (size_t)n);
	*ret = t.p;
	*ret_len = t.len - pos + (size_t)n;
	return 0;
}

int state_save(const char *dir, struct jit_grants *g,
	       const struct jit_policy_set *set, uint64_t now_ms)
{
	_cleanup_free_ char *buf = NULL, *path = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;
	int r;

	r = state_encode(g, set, now_ms, &buf, &len);
	if (r < 0)
		return r;
	path = path_join(dir, JIT_STATE_FILE);
	tmp = path_join(dir, JIT_STATE_FILE ".tmp");
	if (!path || !tmp)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	if (fsync(fd) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	(void)dir_sync(dir);
	return 0;
}
