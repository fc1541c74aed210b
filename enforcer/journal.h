/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The journal: every decision about a request, appended and made durable
 * before its reply, and compacted now and then into a snapshot.
 *
 * Files in the state directory:
 *   snapshot          every record the agent holds, as of one moment
 *   journal.<gen>     decisions appended since (several while a
 *                     compaction runs, or after a failed one)
 * Both are text, one record per line: "CRC32 payload\n", the CRC-32 (hex)
 * of the payload. The payload is tab-separated, with \\, \t, \n and other
 * control bytes escaped. Every line stands on its own CRC: a damaged line
 * is skipped and reported, the lines after it are kept (they were
 * answered), and the file is kept aside as journal.<gen>.damaged-<ms>,
 * never cut in place. Only the torn tail of the newest file (what follows
 * its last whole line: bytes written after the last sync) is cut.
 *
 * A sync is all or nothing: when it fails, the current file is cut back to
 * its size at the last sync and everything appended since is dropped (the
 * caller undoes what it decided on the strength of those lines). Should
 * the cut itself fail, an empty file journal.<gen>.void-<offset> tells
 * every later load to ignore the bytes after offset, and nothing is
 * synced until it exists.
 *
 * Ids: an "I <upto>" line, synced before any id at or above the last
 * reservation is given out, says that ids below upto may be in use; a load
 * starts above it, so an id given to a decision that was then rolled back
 * is never given again.
 *
 * Request lines carry the whole record, so replaying them in order gives
 * the latest state of each (an upsert per line), and replaying one twice
 * does no harm.
 */
#ifndef JIT_JOURNAL_H
#define JIT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "grant.h"
#include "policy.h"
#include "replay.h"

#define JIT_JOURNAL_VERSION 1
#define JIT_SNAPSHOT_FILE   "snapshot"
#define JIT_JOURNAL_PREFIX  "journal."
/* Lines that could not be written yet, kept to retry in order. */
#define JIT_JOURNAL_BACKLOG_MAX 65536
/* Ids reserved by one synced "I" line. */
#define JIT_JOURNAL_ID_BLOCK 1024
/* After a damaged line, ids skip this far ahead for each: the line may
 * have held the newest request or a reservation. */
#define JIT_JOURNAL_DAMAGE_ID_SKIP (JIT_JOURNAL_ID_BLOCK + 1)

/**
 * struct jit_journal_sink - where a load puts what it reads
 * @request: one request line (an upsert of the record with that id)
 * @policies_begin: the policy texts that follow replace all earlier ones
 * @policy: the last good text of one policy file
 * @sync_point: every decision before it took effect in the kernel (the
 *              snapshot is one too); those after it may not have
 * @digest: an SPA packet digest to refuse as a replay until until_ms
 * @userdata: passed to each
 */
struct jit_journal_sink {
	int (*request)(void *userdata, const struct jit_request *r);
	void (*policies_begin)(void *userdata);
	int (*policy)(void *userdata, const char *path, const char *text,
		      size_t len);
	void (*sync_point)(void *userdata);
	int (*digest)(void *userdata, const uint8_t *d, uint64_t until_ms);
	/* Optional: about this many records follow (a hint). */
	void (*reserve)(void *userdata, size_t records);
	void *userdata;
};

/**
 * struct jit_journal_info - what a load found
 * @found: a snapshot or a journal was there
 * @next_id: the lowest id never used
 * @lines: records applied
 * @cut_bytes: bytes cut from torn or damaged tails
 * @files: journal files read
 * @damaged_lines: lines of a damaged snapshot that were skipped (0: the
 *                 snapshot was whole); why says so
 * @journal_damaged: damaged lines of the journal files (not a torn tail
 *                   of the newest), skipped; the records after them kept
 * @damaged_files: journal files with such lines, each kept aside
 * @damaged_file: the first such file's name, and @damaged_line its first
 *                damaged line (1-based)
 * @damaged_line: see @damaged_file
 * @void_bytes: bytes ignored after a rollback that could not cut its file
 * @end_gen: the newest journal file read (0: none)...
 * @end_off: ...and its length as read (journal_position's terms)
 */
struct jit_journal_info {
	bool found;
	uint64_t next_id;
	size_t lines;
	size_t cut_bytes;
	unsigned files;
	size_t damaged_lines;
	size_t journal_damaged;
	unsigned damaged_files;
	char damaged_file[64];
	size_t damaged_line;
	size_t void_bytes;
	uint64_t end_gen, end_off;
};

struct jit_journal;

/*
 * Load dir's snapshot and journals into sink, then open a new journal file
 * to append to. A directory that cannot be written still loads: appends
 * then fail (and journal_degraded says so). A damaged snapshot gives what
 * its intact lines hold (info->damaged_lines, why). Returns 0, or -errno
 * when the files cannot be read.
 */
int journal_open(const char *dir, const struct jit_journal_sink *sink,
		 struct jit_journal **ret, struct jit_journal_info *info,
		 char *why, size_t whylen);
struct jit_journal *journal_close(struct jit_journal *j);

/*
 * Where the journal ends, everything before it synced: the file's
 * generation and length. -EAGAIN while lines wait for a sync or the
 * journal cannot be written.
 */
int journal_position(const struct jit_journal *j, uint64_t *gen, uint64_t *off);

/*
 * Append r's current state. The bytes reach the file at once (a kill -9
 * keeps them) and are durable after the next journal_sync. With keep, a
 * line that cannot be written now stays in a backlog that every later
 * append and sync retries first (for decisions that remove access: they
 * happen anyway). Without keep it is dropped (for decisions that must not
 * happen unrecorded). Returns 0 or -errno (-ENOSPC, -EROFS, -EIO...).
 */
int journal_append_request(struct jit_journal *j, const struct jit_request *r,
			   bool keep);
/* The last good text of every policy file of set (replacing earlier ones). */
int journal_append_policies(struct jit_journal *j,
			    const struct jit_policy_set *set);
/*
 * Every decision appended so far took effect in the kernel (the end of a
 * pass of the agent's loop): at start, only the decisions after the last
 * such point need checking against the kernel.
 */
int journal_append_sync_point(struct jit_journal *j);
/*
 * The digest of an accepted SPA packet, refused as a replay until until_ms
 * also after a restart. Never kept in the backlog: a packet whose digest
 * cannot be recorded is refused. 0 or -errno.
 */
int journal_append_digest(struct jit_journal *j, const uint8_t *d,
			  uint64_t until_ms);
/* Snapshots carry r's live digests (r may be NULL: none). */
void journal_set_replay(struct jit_journal *j, const struct jit_replay *r);
/*
 * Write the backlog and fdatasync what was appended. 0 or -errno. On
 * failure the whole of what was appended since the last sync is dropped,
 * backlog included (the file is cut back, or the cut is recorded as void),
 * except the policy texts, which are kept to retry: the caller undoes its
 * decisions and appends again those that hold.
 */
int journal_sync(struct jit_journal *j);
/* Failed syncs so far (each one dropped what was appended before it). */
uint64_t journal_rollbacks(const struct jit_journal *j);
/* Ids below this may be in use; give one at or above it only after
 * journal_reserve_ids. */
uint64_t journal_reserved(const struct jit_journal *j);
/* Reserve ids below upto: an "I" line, synced (journal_sync's rules). */
int journal_reserve_ids(struct jit_journal *j, uint64_t upto);
/* Lines not yet durable: a backlog, a failed sync, or no file to write. */
bool journal_degraded(const struct jit_journal *j);
/* The error that made it degraded (negative errno), or 0. */
int journal_error(const struct jit_journal *j);
size_t journal_backlog(const struct jit_journal *j);
/* Bytes in the journal files and in the snapshot. */
uint64_t journal_bytes(const struct jit_journal *j);
uint64_t journal_snapshot_bytes(const struct jit_journal *j);

/*
 * Compaction. journal_wants_compaction is true once the journals outgrow
 * the snapshot. journal_compact starts a child that writes a new snapshot
 * of g and set while appends go on in a new journal file; *child is its
 * pid (0 when it was written in-process because fork failed... never: an
 * error is returned then). journal_compact_done takes its exit status.
 */
bool journal_wants_compaction(const struct jit_journal *j);
int journal_compact(struct jit_journal *j, struct jit_grants *g,
		    const struct jit_policy_set *set, pid_t *child);
void journal_compact_done(struct jit_journal *j, pid_t pid, int status);
pid_t journal_compacting(const struct jit_journal *j);
/* Write the snapshot in this process (at start, and in tests). */
int journal_compact_now(struct jit_journal *j, struct jit_grants *g,
			const struct jit_policy_set *set);

/* One request as a journal payload (no CRC, no newline); malloc'd. */
char *journal_format_request(const struct jit_request *r);
/* Parse such a payload into out (release with request_release). */
int journal_parse_request(const char *payload, size_t len,
			  struct jit_request *out);

#endif
