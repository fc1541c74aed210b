/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <syslog.h>
#include <sys/stat.h>

#include "audit.h"
#include "daemon.h"
#include "fleet-conf.h"
#include "diag.h"
#include "log.h"
#include "policy.h"
#include "ruleset.h"
#include "spa-conf.h"
#include "spa-window.h"
#include "table.h"
#include "util.h"

#include "config.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: jit-enforcer [OPTIONS]\n"
		"       jit-enforcer --check PATH...\n"
		"       jit-enforcer --remove [--table NAME]\n"
		"\n"
		"Keeps management ports closed with an nftables table of its "
		"own and opens\n"
		"them just in time for approved sources.\n"
		"\n"
		"  --policies DIR      policy directory (default %s)\n"
		"  --state-dir DIR     state directory (default %s)\n"
		"  --socket PATH       control socket (default %s)\n"
		"  --socket-group NAME group that may use the control socket "
		"(default: jit-enforcer\n"
		"                      if that group exists, else root)\n"
		"  --table NAME        nftables table, family inet (default "
		"%s)\n"
		"  --no-table-owner    do not take kernel ownership of the "
		"table\n"
		"  --log-dir DIR       JSON-lines logs: DIR/audit.log (default "
		"%s;\n"
		"                      empty: syslog only)\n"
		"  --nflog-group N     NFLOG group for denied packets (default "
		"%u)\n"
		"  --no-syslog         log to stderr only\n"
		"  --spa-access FILE   accept single packet authorization from "
		"fwknop clients,\n"
		"                      with FILE in fwknopd's access.conf "
		"syntax (default: off)\n"
		"  --spa-port N        UDP port of SPA packets (default %u)\n"
		"  --spa-nflog-group N NFLOG group of SPA packets (default "
		"%u)\n"
		"  --spa-max-age S     refuse SPA packets whose time is more "
		"than S seconds\n"
		"                      from ours (default %u)\n"
		"  --fleet-config FILE fleet mode's fleet.yaml (default %s;\n"
		"                      fleet mode is off while it does not "
		"exist)\n"
		"  --user-rate R       decisions per second one user (not "
		"root) may ask for\n"
		"                      (default %g; 0: no limit)\n"
		"  --user-burst N      ... and how many at once (default %u)\n"
		"  --check PATH...     validate policy files or directories "
		"(and the\n"
		"                      --spa-access and --fleet-config files, "
		"if given);\n"
		"                      exit 0 or 1\n"
		"  --remove            delete the table (lifts every deny) and "
		"exit\n"
		"  -v, --verbose       log debug messages\n"
		"  --version           print the version\n"
		"  -h, --help          this help\n",
		JIT_POLICY_DIR, JIT_STATE_DIR, JIT_SOCKET_PATH,
		JIT_TABLE_DEFAULT, JIT_LOG_DIR, JIT_NFLOG_GROUP_DEFAULT,
		JIT_SPA_PORT_DEFAULT, JIT_SPA_NFLOG_GROUP_DEFAULT,
		JIT_SPA_MAX_AGE_S_DEFAULT, JIT_FLEET_CONF_DEFAULT,
		JIT_USER_RATE_DEFAULT, JIT_USER_BURST_DEFAULT);
}

static int do_check(char **paths, int n, const char *spa_access,
		    const char *fleet_config)
{
	struct jit_diag diag;
	bool spa_bad = false;
	int r = 0;

	diag_init(&diag);
	if (fleet_config) {
		struct jit_fleet_conf *conf = NULL;
		int fr = fleet_conf_load(fleet_config, &conf, &diag);

		if (fr == 0)
			printf("%s: host %s, %zu server(s), %zu label(s) OK\n",
			       fleet_config, conf->host, conf->n_servers,
			       conf->n_labels);
		else if (fr == -ENOENT)
			diag_error(&diag, fleet_config, NULL, 0, 0,
				   "no such file");
		/* Counted with the access file: one more bad file. */
		spa_bad |= fr < 0;
		fleet_conf_free(conf);
	}
	if (spa_access) {
		struct jit_spa_conf *conf = NULL;

		if (spa_conf_load(spa_access, &conf, &diag) == 0)
			printf("%s: %zu stanza(s) OK\n", spa_access,
			       conf->n_stanzas);
		else
			spa_bad = true;
		spa_conf_free(conf);
	}
	if (n)
		r = policy_check_paths(paths, (size_t)n, &diag);
	if (diag.len)
		fputs(diag.text, stderr);
	diag_release(&diag);
	if (r < 0) {
		fprintf(stderr, "jit-enforcer: %s\n", strerror(-r));
		return 1;
	}
	if (r > 0)
		fprintf(stderr, "%d file(s) with errors\n", r + spa_bad);
	else if (spa_bad)
		fprintf(stderr, "the SPA access file or fleet.yaml has "
				"errors\n");
	if (r > 0 || spa_bad)
		return 1;
	if (n)
		printf("policies OK\n");
	return 0;
}

/* The agent's configuration and what the command line asks of it. */
struct options {
	struct jit_config cfg;
	const char *group;
	bool check, remove, use_syslog;
	bool fleet_given; /* --fleet-config: --check reads it too */
};

/*
 * Lifting every deny is a decision like any other: one line in the audit
 * trail (the agent's file, if its directory is there, and syslog's
 * authpriv), whatever came of it.
 */
static void audit_remove(const struct options *o, const char *table, int r,
			 const char *err)
{
	_cleanup_free_ char *path = NULL;
	struct jit_audit *a = NULL;
	struct passwd *pw = getpwuid(getuid());
	const char *result = r == 0	    ? "removed"
			     : r == -ENOENT ? "absent"
					    : "failed";

	if (o->cfg.log_dir &&
	    asprintf(&path, "%s/audit.log", o->cfg.log_dir) < 0)
		return;
	if (audit_open(path, o->use_syslog, "audit", LOG_AUTHPRIV | LOG_NOTICE,
		       &a) < 0 &&
	    audit_open(NULL, o->use_syslog, "audit", LOG_AUTHPRIV | LOG_NOTICE,
		       &a) < 0)
		return;
	audit_set_trail(a);
	(void)audit_event(a,
			  json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:I}, s:s?}",
				    "event", "table", "result", result, "table",
				    table, "channel", "agent", "actor", "user",
				    pw ? pw->pw_name : "?", "uid",
				    (json_int_t)getuid(), "error",
				    r < 0 && r != -ENOENT ? err : NULL));
	audit_close(a);
}

static int do_remove(const struct options *o)
{
	const char *table = o->cfg.table;
	struct jit_table *t = NULL;
	char err[512] = "";
	int r;

	if (o->use_syslog)
		openlog("jit-enforcer", LOG_PID, LOG_AUTHPRIV);
	r = table_open(table, false, &t);
	if (r < 0) {
		fprintf(stderr, "jit-enforcer: netlink: %s\n", strerror(-r));
		snprintf(err, sizeof(err), "netlink: %s", strerror(-r));
		audit_remove(o, table, r, err);
		return 1;
	}
	r = table_remove(t, err, sizeof(err));
	table_close(t);
	audit_remove(o, table, r, err);
	if (r == -ENOENT) {
		printf("table inet %s does not exist; nothing to remove\n",
		       table);
		return 0;
	}
	if (r == -EPERM || r == -EBUSY) {
		fprintf(stderr,
			"jit-enforcer: table inet %s is owned by a running "
			"agent; stop it first (%s)\n",
			table, err);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "jit-enforcer: removing table inet %s: %s\n",
			table, err);
		return 1;
	}
	printf("table inet %s removed; protected ports are open again\n",
	       table);
	return 0;
}

static int parse_number(const char *opt, const char *s, unsigned long lo,
			unsigned long hi, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || v < lo || v > hi) {
		fprintf(stderr,
			"jit-enforcer: %s '%s' is not a number %lu..%lu\n", opt,
			s, lo, hi);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int resolve_group(const char *name, gid_t *gid)
{
	struct group *g = getgrnam(name);

	if (!g)
		return -ENOENT;
	*gid = g->gr_gid;
	return 0;
}

enum {
	OPT_POLICIES = 256,
	OPT_STATE,
	OPT_SOCKET,
	OPT_SOCKET_GROUP,
	OPT_TABLE,
	OPT_NO_OWNER,
	OPT_NO_SYSLOG,
	OPT_LOG_DIR,
	OPT_NFLOG_GROUP,
	OPT_SPA_ACCESS,
	OPT_SPA_PORT,
	OPT_SPA_GROUP,
	OPT_SPA_MAX_AGE,
	OPT_FLEET_CONFIG,
	OPT_USER_RATE,
	OPT_USER_BURST,
	OPT_CHECK,
	OPT_REMOVE,
	OPT_VERSION,
};
static const struct option opts[] = {
	{ "policies", required_argument, NULL, OPT_POLICIES },
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "table", required_argument, NULL, OPT_TABLE },
	{ "no-table-owner", no_argument, NULL, OPT_NO_OWNER },
	{ "no-syslog", no_argument, NULL, OPT_NO_SYSLOG },
	{ "log-dir", required_argument, NULL, OPT_LOG_DIR },
	{ "nflog-group", required_argument, NULL, OPT_NFLOG_GROUP },
	{ "spa-access", required_argument, NULL, OPT_SPA_ACCESS },
	{ "spa-port", required_argument, NULL, OPT_SPA_PORT },
	{ "spa-nflog-group", required_argument, NULL, OPT_SPA_GROUP },
	{ "spa-max-age", required_argument, NULL, OPT_SPA_MAX_AGE },
	{ "fleet-config", required_argument, NULL, OPT_FLEET_CONFIG },
	{ "user-rate", required_argument, NULL, OPT_USER_RATE },
	{ "user-burst", required_argument, NULL, OPT_USER_BURST },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "remove", no_argument, NULL, OPT_REMOVE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* What the agent runs with when the command line does not say. */
static const struct jit_config defaults = {
	.policy_dir = JIT_POLICY_DIR,
	.state_dir = JIT_STATE_DIR,
	.socket_path = JIT_SOCKET_PATH,
	.table = JIT_TABLE_DEFAULT,
	.allow_owner = true,
	.log_dir = JIT_LOG_DIR,
	.nflog_group = JIT_NFLOG_GROUP_DEFAULT,
	.spa_port = JIT_SPA_PORT_DEFAULT,
	.spa_group = JIT_SPA_NFLOG_GROUP_DEFAULT,
	.spa_max_age_s = JIT_SPA_MAX_AGE_S_DEFAULT,
	.fleet_config = JIT_FLEET_CONF_DEFAULT,
	.user_rate = JIT_USER_RATE_DEFAULT,
	.user_burst = JIT_USER_BURST_DEFAULT,
};

/* Returns -1 to go on, else the exit code (--help, --version, errors). */
static int parse_options(int argc, char **argv, struct options *o)
{
	unsigned long v;
	int c;

	*o = (struct options){ .use_syslog = true };
	o->cfg = defaults;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_POLICIES:
			o->cfg.policy_dir = optarg;
			break;
		case OPT_STATE:
			o->cfg.state_dir = optarg;
			break;
		case OPT_SOCKET:
			o->cfg.socket_path = optarg;
			break;
		case OPT_SOCKET_GROUP:
			o->group = optarg;
			break;
		case OPT_TABLE:
			o->cfg.table = optarg;
			break;
		case OPT_NO_OWNER:
			o->cfg.allow_owner = false;
			break;
		case OPT_NO_SYSLOG:
			o->use_syslog = false;
			break;
		case OPT_LOG_DIR:
			o->cfg.log_dir = optarg[0] ? optarg : NULL;
			break;
		case OPT_NFLOG_GROUP:
			if (parse_number("--nflog-group", optarg, 0, 65535,
					 &v) < 0)
				return 2;
			o->cfg.nflog_group = (uint16_t)v;
			break;
		case OPT_SPA_ACCESS:
			o->cfg.spa_access = optarg;
			break;
		case OPT_SPA_PORT:
			if (parse_number("--spa-port", optarg, 1, 65535, &v) <
			    0)
				return 2;
			o->cfg.spa_port = (uint16_t)v;
			break;
		case OPT_SPA_GROUP:
			if (parse_number("--spa-nflog-group", optarg, 0, 65535,
					 &v) < 0)
				return 2;
			o->cfg.spa_group = (uint16_t)v;
			break;
		case OPT_SPA_MAX_AGE:
			if (parse_number("--spa-max-age", optarg, 1, 3600, &v) <
			    0)
				return 2;
			o->cfg.spa_max_age_s = (unsigned)v;
			break;
		case OPT_FLEET_CONFIG:
			o->cfg.fleet_config = optarg;
			o->fleet_given = true;
			break;
		case OPT_USER_RATE: {
			char *end;

			errno = 0;
			o->cfg.user_rate = strtod(optarg, &end);
			if (!*optarg || *end || errno ||
			    !(o->cfg.user_rate >= 0) ||
			    o->cfg.user_rate > 1000000) {
				fprintf(stderr,
					"jit-enforcer: --user-rate '%s' is not "
					"a number 0..1000000\n",
					optarg);
				return 2;
			}
			break;
		}
		case OPT_USER_BURST:
			if (parse_number("--user-burst", optarg, 1, 1000000,
					 &v) < 0)
				return 2;
			o->cfg.user_burst = (unsigned)v;
			break;
		case OPT_CHECK:
			o->check = true;
			break;
		case OPT_REMOVE:
			o->remove = true;
			break;
		case 'v':
			log_set_max_level(LOG_DEBUG);
			break;
		case OPT_VERSION:
			printf("jit-enforcer %s\n", JIT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* --check PATH...: validate and exit. */
static int run_check(int argc, char **argv, const struct options *o)
{
	if (optind >= argc && !o->cfg.spa_access && !o->fleet_given) {
		fprintf(stderr, "jit-enforcer: --check needs at least "
				"one file or directory\n");
		return 2;
	}
	return do_check(argv + optind, argc - optind, o->cfg.spa_access,
			o->fleet_given ? o->cfg.fleet_config : NULL);
}

/* What no single option can check. Returns 0 or the exit code. */
static int check_options(int argc, char **argv, const struct jit_config *cfg)
{
	if (cfg->spa_access && cfg->spa_group == cfg->nflog_group) {
		fprintf(stderr, "jit-enforcer: --spa-nflog-group must differ "
				"from --nflog-group\n");
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "jit-enforcer: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (strlen(cfg->table) > JIT_TABLE_NAME_MAX || !cfg->table[0]) {
		fprintf(stderr,
			"jit-enforcer: table name '%s' must be 1..%d "
			"characters\n",
			cfg->table, JIT_TABLE_NAME_MAX);
		return 2;
	}
	return 0;
}

/*
 * Settings for the end-to-end tests only (HACKING.md), from the
 * environment: a window shorter than the default, in ms, between min and
 * the default; anything else is ignored (0: the default).
 */
static uint32_t test_window_ms(const char *name, unsigned long min,
			       unsigned long def)
{
	const char *v = getenv(name);
	unsigned long ms;
	char *end;

	if (!v || !*v)
		return 0;
	errno = 0;
	ms = strtoul(v, &end, 10);
	if (errno || *end || ms < min || ms >= def) {
		log_warn("%s='%s' ignored: a test setting, %lu to %lu ms", name,
			 v, min, def - 1);
		return 0;
	}
	log_warn("%s=%lu: a setting for tests only", name, ms);
	return (uint32_t)ms;
}

/* --socket-group, else "jit-enforcer" if it exists, else root. */
static int socket_group(const char *group, gid_t *gid)
{
	if (group) {
		if (resolve_group(group, gid) < 0) {
			fprintf(stderr, "jit-enforcer: unknown group '%s'\n",
				group);
			return -ENOENT;
		}
	} else if (resolve_group("jit-enforcer", gid) < 0) {
		*gid = 0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	int r;

	r = parse_options(argc, argv, &o);
	if (r >= 0)
		return r;
	if (o.check)
		return run_check(argc, argv, &o);
	r = check_options(argc, argv, &o.cfg);
	if (r)
		return r;
	if (o.remove)
		return do_remove(&o);
	if (socket_group(o.group, &o.cfg.socket_group) < 0)
		return 2;

	o.cfg.use_syslog = o.use_syslog;
	log_open("jit-enforcer", o.use_syslog);
	o.cfg.spa_window_ms = test_window_ms("JIT_ENFORCER_TEST_SPA_WINDOW_MS",
					     1000, JIT_SPA_WINDOW_MS);
	o.cfg.viewer_refresh_ms = test_window_ms(
		"JIT_ENFORCER_TEST_VIEWER_REFRESH_MS", 100, 60000);
	r = daemon_run(&o.cfg);
	log_close();
	return r;
}
