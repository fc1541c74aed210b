/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Decisions as events. Every line of the audit trail (requests, approvals,
 * denials, revokes, replacements, expiries, terminations, and refusals of
 * each) also goes, as written, to the followers of `jitctl events` who may
 * see its record (authz_may_see, the rule the listings use), and into a
 * ring of the last JIT_RECENT_EVENTS. Followers get their lines through
 * the control socket's lossy publish: one that does not read misses lines,
 * and is told how many, but never holds the agent up.
 */
#include <sys/timerfd.h>

#include "daemon-internal.h"
#include "log.h"
#include "util.h"

/*
 * Groups may change while a stream is open (someone removed from the
 * approvers' group): a follower's identity is looked up again after every
 * reload of the policies and at least this often.
 */
#define VIEWER_REFRESH_MS (60 * 1000)

/* The period in force (cfg->viewer_refresh_ms: shorter, for tests). */
static uint64_t refresh_ms(const struct jit_daemon *d)
{
	return d->cfg->viewer_refresh_ms ? d->cfg->viewer_refresh_ms
					 : VIEWER_REFRESH_MS;
}

/* A follower of events and alerts, and who it is. */
struct viewer {
	struct jit_daemon *d;
	struct jit_peer peer;
	struct jit_identity id;
	unsigned reloads;     /* d->reloads when id was looked up */
	uint64_t resolved_ms; /* monotonic */
};

static void viewer_resolve(struct viewer *v)
{
	identity_release(&v->id);
	(void)peer_identity(&v->peer, &v->id);
	v->reloads = v->d->reloads;
	v->resolved_ms = now_mono_ms();
}

static void *viewer_open(void *userdata, const struct jit_peer *peer,
			 unsigned topics)
{
	struct viewer *v;

	if (!(topics & (CONTROL_TOPIC_EVENTS | CONTROL_TOPIC_ALERTS)))
		return NULL;
	v = calloc(1, sizeof(*v));
	if (v) {
		v->d = userdata;
		v->peer = *peer;
		viewer_resolve(v);
	}
	return v;
}

static void viewer_close(void *userdata, void *state)
{
	struct viewer *v = state;

	if (!v)
		return;
	identity_release(&v->id);
	free(v);
}

/* The record of the line being published, and its policy. */
struct scope {
	const struct jit_policy *p;
	const struct jit_request *r;
};

static bool viewer_sees(void *ctx, void *state)
{
	const struct scope *sc = ctx;
	const struct jit_identity *id = daemon_viewer_id(state);

	/* No state (no memory when it started): nothing, to be safe. */
	return id && authz_may_see(sc->p, id, sc->r);
}

void daemon_events_init(struct jit_daemon *d)
{
	static const struct control_follow_ops ops = {
		.open = viewer_open,
		.close = viewer_close,
	};

	control_set_follow_ops(d->control, &ops);
}

void daemon_events_free(struct jit_daemon *d)
{
	for (size_t i = 0; d->events && i < JIT_RECENT_EVENTS; i++)
		free(d->events[i].line);
	free(d->events);
	d->events = NULL;
	d->n_events = d->first_event = 0;
}

/* Drop the k-th oldest of the recent events. */
static void forget(struct jit_daemon *d, size_t k)
{
	free(d->events[(d->first_event + k) % JIT_RECENT_EVENTS].line);
	for (; k > 0; k--)
		d->events[(d->first_event + k) % JIT_RECENT_EVENTS] =
			d->events[(d->first_event + k - 1) % JIT_RECENT_EVENTS];
	/* The slot left behind holds no line (events_free frees them all). */
	d->events[d->first_event].line = NULL;
	d->first_event = (d->first_event + 1) % JIT_RECENT_EVENTS;
	d->n_events--;
}

/*
 * Keep line (taken) among the recent events. A user who holds
 * JIT_RECENT_EVENTS_PER_USER of them gives up their own oldest, so that
 * one user's flood cannot push the others' history out.
 */
static void remember(struct jit_daemon *d, char *line,
		     const struct jit_request *r)
{
	struct jit_event *e;
	size_t mine = 0, oldest = 0;

	if (!d->events &&
	    !(d->events = calloc(JIT_RECENT_EVENTS, sizeof(*d->events)))) {
		free(line);
		return;
	}
	for (size_t k = 0; k < d->n_events; k++)
		if (d->events[(d->first_event + k) % JIT_RECENT_EVENTS].uid ==
			    r->uid &&
		    !mine++)
			oldest = k;
	if (mine >= JIT_RECENT_EVENTS_PER_USER)
		forget(d, oldest);
	if (d->n_events < JIT_RECENT_EVENTS) {
		e = &d->events[(d->first_event + d->n_events++) %
			       JIT_RECENT_EVENTS];
	} else {
		e = &d->events[d->first_event];
		free(e->line);
		d->first_event = (d->first_event + 1) % JIT_RECENT_EVENTS;
	}
	e->line = line;
	e->uid = r->uid;
	snprintf(e->policy, sizeof(e->policy), "%s", r->policy);
}

const struct jit_policy *daemon_policy_named(struct jit_daemon *d,
					     const char *name)
{
	return d->policies && name && name[0]
		       ? policy_set_find(d->policies, name)
		       : NULL;
}

const struct jit_identity *daemon_viewer_id(void *state)
{
	struct viewer *v = state;

	if (!v)
		return NULL;
	if (v->reloads != v->d->reloads ||
	    now_mono_ms() - v->resolved_ms >= refresh_ms(v->d))
		viewer_resolve(v);
	return &v->id;
}

/* One line for the refusals of w's window that were not written. */
static void refusals_told(struct jit_daemon *d, struct jit_refusal_window *w)
{
	if (!w->suppressed)
		return;
	log_notice("%u more refusals of %s in %us, counted but not audited "
		   "one by one",
		   w->suppressed, w->user, JIT_REFUSALS_WINDOW_MS / 1000);
	if (audit_event(
		    d->audit,
		    json_pack(
			    "{s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:{s:s, s:I}}",
			    "event", "refusals", "peer_uid", (json_int_t)w->uid,
			    "peer_user", w->user, "result", "suppressed",
			    "count", (json_int_t)w->suppressed, "window_s",
			    (json_int_t)(JIT_REFUSALS_WINDOW_MS / 1000),
			    "requestor", w->user, "actor", "user", w->user,
			    "uid", (json_int_t)w->uid)) < 0)
		log_err("writing the audit log failed");
	w->suppressed = 0;
}

/* The refusal timer at the end of the first window with uncounted lines. */
static void refusals_arm(struct jit_daemon *d, uint64_t now_ms)
{
	uint64_t next = 0;
	struct itimerspec its = { 0 };

	for (size_t i = 0; i < JIT_REFUSAL_USERS; i++) {
		const struct jit_refusal_window *w = &d->refusals[i];
		uint64_t end = w->start_ms + JIT_REFUSALS_WINDOW_MS;

		if (w->used && w->suppressed && (!next || end < next))
			next = end;
	}
	{
		uint64_t ch = channels_flush(d, now_ms, false);

		if (ch && (!next || ch < next))
			next = ch;
	}
	if (next) {
		uint64_t in = next > now_ms ? next - now_ms : 1;

		its.it_value.tv_sec = (time_t)(in / 1000);
		its.it_value.tv_nsec = (long)(in % 1000) * 1000000;
	}
	if (d->refusals_timer.fd >= 0)
		(void)timerfd_settime(d->refusals_timer.fd, 0, &its, NULL);
}

/*
 * Failures of the agent's own (the kernel, the journal) are always
 * written: only what a caller asked wrongly is counted instead.
 */
static bool caller_fault(const char *code)
{
	return !streq(code, "kernel-error") && !streq(code, "not-recorded") &&
	       !streq(code, "internal");
}

bool daemon_refusal_audited(struct jit_daemon *d, const struct jit_identity *id,
			    const char *code, uint64_t now_ms)
{
	struct jit_refusal_window *w = NULL, *oldest = &d->refusals[0];

	if (authz_unlimited(id) || !caller_fault(code))
		return true;
	for (size_t i = 0; i < JIT_REFUSAL_USERS && !w; i++) {
		struct jit_refusal_window *c = &d->refusals[i];

		if (c->used && c->uid == id->uid)
			w = c;
		else if (!c->used ||
			 (oldest->used && c->start_ms < oldest->start_ms))
			oldest = c;
	}
	if (!w || now_ms - w->start_ms >= JIT_REFUSALS_WINDOW_MS) {
		/* A new window, or the place of the user who asked least
		 * lately: what the old window did not write is told first. */
		if (!w)
			w = oldest;
		refusals_told(d, w);
		*w = (struct jit_refusal_window){ .used = true,
						  .uid = id->uid,
						  .start_ms = now_ms };
		snprintf(w->user, sizeof(w->user), "%s", id->name);
	}
	/* Asking faster than the bucket allows is a flood by itself: its
	 * first refusal in a window is written, the others counted. */
	if (streq(code, "rate-limited") && !w->limited) {
		w->limited = true;
		w->n++;
		return true;
	}
	if (!streq(code, "rate-limited") && ++w->n <= JIT_REFUSALS_PER_WINDOW)
		return true;
	if (!w->suppressed++)
		refusals_arm(d, now_ms);
	return false;
}

void daemon_refusals_flush(struct jit_daemon *d, uint64_t now_ms, bool all)
{
	for (size_t i = 0; i < JIT_REFUSAL_USERS; i++) {
		struct jit_refusal_window *w = &d->refusals[i];

		if (w->used && w->suppressed &&
		    (all || now_ms - w->start_ms >= JIT_REFUSALS_WINDOW_MS))
			refusals_told(d, w);
	}
	if (all)
		(void)channels_flush(d, now_ms, true);
	refusals_arm(d, now_ms);
}

/*
 * One line of the audit trail: counted, written, and handed to the
 * channels (every line, not only decisions on records). Returns the line
 * (the caller frees it), or NULL.
 */
static char *audit_write(struct jit_daemon *d, json_t *ev)
{
	char *line = NULL;

	daemon_count_decision(d,
			      json_string_value(json_object_get(ev, "event")),
			      json_string_value(json_object_get(ev, "result")));
	if (audit_event_line(d->audit, ev, &line) < 0)
		log_err("writing the audit log failed");
	if (line)
		channels_audit_line(d, line);
	return line;
}

void daemon_audit(struct jit_daemon *d, json_t *ev)
{
	free(audit_write(d, ev));
}

void daemon_event(struct jit_daemon *d, json_t *ev, const struct jit_request *r)
{
	struct scope sc = { .p = daemon_policy_named(d, r->policy), .r = r };
	char *line = audit_write(d, ev);

	if (!line)
		return;
	/* Held, like the replies, until the journal has the decision. */
	control_publish(d->control, CONTROL_TOPIC_EVENTS, line, strlen(line),
			viewer_sees, &sc);
	remember(d, line, r);
}

json_t *daemon_events_json(struct jit_daemon *d, const struct jit_peer *peer,
			   json_t *req)
{
	struct jit_identity id;
	json_int_t limit;
	size_t max, k;
	json_t *out, *reply;
	bool follow;

	if ((reply = field_bool(req, "follow", &follow)))
		return reply;
	/* A stream starts with what comes next, unless asked for more. */
	limit = follow ? 0 : JIT_RECENT_EVENTS;
	if ((reply = field_count(req, "limit", 0, &limit)))
		return reply;
	max = (size_t)limit;
	out = json_array();
	peer_identity(peer, &id);
	/* Newest first, until max are found; the reply is oldest first. */
	for (k = d->n_events; k-- > 0 && json_array_size(out) < max;) {
		const struct jit_event *e =
			&d->events[(d->first_event + k) % JIT_RECENT_EVENTS];
		struct jit_request whose = { .uid = e->uid };
		json_t *j;

		if (!authz_may_see(daemon_policy_named(d, e->policy), &id,
				   &whose))
			continue;
		j = json_loads(e->line, 0, NULL);
		if (j)
			json_array_insert_new(out, 0, j);
	}
	identity_release(&id);
	reply = json_pack("{s:b, s:o}", "ok", 1, "events", out);
	/* Given at all, follow replaces what the connection followed. */
	if (reply && json_object_get(req, "follow"))
		json_object_set_new(
			reply, CONTROL_FOLLOW,
			json_integer(follow ? CONTROL_TOPIC_EVENTS : 0));
	return reply;
}
