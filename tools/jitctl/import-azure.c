/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl import-azure: a cloud JIT policy document to a policy file. */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "azure.h"
#include "client.h"
#include "jitctl.h"
#include "util.h"

#include "config.h"

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

int cmd_import_azure(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, 'v' },
		{ "name", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ 0 },
	};
	const char *vm = NULL, *name = NULL, *output = NULL, *file;
	_cleanup_free_ char *text = NULL, *yaml = NULL;
	struct azure_notes notes = { 0 };
	struct jit_diag diag;
	size_t len;
	int c, r;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "o:", opts)) != -1) {
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
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: jitctl import-azure FILE [--vm NAME] "
				"[--name POLICY] [-o OUT.yaml]\n");
		return 2;
	}
	file = argv[optind];
	r = read_input(file, &text, &len);
	if (r < 0) {
		fprintf(stderr, "jitctl import-azure: reading %s: %s\n", file,
			r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return 1;
	}
	diag_init(&diag);
	r = azure_policy_import(file, text, len, vm, name, &yaml, &notes,
				&diag);
	print_notes(&notes);
	azure_notes_release(&notes);
	if (r < 0) {
		print_diag(r, &diag);
		diag_release(&diag);
		return 1;
	}
	diag_release(&diag);
	if (!output) {
		fputs(yaml, stdout);
		return 0;
	}
	r = write_atomic(output, yaml);
	if (r < 0) {
		fprintf(stderr, "jitctl import-azure: writing %s: %s\n", output,
			strerror(-r));
		return 1;
	}
	if (!ctx->json)
		printf("wrote %s\n", output);
	return 0;
}
