/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state file of earlier versions: requests (live and recent) and the
 * last good text of every policy file. The agent now keeps a journal
 * (journal.h) and only reads a state file, once, to import it (the tests
 * write such files with tests/unit/state-writer.c). The clean-shutdown marker
 * is still this module's.
 *
 * Layout: one header line "jit-enforcer-state VERSION CRC32 LENGTH\n", then
 * LENGTH bytes of JSON whose CRC-32 is CRC32 (hex). Written to a temporary
 * file, fsync'd, renamed over the old one, and the directory fsync'd.
 */
#ifndef JIT_STATE_H
#define JIT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "grant.h"
#include "policy.h"

#define JIT_STATE_VERSION 1
#define JIT_STATE_MAGIC	  "jit-enforcer-state"
#define JIT_STATE_FILE	  "state.json"
/* Left by an agent that saved its state and exited normally. */
#define JIT_STATE_CLEAN "clean-shutdown"

/**
 * struct jit_state_policy - the last good text of one policy file
 * @path: the file's path as the agent loaded it
 * @text: its content
 * @len: bytes in @text
 */
struct jit_state_policy {
	char *path;
	char *text;
	size_t len;
};

/**
 * struct jit_state - what a state file holds
 * @written_ms: when it was written (unix ms)
 * @next_id: the id the next request gets
 * @requests: requests in increasing id order
 * @n_requests: entries in @requests
 * @policies: last good policy files
 * @n_policies: entries in @policies
 */
struct jit_state {
	uint64_t written_ms;
	uint64_t next_id;
	struct jit_request *requests;
	size_t n_requests;
	struct jit_state_policy *policies;
	size_t n_policies;
};

void state_release(struct jit_state *st);

/* CRC-32 (IEEE 802.3), as zlib computes it. */
uint32_t state_crc32(const void *data, size_t len);

/*
 * Parse a state file image. Returns 0, or -EBADMSG (torn, corrupt, wrong
 * version or malformed) with why filled in.
 */
int state_decode(const char *buf, size_t len, struct jit_state *ret, char *why,
		 size_t whylen);

/*
 * Read dir's state file. Returns 0, -ENOENT if there is none, -EBADMSG
 * (with why) if it is damaged, or -errno.
 */
int state_load(const char *dir, struct jit_state *ret, char *why,
	       size_t whylen);

/*
 * The clean-shutdown marker: set after the last state write of a normal
 * exit; taken (removed, durably) at start. While it is there, the state
 * file is exactly what the agent had, and nothing needs adopting from the
 * kernel. state_take_clean returns 1 if it was there, 0 if not, or -errno.
 */
int state_mark_clean(const char *dir);
int state_take_clean(const char *dir);

/* Where the agent last saw the kernel's grant sets as its records want. */
#define JIT_STATE_KVIEW "kernel-view"

/**
 * struct jit_kview - the kernel's grant sets, as the agent last knew them
 * @boot_id: the boot (/proc/sys/kernel/random/boot_id)
 * @netns: the network namespace's cookie (never reused while booted)
 * @table: the table's name
 * @genid: the ruleset's generation when the sets held exactly what the
 *         records up to the journal position below want
 * @jgen: that position: the journal file's generation...
 * @joff: ...and its length
 * @policies: SHA-256 (hex) of the policy files in force then (which set
 *            each grant's elements go to depends on them)
 *
 * While the generation, the journal and the policies are all where they
 * were, the sets need not be read back at start: no process changed any
 * table since, no decision was made since, and the records want the same
 * elements.
 */
struct jit_kview {
	char boot_id[40];
	uint64_t netns;
	char table[64];
	uint32_t genid;
	uint64_t jgen, joff;
	char policies[65];
};

/* The running system's side of a view: boot, namespace (genid 0). */
int kview_here(const char *table, struct jit_kview *ret);
bool kview_equal(const struct jit_kview *a, const struct jit_kview *b);

/* Written in place through a descriptor kept open, not synced (a crash of
 * the system starts a new boot). */
int state_kview_open(const char *dir);
int state_kview_put(int fd, const struct jit_kview *v);
/* 0, -ENOENT, or -EBADMSG for a file that is not whole. */
int state_kview_read(const char *dir, struct jit_kview *ret);

#endif
