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

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

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

/*
 * Add one warning, rendered as an error is but with "warning:", about what
 * loads yet may not do what was meant. Not counted in d->errors.
 */
__attribute__((format(printf, 6, 7))) void
diag_warning(struct jit_diag *d, const char *file, const char *source,
	     unsigned line, unsigned col, const char *fmt, ...);

/**
 * struct jit_file_rules - what a file that decides access must look like
 * @max_bytes: a larger file is refused (-EFBIG)
 * @refused_mode: mode bits that get it refused (-EPERM), with the message
 *                "@mode_what (mode NNNN)@mode_why"
 * @mode_what: see @refused_mode
 * @mode_why: see @refused_mode
 * @root_owned: owned by root (or by this process's user) only (-EPERM)
 * @no_symlink: a symbolic link is refused rather than followed
 * @quiet_enoent: a missing file is not reported (it is still -ENOENT)
 */
struct jit_file_rules {
	size_t max_bytes;
	mode_t refused_mode;
	const char *mode_what;
	const char *mode_why;
	bool root_owned;
	bool no_symlink;
	bool quiet_enoent;
};

/*
 * A regular file whole into *ret (NUL-terminated, *len bytes), checked
 * against rules; what is wrong goes to diag as "path: error: ...". Returns
 * 0 or -errno (-EINVAL not a regular file, -EPERM, -EFBIG...).
 */
int diag_read_file(const char *path, const struct jit_file_rules *rules,
		   struct jit_diag *diag, char **ret, size_t *len);

#endif
