/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl import-azure: a cloud JIT policy document to a policy file. */
#include <fcntl.h>
#include <sys/stat.h>

#include "jitctl.h"
#include "util.h"

static int cmd_import_azure(struct ctx *ctx, int argc, char **argv);

static const struct option import_opts[] = {
	{ "vm", required_argument, NULL, 'v' },
	{ "name", required_argument, NULL, 'n' },
	{ "output", required_argument, NULL, 'o' },
	{ 0 },
};

const struct command command_import_azure = {
	.name = "import-azure",
	.fn = cmd_import_azure,
	.usage = "FILE [--vm NAME] [--name POLICY] [-o OUT.yaml]",
	.summary = "cloud JIT policies (jitNetworkAccessPolicies) to policy "
		   "files",
	.help = "Convert a cloud JIT policy (a Microsoft.Security "
		"jitNetworkAccessPolicies resource, API version 2020-01-01: "
		"bare, as the SDKs print it, or wrapped in parameters.body "
		"as a REST example) into a policy file, without talking to "
		"the agent. FILE - reads stdin.\n"
		"\n"
		"Fields that are not carried over are listed as notes, on "
		"stderr and as comments in the file; errors name the JSON "
		"path of the value.",
	.options = "--vm NAME\tthe virtual machine to import (the last "
		   "segment of its id, or the whole id), when there are "
		   "several\n"
		   "--name POLICY\tthe policy's name; default: after the "
		   "virtual machine\n"
		   "-o, --output FILE\twrite the policy file there, whole and "
		   "renamed into place, instead of to stdout",
	.shortopts = "o:",
	.opts = import_opts,
};

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

static int cmd_import_azure(struct ctx *ctx, int argc, char **argv)
{
	const char *vm = NULL, *name = NULL, *output = NULL, *file;
	_cleanup_free_ char *text = NULL, *yaml = NULL;
	struct azure_notes notes = { 0 };
	struct jit_diag diag;
	json_t *doc;
	size_t len;
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
	diag_init(&diag);
	r = azure_policy_import(file, text, len, vm, name, &yaml, &notes,
				&diag);
	if (r < 0) {
		r = document_error(ctx, r, &diag, &notes, NULL);
		goto out;
	}
	print_notes(ctx, &notes);
	if (output && (r = write_atomic(output, yaml)) < 0) {
		r = fail(ctx, "write-failed", "writing %s: %s", output,
			 strerror(-r));
		goto out;
	}
	r = 0;
	if (ctx->json) {
		doc = json_pack("{s:b, s:[{s:o, s:s*}], s:o}", "ok", 1,
				"policies", "yaml", json_text(yaml), "file",
				output, "notes", notes_json(&notes));
		print_json(ctx, doc);
		json_decref(doc);
	} else if (output) {
		printf("wrote %s\n", output);
	} else {
		fputs(yaml, stdout);
	}
out:
	diag_release(&diag);
	azure_notes_release(&notes);
	return r;
}
