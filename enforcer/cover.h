/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the grant sets must hold when access records overlap. Every record
 * (an id with a grant key and an end) stands on its own: records never
 * overwrite each other, and an element of a set lives as long as the latest
 * record that covers it. This module keeps that union and turns changes to
 * it into the smallest batch of element deletes and adds, so that revoking a
 * short grant never cuts a longer one that opens the same ports.
 *
 * Host keys become single points in the hash sets; prefix keys become boxes
 * (address range . protocol . port range) in the interval sets, split into
 * disjoint pieces because the kernel refuses overlapping intervals.
 *
 * Changes are staged (cover_add, cover_del), turned into a kernel batch
 * (cover_delta), then either kept (cover_commit) or undone (cover_rollback),
 * so the applied state always matches what the kernel accepted.
 */
#ifndef JIT_COVER_H
#define JIT_COVER_H

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <stdint.h>

#include "grant.h"

/**
 * struct jit_elem - one element of a grant set
 * @family: AF_INET or AF_INET6
 * @proto: IPPROTO_TCP or IPPROTO_UDP
 * @interval: in the interval set (prefix keys) rather than the hash set
 * @addr_lo: first address, network byte order (4 or 16 bytes used, the
 *           rest zero)
 * @addr_hi: last address; equal to @addr_lo in hash elements
 * @port_lo: first port
 * @port_hi: last port; equal to @port_lo in hash elements
 * @end_ms: absolute end, unix ms (never 0)
 * @iface: only for packets coming in on an interface of @ifname_lo ..
 *         @ifname_hi (the grant of an interface-scoped policy, see
 *         scope.h); false: on every interface. cover.c leaves it false.
 * @ifname_lo: first interface name, zero padded as the kernel compares
 * @ifname_hi: last one; equal to @ifname_lo for one name
 */
struct jit_elem {
	uint8_t family;
	uint8_t proto;
	bool interval;
	bool iface;
	uint8_t addr_lo[16], addr_hi[16];
	uint16_t port_lo, port_hi;
	uint64_t end_ms;
	uint8_t ifname_lo[IFNAMSIZ], ifname_hi[IFNAMSIZ];
};

/**
 * struct jit_cover_stats - size and last amount of work, for metrics and
 *                          tests
 * @records: live staged records
 * @elements: elements applied (as cover_count)
 * @bytes: memory held by the module, capacities included
 * @points_checked: hash elements the last cover_delta compared
 * @groups_computed: (family, protocol) interval groups the last cover_delta
 *                   recomputed
 */
struct jit_cover_stats {
	size_t records;
	size_t elements;
	size_t bytes;
	size_t points_checked;
	size_t groups_computed;
};

struct jit_cover;

struct jit_cover *cover_new(void);
/*
 * A cover whose host records are boxes too (one address wide): all its
 * elements go to interval sets. For elements that must not overlap
 * interval elements of the same set (interface ranges, see scope.h).
 */
struct jit_cover *cover_new_boxes(void);
/* NULL-safe; returns NULL. */
struct jit_cover *cover_free(struct jit_cover *c);

/*
 * Stage: record id now covers k until end_ms (an end of 0 counts as 1 ms so
 * that a covered element never has end 0). Returns 0; -EEXIST if id is
 * already staged live; -EINVAL for a malformed key; -ENOMEM (then nothing
 * is staged).
 */
/* Room for n records (hosts among them one point each): a hint. */
int cover_reserve(struct jit_cover *c, size_t n);
int cover_add(struct jit_cover *c, uint64_t id, const struct jit_grant_key *k,
	      uint64_t end_ms);
/*
 * Stage: record id (added earlier with key k) no longer covers anything.
 * Returns 0; -ENOENT if id is not staged live; -EINVAL if k is malformed or
 * not the key id was added with; -ENOMEM. Nothing is staged on error.
 */
int cover_del(struct jit_cover *c, uint64_t id, const struct jit_grant_key *k);

/*
 * The kernel changes that turn the applied state into the staged one:
 * elements to delete (exact elements currently applied, with their applied
 * end) and elements to add (with their new end). Deletes must come before
 * adds in the kernel batch; an element whose end changes appears in both.
 * Both arrays are malloc'd (NULL when empty) and the caller frees them.
 * Nothing changes until cover_commit or cover_rollback; calling it again
 * gives the same answer. Returns 0, -EINVAL or -ENOMEM (then *del and *add
 * are NULL).
 */
int cover_delta(struct jit_cover *c, struct jit_elem **del, size_t *n_del,
		struct jit_elem **add, size_t *n_add);
/*
 * The kernel took the last delta: the staged state is now applied. Call it
 * after cover_delta with no change staged in between; an interval group
 * changed since the last cover_delta is recomputed here, and if that runs
 * out of memory the group stays staged and the next cover_delta carries it.
 */
void cover_commit(struct jit_cover *c);
/*
 * The kernel refused: undo everything staged since the last commit, in
 * reverse. Never allocates, so it cannot fail.
 */
void cover_rollback(struct jit_cover *c);

/*
 * Every element of the applied state, for a full resync of the sets: hash
 * elements first, then interval elements. *ret is malloc'd (NULL when
 * empty). Returns 0, -EINVAL or -ENOMEM.
 */
int cover_elements(const struct jit_cover *c, struct jit_elem **ret, size_t *n);

/*
 * Latest end among the staged live records covering one point, 0 if none.
 * addr is 4 or 16 bytes by family; proto is IPPROTO_TCP or IPPROTO_UDP.
 */
uint64_t cover_end_at(const struct jit_cover *c, uint8_t family,
		      const uint8_t *addr, uint8_t proto, uint16_t port);

/* Number of elements applied (hash and interval). */
size_t cover_count(const struct jit_cover *c);

void cover_stats(const struct jit_cover *c, struct jit_cover_stats *ret);

#endif
