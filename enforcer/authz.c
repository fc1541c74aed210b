/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "authz.h"
#include "duration.h"
#include "util.h"

static int add_group(struct jit_identity *id, size_t *cap, const char *name)
{
	for (size_t i = 0; i < id->n_groups; i++)
		if (streq(id->groups[i], name))
			return 0;
	if (id->n_groups >= JIT_IDENTITY_GROUPS_MAX)
		return 0;
	if (grow_array((void **)&id->groups, cap, id->n_groups + 1,
		       sizeof(*id->groups)) < 0)
		return -ENOMEM;
	snprintf(id->groups[id->n_groups++], JIT_USER_MAX, "%s", name);
	return 0;
}

static int add_gid(struct jit_identity *id, size_t *cap, gid_t gid)
{
	struct group gr, *res = NULL;
	char buf[16384];

	if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return 0;
	return add_group(id, cap, res->gr_name);
}

static int identity_resolve(uint32_t uid, uint32_t gid,
			    struct jit_identity *ret)
{
	struct jit_identity id = { .uid = uid };
	struct passwd pw, *res = NULL;
	char buf[16384];
	size_t cap = 0;
	int r;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
		gid_t gids[JIT_IDENTITY_GROUPS_MAX];
		int n = JIT_IDENTITY_GROUPS_MAX;

		snprintf(id.name, sizeof(id.name), "%s", res->pw_name);
		if (getgrouplist(res->pw_name, res->pw_gid, gids, &n) < 0)
			n = JIT_IDENTITY_GROUPS_MAX;
		for (int i = 0; i < n; i++) {
			r = add_gid(&id, &cap, gids[i]);
			if (r < 0)
				goto fail;
		}
	} else {
		snprintf(id.name, sizeof(id.name), "%u", uid);
	}
	/* The peer's current gid counts too (newgrp, setgid tools). */
	r = add_gid(&id, &cap, gid);
	if (r < 0)
		goto fail;
	*ret = id;
	return 0;
fail:
	identity_release(&id);
	return r;
}

/*
 * Every request resolved its peer through NSS: /etc/passwd and /etc/group
 * opened and read each time, a sixth of the agent's time under 100
 * concurrent clients. The last identities resolved are kept for a second,
 * and forgotten at once when either file changes.
 */
#define IDENTITY_CACHE	  32
#define IDENTITY_CACHE_MS 1000

static struct identity_cached {
	bool used;
	uint32_t uid, gid;
	uint64_t at_ms;
	struct jit_identity id;
} identity_cache[IDENTITY_CACHE];
static unsigned identity_cache_next;
static struct timespec identity_files[2];

static int identity_copy(const struct jit_identity *from,
			 struct jit_identity *to)
{
	*to = *from;
	to->groups = NULL;
	if (from->n_groups) {
		to->groups = malloc(from->n_groups * sizeof(*to->groups));
		if (!to->groups)
			return -ENOMEM;
		memcpy(to->groups, from->groups,
		       from->n_groups * sizeof(*to->groups));
	}
	return 0;
}

/* Forget everything if /etc/passwd or /etc/group changed. */
static void identity_cache_check(void)
{
	static const char *const files[] = { "/etc/passwd", "/etc/group" };
	bool changed = false;

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		struct stat st;
		struct timespec m = { 0 };

		if (stat(files[i], &st) == 0)
			m = st.st_mtim;
		if (m.tv_sec != identity_files[i].tv_sec ||
		    m.tv_nsec != identity_files[i].tv_nsec)
			changed = true;
		identity_files[i] = m;
	}
	if (!changed)
		return;
	for (size_t i = 0; i < IDENTITY_CACHE; i++) {
		if (identity_cache[i].used)
			identity_release(&identity_cache[i].id);
		identity_cache[i].used = false;
	}
}

int identity_lookup(uint32_t uid, uint32_t gid, struct jit_identity *ret)
{
	uint64_t now = now_mono_ms();
	struct identity_cached *c;
	int r;

	identity_cache_check();
	for (size_t i = 0; i < IDENTITY_CACHE; i++) {
		c = &identity_cache[i];
		if (c->used && c->uid == uid && c->gid == gid &&
		    now - c->at_ms < IDENTITY_CACHE_MS)
			return identity_copy(&c->id, ret);
	}
	r = identity_resolve(uid, gid, ret);
	if (r < 0)
		return r;
	c = &identity_cache[identity_cache_next++ % IDENTITY_CACHE];
	if (c->used)
		identity_release(&c->id);
	c->used = identity_copy(ret, &c->id) == 0;
	c->uid = uid;
	c->gid = gid;
	c->at_ms = now;
	return 0;
}

int identity_lookup_name(const char *name, struct jit_identity *ret)
{
	struct passwd pw, *res = NULL;
	char buf[16384];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	return identity_lookup(res->pw_uid, res->pw_gid, ret);
}

void identity_release(struct jit_identity *id)
{
	free(id->groups);
	id->groups = NULL;
	id->n_groups = 0;
}

bool authz_match(const struct jit_principals *p, const struct jit_identity *id)
{
	if (id->uid == 0)
		return true;
	for (size_t i = 0; i < p->n_users; i++)
		if (streq(p->users[i], id->name))
			return true;
	for (size_t i = 0; i < p->n_groups; i++)
		for (size_t k = 0; k < id->n_groups; k++)
			if (streq(p->groups[i], id->groups[k]))
				return true;
	return false;
}

static int refuse(int err, const char **code, char *msg, size_t n,
		  const char *c, const char *fmt, ...)
{
	va_list ap;

	*code = c;
	va_start(ap, fmt);
	vsnprintf(msg, n, fmt, ap);
	va_end(ap);
	return err;
}

/*
 * Who the policy lets in, for a refusal to name: "groups ops, wheel; users
 * alice" or "root only". Cut with "..." where it does not fit.
 */
static const char *who_text(const struct jit_principals *p, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!p->n_groups && !p->n_users) {
		snprintf(buf, n, "root only");
		return buf;
	}
	for (int users = 0; users < 2; users++) {
		char **names = users ? p->users : p->groups;
		size_t count = users ? p->n_users : p->n_groups;

		for (size_t i = 0; i < count; i++) {
			const char *sep = i ? ", " : off ? "; " : "";
			int w = snprintf(buf + off, n - off, "%s%s%s", sep,
					 i	 ? ""
					 : users ? "users "
						 : "groups ",
					 names[i]);

			if (w < 0 || (size_t)w >= n - off) {
				snprintf(buf + (n > 4 ? n - 4 : 0),
					 n > 4 ? 4 : n, "...");
				return buf;
			}
			off += (size_t)w;
		}
	}
	return buf;
}

int authz_check_request(const struct jit_policy *p,
			const struct jit_identity *id, struct jit_request *r,
			const char **code, char *msg, size_t n)
{
	char who[256];

	if (!authz_match(&p->requesters, id))
		return refuse(-EPERM, code, msg, n, "not-requester",
			      "user '%s' may not request access under policy "
			      "'%s' (its requesters: %s)",
			      id->name, p->name,
			      who_text(&p->requesters, who, sizeof(who)));
	return authz_check_limits(p, r, code, msg, n);
}

bool authz_unlimited(const struct jit_identity *id)
{
	return id->uid == 0;
}

int authz_check_share(const struct jit_policy *p, const struct jit_identity *id,
		      size_t pending, size_t live, bool replaces,
		      const char **code, char *msg, size_t n)
{
	if (authz_unlimited(id))
		return 0;
	if (p->approval == JIT_APPROVAL_MANUAL &&
	    pending >= JIT_PENDING_PER_USER)
		return refuse(-ENOSPC, code, msg, n, "too-many-pending",
			      "user '%s' already has %d requests pending "
			      "approval",
			      id->name, JIT_PENDING_PER_USER);
	if (live >= JIT_GRANTS_PER_USER && !replaces)
		return refuse(-ENOSPC, code, msg, n, "too-many-grants",
			      "user '%s' already has %d live grants; revoke "
			      "some first",
			      id->name, JIT_GRANTS_PER_USER);
	return 0;
}

bool authz_may_reload(const struct jit_identity *id)
{
	return id->uid == 0;
}

int authz_may_decide(const struct jit_policy *p, const struct jit_identity *id,
		     const struct jit_request *r, const char **code, char *msg,
		     size_t n)
{
	char who[256];

	if (!authz_match(&p->approvers, id))
		return refuse(-EPERM, code, msg, n, "not-approver",
			      "user '%s' may not approve or deny requests "
			      "under policy '%s' (its approvers: %s)",
			      id->name, p->name,
			      who_text(&p->approvers, who, sizeof(who)));
	if (id->uid == r->uid && id->uid != 0)
		return refuse(-EPERM, code, msg, n, "own-request",
			      "approvers cannot decide their own requests");
	return 0;
}

bool authz_may_see(const struct jit_policy *p, const struct jit_identity *id,
		   const struct jit_request *r)
{
	return id->uid == 0 || id->uid == r->uid ||
	       (p && authz_match(&p->approvers, id));
}

int authz_may_revoke(const struct jit_policy *p, const struct jit_identity *id,
		     const struct jit_request *r, const char **code, char *msg,
		     size_t n)
{
	/* Those who may see a record may end it. */
	if (authz_may_see(p, id, r))
		return 0;
	return refuse(-EPERM, code, msg, n, "permission-denied",
		      "user '%s' may only revoke their own grants", id->name);
}

bool authz_may_replace(const struct jit_request *newer,
		       const struct jit_request *older)
{
	/* A fleet grant replaces only an earlier state of its own key. */
	if (newer->fleet_id || older->fleet_id)
		return newer->fleet_id == older->fleet_id &&
		       newer->id != older->id;
	return newer->uid == older->uid && newer->id != older->id;
}

int authz_check_fleet(const struct jit_policy *p, const char *requested_by,
		      const char *approved_by, uint64_t end_ms, uint64_t now_ms,
		      struct jit_request *r, const char **code, char *msg,
		      size_t n)
{
	char dur[32], max[32];
	uint64_t left;

	if (!p->fleet.enabled)
		return refuse(-EPERM, code, msg, n, "fleet-off",
			      "policy '%s' takes no fleet grants (it has no "
			      "fleet: block)",
			      p->name);
	if (!policy_name_listed(p->fleet.requesters, p->fleet.n_requesters,
				requested_by))
		return refuse(-EPERM, code, msg, n, "not-fleet-requester",
			      "'%s' is not among the fleet requesters of "
			      "policy '%s'",
			      requested_by, p->name);
	if (!policy_name_listed(p->fleet.approvers, p->fleet.n_approvers,
				approved_by))
		return refuse(-EPERM, code, msg, n, "not-fleet-approver",
			      "'%s' is not among the fleet approvers of "
			      "policy '%s'",
			      approved_by, p->name);
	if (p->approval == JIT_APPROVAL_MANUAL &&
	    streq(requested_by, approved_by))
		return refuse(-EPERM, code, msg, n, "self-approval",
			      "'%s' approved their own request; policy '%s' "
			      "needs another approver",
			      approved_by, p->name);
	if (end_ms <= now_ms)
		return refuse(-EINVAL, code, msg, n, "ended",
			      "the grant ended before it arrived");
	left = (end_ms - now_ms + 999) / 1000;
	if (left > p->fleet.max_duration_s)
		return refuse(-EINVAL, code, msg, n, "duration-too-long",
			      "fleet grant of %s exceeds the fleet limit of "
			      "%s under policy '%s'",
			      duration_format(left, dur, sizeof(dur)),
			      duration_format(p->fleet.max_duration_s, max,
					      sizeof(max)),
			      p->name);
	r->duration_s = (uint32_t)left;
	return authz_check_limits(p, r, code, msg, n);
}

/* The entry of p that holds all of k's ports (and protocols, if named). */
static const struct jit_port_rule *entry_for(const struct jit_policy *p,
					     const struct jit_grant_key *k)
{
	for (size_t i = 0; i < p->n_ports; i++) {
		const struct jit_port_rule *e = &p->ports[i];

		if (e->port_lo <= k->port_lo && k->port_hi <= e->port_hi &&
		    (!k->protos || (k->protos & ~e->protos) == 0))
			return e;
	}
	return NULL;
}

const struct jit_policy *authz_pick_policy(const struct jit_policy_set *set,
					   const struct jit_identity *id,
					   const struct jit_request *tmpl,
					   const char *iif)
{
	const struct jit_policy *first = NULL;

	for (size_t i = 0; i < policy_set_count(set); i++) {
		const struct jit_policy *p = policy_set_get(set, i);
		struct jit_request dry = *tmpl;
		const char *code;
		char msg[256];

		if (!entry_for(p, &tmpl->key))
			continue;
		/* A packet that came in on an interface the policy does not
		 * hold on would be let in by none of its grants. */
		if (iif && iif[0] && !policy_holds_on(p, iif))
			continue;
		if (!first)
			first = p;
		if (authz_check_request(p, id, &dry, &code, msg, sizeof(msg)) ==
		    0)
			return p;
	}
	return first;
}

int authz_check_limits(const struct jit_policy *p, struct jit_request *r,
		       const char **code, char *msg, size_t n)
{
	const struct jit_port_rule *entry = entry_for(p, &r->key);
	char buf[JIT_PREFIX_STRLEN], dur[32], max[32], ports[48];
	bool inside = false;

	if (!entry)
		return refuse(-EINVAL, code, msg, n, "port-not-in-policy",
			      "policy '%s' does not protect port %s", p->name,
			      grant_key_ports(&r->key, ports, sizeof(ports)));
	if (!r->key.protos)
		r->key.protos = entry->protos;

	if (!entry->any_source) {
		for (size_t i = 0; i < entry->n_sources && !inside; i++)
			inside = prefix_contains(&entry->sources[i],
						 &r->key.source);
		if (!inside)
			return refuse(
				-EINVAL, code, msg, n, "source-not-allowed",
				"source %s is not inside the sources "
				"policy '%s' allows for this port",
				prefix_format(&r->key.source, buf, sizeof(buf)),
				p->name);
	}

	if (!r->duration_s)
		r->duration_s = entry->max_duration_s;
	if (r->duration_s > entry->max_duration_s)
		return refuse(-EINVAL, code, msg, n, "duration-too-long",
			      "duration %s exceeds the limit of %s for %s "
			      "under policy '%s'",
			      duration_format(r->duration_s, dur, sizeof(dur)),
			      duration_format(entry->max_duration_s, max,
					      sizeof(max)),
			      grant_key_ports(&r->key, ports, sizeof(ports)),
			      p->name);
	return 0;
}
