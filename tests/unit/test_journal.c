/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The journal: records survive a reopen exactly (odd bytes included), a torn
 * tail is cut and never trusted, a damaged snapshot gives what its intact
 * lines hold, compaction (in process and in a child) loses nothing and ids
 * are never reused across reopens.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "golden.h"
#include "journal.h"
#include "util.h"
#include "runner.h"

#define T0 1700000000000ull

static int sink_request(void *userdata, const struct jit_request *r)
{
	return grants_upsert(userdata, r);
}

static struct jit_journal *open_into(const char *dir, struct jit_grants *g,
				     struct jit_journal_info *info)
{
	const struct jit_journal_sink sink = { .request = sink_request,
					       .userdata = g };
	struct jit_journal *j = NULL;
	char why[256];

	ck_assert_int_eq(journal_open(dir, &sink, &j, info, why, sizeof(why)),
			 0);
	grants_set_next_id(g, info->next_id);
	return j;
}

static struct jit_request request(uint64_t id, enum jit_status st)
{
	struct jit_request r = {
		.id = id,
		.uid = 1000 + (uint32_t)id % 3,
		.key = { .protos = JIT_PROTO_TCP,
			 .port_lo = 22,
			 .port_hi = 22 },
		.duration_s = 600,
		.requested_ms = T0 + id,
		.status = st,
	};

	snprintf(r.user, sizeof(r.user), "user%u", r.uid);
	snprintf(r.policy, sizeof(r.policy), "ssh");
	ck_assert_int_eq(prefix_parse(id % 2 ? "192.0.2.5" : "2001:db8::1",
				      &r.key.source),
			 0);
	if (st != JIT_PENDING) {
		r.start_ms = T0 + 1000;
		r.end_ms = T0 + 601000;
	}
	return r;
}

static enum jit_status status_of_g(struct jit_grants *g, uint64_t id)
{
	struct jit_request *r = grants_get(g, id);

	ck_assert_ptr_nonnull(r);
	return r->status;
}

static void assert_same(const struct jit_request *a,
			const struct jit_request *b)
{
	ck_assert_uint_eq(a->id, b->id);
	ck_assert_int_eq(a->status, b->status);
	ck_assert_uint_eq(a->uid, b->uid);
	ck_assert_str_eq(a->user, b->user);
	ck_assert_str_eq(a->policy, b->policy);
	ck_assert(grant_key_equal(&a->key, &b->key));
	ck_assert_uint_eq(a->duration_s, b->duration_s);
	ck_assert_uint_eq(a->requested_ms, b->requested_ms);
	ck_assert_uint_eq(a->start_ms, b->start_ms);
	ck_assert_uint_eq(a->end_ms, b->end_ms);
	ck_assert_str_eq(a->decided_by, b->decided_by);
	ck_assert_uint_eq(a->replaced_by, b->replaced_by);
	ck_assert_str_eq(a->status_reason, b->status_reason);
	ck_assert_str_eq(request_reason(a), request_reason(b));
}

UNIT_TEST("journal", test_format_round_trip)
{
	struct jit_request r = request(7, JIT_REVOKED), back;
	char reason[] = "tab\there, newline\nthere, back\\slash, \x01\x7f, "
			"\xc3\xa9t\xc3\xa9";
	char *line;

	r.reason = reason;
	snprintf(r.status_reason, sizeof(r.status_reason), "%s",
		 JIT_REASON_NEWER);
	snprintf(r.decided_by, sizeof(r.decided_by), "bob\tsmith");
	r.replaced_by = 9;
	line = journal_format_request(&r);
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_null(strchr(line, '\n'));
	ck_assert_int_eq(journal_parse_request(line, strlen(line), &back), 0);
	assert_same(&r, &back);
	request_release(&back);
	/* Cut anywhere before the last field (whose end the line's CRC
	 * guards), it never parses. */
	for (size_t n = 0; n < (size_t)(strrchr(line, '\t') - line); n++) {
		int ret = journal_parse_request(line, n, &back);

		if (ret == 0)
			request_release(&back);
		ck_assert_int_ne(ret, 0);
	}
	free(line);
}
END_TEST

UNIT_TEST("journal", test_reopen_and_ids)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal");
	struct jit_grants *g = grants_new();
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	struct jit_request a = request(1, JIT_PENDING),
			   b = request(2, JIT_INITIATED);

	ck_assert(!info.found);
	ck_assert_int_eq(journal_append_request(j, &a, false), 0);
	ck_assert_int_eq(journal_append_request(j, &b, false), 0);
	a.status = JIT_DENIED;
	snprintf(a.status_reason, sizeof(a.status_reason), "denied: no");
	ck_assert_int_eq(journal_append_request(j, &a, false), 0);
	ck_assert_int_eq(journal_sync(j), 0);
	ck_assert(!journal_degraded(j));
	/* No close: as after a kill -9, the bytes are in the file. */
	grants_free(g);
	g = grants_new();
	journal_close(open_into(dir, g, &info));
	ck_assert(info.found);
	ck_assert_uint_eq(info.lines, 3);
	ck_assert_uint_eq(grants_count(g), 2);
	assert_same(grants_get(g, 1), &a);
	assert_same(grants_get(g, 2), &b);
	/* Ids go on after the highest one ever journalled. */
	ck_assert_uint_eq(grants_next_id(g), 3);
	journal_close(j);
	grants_free(g);
	rm_rf(dir);
}
END_TEST

static char *last_journal(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *best = NULL;

	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, JIT_JOURNAL_PREFIX,
			    strlen(JIT_JOURNAL_PREFIX)) ||
		    strchr(e->d_name, '-'))
			continue;
		if (!best || strcmp(e->d_name, best) > 0) {
			free(best);
			best = strdup(e->d_name);
		}
	}
	closedir(d);
	ck_assert_ptr_nonnull(best);
	return best;
}

UNIT_TEST("journal", test_torn_tail_is_cut)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal"), *name = NULL,
			    *path = NULL;
	struct jit_grants *g = grants_new();
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	struct jit_request a = request(1, JIT_INITIATED);
	struct stat st;
	int fd;

	ck_assert_int_eq(journal_append_request(j, &a, false), 0);
	ck_assert_int_eq(journal_sync(j), 0);
	journal_close(j);
	name = last_journal(dir);
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	/* Half a line, then a whole line with a wrong CRC after it. */
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "1234abcd r\t2\tI", 14), 14);
	close(fd);
	ck_assert_int_eq(stat(path, &st), 0);
	grants_free(g);
	g = grants_new();
	j = open_into(dir, g, &info);
	ck_assert_uint_eq(info.cut_bytes, 14);
	ck_assert_uint_eq(grants_count(g), 1);
	ck_assert_ptr_null(grants_get(g, 2));
	/* Cut in the file itself: nothing is ever read past it. */
	{
		struct stat st2;

		ck_assert_int_eq(stat(path, &st2), 0);
		ck_assert_int_eq(st2.st_size, st.st_size - 14);
	}
	journal_close(j);
	grants_free(g);
	rm_rf(dir);
}
END_TEST

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* Names in dir that contain part (kept-aside files, markers). */
static unsigned count_named(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	while (d && (e = readdir(d)))
		n += strstr(e->d_name, part) != NULL;
	closedir(d);
	return n;
}

/* Rewrite path with the byte at off changed. */
static void flip_byte(const char *path, size_t off)
{
	size_t len;
	_cleanup_free_ char *text = golden_read(path, &len);
	FILE *f;

	ck_assert_ptr_nonnull(text);
	ck_assert_uint_lt(off, len);
	text[off] ^= 0x01;
	f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* Offset of the start of line n (1-based) of path. */
static size_t line_offset(const char *path, unsigned n)
{
	_cleanup_free_ char *text = golden_read(path, NULL);
	size_t off = 0;

	ck_assert_ptr_nonnull(text);
	while (--n) {
		char *nl = strchr(text + off, '\n');

		ck_assert_ptr_nonnull(nl);
		off = (size_t)(nl - text) + 1;
	}
	return off;
}

/*
 * A damaged line in an older journal file (a disk error, not a crash):
 * it is skipped and reported with its file and line, the records after
 * it, in that file and the next, are kept (they were answered), the file
 * is kept aside and never cut, and ids skip past what the line could
 * have named. The old code cut the file there: records 2 to 4 were lost,
 * and ids 2 to 4 given again.
 */
UNIT_TEST("journal", test_damaged_line_skipped)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal"), *name = NULL,
			    *path = NULL;
	struct jit_grants *g = grants_new();
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	off_t size;

	for (uint64_t id = 1; id <= 3; id++) {
		struct jit_request r = request(id, JIT_INITIATED);

		ck_assert_int_eq(journal_append_request(j, &r, false), 0);
	}
	ck_assert_int_eq(journal_sync(j), 0);
	journal_close(j);
	name = last_journal(dir);
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	/* A second file, as the next start writes. */
	grants_free(g);
	g = grants_new();
	j = open_into(dir, g, &info);
	{
		struct jit_request r = request(4, JIT_INITIATED);

		ck_assert_int_eq(journal_append_request(j, &r, false), 0);
	}
	ck_assert_int_eq(journal_sync(j), 0);
	journal_close(j);
	/* Record 1 (line 2, after the header) gets a flipped bit. */
	flip_byte(path, line_offset(path, 2) + 20);
	size = file_size(path);

	grants_free(g);
	g = grants_new();
	j = open_into(dir, g, &info);
	ck_assert_uint_eq(info.journal_damaged, 1);
	ck_assert_uint_eq(info.damaged_files, 1);
	ck_assert_str_eq(info.damaged_file, name);
	ck_assert_uint_eq(info.damaged_line, 2);
	ck_assert_uint_eq(info.cut_bytes, 0);
	ck_assert_ptr_null(grants_get(g, 1));
	ck_assert_ptr_nonnull(grants_get(g, 2));
	ck_assert_ptr_nonnull(grants_get(g, 3));
	ck_assert_ptr_nonnull(grants_get(g, 4));
	ck_assert_uint_ge(info.next_id, 5 + JIT_JOURNAL_DAMAGE_ID_SKIP);
	/* Kept whole, and aside. */
	ck_assert_int_eq(file_size(path), size);
	ck_assert_uint_eq(count_named(dir, ".damaged-"), 1);
	journal_close(j);
	grants_free(g);
	rm_rf(dir);
}
END_TEST

/*
 * An older file whose end is damaged (it was synced whole before the next
 * file began): damage, not a torn tail; kept, not cut.
 */
UNIT_TEST("journal", test_older_file_tail_is_damage)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal"), *name = NULL,
			    *path = NULL;
	struct jit_grants *g = grants_new();
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	struct jit_request a = request(1, JIT_INITIATED);
	off_t size;

	ck_assert_int_eq(journal_append_request(j, &a, false), 0);
	a.status = JIT_REVOKED;
	ck_assert_int_eq(journal_append_request(j, &a, false), 0);
	ck_assert_int_eq(journal_sync(j), 0);
	journal_close(j);
	name = last_journal(dir);
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	grants_free(g);
	g = grants_new();
	journal_close(open_into(dir, g, &info)); /* the next file */
	/* The revoke, the older file's last line, is damaged. */
	flip_byte(path, line_offset(path, 3) + 12);
	size = file_size(path);
	grants_free(g);
	g = grants_new();
	j = open_into(dir, g, &info);
	ck_assert_uint_eq(info.journal_damaged, 1);
	ck_assert_uint_eq(info.damaged_line, 3);
	ck_assert_int_eq(file_size(path), size);
	ck_assert_uint_ge(info.next_id, 2 + JIT_JOURNAL_DAMAGE_ID_SKIP);
	journal_close(j);
	grants_free(g);
	rm_rf(dir);
}
END_TEST

/*
 * The newest file cut short inside a line (a disk that lost bytes, or a
 * torn write): the tail is cut, and ids skip past what it could have
 * named (the old code gave the revoked grant's successor's id again).
 */
UNIT_TEST("journal", test_newest_tail_cut_ids_skip)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal"), *name = NULL,
			    *path = NULL;
	struct jit_grants *g = grants_new();
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	struct jit_request a = request(1, JIT_INITIATED),
			   b = request(2, JIT_INITIATED);
	size_t off;

	ck_assert_int_eq(journal_append_request(j, &a, false), 0);
	ck_assert_int_eq(journal_append_request(j, &b, false), 0);
	ck_assert_int_eq(journal_sync(j), 0);
	journal_close(j);
	name = last_journal(dir);
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	off = line_offset(path, 3); /* record 2 */
	ck_assert_int_eq(truncate(path, (off_t)off + 30), 0);
	grants_free(g);
	g = grants_new();
	j = open_into(dir, g, &info);
	ck_assert_uint_eq(info.cut_bytes, 30);
	ck_assert_uint_eq(info.journal_damaged, 0);
	ck_assert_ptr_nonnull(grants_get(g, 1));
	ck_assert_ptr_null(grants_get(g, 2));
	ck_assert_uint_gt(info.next_id, 2 + JIT_JOURNAL_ID_BLOCK);
	ck_assert_int_eq(file_size(path), (off_t)off);
	journal_close(j);
	grants_free(g);
	rm_rf(dir);
}
END_TEST

/* Writes of this process past limit bytes of a file fail (0: no limit). */
static void file_limit(off_t limit)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	signal(SIGXFSZ, SIG_IGN);
	if (limit)
		rl.rlim_cur = (rlim_t)limit;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/*
 * A sync that fails is all or nothing: the file goes back to its size at
 * the last sync, the lines since (written or waiting) are dropped, and a
 * reopen finds none of them; ids reserved by a synced line stay reserved.
 * The old code left the lines that had fit in the file: a grant answered
 * not-recorded came back after a restart.
 */
UNIT_TEST("journal", test_failed_sync_rolls_back)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal"), *name = NULL,
			    *path = NULL, *line = NULL;
	struct jit_grants *g = grants_new();
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	struct jit_request a = request(1, JIT_INITIATED),
			   b = request(2, JIT_INITIATED), end = a;
	off_t synced;

	ck_assert_int_eq(journal_append_request(j, &a, false), 0);
	ck_assert_int_eq(journal_reserve_ids(j, 100), 0);
	ck_assert_uint_eq(journal_reserved(j), 100);
	name = last_journal(dir);
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	synced = file_size(path);
	/* Room for b's line, not for the line after it. */
	line = journal_format_request(&b);
	ck_assert_ptr_nonnull(line);
	file_limit(synced + (off_t)strlen(line) + 10 + 5);
	ck_assert_int_eq(journal_append_request(j, &b, false), 0);
	end.status = JIT_REVOKED;
	snprintf(end.status_reason, sizeof(end.status_reason),
		 "newer request initiated");
	ck_assert_int_lt(journal_append_request(j, &end, true), 0);
	ck_assert_uint_eq(journal_backlog(j), 1);
	ck_assert_int_lt(journal_sync(j), 0);
	file_limit(0);
	ck_assert_int_eq(file_size(path), synced);
	ck_assert_uint_eq(journal_backlog(j), 0);
	ck_assert(journal_degraded(j));
	/* As after a kill -9 now. */
	grants_free(g);
	g = grants_new();
	journal_close(open_into(dir, g, &info));
	ck_assert_int_eq(status_of_g(g, 1), JIT_INITIATED);
	ck_assert_ptr_null(grants_get(g, 2));
	ck_assert_uint_ge(info.next_id, 100);
	/* And the journal takes lines again once there is room. */
	ck_assert_int_eq(journal_append_request(j, &b, false), 0);
	ck_assert_int_eq(journal_sync(j), 0);
	ck_assert(!journal_degraded(j));
	journal_close(j);
	grants_free(g);
	rm_rf(dir);
}
END_TEST

/* A rollback whose cut failed left a marker: the bytes after it are void. */
UNIT_TEST("journal", test_void_marker_honoured)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal"), *name = NULL,
			    *path = NULL, *mark = NULL;
	struct jit_grants *g = grants_new();
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	struct jit_request a = request(1, JIT_INITIATED),
			   b = request(2, JIT_INITIATED);
	off_t synced;
	int fd;

	ck_assert_int_eq(journal_append_request(j, &a, false), 0);
	ck_assert_int_eq(journal_sync(j), 0);
	name = last_journal(dir);
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	synced = file_size(path);
	ck_assert_int_eq(journal_append_request(j, &b, false), 0);
	journal_close(j);
	ck_assert_int_ge(
		asprintf(&mark, "%s.void-%lld", path, (long long)synced), 0);
	fd = open(mark, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	grants_free(g);
	g = grants_new();
	j = open_into(dir, g, &info);
	ck_assert_ptr_nonnull(grants_get(g, 1));
	ck_assert_ptr_null(grants_get(g, 2));
	ck_assert_uint_gt(info.void_bytes, 0);
	ck_assert_uint_eq(info.journal_damaged, 0);
	journal_close(j);
	grants_free(g);
	rm_rf(dir);
}
END_TEST

static void fill(struct jit_journal *j, uint64_t n)
{
	for (uint64_t id = 1; id <= n; id++) {
		struct jit_request r = request(id, JIT_INITIATED);

		ck_assert_int_eq(journal_append_request(j, &r, false), 0);
		if (id % 3 == 0) {
			r.status = JIT_REVOKED;
			ck_assert_int_eq(journal_append_request(j, &r, false),
					 0);
		}
	}
	ck_assert_int_eq(journal_sync(j), 0);
}

static void check_filled(struct jit_grants *g, uint64_t n)
{
	ck_assert_uint_eq(grants_count(g), n);
	for (uint64_t id = 1; id <= n; id++) {
		struct jit_request r = request(id, JIT_INITIATED);

		if (id % 3 == 0)
			r.status = JIT_REVOKED;
		assert_same(grants_get(g, id), &r);
	}
}

UNIT_TEST("journal", test_compaction)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal");
	struct jit_grants *g = grants_new(), *g2 = grants_new();
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	struct jit_request late = request(200, JIT_INITIATED);
	pid_t child;
	int status;

	fill(j, 150);
	journal_close(j);
	grants_free(g);
	g = grants_new();
	j = open_into(dir, g, &info);
	check_filled(g, 150);
	/* In a child, while appends go on. */
	ck_assert_int_eq(journal_compact(j, g, NULL, &child), 0);
	ck_assert_int_eq(journal_append_request(j, &late, false), 0);
	ck_assert_int_eq(journal_sync(j), 0);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	journal_compact_done(j, child, status);
	ck_assert_uint_gt(journal_snapshot_bytes(j), 0);
	j = journal_close(j);
	j = open_into(dir, g2, &info);
	ck_assert_uint_eq(grants_count(g2), 151);
	assert_same(grants_get(g2, 200), &late);
	ck_assert_uint_eq(grants_next_id(g2), 201);
	/* Only the journal written after the snapshot is left to read. */
	ck_assert_uint_le(info.files, 2);
	journal_close(j);
	grants_free(g);
	grants_free(g2);
	rm_rf(dir);
}
END_TEST

UNIT_TEST("journal", test_damaged_snapshot_salvaged)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal"), *path = NULL;
	struct jit_grants *g = grants_new();
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	int fd;

	fill(j, 30);
	journal_close(j);
	j = open_into(dir, g, &info);
	ck_assert_int_eq(journal_compact_now(j, g, NULL), 0);
	journal_close(j);
	grants_free(g);
	/* A flipped byte in the header line. */
	ck_assert_int_ge(asprintf(&path, "%s/" JIT_SNAPSHOT_FILE, dir), 0);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 12), 1);
	close(fd);
	g = grants_new();
	j = open_into(dir, g, &info);
	ck_assert_uint_eq(info.damaged_lines, 1);
	check_filled(g, 30);
	journal_close(j);
	grants_free(g);
	rm_rf(dir);
}
END_TEST

struct after {
	struct jit_grants *g;
	uint64_t ids[8];
	size_t n;
	unsigned points;
};

static int after_request(void *userdata, const struct jit_request *r)
{
	struct after *a = userdata;

	if (a->n < 8)
		a->ids[a->n++] = r->id;
	return grants_upsert(a->g, r);
}

static void after_point(void *userdata)
{
	struct after *a = userdata;

	a->n = 0;
	a->points++;
}

UNIT_TEST("journal", test_sync_points)
{
	_cleanup_free_ char *dir = scratch_dir("jit-journal");
	struct jit_grants *g = grants_new();
	struct after a = { .g = grants_new() };
	const struct jit_journal_sink sink = { .request = after_request,
					       .sync_point = after_point,
					       .userdata = &a };
	struct jit_journal_info info;
	struct jit_journal *j = open_into(dir, g, &info);
	struct jit_request r1 = request(1, JIT_INITIATED),
			   r2 = request(2, JIT_INITIATED),
			   r3 = request(3, JIT_INITIATED);
	char why[256];

	ck_assert_int_eq(journal_append_request(j, &r1, false), 0);
	ck_assert_int_eq(journal_append_sync_point(j), 0);
	ck_assert_int_eq(journal_append_request(j, &r2, false), 0);
	ck_assert_int_eq(journal_append_request(j, &r3, false), 0);
	journal_close(j);
	/* Only what came after the last point may not have taken effect. */
	ck_assert_int_eq(journal_open(dir, &sink, &j, &info, why, sizeof(why)),
			 0);
	ck_assert_uint_eq(a.points, 1);
	ck_assert_uint_eq(a.n, 2);
	ck_assert_uint_eq(a.ids[0], 2);
	ck_assert_uint_eq(a.ids[1], 3);
	ck_assert_uint_eq(grants_count(a.g), 3);
	journal_close(j);
	grants_free(g);
	grants_free(a.g);
	rm_rf(dir);
}
END_TEST
