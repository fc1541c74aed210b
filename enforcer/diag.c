/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "util.h"

/* Long lines are shown as a window around the caret. */
#define SHOW_COLS_MAX	  160
#define SHOW_CARET_AT_MAX 100
#define SHOW_CARET_SHIFT  60
#define TAB_WIDTH	  8

void diag_init(struct jit_diag *d)
{
	*d = (struct jit_diag){ 0 };
}

void diag_release(struct jit_diag *d)
{
	free(d->text);
	diag_init(d);
}

/* Out of memory leaves the text short; the error count stays right. */
static void diag_vappend(struct jit_diag *d, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	if (grow_array((void **)&d->text, &d->cap, d->len + (size_t)n + 1, 1) <
	    0)
		return;
	vsnprintf(d->text + d->len, d->cap - d->len, fmt, ap);
	d->len += (size_t)n;
}

__attribute__((format(printf, 2, 3))) static void
diag_append(struct jit_diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vappend(d, fmt, ap);
	va_end(ap);
}

/*
 * Line breaks as libyaml counts them, so that its line numbers find the
 * line we show: \r\n, \r, \n, and NEL, LS, PS in UTF-8.
 */
static size_t break_len(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	if (u[0] == '\r')
		return u[1] == '\n' ? 2 : 1;
	if (u[0] == '\n')
		return 1;
	if (u[0] == 0xc2 && u[1] == 0x85)
		return 2;
	if (u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
		return 3;
	return 0;
}

/* Start and length of 1-based line number line, or false if none. */
static bool find_line(const char *src, unsigned line, const char **ret,
		      size_t *ret_len)
{
	const char *p = src;
	size_t n;

	/* libyaml skips a byte order mark without counting a column. */
	if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	for (unsigned l = 1; l < line; l++) {
		while (*p && !break_len(p))
			p++;
		if (!*p)
			return false;
		p += break_len(p);
	}
	for (n = 0; p[n] && !break_len(p + n); n++)
		;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*ret = p;
	*ret_len = n;
	return true;
}

/* Bytes of the UTF-8 character at s (at least 1, within n). */
static size_t char_len(const char *s, size_t n)
{
	unsigned char c = (unsigned char)s[0];
	size_t l = c < 0x80    ? 1
		   : c >= 0xf0 ? 4
		   : c >= 0xe0 ? 3
		   : c >= 0xc0 ? 2
			       : 1;

	return l > n ? n : l;
}

/*
 * Terminal control characters in a file must not reach the operator's
 * terminal: C0 and C1 controls are shown as '?'.
 */
static bool is_control(const char *s, size_t l)
{
	unsigned char c = (unsigned char)s[0];

	if (l == 1)
		return c < 0x20 || c == 0x7f;
	return l == 2 && c == 0xc2 && (unsigned char)s[1] < 0xa0;
}

/* Width in columns of character at s when it starts at column col. */
static unsigned char_width(const char *s, size_t l, unsigned col)
{
	if (l == 1 && s[0] == '\t')
		return TAB_WIDTH - col % TAB_WIDTH;
	return 1;
}

static void show_char(struct jit_diag *d, const char *s, size_t l)
{
	if (l == 1 && s[0] == '\t')
		diag_append(d, " ");
	else if (is_control(s, l))
		diag_append(d, "?");
	else
		diag_append(d, "%.*s", (int)l, s);
}

/*
 * The line with tabs expanded and a caret under character number col
 * (1-based, as libyaml counts: one per character, not per byte).
 */
static void show_line(struct jit_diag *d, const char *line, size_t n,
		      unsigned col)
{
	unsigned caret = 0, total = 0, from = 0, to, c;
	bool found = false;
	size_t i, k;

	for (i = 0, k = 1; i < n; k++) {
		size_t l = char_len(line + i, n - i);

		if (k == col) {
			caret = total;
			found = true;
		}
		total += char_width(line + i, l, total);
		i += l;
	}
	if (!found)
		caret = total;
	if (total > SHOW_COLS_MAX && caret > SHOW_CARET_AT_MAX)
		from = caret - SHOW_CARET_SHIFT;
	to = from + SHOW_COLS_MAX;

	diag_append(d, "    %s", from ? "..." : "");
	for (i = 0, c = 0; i < n;) {
		size_t l = char_len(line + i, n - i);
		unsigned w = char_width(line + i, l, c);

		/* A tab is drawn one space at a time so a window may cut it. */
		for (unsigned j = 0; j < w; j++, c++)
			if (c >= from && c < to)
				show_char(d, w > 1 ? " " : line + i,
					  w > 1 ? 1 : l);
		i += l;
	}
	diag_append(d, "%s\n", total > to ? "..." : "");
	if (col)
		diag_append(d, "    %*s^\n",
			    (int)(caret - from + (from ? 3 : 0)), "");
}

__attribute__((format(printf, 7, 0))) static void
diag_add(struct jit_diag *d, const char *kind, const char *file,
	 const char *source, unsigned line, unsigned col, const char *fmt,
	 va_list ap)
{
	const char *text;
	size_t n;

	if (file && line && col)
		diag_append(d, "%s:%u:%u: %s: ", file, line, col, kind);
	else if (file && line)
		diag_append(d, "%s:%u: %s: ", file, line, kind);
	else if (file)
		diag_append(d, "%s: %s: ", file, kind);
	else
		diag_append(d, "%s: ", kind);
	diag_vappend(d, fmt, ap);
	diag_append(d, "\n");

	if (source && line && find_line(source, line, &text, &n) && n > 0)
		show_line(d, text, n, col);
}

int diag_error(struct jit_diag *d, const char *file, const char *source,
	       unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	d->errors++;
	va_start(ap, fmt);
	diag_add(d, "error", file, source, line, col, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void diag_warning(struct jit_diag *d, const char *file, const char *source,
		  unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, "warning", file, source, line, col, fmt, ap);
	va_end(ap);
}

int diag_read_file(const char *path, const struct jit_file_rules *rules,
		   struct jit_diag *diag, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int r;

	/* O_NONBLOCK: a FIFO in its place must not hang the reader. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
				(rules->no_symlink ? O_NOFOLLOW : 0));
	if (fd < 0) {
		r = -errno;
		if (r != -ENOENT || !rules->quiet_enoent)
			diag_error(diag, path, NULL, 0, 0, "cannot open: %s",
				   r == -ELOOP && rules->no_symlink
					   ? "a symbolic link is not followed"
					   : strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		diag_error(diag, path, NULL, 0, 0, "cannot stat: %s",
			   strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_error(diag, path, NULL, 0, 0, "not a regular file");
		return -EINVAL;
	}
	if (rules->root_owned && st.st_uid != 0 && st.st_uid != geteuid()) {
		diag_error(diag, path, NULL, 0, 0,
			   "owned by uid %u; it must be owned by root",
			   (unsigned)st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & rules->refused_mode) {
		diag_error(diag, path, NULL, 0, 0, "%s (mode %04o)%s",
			   rules->mode_what, (unsigned)(st.st_mode & 07777),
			   rules->mode_why);
		return -EPERM;
	}
	for (;;) {
		ssize_t n;

		/* Read one byte past the limit to tell "too big" apart. */
		r = grow_array((void **)&buf, &cap, len + 4096, 1);
		if (r < 0)
			return r;
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			diag_error(diag, path, NULL, 0, 0, "cannot read: %s",
				   strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > rules->max_bytes) {
			diag_error(diag, path, NULL, 0, 0,
				   "file is larger than %zu bytes, the limit",
				   rules->max_bytes);
			return -EFBIG;
		}
	}
	/* NUL-terminated for the source lines shown in messages. */
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}
