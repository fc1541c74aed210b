/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Diagnostics: errors about user input, collected rather than printed, and
 * rendered like a compiler's:
 *
 *   policies.d/ssh.yaml:7:15: error: max_duration '30h' exceeds the limit of
 * 24h max_duration: 30h
 *                     ^
 */
#ifndef JIT_DIAG_H
#define JIT_DIAG_H

#include <stddef.h>

/**
 * struct jit_diag - a growing text buffer of rendered diagnostics
 * @text: NUL-terminated rendered messages, one or more lines each
 * @len: bytes in @text
 * @cap: allocated bytes
 * @errors: number of errors added
 */
struct jit_diag {
	char *text;
	size_t len;
	size_t cap;
	unsigned errors;
};

void diag_init(struct jit_diag *d);
void diag_release(struct jit_diag *d);

/*
 * Add one error. line and col are 1-based; 0 means unknown (the message then
 * carries only "file:" or "file:line:"). source is the whole file content
 * (may be NULL); when given, the offending line is shown with a caret under
 * col. Returns -EINVAL so callers can "return diag_error(...)".
 */
__attribute__((format(printf, 6, 7))) int
diag_error(struct jit_diag *d, const char *file, const char *source,
	   unsigned line, unsigned col, const char *fmt, ...);

#endif
