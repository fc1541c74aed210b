/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl import-azure: a cloud JIT policy document to a policy file. */
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <sys/stat.h>

#include "jitctl.h"
#include "util.h"

static const struct command_option import_azure_options[] = {
	{ LONG_ONLY('v'), "vm", "NAME",
	  "only this virtual machine (the last segment of its id, or the whole "
	  "id)" },
	{ LONG_ONLY('n'), "name", "POLICY",
	  "the policy's name (one virtual machine only); default: after the "
	  "virtual machine" },
	{ 'o', "output", "PATH",
	  "a file for one policy, or a directory for one file per policy "
	  "(NAME.yaml), each written whole and renamed into place (through "
	  "a symbolic link; /dev/stdout as it is)" },
	{ 0 },
};

COMMAND(import_azure, "import-azure",
	"FILE [--vm NAME] [--name POLICY] [-o OUT.yaml|DIR]",
	"cloud JIT policies (jitNetworkAccessPolicies) to policy "
	"files",
	"Convert cloud JIT policies (Microsoft.Security "
	"jitNetworkAccessPolicies, API version 2020-01-01) into "
	"policy files, without talking to the agent. FILE - reads "
	"stdin.\n"
	"\n"
	"FILE may hold a policy resource (bare, or as the SDKs and "
	"'az security jit-policy show' print it), a REST API "
	"example (parameters.body, or responses.200.body), a list "
	"({\"value\": [...]}, or the array 'az security jit-policy "
	"list' prints), or an ARM template (its resources of type "
	"Microsoft.Security/locations/jitNetworkAccessPolicies, or "
	"the older Microsoft.Security/jitNetworkAccessPolicies). "
	"Each virtual machine becomes a policy named after it: all "
	"of them go to stdout as one multi-document YAML file, or "
	"with -o DIR one file each; --vm picks one. The service "
	"tags *, Any and Internet mean any source; other tags are "
	"refused.\n"
	"\n"
	"Fields that are not carried over are listed as notes, on "
	"stderr and as comments in the files; errors name the JSON "
	"path of the value.",
	import_azure_options);

/* Write a policy file whole or not at all: the agent watches the directory. */
static int write_atomic(const char *path, const char *text)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);

	/* Not *.yaml: the agent ignores it until the rename. */
	if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (fchmod(fd, 0644) < 0 || write(fd, text, len) != (ssize_t)len ||
	    fsync(fd) < 0 || rename(tmp, path) < 0) {
		int r = errno ? -errno : -EIO;

		unlink(tmp);
		return r;
	}
	return 0;
}

/*
 * The file a path names once its symbolic links are followed, whether or not
 * it exists yet: a link (dangling or not) is written through, never replaced
 * by a file of its own. *ret is path itself when it is no link.
 */
static int follow_links(const char *path, char **ret)
{
	_cleanup_free_ char *p = strdup(path);
	struct stat st;

	if (!p)
		return -ENOMEM;
	for (unsigned hops = 0; lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
	     hops++) {
		_cleanup_free_ char *target = NULL;
		char buf[PATH_MAX];
		ssize_t n;
		char *slash;

		if (hops == 40)
			return -ELOOP;
		n = readlink(p, buf, sizeof(buf) - 1);
		if (n < 0)
			return -errno;
		buf[n] = '\0';
		slash = strrchr(p, '/');
		if (buf[0] == '/' || !slash)
			target = strdup(buf);
		else if (asprintf(&target, "%.*s/%s", (int)(slash - p), p,
				  buf) < 0)
			target = NULL;
		if (!target)
			return -ENOMEM;
		free(p);
		p = TAKE_PTR(target);
	}
	*ret = TAKE_PTR(p);
	return 0;
}

/*
 * A policy file is written whole, beside its final name, then renamed: the
 * agent watches the directory. What is not a regular file (/dev/stdout, a
 * pipe, a terminal) is written as it is: renaming over it would replace the
 * device node, or the link to it, with a file.
 */
static int write_output(const char *path, const char *text)
{
	_cleanup_free_ char *real = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);
	struct stat st;
	int r;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) &&
	    !S_ISDIR(st.st_mode)) {
		struct stat out;
		int w = -1;

		/* Our own stdout (a pipe may not be open to us by name). */
		fflush(stdout);
		if (fstat(STDOUT_FILENO, &out) == 0 &&
		    out.st_dev == st.st_dev && out.st_ino == st.st_ino)
			w = STDOUT_FILENO;
		else
			w = fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (w < 0)
			return -errno;
		errno = 0;
		if (write(w, text, len) != (ssize_t)len)
			return errno ? -errno : -EIO;
		return 0;
	}
	r = follow_links(path, &real);
	if (r < 0)
		return r;
	return write_atomic(real, text);
}

/* -o names a directory: an existing one, or a path ending in '/'. */
static bool is_dir(const char *path)
{
	struct stat st;

	return (*path && path[strlen(path) - 1] == '/') ||
	       (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/* Each policy to its file: PATH, or DIR/NAME.yaml. */
static int write_policies(struct ctx *ctx, const char *output,
			  const struct azure_policy *pols, size_t n,
			  json_t *files)
{
	bool dir = is_dir(output);

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;
		int r;

		if (dir &&
		    asprintf(&path, "%s%s%s.yaml", output,
			     output[strlen(output) - 1] == '/' ? "" : "/",
			     pols[i].name) < 0)
			abort();
		if (!dir && !(path = strdup(output)))
			abort();
		r = write_output(path, pols[i].yaml);
		if (r < 0)
			return fail(ctx, "write-failed", "writing %s: %s", path,
				    strerror(-r));
		if (!ctx->json)
			printf("wrote %s\n", path);
		json_array_append_new(files, json_text(path));
	}
	return 0;
}

static int print_policies(struct ctx *ctx, const struct azure_policy *pols,
			  size_t n, json_t *files,
			  const struct azure_notes *notes)
{
	_cleanup_free_ char *yaml = NULL;
	json_t *doc, *arr;

	if (!ctx->json) {
		if (json_array_size(files))
			return 0;
		yaml = azure_policies_yaml(pols, n);
		if (!yaml)
			abort();
		fputs(yaml, stdout);
		return 0;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_pack(
			"{s:o, s:o, s:o}", "name", json_text(pols[i].name),
			"virtual_machine", json_text(pols[i].vm_id), "yaml",
			json_text(pols[i].yaml));

		if (json_array_get(files, i))
			json_object_set(p, "file", json_array_get(files, i));
		json_array_append_new(arr, p);
	}
	doc = json_pack("{s:b, s:o, s:o}", "ok", 1, "policies", arr, "notes",
			notes_json(notes));
	print_json(ctx, doc);
	json_decref(doc);
	return 0;
}

static int cmd_import_azure(struct ctx *ctx, int argc, char **argv)
{
	const char *vm = NULL, *name = NULL, *output = NULL, *file;
	_cleanup_free_ char *text = NULL;
	struct azure_notes notes = { 0 };
	struct azure_policy *pols = NULL;
	struct jit_diag diag;
	json_t *files;
	size_t len, n = 0;
	int c, r;

	while ((c = next_option(ctx, argc, argv)) != -1) {
		switch (c) {
		case 'v':
			vm = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		default:
			return 2;
		}
	}
	if ((r = want_args(ctx, argc, argv, 1, 1)))
		return r;
	file = argv[optind];
	r = read_input(file, &text, &len);
	if (r < 0)
		return read_failed(ctx, file, r);
	files = json_array();
	diag_init(&diag);
	r = azure_policy_import(file, text, len, vm, name, &pols, &n, &notes,
				&diag);
	if (r < 0) {
		r = document_error(ctx, r, &diag, &notes, NULL);
	} else if (output && n > 1 && !is_dir(output)) {
		r = usage_error(ctx,
				"%zu policies, one per virtual machine: -o "
				"wants a directory for one file each, or "
				"--vm to pick one",
				n);
	} else {
		print_notes(ctx, &notes);
		r = output ? write_policies(ctx, output, pols, n, files) : 0;
		if (!r)
			r = print_policies(ctx, pols, n, files, &notes);
	}
	json_decref(files);
	azure_policies_free(pols, n);
	diag_release(&diag);
	azure_notes_release(&notes);
	return r;
}
