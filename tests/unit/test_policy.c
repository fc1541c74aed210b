/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Golden tests: tests/golden/policy/NAME.yaml is parsed as "NAME.yaml" and
 * its diagnostics (bad-*.yaml) or canonical policies (good-*.yaml) must
 * equal NAME.out byte for byte. UPDATE_GOLDEN=1 rewrites the .out files;
 * review the diff before committing it.
 */
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>

#include "golden.h"
#include "policy.h"
#include "util.h"
#include "runner.h"

#define POLICY_GOLDEN_DIR GOLDEN_DIR "/policy"
#define EXAMPLES_DIR	  GOLDEN_DIR "/../../policies"

static struct golden_set golden = { .dir = POLICY_GOLDEN_DIR,
				    .suffix = ".yaml" };

static void write_text(const char *path, const char *text)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	ck_assert_msg(f, "cannot write %s", path);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
}

/* Canonical text of every policy of f, as the golden files hold it. */
static char *print_file(const struct jit_policy_file *f)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < policy_file_count(f); i++)
		policy_print(policy_file_get(f, i), out);
	fclose(out);
	return text;
}

UNIT_LOOP_TEST("golden", test_golden, golden_count(&golden))
{
	const char *name = golden.names[_i];
	_cleanup_free_ char *in_path = NULL, *input = NULL, *printed = NULL,
			    *base = strndup(name, strlen(name) - 5);
	struct jit_policy_file *f = NULL;
	struct jit_diag diag;
	const char *actual;
	size_t len;
	int r;

	ck_assert_int_ge(asprintf(&in_path, "%s/%s", POLICY_GOLDEN_DIR, name),
			 0);
	input = golden_read(in_path, &len);
	ck_assert_ptr_nonnull(input);

	diag_init(&diag);
	r = policy_file_parse(name, input, len, &f, &diag);
	if (strncmp(name, "good-", 5) == 0) {
		ck_assert_msg(r == 0, "%s should load, got:\n%s", name,
			      diag.text ? diag.text : "");
		ck_assert_uint_eq(diag.errors, 0);
		ck_assert_uint_gt(policy_file_count(f), 0);
		ck_assert_str_eq(policy_file_path(f), name);
		printed = print_file(f);
		actual = printed;
	} else {
		ck_assert_msg(strncmp(name, "bad-", 4) == 0,
			      "golden %s must start with good- or bad-", name);
		ck_assert_msg(r < 0, "%s should be rejected", name);
		ck_assert_ptr_null(f);
		ck_assert_uint_gt(diag.errors, 0);
		ck_assert_ptr_nonnull(diag.text);
		actual = diag.text;
	}

	golden_compare(POLICY_GOLDEN_DIR, base, actual);
	policy_file_free(f);
	diag_release(&diag);
}
END_TEST

UNIT_TEST("golden", test_golden_count)
{
	/* Guards against a golden directory that silently went missing. */
	ck_assert_uint_ge(golden_count(&golden), 30);
}
END_TEST

/* --- diag ----------------------------------------------------------------- */

UNIT_TEST("diag", test_diag_render)
{
	struct jit_diag d;
	int r;

	diag_init(&d);
	r = diag_error(&d, "p.yaml", "a: 1\n\tmax_duration: 30h\n", 2, 16,
		       "max_duration '%s' exceeds the limit of 24h", "30h");
	ck_assert_int_eq(r, -EINVAL);
	/* The tab is expanded to 8 columns, and the caret follows it. */
	ck_assert_str_eq(d.text,
			 "p.yaml:2:16: error: max_duration '30h' exceeds the "
			 "limit of 24h\n"
			 "            max_duration: 30h\n"
			 "                          ^\n");
	ck_assert_uint_eq(d.errors, 1);
	ck_assert_uint_eq(d.len, strlen(d.text));

	diag_error(&d, "p.yaml", NULL, 3, 0, "no column");
	diag_error(&d, "p.yaml", "x\n", 0, 0, "no line");
	diag_error(&d, NULL, NULL, 0, 0, "no file");
	diag_error(&d, "p.yaml", "x\n", 7, 1, "line past the end");
	ck_assert_uint_eq(d.errors, 5);
	ck_assert_ptr_nonnull(strstr(d.text, "p.yaml:3: error: no column\n"
					     "p.yaml: error: no line\n"
					     "error: no file\n"
					     "p.yaml:7:1: error: line past the "
					     "end\n"));
	ck_assert(str_has_suffix(d.text, "end\n"));
	diag_release(&d);
	ck_assert_ptr_null(d.text);
	ck_assert_uint_eq(d.errors, 0);
	diag_release(&d);
}
END_TEST

UNIT_TEST("diag", test_diag_lines)
{
	struct jit_diag d;

	diag_init(&d);
	/* CRLF and CR count as one break each, as libyaml counts them. */
	diag_error(&d, "f", "one\r\ntwo\rthree\r\n", 3, 2, "x");
	ck_assert_str_eq(d.text, "f:3:2: error: x\n    three\n     ^\n");
	diag_release(&d);

	/* Columns are characters, not bytes; controls are not echoed. */
	diag_error(&d, "f", "n: \"é\x1b\", p: 0", 1, 14, "y");
	ck_assert_str_eq(d.text, "f:1:14: error: y\n    n: \"é?\", p: 0\n"
				 "                 ^\n");
	diag_release(&d);

	/* A caret past the end of the line sits after its last character. */
	diag_error(&d, "f", "key:   \n", 1, 9, "z");
	ck_assert_str_eq(d.text, "f:1:9: error: z\n    key:\n        ^\n");
	diag_release(&d);
}
END_TEST

UNIT_TEST("diag", test_diag_long_line)
{
	_cleanup_free_ char *src = malloc(1001);
	struct jit_diag d;
	const char *shown, *caret;

	memset(src, 'a', 1000);
	src[500] = 'X';
	src[1000] = '\0';
	diag_init(&d);
	diag_error(&d, "f", src, 1, 501, "long");
	shown = strchr(d.text, '\n') + 1;
	caret = strchr(shown, '\n') + 1;
	/* A window around the caret, marked with "..." on both sides. */
	ck_assert_int_eq(strncmp(shown, "    ...", 7), 0);
	ck_assert_ptr_nonnull(strstr(shown, "a...\n"));
	ck_assert_int_lt(caret - shown, 180);
	ck_assert_int_eq(shown[strlen(caret) - 2], 'X');
	ck_assert_str_eq(caret + strlen(caret) - 2, "^\n");
	diag_release(&d);
}
END_TEST

/* --- parsing details not worth a golden file ------------------------------ */

static int parse(const char *text, struct jit_policy_file **f,
		 struct jit_diag *d)
{
	return policy_file_parse("t.yaml", text, strlen(text), f, d);
}

UNIT_TEST("parse", test_parse_defaults)
{
	struct jit_policy_file *f = NULL;
	const struct jit_policy *p;
	struct jit_diag d;

	diag_init(&d);
	ck_assert_int_eq(parse("name: ssh\nports: [{port: 22}]\n", &f, &d), 0);
	ck_assert_ptr_null(d.text);
	ck_assert_uint_eq(policy_file_count(f), 1);
	p = policy_file_get(f, 0);
	ck_assert_ptr_null(policy_file_get(f, 1));
	ck_assert_str_eq(p->name, "ssh");
	ck_assert_ptr_null(p->description);
	ck_assert_str_eq(p->file, "t.yaml");
	ck_assert_uint_eq(p->line, 1);
	ck_assert_uint_eq(p->n_ports, 1);
	ck_assert_uint_eq(p->ports[0].port_lo, 22);
	ck_assert_uint_eq(p->ports[0].port_hi, 22);
	ck_assert_uint_eq(p->ports[0].protos, JIT_PROTO_TCP);
	ck_assert_uint_eq(p->ports[0].max_duration_s,
			  JIT_POLICY_DEFAULT_MAX_DURATION_S);
	ck_assert(p->ports[0].any_source);
	ck_assert_uint_eq(p->ports[0].n_sources, 0);
	ck_assert_uint_eq(p->n_interfaces, 0);
	ck_assert_uint_eq(p->requesters.n_users + p->requesters.n_groups, 0);
	ck_assert_uint_eq(p->approvers.n_users + p->approvers.n_groups, 0);
	ck_assert_int_eq(p->approval, JIT_APPROVAL_AUTO);
	ck_assert_int_eq(p->action, JIT_ACTION_DROP);
	policy_file_free(f);
	diag_release(&d);
}
END_TEST

UNIT_TEST("parse", test_parse_values)
{
	struct jit_policy_file *f = NULL;
	const struct jit_policy *p;
	struct jit_diag d;
	char buf[JIT_PREFIX_STRLEN];

	diag_init(&d);
	ck_assert_int_eq(
		parse("\n---\nname: rdp\nports:\n"
		      "  - {port: 3389-3390, protocol: any, max_duration: PT1H,"
		      " allowed_sources: 2001:db8::/32}\n"
		      "interfaces: [\"eth*\"]\n"
		      "requesters: {users: [alice], groups: [ops, sre]}\n"
		      "approval: manual\napprovers: {users: [bob]}\n"
		      "action: reject\n",
		      &f, &d),
		0);
	p = policy_file_get(f, 0);
	ck_assert_uint_eq(p->line, 3);
	ck_assert_uint_eq(p->ports[0].port_lo, 3389);
	ck_assert_uint_eq(p->ports[0].port_hi, 3390);
	ck_assert_uint_eq(p->ports[0].protos, JIT_PROTO_TCP | JIT_PROTO_UDP);
	ck_assert_uint_eq(p->ports[0].max_duration_s, 3600);
	ck_assert(!p->ports[0].any_source);
	ck_assert_uint_eq(p->ports[0].n_sources, 1);
	ck_assert_str_eq(
		prefix_format(&p->ports[0].sources[0], buf, sizeof(buf)),
		"2001:db8::/32");
	ck_assert_uint_eq(p->n_interfaces, 1);
	ck_assert_str_eq(p->interfaces[0], "eth*");
	ck_assert_uint_eq(p->requesters.n_users, 1);
	ck_assert_str_eq(p->requesters.users[0], "alice");
	ck_assert_uint_eq(p->requesters.n_groups, 2);
	ck_assert_str_eq(p->requesters.groups[1], "sre");
	ck_assert_uint_eq(p->approvers.n_users, 1);
	ck_assert_uint_eq(p->approvers.n_groups, 0);
	ck_assert_int_eq(p->approval, JIT_APPROVAL_MANUAL);
	ck_assert_int_eq(p->action, JIT_ACTION_REJECT);
	policy_file_free(f);
	diag_release(&d);
}
END_TEST

UNIT_TEST("parse", test_parse_input_errors)
{
	struct jit_policy_file *f = NULL;
	struct jit_diag d;

	diag_init(&d);
	/* A raw control character: libyaml's reader error, with position. */
	ck_assert_int_eq(parse("name: a\x01\nports: [{port: 22}]\n", &f, &d),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(d.text, "t.yaml:1:8: error: invalid "
					     "input: control characters are "
					     "not allowed (0x1)\n"));
	ck_assert_ptr_null(f);
	diag_release(&d);

	/* Invalid UTF-8, and UTF-16 (which the loader refuses). */
	ck_assert_int_eq(parse("name: \xff\n", &f, &d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(d.text, "invalid input"));
	diag_release(&d);
	ck_assert_int_eq(
		policy_file_parse("t.yaml", "\xff\xfen\0a\0", 6, &f, &d),
		-EINVAL);
	ck_assert_uint_eq(d.errors, 1);
	diag_release(&d);

	/* A NUL byte in the middle of the input. */
	ck_assert_int_eq(
		policy_file_parse("t.yaml", "name: a\0b\n", 10, &f, &d),
		-EINVAL);
	ck_assert_uint_eq(d.errors, 1);
	diag_release(&d);

	/* An empty file, and one of only comments, hold no policy. */
	ck_assert_int_eq(parse("", &f, &d), -EINVAL);
	ck_assert_str_eq(d.text, "t.yaml: error: file is empty; expected at "
				 "least one policy with name and ports\n");
	diag_release(&d);

	/* CRLF line ends: positions and the shown line are still right. */
	ck_assert_int_eq(parse("name: a\r\nports:\r\n  - port: 0\r\n", &f, &d),
			 -EINVAL);
	ck_assert_str_eq(d.text, "t.yaml:3:11: error: port '0' is out of "
				 "range; ports are 1..65535\n"
				 "      - port: 0\n"
				 "              ^\n");
	diag_release(&d);

	/* Over the size limit, without reading it. */
	ck_assert_int_eq(policy_file_parse("t.yaml", "",
					   JIT_POLICY_FILE_MAX_BYTES + 1, &f,
					   &d),
			 -EINVAL);
	ck_assert_str_eq(d.text, "t.yaml: error: file is 1048577 bytes; at "
				 "most 1048576 are allowed\n");
	diag_release(&d);
}
END_TEST

UNIT_TEST("parse", test_parse_error_cap)
{
	_cleanup_free_ char *text = NULL;
	struct jit_policy_file *f = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct jit_diag d;

	for (int i = 0; i < 80; i++)
		fprintf(out, "---\nname: p%d\nports: [{port: 0}]\n", i);
	fclose(out);
	diag_init(&d);
	ck_assert_int_eq(parse(text, &f, &d), -EINVAL);
	/* 50 errors, then one line saying the rest is not shown. */
	ck_assert_uint_eq(d.errors, 51);
	ck_assert(str_has_suffix(
		d.text, "t.yaml: error: too many errors; not reporting "
			"more\n"));
	diag_release(&d);
}
END_TEST

UNIT_TEST("parse", test_parse_big_file)
{
	_cleanup_free_ char *text = NULL;
	struct jit_policy_file *f = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct jit_diag d;

	/* A flow list of a million values stops at the node limit. */
	fputs("name: big\nports: [{port: 22, allowed_sources: [", out);
	while (len < JIT_POLICY_FILE_MAX_BYTES - 16) {
		fputs("1,", out);
		fflush(out);
	}
	fputs("1]}]\n", out);
	fclose(out);
	diag_init(&d);
	ck_assert_int_eq(parse(text, &f, &d), -EINVAL);
	ck_assert_uint_eq(d.errors, 1);
	ck_assert_ptr_nonnull(strstr(d.text, "document has more than 65536 "
					     "values"));
	diag_release(&d);
}
END_TEST

UNIT_TEST("parse", test_filename)
{
	static const char *const yes[] = {
		"ssh.yaml",
		"a.yml",
		"10-ssh.yaml",
		"dir/x.yaml",
		"/etc/jit-enforcer/policies.d/ssh.yml",
	};
	static const char *const no[] = {
		"ssh.yaml~",
		".ssh.yaml.swp",
		".ssh.yaml",
		".yaml",
		".yml",
		"ssh.YAML",
		"ssh.json",
		"ssh",
		"ssh.yaml.bak",
		"#ssh.yaml#",
		"dir/.hidden.yaml",
		"ssh.yaml.dpkg-old",
		"yaml",
		"",
	};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		ck_assert_msg(policy_is_policy_filename(yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		ck_assert_msg(!policy_is_policy_filename(no[i]), "%s", no[i]);
}
END_TEST

/* --- files and sets, in a scratch directory ------------------------------ */

/*
 * The base directory is made and removed by the parent process (unchecked
 * fixture), so it goes away even when a forked test fails half way; each
 * test gets a fresh directory inside it.
 */
static char basedir[64];
static char tmpdir[128];

static void base_setup(void)
{
	strcpy(basedir, "/tmp/jit-policy-test.XXXXXX");
	if (!mkdtemp(basedir))
		abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static void base_teardown(void)
{
	nftw(basedir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/t.XXXXXX", basedir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Writes tmpdir/name with mode 0644 (whatever the umask); returns path. */
static const char *put(const char *name, const char *text)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	write_text(path, text);
	ck_assert_int_eq(chmod(path, 0644), 0);
	return path;
}

static const char *path_of(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

#define POLICY(name, port) "name: " name "\nports: [{port: " #port "}]\n"

UNIT_CASE("set", .setup_once = base_setup, .teardown_once = base_teardown,
	  .setup = tmp_setup);

UNIT_TEST("set", test_file_load)
{
	struct jit_policy_file *f = NULL;
	struct jit_diag d;

	diag_init(&d);
	ck_assert_int_eq(
		policy_file_load(put("a.yaml", POLICY("a", 22)), &f, &d), 0);
	ck_assert_uint_eq(policy_file_count(f), 1);
	ck_assert_str_eq(policy_file_path(f), path_of("a.yaml"));
	ck_assert_str_eq(policy_file_get(f, 0)->file, path_of("a.yaml"));
	f = policy_file_free(f);
	ck_assert_ptr_null(policy_file_free(NULL));

	ck_assert_int_eq(policy_file_load(path_of("none.yaml"), &f, &d),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(d.text, "none.yaml: error: cannot open: "
					     "No such file or directory\n"));
	diag_release(&d);

	ck_assert_int_eq(policy_file_load(tmpdir, &f, &d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(d.text, "error: not a regular file"));
	diag_release(&d);

	/* Anyone could grant themselves access through such a file. */
	put("open.yaml", POLICY("o", 22));
	ck_assert_int_eq(chmod(path_of("open.yaml"), 0666), 0);
	ck_assert_int_eq(policy_file_load(path_of("open.yaml"), &f, &d),
			 -EPERM);
	ck_assert_ptr_nonnull(strstr(d.text, "writable by every user (mode "
					     "0666)"));
	diag_release(&d);
	ck_assert_ptr_null(f);

	/* A link is not followed: it could point at a file its owner may
	 * change, or make the messages quote any file (/etc/shadow). */
	put("target.yaml", POLICY("t", 22));
	/* Relative to the link's directory. */
	ck_assert_int_eq(symlink("target.yaml", path_of("link.yaml")), 0);
	ck_assert_int_eq(policy_file_load(path_of("link.yaml"), &f, &d),
			 -ELOOP);
	ck_assert_ptr_nonnull(
		strstr(d.text, "a symbolic link is not followed"));
	diag_release(&d);
	ck_assert_ptr_null(f);

	/* Whoever owns it may change it: root (or the agent's user) only. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(path_of("target.yaml"), 65534, 65534),
				 0);
		ck_assert_int_eq(
			policy_file_load(path_of("target.yaml"), &f, &d),
			-EPERM);
		ck_assert_ptr_nonnull(strstr(d.text, "must be owned by root"));
		diag_release(&d);
		ck_assert_ptr_null(f);
	}
}
END_TEST

UNIT_TEST("set", test_file_too_big)
{
	_cleanup_free_ char *big = malloc(JIT_POLICY_FILE_MAX_BYTES + 2);
	struct jit_policy_file *f = NULL;
	struct jit_diag d;

	memset(big, '#', JIT_POLICY_FILE_MAX_BYTES + 1);
	big[JIT_POLICY_FILE_MAX_BYTES + 1] = '\0';
	diag_init(&d);
	ck_assert_int_eq(policy_file_load(put("big.yaml", big), &f, &d),
			 -EFBIG);
	ck_assert_ptr_nonnull(strstr(d.text, "larger than 1048576 bytes"));
	diag_release(&d);

	/* At the limit exactly it is read (and found to hold no policy). */
	big[JIT_POLICY_FILE_MAX_BYTES] = '\0';
	ck_assert_int_eq(policy_file_load(put("big.yaml", big), &f, &d),
			 -EINVAL);
	ck_assert(str_has_suffix(d.text, "/big.yaml: error: no policy in file; "
					 "expected at least one YAML document "
					 "with name and ports\n"));
	diag_release(&d);
}
END_TEST

static const char *names(const struct jit_policy_set *s)
{
	static char buf[256];

	buf[0] = '\0';
	for (size_t i = 0; i < policy_set_count(s); i++) {
		strcat(buf, i ? " " : "");
		strcat(buf, policy_set_get(s, i)->name);
	}
	return buf;
}

UNIT_TEST("set", test_set_last_good)
{
	struct jit_policy_set *s = policy_set_new();
	struct jit_diag d;

	diag_init(&d);
	ck_assert_int_eq(
		policy_set_load_file(s, put("a.yaml", POLICY("a", 22)), &d), 0);
	ck_assert_int_eq(
		policy_set_load_file(s, put("b.yaml", POLICY("b", 23)), &d), 0);
	ck_assert_str_eq(names(s), "a b");

	/* A broken edit is reported; the good version stays in force. */
	ck_assert_int_eq(
		policy_set_load_file(s, put("a.yaml", POLICY("a2", 99999)), &d),
		-EINVAL);
	ck_assert_ptr_nonnull(strstr(d.text, "a.yaml:2:16: error: port '99999' "
					     "is out of range"));
	ck_assert_str_eq(names(s), "a b");
	ck_assert_uint_eq(policy_set_find(s, "a")->ports[0].port_lo, 22);
	ck_assert_ptr_null(policy_set_find(s, "a2"));
	diag_release(&d);

	/* A good edit replaces it. */
	ck_assert_int_eq(
		policy_set_load_file(s, put("a.yaml", POLICY("a2", 2222)), &d),
		0);
	ck_assert_str_eq(names(s), "a2 b");
	ck_assert_ptr_null(policy_set_find(s, "a"));
	ck_assert_uint_eq(policy_set_find(s, "a2")->ports[0].port_lo, 2222);
	ck_assert_ptr_null(d.text);
	ck_assert_ptr_null(policy_set_get(s, 2));
	policy_set_free(s);
}
END_TEST

UNIT_TEST("set", test_set_duplicate_across_files)
{
	struct jit_policy_set *s = policy_set_new();
	struct jit_diag d;

	diag_init(&d);
	ck_assert_int_eq(
		policy_set_load_file(
			s, put("a.yaml", "# a\n" POLICY("ssh", 22)), &d),
		0);
	ck_assert_int_eq(
		policy_set_load_file(s, put("b.yaml", POLICY("b", 23)), &d), 0);

	/* b.yaml now claims a name a.yaml holds: b's old version stays. */
	ck_assert_int_eq(policy_set_load_file(
				 s,
				 put("b.yaml",
				     POLICY("b", 23) "---\n" POLICY("ssh", 24)),
				 &d),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(d.text, "b.yaml:4:7: error: policy name "
					     "'ssh' is already used by "));
	ck_assert_uint_eq(d.errors, 1);
	ck_assert_ptr_nonnull(strstr(d.text, "/a.yaml:2\n    name: ssh\n"
					     "          ^\n"));
	ck_assert_str_eq(names(s), "ssh b");
	ck_assert_str_eq(policy_set_find(s, "ssh")->file, path_of("a.yaml"));
	diag_release(&d);

	/* Reloading a file against itself is no clash. */
	ck_assert_int_eq(policy_set_load_file(s, path_of("a.yaml"), &d), 0);
	ck_assert_str_eq(names(s), "ssh b");
	policy_set_free(s);
}
END_TEST

UNIT_TEST("set", test_set_remove)
{
	struct jit_policy_set *s = policy_set_new();
	struct jit_diag d;

	diag_init(&d);
	policy_set_load_file(s, put("a.yaml", POLICY("a", 22)), &d);
	policy_set_load_file(s, put("b.yaml", POLICY("b", 23)), &d);
	ck_assert_int_eq(policy_set_remove_file(s, path_of("a.yaml")), 0);
	ck_assert_int_eq(policy_set_remove_file(s, path_of("a.yaml")), -ENOENT);
	ck_assert_str_eq(names(s), "b");

	/* A file that vanished is dropped by a reload, without error. */
	ck_assert_int_eq(unlink(path_of("b.yaml")), 0);
	ck_assert_int_eq(policy_set_load_file(s, path_of("b.yaml"), &d), 0);
	ck_assert_uint_eq(policy_set_count(s), 0);
	ck_assert_ptr_null(d.text);
	ck_assert_ptr_null(policy_set_find(s, "b"));
	ck_assert_ptr_null(policy_set_free(s));
	ck_assert_ptr_null(policy_set_free(NULL));
}
END_TEST

UNIT_TEST("set", test_set_load_dir)
{
	struct jit_policy_set *s = policy_set_new();
	struct jit_diag d;

	diag_init(&d);
	put("20-b.yaml", POLICY("b", 23) "---\n" POLICY("b2", 24));
	put("10-a.yml", POLICY("a", 22));
	put("30-c.yaml", POLICY("c", 25));
	/* Not policy files: ignored, even though broken or clashing. */
	put("notes.txt", "not yaml at all: [");
	put(".hidden.yaml", POLICY("a", 1));
	put("30-c.yaml~", POLICY("c", 1));
	put(".30-c.yaml.swp", "\x01\x02");
	put("README", "hello");
	ck_assert_int_eq(mkdir(path_of("dir.yaml"), 0755), 0);
	ck_assert_int_eq(symlink("nowhere", path_of("dangling.yaml")), 0);

	ck_assert_int_eq(policy_set_load_dir(s, tmpdir, &d), 0);
	ck_assert_msg(d.text == NULL, "%s", d.text);
	/* Sorted by file name, then by position in the file. */
	ck_assert_str_eq(names(s), "a b b2 c");

	/* One broken file is counted; the others load; it keeps its old. */
	put("20-b.yaml", "name: b\nports: [{port: 23}\n");
	ck_assert_int_eq(unlink(path_of("30-c.yaml")), 0);
	put("40-d.yaml", POLICY("d", 26));
	ck_assert_int_eq(policy_set_load_dir(s, tmpdir, &d), 1);
	ck_assert_ptr_nonnull(strstr(d.text, "20-b.yaml:3:1: error: invalid "
					     "YAML"));
	ck_assert_str_eq(names(s), "a b b2 d");
	diag_release(&d);

	/* Files of other directories are not touched by a reload. */
	ck_assert_int_eq(policy_set_load_file(s, EXAMPLES_DIR "/ssh.yaml", &d),
			 0);
	ck_assert_int_eq(policy_set_load_dir(s, tmpdir, &d), 1);
	ck_assert_ptr_nonnull(policy_set_find(s, "ssh"));
	diag_release(&d);

	ck_assert_int_eq(policy_set_load_dir(s, path_of("missing"), &d),
			 -ENOENT);
	ck_assert_ptr_null(d.text);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("set", test_set_load_dir_moved_policy)
{
	struct jit_policy_set *s = policy_set_new();
	struct jit_diag d;

	diag_init(&d);
	put("a.yaml", POLICY("a", 22));
	put("b.yaml", POLICY("moving", 23));
	ck_assert_int_eq(policy_set_load_dir(s, tmpdir, &d), 0);

	/*
	 * "moving" goes from b.yaml to a.yaml in one edit. a.yaml sorts
	 * first and clashes with b's old version until b is reloaded too.
	 */
	put("a.yaml", POLICY("a", 22) "---\n" POLICY("moving", 23));
	put("b.yaml", POLICY("b", 24));
	ck_assert_int_eq(policy_set_load_dir(s, tmpdir, &d), 0);
	ck_assert_msg(d.text == NULL, "%s", d.text);
	ck_assert_str_eq(names(s), "a moving b");

	/* A clash that remains is reported once and counted. */
	put("c.yaml", POLICY("b", 25));
	ck_assert_int_eq(policy_set_load_dir(s, tmpdir, &d), 1);
	ck_assert_uint_eq(d.errors, 1);
	ck_assert_ptr_nonnull(strstr(d.text, "c.yaml:1:7: error: policy name "
					     "'b' is already used by "));
	ck_assert_str_eq(names(s), "a moving b");
	diag_release(&d);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("set", test_check_paths)
{
	char *paths[4];
	struct jit_diag d;

	diag_init(&d);
	ck_assert_int_eq(mkdir(path_of("d"), 0755), 0);
	put("d/a.yaml", POLICY("a", 22));
	put("d/b.yaml", POLICY("b", 23));
	put("d/skip.txt", "broken: [");
	put("other.conf", POLICY("a", 24));

	paths[0] = strdup(path_of("d"));
	ck_assert_int_eq(policy_check_paths(paths, 1, &d), 0);
	/* Warnings only: these policies name no requesters. */
	ck_assert_uint_eq(d.errors, 0);
	ck_assert_ptr_nonnull(strstr(d.text, "a.yaml:1: warning: policy 'a' "
					     "has no requesters"));
	ck_assert_ptr_null(strstr(d.text, "error"));
	diag_release(&d);

	/* A file named explicitly is checked whatever its suffix. */
	paths[1] = strdup(path_of("other.conf"));
	ck_assert_int_eq(policy_check_paths(paths, 2, &d), 1);
	ck_assert_ptr_nonnull(strstr(d.text, "other.conf:1:7: error: policy "
					     "name 'a' is already used by "));
	diag_release(&d);

	put("d/b.yaml", "name: b\nports: []\n");
	paths[2] = strdup(path_of("missing.yaml"));
	paths[3] = strdup(EXAMPLES_DIR);
	ck_assert_int_eq(policy_check_paths(paths, 4, &d), 3);
	ck_assert_ptr_nonnull(strstr(d.text, "b.yaml:2:8: error: ports is "
					     "empty"));
	ck_assert_ptr_nonnull(strstr(d.text, "missing.yaml: error: cannot "
					     "open: No such file"));
	ck_assert_uint_eq(d.errors, 3);
	diag_release(&d);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		free(paths[i]);
}
END_TEST

UNIT_TEST("set", test_examples)
{
	char *paths[] = { EXAMPLES_DIR };
	struct jit_policy_set *s = policy_set_new();
	const struct jit_policy *p;
	struct jit_diag d;

	diag_init(&d);
	ck_assert_int_eq(policy_check_paths(paths, 1, &d), 0);
	ck_assert_uint_eq(d.errors, 0);
	/*
	 * The examples work as their comments say: members of jit-enforcer
	 * (whom the README sends to jitctl) may request under both; warnings
	 * only for the groups this host may lack.
	 */
	ck_assert_msg(!d.text || !strstr(d.text, "no requesters"), "%s",
		      d.text);
	diag_release(&d);
	ck_assert_int_eq(policy_set_load_dir(s, EXAMPLES_DIR, &d), 0);
	for (size_t i = 0; i < policy_set_count(s); i++) {
		const struct jit_principals *rq =
			&policy_set_get(s, i)->requesters;

		ck_assert_uint_eq(rq->n_groups, 1);
		ck_assert_str_eq(rq->groups[0], "jit-enforcer");
	}
	p = policy_set_find(s, "ssh");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->ports[0].port_lo, 22);
	p = policy_set_find(s, "remote-admin");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->approval, JIT_APPROVAL_MANUAL);
	ck_assert_int_eq(p->action, JIT_ACTION_REJECT);
	policy_set_free(s);
}
END_TEST
