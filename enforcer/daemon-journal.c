/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's side of persistence: the decision core wired to the table
 * and to detection, the pass of the loop that syncs the journal before the
 * replies go out, compaction, and loading the journal at start.
 */
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "alert.h"
#include "channel.h"
#include "daemon-internal.h"
#include "log.h"
#include "util.h"

/* ---- the core's kernel and hooks ----------------------------------------- */

void access_arm_timer(struct jit_daemon *d)
{
	uint64_t next = grants_next_end(d->access.grants);
	struct itimerspec its = { 0 };

	if (next) {
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000L;
	}
	/* An all-zero value disarms; an end in the past fires at once. */
	(void)timerfd_settime(d->expiry_timer.fd, TFD_TIMER_ABSTIME, &its,
			      NULL);
}

int daemon_lookup_uid(uint32_t uid, struct jit_identity *ret)
{
	return identity_lookup(uid, (uint32_t)-1, ret);
}

static int k_update(void *ctx, const struct jit_elem *del, size_t n_del,
		    const struct jit_elem *add, size_t n_add, uint64_t now_ms,
		    char *err, size_t errlen)
{
	struct jit_daemon *d = ctx;
	int r = table_elems_update(d->table, del, n_del, add, n_add, now_ms,
				   err, errlen);

	if (r < 0)
		log_err("updating grant elements: %s", err);
	return r;
}

static int k_mark_unrecorded(void *ctx, uint64_t id, uint64_t end_ms,
			     uint64_t now_ms, char *err, size_t errlen)
{
	struct jit_daemon *d = ctx;
	int r = table_mark_unrecorded(d->table, id, end_ms, now_ms, err,
				      errlen);

	if (r < 0)
		log_err("marking %" PRIu64 " as ended in the kernel: %s", id,
			err);
	return r;
}

static int k_dump(void *ctx, uint64_t now_ms, struct jit_elem **ret)
{
	struct jit_daemon *d = ctx;
	int r = table_dump_elems(d->table, now_ms, ret);

	if (r < 0 && r != -ENOENT)
		log_warn("reading the kernel's grant elements: %s; the "
			 "journal alone decides",
			 strerror(-r));
	return r;
}

static int k_dump_unrecorded(void *ctx, uint64_t **ret)
{
	struct jit_daemon *d = ctx;

	return table_dump_unrecorded(d->table, ret);
}

static int k_resync(void *ctx)
{
	struct jit_daemon *d = ctx;

	log_warn("replacing the grant sets whole from the records");
	return daemon_resync(d);
}

static const struct jit_kernel_ops kernel_ops = {
	.update = k_update,
	.mark_unrecorded = k_mark_unrecorded,
	.dump = k_dump,
	.dump_unrecorded = k_dump_unrecorded,
	.resync = k_resync,
};

static void on_grant_started(void *userdata, const struct jit_request *r,
			     uint64_t now_ms)
{
	struct jit_daemon *d = userdata;

	detect_grant_started(d->detect, r, now_ms);
}

static void on_grant_ended(void *userdata, const struct jit_request *r,
			   uint64_t at_ms)
{
	struct jit_daemon *d = userdata;

	detect_grant_ended(d->detect, r, at_ms);
}

static void on_journal_failed(void *userdata, int err)
{
	daemon_journal_failed(userdata, err);
}

int daemon_init_access(struct jit_daemon *d)
{
	d->access = (struct jit_access){
		.grants = grants_new(),
		.scopes = scopes_new(),
		.kernel = &kernel_ops,
		.kernel_ctx = d,
		.hooks = { .audit = daemon_audit_decision,
			   .grant_started = on_grant_started,
			   .grant_ended = on_grant_ended,
			   .journal_failed = on_journal_failed,
			   .userdata = d },
		.state_dir = d->cfg->state_dir,
	};
	return d->access.grants && d->access.scopes ? 0 : -ENOMEM;
}

/* ---- the journal ------------------------------------------------------- */

void daemon_journal_failed(struct jit_daemon *d, int err)
{
	char desc[512];
	uint64_t now = now_real_ms();

	if (d->journal_alerted)
		return;
	d->journal_alerted = true;
	log_err("the journal in '%s' cannot be written: %s; grants are refused "
		"and removals are kept to retry until it can",
		d->cfg->state_dir, strerror(-err));
	snprintf(desc, sizeof(desc),
		 "The agent cannot record its decisions in '%s' (%s). New "
		 "grants are refused; revokes and expiries take effect in the "
		 "kernel and are recorded once the journal can be written.",
		 d->cfg->state_dir, strerror(-err));
	daemon_alert(d, &alert_journal_failed, desc,
		     json_pack("{s:s, s:s}", "state_dir", d->cfg->state_dir,
			       "error", strerror(-err)),
		     now, now, 1);
}

void daemon_pass_grant(struct jit_daemon *d, uint64_t id, json_t *reply)
{
	if (grow_array((void **)&d->pass, &d->cap_pass, d->n_pass + 1,
		       sizeof(*d->pass)) < 0) {
		/* Unsynced and untracked: better no grant than a false one. */
		access_unrecorded_grant(&d->access, id, -ENOMEM);
		json_object_clear(reply);
		json_object_set_new(reply, "ok", json_false());
		return;
	}
	d->pass[d->n_pass].id = id;
	d->pass[d->n_pass].seq = access_decision_seq(&d->access);
	d->pass[d->n_pass].revoke = false;
	d->pass[d->n_pass++].reply = json_incref(reply);
}

void daemon_pass_revoke(struct jit_daemon *d, uint64_t id, json_t *reply)
{
	/* Without room to track it, it is answered as it stands: the
	 * revoke holds either way (the kernel marks it until recorded). */
	if (grow_array((void **)&d->pass, &d->cap_pass, d->n_pass + 1,
		       sizeof(*d->pass)) < 0)
		return;
	d->pass[d->n_pass].id = id;
	d->pass[d->n_pass].seq = access_decision_seq(&d->access);
	d->pass[d->n_pass].revoke = true;
	d->pass[d->n_pass++].reply = json_incref(reply);
}

/*
 * Sync the journal (all or nothing, access_sync); the replies of the
 * pass whose decisions a failed sync undid become not-recorded.
 */
int daemon_journal_sync(struct jit_daemon *d)
{
	size_t before = d->access.n_undone;
	int r = access_sync(&d->access);

	if (r < 0) {
		daemon_journal_failed(d, r);
		if (d->access.n_undone > before)
			log_warn("syncing the journal in '%s': %s; the "
				 "decisions since the last sync are taken "
				 "back (%zu), the removals among them kept "
				 "to retry",
				 d->cfg->state_dir, strerror(-r),
				 d->access.n_undone - before);
	} else
		d->counters.last_sync_ms = now_real_ms();
	return r;
}

static void pass_replies(struct jit_daemon *d)
{
	int err = journal_error(d->access.journal);

	for (size_t i = 0; i < d->n_pass; i++) {
		json_t *reply = d->pass[i].reply;

		/* A revoke holds whatever the sync did (in the kernel at
		 * once, its line kept to retry; or its record undone whole,
		 * so nothing is left to revoke): never ok:false. */
		if (d->pass[i].revoke &&
		    (access_unrecorded(&d->access, d->pass[i].id,
				       d->pass[i].seq) ||
		     access_undone(&d->access, d->pass[i].id,
				   d->pass[i].seq))) {
			json_object_set_new(reply, "recorded", json_false());
			json_object_set_new(
				reply, "warning",
				json_pack(
					"{s:s, s:s}", "code", "not-recorded",
					"message",
					"the revoke is in force in the kernel "
					"but not yet recorded; the agent "
					"keeps trying"));
		} else if (access_undone(&d->access, d->pass[i].id,
					 d->pass[i].seq)) {
			char msg[512];

			snprintf(msg, sizeof(msg),
				 "cannot record the decision: %s on %s",
				 strerror(err ? -err : EIO), d->cfg->state_dir);
			json_object_clear(reply);
			json_object_set_new(reply, "ok", json_false());
			json_object_set_new(reply, "error",
					    json_pack("{s:s, s:s}", "code",
						      "not-recorded", "message",
						      msg));
		}
		json_decref(reply);
	}
	d->n_pass = 0;
	access_forget_undone(&d->access);
}

/*
 * End of a pass of the loop: one fdatasync for every decision of the pass
 * (group commit), then the replies that waited for it go out. When the
 * sync fails, the pass is undone whole (access_sync) and the replies of
 * its decisions turn into not-recorded.
 */
void daemon_pass_end(struct jit_daemon *d)
{
	int r = 0;

	daemon_refusals_flush(d, now_mono_ms(), false);
	if (d->access.dirty || journal_backlog(d->access.journal)) {
		/* Every decision of the pass is in the kernel by now. */
		if (d->access.dirty)
			(void)journal_append_sync_point(d->access.journal);
		r = daemon_journal_sync(d);
		if (r == 0 && !journal_degraded(d->access.journal) &&
		    d->journal_alerted) {
			log_notice("the journal in '%s' is written again",
				   d->cfg->state_dir);
			d->journal_alerted = false;
			channels_journal_recovered(d);
		}
	}
	pass_replies(d);
	control_release(d->control);
	if (journal_wants_compaction(d->access.journal)) {
		uint64_t t0 = now_mono_us();
		pid_t pid;
		int c = journal_compact(d->access.journal, d->access.grants,
					d->policies, &pid);

		if (c < 0)
			log_warn("compacting the journal: %s", strerror(-c));
		else
			log_info("compacting the journal in pid %d (the agent "
				 "paused %.1f ms for it)",
				 (int)pid,
				 (double)(now_mono_us() - t0) / 1000.0);
	}
	daemon_kview_update(d);
}

/* ---- where the kernel's grant sets stand -------------------------------- */

/*
 * After a pass: if every change to the table since the last full sync was
 * ours (the watch saw every transaction since, and reported none by
 * another process that touched the table, or a restore followed it) and
 * the journal is synced, the sets hold exactly what the records up to the
 * journal's end want at the newest generation the watch saw: say so in
 * the kernel-view file (when it changed). A start that finds the same
 * generation and the same journal end reads nothing back.
 */
void daemon_kview_update(struct jit_daemon *d)
{
	struct jit_kview v;

	if (!d->kview_ok || !d->watch || !d->access.journal)
		return;
	/* Foreign changes waiting are told (and owed a restore) first. */
	watch_drain(d->watch);
	if (!d->kview_sure || d->tamper.owed || d->resync)
		return;
	if (d->kview_digest_reloads != d->reloads || !d->kview_digest[0]) {
		daemon_policies_digest(d->policies, d->kview_digest);
		d->kview_digest_reloads = d->reloads;
	}
	v = d->kview_host;
	snprintf(v.policies, sizeof(v.policies), "%s", d->kview_digest);
	v.genid = watch_last(d->watch);
	if (!v.genid ||
	    journal_position(d->access.journal, &v.jgen, &v.joff) < 0 ||
	    kview_equal(&v, &d->kview_written))
		return;
	if (d->kview_fd < 0)
		d->kview_fd = state_kview_open(d->cfg->state_dir);
	if (d->kview_fd >= 0 && state_kview_put(d->kview_fd, &v) == 0)
		d->kview_written = v;
}

void daemon_kview_find(struct jit_daemon *d)
{
	struct jit_kview f;
	uint32_t now = 0;

	d->kview_ok = kview_here(table_name(d->table), &d->kview_host) == 0;
	if (!d->kview_ok || state_kview_read(d->cfg->state_dir, &f) < 0 ||
	    !streq(f.boot_id, d->kview_host.boot_id) ||
	    f.netns != d->kview_host.netns ||
	    !streq(f.table, d->kview_host.table) ||
	    table_genid(d->table, &now) < 0 || now != f.genid)
		return;
	d->kview_found = f;
	d->kview_maybe = true;
}

void daemon_compaction_reap(struct jit_daemon *d)
{
	pid_t pid = journal_compacting(d->access.journal);
	int status;

	if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid)
		return;
	journal_compact_done(d->access.journal, pid, status);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		log_warn("writing the journal's snapshot failed; the journal "
			 "stays as it is");
}

struct load_ctx {
	struct jit_daemon *d;
	struct jit_state_policy *texts;
	size_t n, cap;
	uint64_t *after; /* ids decided after the last sync point */
	size_t n_after, cap_after;
};

static void load_reserve(void *userdata, size_t records)
{
	struct load_ctx *l = userdata;

	/* Growing the maps record by record rehashes them all each time. */
	(void)grants_reserve(l->d->access.grants, records);
}

static int load_request(void *userdata, const struct jit_request *r)
{
	struct load_ctx *l = userdata;

	if (grow_array((void **)&l->after, &l->cap_after, l->n_after + 1,
		       sizeof(*l->after)) < 0)
		return -ENOMEM;
	l->after[l->n_after++] = r->id;
	return grants_upsert(l->d->access.grants, r) == -ENOMEM ? -ENOMEM : 0;
}

static void load_sync_point(void *userdata)
{
	struct load_ctx *l = userdata;

	l->n_after = 0;
}

static void load_policies_begin(void *userdata)
{
	struct load_ctx *l = userdata;

	for (size_t i = 0; i < l->n; i++) {
		free(l->texts[i].path);
		free(l->texts[i].text);
	}
	l->n = 0;
}

static int load_policy(void *userdata, const char *path, const char *text,
		       size_t len)
{
	struct load_ctx *l = userdata;
	struct jit_state_policy *p;

	if (grow_array((void **)&l->texts, &l->cap, l->n + 1,
		       sizeof(*l->texts)) < 0)
		return -ENOMEM;
	p = &l->texts[l->n];
	p->path = strdup(path);
	p->text = malloc(len + 1);
	if (!p->path || !p->text) {
		free(p->path);
		free(p->text);
		return -ENOMEM;
	}
	memcpy(p->text, text, len + 1);
	p->len = len;
	l->n++;
	return 0;
}

/* A digest of an SPA packet: a copy is a replay until until_ms. */
static int load_digest(void *userdata, const uint8_t *dg, uint64_t until_ms)
{
	struct load_ctx *l = userdata;
	uint64_t now = now_real_ms();
	int r;

	if (until_ms < now)
		return 0;
	r = replay_add(l->d->replay, dg, until_ms, now);
	return r == -ENOSPC ? 0 : r;
}

/* A state file of an earlier version: its records become the journal's. */
static int import_state_file(struct jit_daemon *d, struct load_ctx *l)
{
	struct jit_state st = { 0 };
	char why[256] = "";
	int r = state_load(d->cfg->state_dir, &st, why, sizeof(why));

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_err("the state file of an earlier version in '%s' is "
			"unusable (%s); starting without it",
			d->cfg->state_dir, r == -EBADMSG ? why : strerror(-r));
		return 0;
	}
	for (size_t i = 0; i < st.n_requests && r == 0; i++)
		r = load_request(l, &st.requests[i]);
	for (size_t i = 0; i < st.n_policies && r == 0; i++)
		r = load_policy(l, st.policies[i].path, st.policies[i].text,
				st.policies[i].len);
	grants_set_next_id(d->access.grants, st.next_id);
	log_notice("imported %zu requests from the state file of an earlier "
		   "version",
		   st.n_requests);
	{
		_cleanup_free_ char *from = NULL, *to = NULL;

		/* Imported once: the journal takes over from here. */
		if (asprintf(&from, "%s/%s", d->cfg->state_dir,
			     JIT_STATE_FILE) >= 0 &&
		    asprintf(&to, "%s/%s.imported", d->cfg->state_dir,
			     JIT_STATE_FILE) >= 0 &&
		    rename(from, to) < 0)
			log_warn("renaming '%s': %m", from);
	}
	state_release(&st);
	return r < 0 ? r : 1;
}

/*
 * Damaged lines in the journal files (not a torn tail): skipped, the
 * records after them kept, the files kept aside. The agent starts
 * degraded, with one High alert, and status names the first.
 */
static void journal_damaged(struct jit_daemon *d,
			    const struct jit_journal_info *info)
{
	char desc[768];
	uint64_t now = now_real_ms();

	snprintf(d->journal_damage, sizeof(d->journal_damage),
		 "%zu damaged line(s) in %u file(s), the first at %s line %zu",
		 info->journal_damaged, info->damaged_files, info->damaged_file,
		 info->damaged_line);
	log_err("the journal in '%s' is damaged: %s; the lines were skipped "
		"and the records after them kept, the file(s) kept aside as "
		"*"
		".damaged-*; ids skip %d ahead per damaged line, and every "
		"grant is checked against the kernel",
		d->cfg->state_dir, d->journal_damage,
		JIT_JOURNAL_DAMAGE_ID_SKIP);
	snprintf(desc, sizeof(desc),
		 "The journal in '%s' has %s. The agent skipped them and kept "
		 "every record after them; a decision recorded only on a "
		 "damaged line is lost.",
		 d->cfg->state_dir, d->journal_damage);
	daemon_alert(d, &alert_journal_damaged, desc,
		     json_pack("{s:s, s:s, s:I, s:I}", "state_dir",
			       d->cfg->state_dir, "file", info->damaged_file,
			       "line", (json_int_t)info->damaged_line,
			       "damaged_lines",
			       (json_int_t)info->journal_damaged),
		     now, now, 1);
}

/*
 * The journal at start: requests come back, and every policy file that
 * is still there but fails to load gets its last good version back. A
 * damaged snapshot is set aside and reported; the agent then starts from
 * the journals that follow it, the policies and the kernel's table.
 */
int daemon_load_journal(struct jit_daemon *d)
{
	struct load_ctx l = { .d = d };
	const struct jit_journal_sink sink = {
		.request = load_request,
		.policies_begin = load_policies_begin,
		.policy = load_policy,
		.sync_point = load_sync_point,
		.digest = load_digest,
		.reserve = load_reserve,
		.userdata = &l,
	};
	struct jit_journal_info info;
	char why[256] = "";
	uint64_t t0 = now_mono_ms();
	int r, imported = 0;

	if (mkdir(d->cfg->state_dir, 0700) < 0 && errno != EEXIST)
		log_err("creating state directory '%s': %m", d->cfg->state_dir);
	/* Taken whatever happens next: it vouches for this journal only. */
	d->clean_start = state_take_clean(d->cfg->state_dir) == 1;
	r = journal_open(d->cfg->state_dir, &sink, &d->access.journal, &info,
			 why, sizeof(why));
	if (r == 0 && info.damaged_lines) {
		_cleanup_free_ char *from = NULL, *to = NULL;

		log_err("the journal's snapshot in '%s' is damaged (%s); kept "
			"aside, and a new one is written",
			d->cfg->state_dir, why);
		if (asprintf(&from, "%s/" JIT_SNAPSHOT_FILE,
			     d->cfg->state_dir) >= 0 &&
		    asprintf(&to, "%s/" JIT_SNAPSHOT_FILE ".damaged-%" PRIu64,
			     d->cfg->state_dir, now_real_ms()) >= 0 &&
		    link(from, to) == 0)
			log_notice("kept the damaged snapshot as '%s'", to);
		d->clean_start = false;
	}
	if (r < 0) {
		log_err("reading the journal in '%s': %s", d->cfg->state_dir,
			strerror(-r));
		load_policies_begin(&l);
		free(l.texts);
		free(l.after);
		return r;
	}
	journal_set_replay(d->access.journal, d->replay);
	grants_set_next_id(d->access.grants, info.next_id);
	if (!info.found)
		imported = import_state_file(d, &l);
	if (info.cut_bytes) {
		log_warn("journal: cut %zu bytes of a torn tail; ids skip "
			 "%d ahead, and every grant is checked against the "
			 "kernel",
			 info.cut_bytes, JIT_JOURNAL_DAMAGE_ID_SKIP);
		d->clean_start = false;
	}
	if (info.void_bytes)
		log_notice("journal: ignored %zu bytes of a sync that failed "
			   "(rolled back)",
			   info.void_bytes);
	if (info.journal_damaged)
		journal_damaged(d, &info);
	if (journal_degraded(d->access.journal))
		daemon_journal_failed(d, journal_error(d->access.journal));
	d->restored = l.texts;
	d->n_restored = l.n;
	/* What the start must look for in the kernel: the decisions after
	 * the last sync point; everything when there is none to go by. */
	d->start_check = TAKE_PTR(l.after);
	d->n_start_check = l.n_after;
	d->start_check_all = imported > 0 || info.damaged_lines ||
			     info.journal_damaged || info.cut_bytes;
	/* No transaction and no decision since the sets were last known. */
	d->kview_trusted = d->kview_maybe && !d->start_check_all &&
			   !info.void_bytes &&
			   info.end_gen == d->kview_found.jgen &&
			   info.end_off == d->kview_found.joff;
	log_info("journal: %zu records from %u file(s) in %" PRIu64 " ms",
		 info.lines, info.files, now_mono_ms() - t0);
	/* An import, damage, or many files after restarts: one new
	 * snapshot for all (a damaged journal file stays aside). */
	if (imported > 0 || info.damaged_lines || info.journal_damaged ||
	    info.files > 8) {
		r = journal_compact_now(d->access.journal, d->access.grants,
					NULL);
		if (r < 0)
			log_warn("writing the journal's snapshot: %s",
				 strerror(-r));
	}
	return 0;
}

/*
 * Before loading the directory at start: the set holds the last good
 * version the state file kept of every policy file still there, so that
 * loading the directory is a reload like any other. A file that fails to
 * load keeps that version, and a file that takes a name another file
 * held is the one refused, whatever their order: a restart never changes
 * which file's policy is in force, nor opens a port.
 */
void daemon_seed_policy_texts(struct jit_daemon *d)
{
	for (size_t i = 0; i < d->n_restored; i++) {
		struct jit_state_policy *p = &d->restored[i];
		struct jit_diag diag;
		struct stat stbuf;

		if (stat(p->path, &stbuf) == 0) {
			diag_init(&diag);
			(void)policy_set_load_text(d->policies, p->path,
						   p->text, p->len, &diag);
			diag_release(&diag);
		}
		free(p->path);
		free(p->text);
	}
	free(d->restored);
	d->restored = NULL;
	d->n_restored = 0;
}
