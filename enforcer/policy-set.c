/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Policy files and the set in force: reading files and directories, a
 * rejected file keeping its last good version, names unique across files.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <yaml.h>

#include "duration.h"
#include "policy-internal.h"
#include "util.h"

/* --- files ---------------------------------------------------------------- */

struct jit_policy_file *policy_file_free(struct jit_policy_file *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->n; i++)
		policy_release(&f->entries[i].p);
	free(f->entries);
	free(f->path);
	free(f->text);
	free(f);
	return NULL;
}

DEFINE_CLEANUP_FUNC(struct jit_policy_file, policy_file_free)

size_t policy_file_count(const struct jit_policy_file *f)
{
	return f->n;
}

const struct jit_policy *policy_file_get(const struct jit_policy_file *f,
					 size_t i)
{
	return i < f->n ? &f->entries[i].p : NULL;
}

const char *policy_file_path(const struct jit_policy_file *f)
{
	return f->path;
}

static int parse_text(const char *path, const char *text, size_t len,
		      struct jit_policy_file **ret, struct jit_diag *diag)
{
	_cleanup_(policy_file_freep) struct jit_policy_file *f = NULL;
	_cleanup_free_ char *src = NULL;
	struct parse_ctx c = { .path = path, .diag = diag };
	int r;

	if (len > JIT_POLICY_FILE_MAX_BYTES)
		return diag_error(diag, path, NULL, 0, 0,
				  "file is %zu bytes; at most %d are allowed",
				  len, JIT_POLICY_FILE_MAX_BYTES);
	if (len == 0)
		return diag_error(diag, path, NULL, 0, 0,
				  "file is empty; expected at least one "
				  "policy with name and ports");
	f = calloc(1, sizeof(*f));
	src = malloc(len + 1);
	if (!f || !src)
		return -ENOMEM;
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	memcpy(src, text, len);
	src[len] = '\0';
	c.src = src;
	c.file = f;

	r = policy_parse_stream(&c, text, len);
	free(c.names);
	if (r < 0)
		return r;
	if (c.errors)
		return -EINVAL;
	f->text = TAKE_PTR(src);
	f->len = len;
	*ret = TAKE_PTR(f);
	return 0;
}

int policy_file_parse(const char *path, const char *text, size_t len,
		      struct jit_policy_file **ret, struct jit_diag *diag)
{
	return parse_text(path, text, len, ret, diag);
}

/*
 * Whole file into memory. A policy says who may open which port, so a
 * file every local user can write would hand out access: refused.
 * -ENOENT is not reported when quiet_enoent: the set treats it as removal.
 */
static int read_text(const char *path, struct jit_diag *diag, bool quiet_enoent,
		     char **ret, size_t *ret_len)
{
	const struct jit_file_rules rules = {
		.max_bytes = JIT_POLICY_FILE_MAX_BYTES,
		.refused_mode = S_IWOTH,
		.mode_what = "file is writable by every user",
		.mode_why = "; a policy grants access, so it must not be",
		/* Whoever may change it may grant themselves access; a
		 * link could also make the agent quote any file it can
		 * read in its messages, which others see. */
		.root_owned = true,
		.no_symlink = true,
		.quiet_enoent = quiet_enoent,
	};

	return diag_read_file(path, &rules, diag, ret, ret_len);
}

int policy_file_load(const char *path, struct jit_policy_file **ret,
		     struct jit_diag *diag)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = read_text(path, diag, false, &text, &len);
	if (r < 0)
		return r;
	return parse_text(path, text, len, ret, diag);
}

bool policy_is_policy_filename(const char *name)
{
	const char *base = strrchr(name, '/');
	size_t n;

	base = base ? base + 1 : name;
	n = strlen(base);
	if (base[0] == '.')
		return false;
	return (n > 5 && streq(base + n - 5, ".yaml")) ||
	       (n > 4 && streq(base + n - 4, ".yml"));
}

/* --- the set -------------------------------------------------------------- */

struct jit_policy_set *policy_set_new(void)
{
	return calloc(1, sizeof(struct jit_policy_set));
}

struct jit_policy_set *policy_set_free(struct jit_policy_set *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_files; i++)
		policy_file_free(s->files[i]);
	free(s->files);
	free(s->index);
	free(s);
	return NULL;
}

DEFINE_CLEANUP_FUNC(struct jit_policy_set, policy_set_free)

/* Index of path in s->files, or -1 with *pos where it would go. */
static ssize_t set_lookup(const struct jit_policy_set *s, const char *path,
			  size_t *pos)
{
	size_t lo = 0, hi = s->n_files;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(s->files[mid]->path, path);

		if (cmp == 0)
			return (ssize_t)mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return -1;
}

/* Never allocates: callers reserve the room before changing files. */
static void set_reindex(struct jit_policy_set *s)
{
	s->n_index = 0;
	for (size_t i = 0; i < s->n_files; i++)
		for (size_t j = 0; j < s->files[i]->n; j++)
			s->index[s->n_index++] = &s->files[i]->entries[j].p;
}

/* Put f in place of the file with its path; takes f only on success. */
static int set_put(struct jit_policy_set *s, struct jit_policy_file *f)
{
	size_t pos = 0, total = s->n_index + f->n;
	ssize_t i = set_lookup(s, f->path, &pos);
	int r;

	if (i >= 0)
		total -= s->files[i]->n;
	r = grow_array((void **)&s->index, &s->cap_index, total ? total : 1,
		       sizeof(*s->index));
	if (r < 0)
		return r;
	if (i >= 0) {
		policy_file_free(s->files[i]);
		s->files[i] = f;
	} else {
		r = grow_array((void **)&s->files, &s->cap_files,
			       s->n_files + 1, sizeof(*s->files));
		if (r < 0)
			return r;
		memmove(s->files + pos + 1, s->files + pos,
			(s->n_files - pos) * sizeof(*s->files));
		s->files[pos] = f;
		s->n_files++;
	}
	set_reindex(s);
	return 0;
}

int policy_set_remove_file(struct jit_policy_set *s, const char *path)
{
	ssize_t i = set_lookup(s, path, NULL);

	if (i < 0)
		return -ENOENT;
	policy_file_free(s->files[i]);
	memmove(s->files + i, s->files + i + 1,
		(s->n_files - (size_t)i - 1) * sizeof(*s->files));
	s->n_files--;
	set_reindex(s);
	return 0;
}

/*
 * Names of f that another file of s already uses. With diag, each is
 * reported at f's name, naming the other file. Returns how many.
 */
static unsigned set_conflicts(const struct jit_policy_set *s,
			      const struct jit_policy_file *f, const char *src,
			      struct jit_diag *diag)
{
	unsigned n = 0;

	for (size_t i = 0; i < f->n; i++) {
		const struct policy_entry *e = &f->entries[i];

		for (size_t k = 0; k < s->n_files; k++) {
			const struct jit_policy_file *g = s->files[k];

			if (streq(g->path, f->path))
				continue;
			for (size_t j = 0; j < g->n; j++) {
				if (!streq(g->entries[j].p.name, e->p.name))
					continue;
				n++;
				if (diag)
					diag_error(diag, f->path, src,
						   e->name_line, e->name_col,
						   "policy name '%s' is "
						   "already used by %s:%u",
						   e->p.name, g->path,
						   g->entries[j].name_line);
			}
		}
	}
	return n;
}

/*
 * Parse text as the file at path and put it in s. With defer_conflicts, a
 * file whose only problem is a name another file holds is not reported and
 * -EEXIST returned, so that load_dir can retry it once the other files are
 * loaded (a policy moved between two files).
 */
static int set_add(struct jit_policy_set *s, const char *path, const char *text,
		   size_t len, bool defer_conflicts, struct jit_diag *diag)
{
	_cleanup_(policy_file_freep) struct jit_policy_file *f = NULL;
	int r;

	r = parse_text(path, text, len, &f, diag);
	if (r < 0)
		return r;
	if (set_conflicts(s, f, text, NULL)) {
		if (defer_conflicts)
			return -EEXIST;
		set_conflicts(s, f, text, diag);
		return -EINVAL;
	}
	r = set_put(s, f);
	if (r < 0)
		return r;
	TAKE_PTR(f);
	return 0;
}

static int set_load(struct jit_policy_set *s, const char *path,
		    struct jit_diag *diag, bool defer_conflicts)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = read_text(path, diag, true, &text, &len);
	if (r == -ENOENT) {
		policy_set_remove_file(s, path);
		return 0;
	}
	if (r < 0)
		return r;
	return set_add(s, path, text, len, defer_conflicts, diag);
}

int policy_set_load_file(struct jit_policy_set *s, const char *path,
			 struct jit_diag *diag)
{
	return set_load(s, path, diag, false);
}

int policy_set_load_text(struct jit_policy_set *s, const char *path,
			 const char *text, size_t len, struct jit_diag *diag)
{
	return set_add(s, path, text, len, false, diag);
}

size_t policy_set_file_count(const struct jit_policy_set *s)
{
	return s->n_files;
}

const struct jit_policy_file *policy_set_file(const struct jit_policy_set *s,
					      size_t i)
{
	return i < s->n_files ? s->files[i] : NULL;
}

const char *policy_file_text(const struct jit_policy_file *f, size_t *len)
{
	*len = f->len;
	return f->text;
}

bool policy_set_has_file(const struct jit_policy_set *s, const char *path)
{
	return set_lookup(s, path, NULL) >= 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Sorted paths of the policy files in dir: regular files, and symbolic
 * links to them, which the loader then refuses with a message.
 */
static int list_dir(const char *dir, char ***ret, size_t *ret_n)
{
	DIR *d;
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	d = opendir(dir);
	if (!d)
		return -errno;
	for (;;) {
		struct stat st;
		char *p;

		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (!policy_is_policy_filename(de->d_name))
			continue;
		p = path_join(dir, de->d_name);
		if (!p) {
			r = -ENOMEM;
			break;
		}
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(p);
			continue;
		}
		r = grow_array((void **)&v, &cap, n + 1, sizeof(*v));
		if (r < 0) {
			free(p);
			break;
		}
		v[n++] = p;
	}
	closedir(d);
	if (r < 0) {
		free_strv(v, n);
		return r;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* True if path names an entry directly inside dir, as path_join spells it. */
static bool path_in_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strncmp(path, dir, n) != 0)
		return false;
	path += n;
	if (!(n && dir[n - 1] == '/')) {
		if (*path != '/')
			return false;
		path++;
	}
	return *path && !strchr(path, '/');
}

static bool strv_contains(char *const *v, size_t n, const char *s)
{
	return bsearch(&s, v, n, sizeof(*v), cmp_str) != NULL;
}

int policy_set_load_dir(struct jit_policy_set *s, const char *dir,
			struct jit_diag *diag)
{
	char **paths = NULL, **retry = NULL;
	size_t n = 0, n_retry = 0;
	int bad = 0, r;

	r = list_dir(dir, &paths, &n);
	if (r < 0)
		return r;
	retry = calloc(n ? n : 1, sizeof(*retry));
	if (!retry) {
		free_strv(paths, n);
		return -ENOMEM;
	}

	/* Drop vanished files first, so that their names are free. */
	for (size_t i = s->n_files; i-- > 0;)
		if (path_in_dir(s->files[i]->path, dir) &&
		    !strv_contains(paths, n, s->files[i]->path))
			policy_set_remove_file(s, s->files[i]->path);

	for (size_t i = 0; i < n; i++) {
		r = set_load(s, paths[i], diag, true);
		if (r == -EEXIST)
			retry[n_retry++] = paths[i];
		else if (r == -ENOMEM)
			goto out;
		else if (r < 0)
			bad++;
	}
	for (size_t i = 0; i < n_retry; i++) {
		r = set_load(s, retry[i], diag, false);
		if (r == -ENOMEM)
			goto out;
		if (r < 0)
			bad++;
	}
	r = bad;
out:
	free(retry);
	free_strv(paths, n);
	return r;
}

int policy_check_paths(char *const *paths, size_t n, struct jit_diag *diag)
{
	_cleanup_(policy_set_freep) struct jit_policy_set *s = NULL;
	int bad = 0, r;

	s = policy_set_new();
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char **files = NULL;
		size_t n_files = 0;
		struct stat st;

		if (stat(paths[i], &st) < 0) {
			diag_error(diag, paths[i], NULL, 0, 0,
				   "cannot open: %s", strerror(errno));
			bad++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			/* Named explicitly: checked whatever its suffix. */
			r = set_load(s, paths[i], diag, false);
			if (r == -ENOMEM)
				return r;
			bad += r < 0;
			continue;
		}
		r = list_dir(paths[i], &files, &n_files);
		if (r < 0) {
			diag_error(diag, paths[i], NULL, 0, 0,
				   "cannot read directory: %s", strerror(-r));
			bad++;
			continue;
		}
		for (size_t j = 0; j < n_files; j++) {
			r = set_load(s, files[j], diag, false);
			if (r == -ENOMEM)
				break;
			bad += r < 0;
		}
		free_strv(files, n_files);
		if (r == -ENOMEM)
			return r;
	}
	(void)policy_set_warn(s, diag);
	return bad;
}

unsigned policy_set_warn(const struct jit_policy_set *s, struct jit_diag *diag)
{
	unsigned n = 0;

	for (size_t i = 0; i < policy_set_file_count(s); i++) {
		const struct jit_policy_file *f = policy_set_file(s, i);
		size_t len;
		const char *src = policy_file_text(f, &len);

		for (size_t k = 0; k < policy_file_count(f); k++)
			n += policy_warn(policy_file_get(f, k), src, diag);
	}
	return n;
}

size_t policy_set_count(const struct jit_policy_set *s)
{
	return s->n_index;
}

const struct jit_policy *policy_set_get(const struct jit_policy_set *s,
					size_t i)
{
	return i < s->n_index ? s->index[i] : NULL;
}

const struct jit_policy *policy_set_find(const struct jit_policy_set *s,
					 const char *name)
{
	for (size_t i = 0; i < s->n_index; i++)
		if (streq(s->index[i]->name, name))
			return s->index[i];
	return NULL;
}
