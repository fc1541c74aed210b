/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <libgen.h>
#include <malloc.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "control.h"
#include "daemon-internal.h"
#include "ratelimit.h"
#include "duration.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "ruleset.h"
#include "table.h"
#include "alert.h"
#include "posture.h"
#include "caps.h"
#include "notify.h"
#include "sockdiag.h"
#include "util.h"
#include "watch.h"

#include "config.h"

/* Events handled in one pass of the loop, before the journal is synced. */
#define PASS_EVENTS 64
/* Passes of others a listing waits for at most (see daemon_run). */
#define YIELD_PASSES 4
/* Editors write files in several steps; wait for them to settle. */
#define RELOAD_SETTLE_MS 150
/* How often the list of sessions older than conntrack is refreshed. */
#define SESSIONS_REFRESH_S 300

static void arm_reload(struct jit_daemon *d)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = 0,
			      .tv_nsec = RELOAD_SETTLE_MS * 1000000L },
	};

	(void)timerfd_settime(d->reload_timer.fd, 0, &its, NULL);
}

static void signal_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d = container_of(io, struct jit_daemon, sig);
	struct signalfd_siginfo si;

	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_notice("SIGHUP: reloading policies");
			d->reload_trigger = "sighup";
			daemon_reload(d, false);
			channels_reload(d);
			if (daemon_reopen_logs(d) == 0)
				log_info("SIGHUP: log files reopened");
		} else if (si.ssi_signo == SIGUSR1) {
			if (daemon_reopen_logs(d) == 0)
				log_info("SIGUSR1: log files reopened");
		} else if (si.ssi_signo == SIGCHLD) {
			daemon_compaction_reap(d);
		} else {
			log_notice("signal %u: exiting; the table stays in "
				   "force",
				   si.ssi_signo);
			d->quit = true;
		}
	}
}

/* IN_CREATE: a link made in the directory has no close-write. */
#define DIR_EVENTS                                                  \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_CREATE | IN_ONLYDIR)
#define PARENT_EVENTS \
	(IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR)

/*
 * Watch the policy directory, and its parent for the directory coming and
 * going: tools that swap a directory whole (rm -rf; mkdir; copy, or a
 * rename over it) must be followed every time, not only the first.
 * Returns 0 if the directory itself is watched.
 */
static int watch_policy_dir(struct jit_daemon *d)
{
	if (d->parent_wd < 0) {
		_cleanup_free_ char *parent = strdup(d->cfg->policy_dir);

		if (parent)
			d->parent_wd = inotify_add_watch(
				d->inotify.fd, dirname(parent), PARENT_EVENTS);
	}
	if (d->dir_wd >= 0)
		return 0;
	d->dir_wd = inotify_add_watch(d->inotify.fd, d->cfg->policy_dir,
				      DIR_EVENTS);
	return d->dir_wd < 0 ? -errno : 0;
}

static void inotify_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d = container_of(io, struct jit_daemon, inotify);
	char buf[8192]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	_cleanup_free_ char *dirbuf = strdup(d->cfg->policy_dir);
	const char *name = dirbuf ? basename(dirbuf) : "";
	bool relevant = false;
	ssize_t n;

	while ((n = read(io->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				relevant = true;
				continue;
			}
			if (ev->wd == d->parent_wd) {
				/* The directory itself came or went. */
				if (ev->len && streq(ev->name, name))
					relevant = true;
				continue;
			}
			if (ev->wd != d->dir_wd)
				continue;
			if (ev->mask &
			    (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
				if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
					log_warn("policy directory '%s' was "
						 "removed or moved; the "
						 "policies in force stay",
						 d->cfg->policy_dir);
				if (ev->mask & IN_MOVE_SELF)
					(void)inotify_rm_watch(io->fd,
							       d->dir_wd);
				d->dir_wd = -1;
				relevant = true;
				continue;
			}
			if (!ev->len || policy_is_policy_filename(ev->name))
				relevant = true;
		}
	}
	/* A directory that reappeared is watched again before it is read,
	 * so that no file written in between goes unseen. */
	if (relevant && d->dir_wd < 0)
		(void)watch_policy_dir(d);
	if (relevant)
		arm_reload(d);
}

static void reload_timer_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d =
		container_of(io, struct jit_daemon, reload_timer);
	uint64_t ticks;

	if (read(io->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	daemon_reload(d, false);
}

static void expiry_timer_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d =
		container_of(io, struct jit_daemon, expiry_timer);
	uint64_t ticks;

	/* ECANCELED after a clock change is a reason to look, too. */
	(void)!read(io->fd, &ticks, sizeof(ticks));
	access_expire(&d->access, now_real_ms());
	access_arm_timer(d);
}

/* A refusal window ended: the pass that follows writes its count. */
static void refusals_timer_cb(struct jit_io *io, uint32_t events)
{
	uint64_t ticks;

	(void)!read(io->fd, &ticks, sizeof(ticks));
}

static void sessions_timer_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d =
		container_of(io, struct jit_daemon, sessions_timer);
	uint64_t ticks;

	if (read(io->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	daemon_refresh_sessions(d);
}

/* Create the state and log directories; refuse any that others control. */
static int check_dirs(struct jit_daemon *d)
{
	_cleanup_free_ char *sock_dir = strdup(d->cfg->socket_path);
	const struct {
		const char *what, *dir;
		mode_t mode; /* created with, 0: never created here */
	} dirs[] = {
		{ "state", d->cfg->state_dir, 0700 },
		{ "log", d->cfg->log_dir, 0750 },
		{ "socket", sock_dir ? dirname(sock_dir) : NULL, 0 },
	};
	char why[128];

	if (!sock_dir)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		int r;

		if (!dirs[i].dir)
			continue;
		if (dirs[i].mode && mkdir(dirs[i].dir, dirs[i].mode) < 0 &&
		    errno != EEXIST) {
			r = -errno;
			log_err("creating %s directory '%s': %s", dirs[i].what,
				dirs[i].dir, strerror(-r));
			return r;
		}
		r = dir_check_private(dirs[i].dir, why, sizeof(why));
		if (r < 0) {
			log_err("refusing %s directory '%s': %s (it must be "
				"owned by root and writable by root only)",
				dirs[i].what, dirs[i].dir, why);
			return r;
		}
	}
	return 0;
}

/* The loop, the signals it takes and its timers. */
static int setup_loop(struct jit_daemon *d)
{
	struct itimerspec every = {
		.it_interval = { .tv_sec = SESSIONS_REFRESH_S },
		.it_value = { .tv_sec = SESSIONS_REFRESH_S },
	};
	sigset_t mask;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return log_err("epoll: %m"), -errno;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->sig.cb = signal_cb;
	if (d->sig.fd < 0 || loop_add(d->epfd, &d->sig, EPOLLIN) < 0)
		return log_err("signalfd: %m"), -errno;

	d->reload_timer.fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->reload_timer.cb = reload_timer_cb;
	if (d->reload_timer.fd < 0 ||
	    loop_add(d->epfd, &d->reload_timer, EPOLLIN) < 0)
		return log_err("timerfd: %m"), -errno;

	if (loop_watch(
		    d->epfd, &d->refusals_timer,
		    timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
		    refusals_timer_cb, EPOLLIN) < 0 ||
	    d->refusals_timer.fd < 0)
		return log_err("timerfd: %m"), -errno;

	d->sessions_timer.fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->sessions_timer.cb = sessions_timer_cb;
	if (d->sessions_timer.fd < 0 ||
	    timerfd_settime(d->sessions_timer.fd, 0, &every, NULL) < 0 ||
	    loop_add(d->epfd, &d->sessions_timer, EPOLLIN) < 0)
		return log_err("timerfd: %m"), -errno;

	if (loop_watch(
		    d->epfd, &d->tamper.timer,
		    timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
		    daemon_tamper_timer, EPOLLIN) < 0 ||
	    d->tamper.timer.fd < 0)
		return log_err("timerfd: %m"), -errno;

	d->expiry_timer.fd =
		timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	d->expiry_timer.cb = expiry_timer_cb;
	if (d->expiry_timer.fd < 0 ||
	    loop_add(d->epfd, &d->expiry_timer, EPOLLIN) < 0)
		return log_err("timerfd: %m"), -errno;
	return 0;
}

/* The in-memory parts: decision core, counters, detection, replay. */
static int setup_core(struct jit_daemon *d)
{
	if (daemon_init_access(d) < 0)
		return -ENOMEM;
	if (d->cfg->user_rate > 0 &&
	    ratelimit_new(d->cfg->user_rate, d->cfg->user_burst,
			  &d->access.rate) < 0)
		return -ENOMEM;
	daemon_counters_init(d);
	d->detect = detect_new(daemon_on_detect, d);
	d->recent_alerts = json_array();
	d->replay = replay_new();
	if (!d->access.grants || !d->detect || !d->recent_alerts || !d->replay)
		return -ENOMEM;
	return 0;
}

static int watch_policies(struct jit_daemon *d)
{
	int r;

	d->inotify.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	d->inotify.cb = inotify_cb;
	if (d->inotify.fd < 0)
		return log_err("inotify: %m"), -errno;
	r = watch_policy_dir(d);
	if (r < 0) {
		log_err("watching policy directory '%s': %s",
			d->cfg->policy_dir, strerror(-r));
		return r;
	}
	if (loop_add(d->epfd, &d->inotify, EPOLLIN) < 0)
		return -errno;
	return 0;
}

/* Monotonic instants of the start's phases, for one log line. */
struct start_times {
	uint64_t journal, check, commit, done;
};

/*
 * The journal is the truth for what was acknowledged. After a crash
 * the kernel still says what was taken away before the journal could
 * (its absence wins); after a clean exit the journal alone decides.
 */
static int start_records(struct jit_daemon *d, struct start_times *t)
{
	static const uint64_t none;
	const uint64_t *check;
	struct jit_diag pre;
	int r;

	t->journal = now_mono_us();
	r = daemon_load_journal(d);
	if (r < 0)
		return r;
	daemon_seed_policy_texts(d);
	diag_init(&pre);
	r = policy_set_load_dir(d->policies, d->cfg->policy_dir, &pre);
	if (r > 0)
		log_notice("%d policy file(s) do not load; each keeps its last "
			   "good version from the journal, if it had one",
			   r);
	diag_release(&pre);
	if (d->clean_start)
		log_info("the last agent exited cleanly: grants come from the "
			 "journal alone");
	/* Loading the journal says which records to look for. */
	check = d->start_check ? d->start_check : &none;
	if (d->kview_trusted) {
		/* Every record is in the kernel as the journal says; the
		 * first commit checks the policies are the same too. */
		check = &none;
		d->n_start_check = 0;
	}
	t->check = now_mono_us();
	r = access_start(&d->access, d->clean_start,
			 d->start_check_all ? NULL : check, d->n_start_check,
			 now_real_ms());
	d->start_check = (free(d->start_check), NULL);
	return r;
}

/* Policies, the journal and the kernel, then one batch brings table and
 * grants to exactly what they say. */
static int first_commit(struct jit_daemon *d, struct start_times *t)
{
	int r;

	d->policies = policy_set_new();
	if (!d->policies)
		return -ENOMEM;
	d->access.policies = d->policies;
	r = table_open(d->cfg->table, d->cfg->allow_owner, &d->table);
	if (r < 0) {
		log_err("opening nftables netlink socket: %s", strerror(-r));
		return r;
	}
	/*
	 * The thread that reads ahead shares the one arena (a second one
	 * would keep its megabytes for good); large temporary arrays are
	 * mapped and unmapped, never left in the heap (the threshold would
	 * otherwise rise after the first is freed).
	 */
	(void)mallopt(M_ARENA_MAX, 1);
	(void)mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	/* The kernel's grant sets are read while the journal loads, unless
	 * no process changed the ruleset since they were last known. */
	daemon_kview_find(d);
	r = d->kview_maybe ? 0 : table_read_ahead(d->table);
	if (r < 0)
		log_warn("reading the grant sets ahead: %s", strerror(-r));
	r = start_records(d, t);
	if (r < 0)
		return r;
	access_arm_timer(d);
	/* SPA packets wait in their group from the first commit on; fleet
	 * grants are read in the loop, once the ruleset is in. */
	r = channels_setup(d);
	if (r < 0)
		return r;
	log_notice("journal: %zu requests, %zu grants live",
		   grants_count(d->access.grants),
		   grants_count_status(d->access.grants, JIT_INITIATED));
	d->resync = true;
	t->commit = now_mono_us();
	r = daemon_reload(d, true);
	t->done = now_mono_us();
	if (r < 0) {
		if (!d->ruleset)
			log_err("first commit failed; nothing was changed in "
				"the kernel");
		return r;
	}
	return 0;
}

/* Denied packets, closed sockets and nftables events: each optional. */
static void open_watchers(struct jit_daemon *d)
{
	int r;

	r = nflog_open(d->cfg->nflog_group, d->epfd, daemon_on_denied, d,
		       &d->nflog);
	if (r < 0) {
		log_warn("reading NFLOG group %u: %s; no alerts from denied "
			 "traffic (another program may use that group: see "
			 "--nflog-group)",
			 d->cfg->nflog_group, strerror(-r));
		/* Without a reader the log rule would only cost cycles. */
		daemon_reload(d, false);
	}
	/* Sessions older than conntrack pass only while their socket
	 * lives: be told when one closes. */
	r = sockwatch_open(d->epfd, daemon_session_closed, d, &d->sockwatch);
	if (r < 0)
		log_warn("watching closed sockets: %s; closed sessions are "
			 "dropped at revokes and every %d s only",
			 strerror(-r), SESSIONS_REFRESH_S);
	r = watch_open(table_name(d->table), table_portid(d->table), d->epfd,
		       daemon_on_tamper, d, &d->watch);
	if (r < 0) {
		log_warn("watching nftables events: %s; changes by other "
			 "processes will not be noticed",
			 strerror(-r));
	} else {
		/* Nothing unseen since the first commit: the generation is
		 * still the one it made. */
		uint32_t now = 0, mine = table_last_genid(d->table);
		bool own =
			mine && table_genid(d->table, &now) == 0 && now == mine;

		watch_set_last(d->watch, now);
		d->kview_sure = d->kview_sure && own;
	}
}

static int open_control(struct jit_daemon *d)
{
	int r;

	r = control_open(d->cfg->socket_path, d->cfg->socket_group, d->epfd,
			 daemon_handle_request, d, &d->control);
	if (r == -EADDRINUSE) {
		log_err("another agent answers on '%s'", d->cfg->socket_path);
		return r;
	}
	if (r < 0) {
		log_err("control socket '%s': %s", d->cfg->socket_path,
			strerror(-r));
		return r;
	}
	control_set_yields(d->control, daemon_request_yields);
	return 0;
}

static void drop_privileges(void)
{
	int r;

	if (geteuid() != 0)
		return;
	r = caps_keep_net_admin_only();
	if (r < 0)
		log_warn("dropping capabilities: %s", strerror(-r));
	else
		log_info("running with CAP_NET_ADMIN only");
}

static int daemon_setup(struct jit_daemon *d)
{
	static int (*const before_commit[])(struct jit_daemon *) = {
		setup_loop,
		setup_core,
		check_dirs,
		daemon_open_logs,
		/* Watch before the first load so no edit slips between the two.
		 */
		watch_policies,
	};
	struct start_times t = { 0 };
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(before_commit); i++) {
		r = before_commit[i](d);
		if (r < 0)
			return r;
	}
	r = first_commit(d, &t);
	if (r < 0)
		return r;
	open_watchers(d);
	/* The socket appears only once the ruleset is enforced. */
	r = open_control(d);
	if (r < 0)
		return r;
	daemon_events_init(d);
	drop_privileges();
	d->enforcing = true;
	daemon_audit_agent(d, "started");
	log_notice("enforcing; control socket %s", d->cfg->socket_path);
	log_info("start: journal %.1f ms, records against the kernel %.1f ms, "
		 "first commit %.1f ms",
		 (double)(t.check - t.journal) / 1000.0,
		 (double)(t.commit - t.check) / 1000.0,
		 (double)(t.done - t.commit) / 1000.0);
	/* Reading the state file took memory the agent no longer needs. */
	malloc_trim(0);
	(void)notify_send("READY=1\nSTATUS=enforcing");
	return 0;
}

static void daemon_teardown(struct jit_daemon *d)
{
	(void)notify_send("STOPPING=1");
	if (d->access.journal) {
		/* Refusals counted in windows still open are told too. */
		daemon_refusals_flush(d, now_mono_ms(), true);
		if (d->enforcing)
			daemon_audit_agent(d, "stopped");
		daemon_pass_end(d);
		/* A snapshot being written is finished, not abandoned. */
		if (journal_compacting(d->access.journal) > 0) {
			int status;
			pid_t pid = journal_compacting(d->access.journal);

			if (waitpid(pid, &status, 0) == pid)
				journal_compact_done(d->access.journal, pid,
						     status);
		}
		/* One snapshot for all: the next start reads it alone. */
		if (d->enforcing && !journal_degraded(d->access.journal) &&
		    journal_compact_now(d->access.journal, d->access.grants,
					d->policies) < 0)
			log_warn("writing the journal's snapshot at exit: %m");
		if (d->enforcing && !journal_degraded(d->access.journal) &&
		    state_mark_clean(d->cfg->state_dir) < 0)
			log_warn("marking a clean shutdown in '%s': %m",
				 d->cfg->state_dir);
		/* The snapshot moved the journal's end. */
		if (d->enforcing)
			daemon_kview_update(d);
	}
	control_close(d->control);
	/* Fail closed: the table stays after we exit. */
	table_close(d->table);
	ruleset_free(d->ruleset);
	policy_set_free(d->policies);
	free(d->policy_errors);
	if (d->inotify.fd >= 0)
		close(d->inotify.fd);
	if (d->reload_timer.fd >= 0)
		close(d->reload_timer.fd);
	if (d->sessions_timer.fd >= 0)
		close(d->sessions_timer.fd);
	if (d->refusals_timer.fd >= 0)
		close(d->refusals_timer.fd);
	free(d->sessions);
	free(d->elder);
	if (d->expiry_timer.fd >= 0)
		close(d->expiry_timer.fd);
	if (d->tamper.timer.fd >= 0)
		close(d->tamper.timer.fd);
	if (d->kview_fd >= 0)
		close(d->kview_fd);
	watch_close(d->watch);
	sockwatch_close(d->sockwatch);
	nflog_close(d->nflog);
	channels_teardown(d);
	detect_free(d->detect);
	json_decref(d->recent_alerts);
	daemon_events_free(d);
	access_release(&d->access);
	grants_free(d->access.grants);
	scopes_free(d->access.scopes);
	ratelimit_free(d->access.rate);
	journal_close(d->access.journal);
	replay_free(d->replay);
	free(d->pass);
	audit_close(d->audit);
	audit_close(d->alerts);
	if (d->sig.fd >= 0)
		close(d->sig.fd);
	if (d->epfd >= 0)
		close(d->epfd);
}

int daemon_run(const struct jit_config *cfg)
{
	struct jit_daemon d = {
		.cfg = cfg,
		.epfd = -1,
		.sig.fd = -1,
		.inotify.fd = -1,
		.dir_wd = -1,
		.parent_wd = -1,
		.reload_timer.fd = -1,
		.sessions_timer.fd = -1,
		.refusals_timer.fd = -1,
		.expiry_timer.fd = -1,
		.tamper.timer.fd = -1,
		.kview_fd = -1,
		.started_ms = now_real_ms(),
	};
	unsigned yielded_for = 0;
	int r;

	r = daemon_setup(&d);
	/* Setup may have journalled (grants that ended while down). */
	if (r == 0)
		daemon_pass_end(&d);
	while (r == 0 && !d.quit) {
		/*
		 * One event per wait: a callback may free another watched
		 * object (an evicted client) whose event would be next. A
		 * pass takes what is ready, up to PASS_EVENTS, with replies
		 * held; then one journal sync, then the replies.
		 */
		struct epoll_event ev[1];
		bool listing = control_yielded(d.control);
		int n = epoll_wait(d.epfd, ev, ARRAY_SIZE(ev),
				   listing ? 0 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %m");
			r = -errno;
			break;
		}
		/*
		 * A listing (a page of grants) has a pass of its own, once
		 * nothing else is ready, or after YIELD_PASSES passes of
		 * others: a request never waits for more than the page in
		 * progress. (Every descriptor is level-triggered: an event
		 * left unhandled is reported again.)
		 */
		if (listing && (n == 0 || yielded_for >= YIELD_PASSES)) {
			yielded_for = 0;
			control_hold(d.control);
			control_run_yielded(d.control);
			daemon_pass_end(&d);
			continue;
		}
		if (listing)
			yielded_for++;
		control_hold(d.control);
		for (int k = 0; n > 0 && k < PASS_EVENTS && !d.quit; k++) {
			struct jit_io *io = ev[0].data.ptr;

			io->cb(io, ev[0].events);
			n = epoll_wait(d.epfd, ev, ARRAY_SIZE(ev), 0);
		}
		daemon_pass_end(&d);
	}
	daemon_teardown(&d);
	return r < 0 ? 1 : 0;
}
