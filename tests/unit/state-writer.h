/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Writing the state file of earlier versions, for tests of its import. */
#ifndef JIT_TEST_STATE_WRITER_H
#define JIT_TEST_STATE_WRITER_H

#include "state.h"

/*
 * Serialize grants and the policy texts of set into a complete state file
 * image (header and body). Returns 0 or -ENOMEM.
 */
int state_encode(struct jit_grants *g, const struct jit_policy_set *set,
		 uint64_t now_ms, char **ret, size_t *ret_len);
/* Write atomically into dir (write, fsync, rename, fsync dir). */
int state_save(const char *dir, struct jit_grants *g,
	       const struct jit_policy_set *set, uint64_t now_ms);

#endif
