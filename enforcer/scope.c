/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Grants on every interface and grants on the zones of interface-scoped
 * policies: one cover each (see scope.h).
 */
#include "scope.h"
#include "util.h"

struct zone {
	struct jit_iface_zone z;
	struct jit_cover *cover;
};

struct jit_scopes {
	struct jit_cover *all;
	struct zone *zones;
	size_t n_zones;
	/* Zones gone at a rescope: their elements go at the next delta. */
	struct zone *retired;
	size_t n_retired;
};

static void zone_release(struct zone *z)
{
	free(z->z.ranges);
	free(z->z.patterns);
	cover_free(z->cover);
}

struct jit_scopes *scopes_new(void)
{
	struct jit_scopes *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->all = cover_new();
	if (!s->all) {
		free(s);
		return NULL;
	}
	return s;
}

static void retired_clear(struct jit_scopes *s)
{
	for (size_t i = 0; i < s->n_retired; i++)
		zone_release(&s->retired[i]);
	free(s->retired);
	s->retired = NULL;
	s->n_retired = 0;
}

struct jit_scopes *scopes_free(struct jit_scopes *s)
{
	if (!s)
		return NULL;
	cover_free(s->all);
	for (size_t i = 0; i < s->n_zones; i++)
		zone_release(&s->zones[i]);
	free(s->zones);
	retired_clear(s);
	free(s);
	return NULL;
}

static bool same_ranges(const struct jit_iface_zone *a,
			const struct jit_iface_zone *b)
{
	return a->n_ranges == b->n_ranges &&
	       !memcmp(a->ranges, b->ranges, a->n_ranges * sizeof(*a->ranges));
}

/* Stage r where its policy wants it, and nowhere else. */
static int restage(struct jit_scopes *s, const struct jit_policy_set *ps,
		   const struct jit_request *r)
{
	const struct jit_policy *p = policy_set_find(ps, r->policy);
	bool everywhere = !p || !p->n_interfaces;
	int ret;

	ret = everywhere ? cover_add(s->all, r->id, &r->key, r->end_ms)
			 : cover_del(s->all, r->id, &r->key);
	if (ret < 0 && ret != -EEXIST && ret != -ENOENT)
		return ret;
	for (size_t i = 0; i < s->n_zones; i++) {
		struct zone *z = &s->zones[i];

		ret = !everywhere && iface_zone_of_policy(&z->z, p)
			      ? cover_add(z->cover, r->id, &r->key, r->end_ms)
			      : cover_del(z->cover, r->id, &r->key);
		if (ret < 0 && ret != -EEXIST && ret != -ENOENT)
			return ret;
	}
	return 0;
}

int scopes_rescope(struct jit_scopes *s, const struct jit_policy_set *ps,
		   struct jit_grants *g)
{
	struct jit_iface_zone *nz = NULL;
	struct zone *zones, *retired;
	size_t n = 0, n_retired = s->n_retired;
	int ret;

	ret = ruleset_iface_zones(ps, &nz, &n);
	if (ret < 0)
		return ret;
	zones = calloc(n + 1, sizeof(*zones));
	retired = reallocarray(s->retired, s->n_retired + s->n_zones + 1,
			       sizeof(*retired));
	if (!zones || !retired) {
		free(zones);
		if (retired)
			s->retired = retired;
		ruleset_iface_zones_free(nz, n);
		return -ENOMEM;
	}
	s->retired = retired;
	/* A zone keeps its cover while its names stay the same. */
	for (size_t i = 0; i < n; i++) {
		zones[i].z = nz[i];
		for (size_t k = 0; k < s->n_zones; k++) {
			struct zone *old = &s->zones[k];

			if (old->cover && same_ranges(&old->z, &nz[i])) {
				zones[i].cover = TAKE_PTR(old->cover);
				break;
			}
		}
		if (!zones[i].cover)
			zones[i].cover = iface_zone_exact(&nz[i])
						 ? cover_new()
						 : cover_new_boxes();
		if (!zones[i].cover)
			ret = -ENOMEM;
	}
	free(nz);
	for (size_t k = 0; k < s->n_zones; k++) {
		struct zone *old = &s->zones[k];

		if (old->cover)
			retired[n_retired++] = *old;
		else
			zone_release(old);
	}
	free(s->zones);
	s->zones = zones;
	s->n_zones = n;
	s->n_retired = n_retired;
	if (ret < 0) {
		/* A zone without a cover cannot stay. */
		size_t out = 0;

		for (size_t i = 0; i < n; i++) {
			if (zones[i].cover)
				zones[out++] = zones[i];
			else
				zone_release(&zones[i]);
		}
		s->n_zones = out;
		return ret;
	}
	for (size_t i = 0; g && i < grants_count(g); i++) {
		const struct jit_request *r = grants_at(g, i);

		if (r->status != JIT_INITIATED)
			continue;
		ret = restage(s, ps, r);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int scopes_reserve(struct jit_scopes *s, size_t n)
{
	/* Most grants are for every interface. */
	return cover_reserve(s->all, n);
}

int scopes_add(struct jit_scopes *s, const struct jit_policy *p, uint64_t id,
	       const struct jit_grant_key *k, uint64_t end_ms)
{
	size_t n = 0;

	if (!p || !p->n_interfaces)
		return cover_add(s->all, id, k, end_ms);
	for (size_t i = 0; i < s->n_zones; i++) {
		int ret;

		if (!iface_zone_of_policy(&s->zones[i].z, p))
			continue;
		ret = cover_add(s->zones[i].cover, id, k, end_ms);
		if (ret < 0)
			return ret;
		n++;
	}
	return n ? 0 : -EINVAL;
}

int scopes_del(struct jit_scopes *s, uint64_t id, const struct jit_grant_key *k)
{
	bool found = false;
	int ret;

	ret = cover_del(s->all, id, k);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	found = ret == 0;
	for (size_t i = 0; i < s->n_zones; i++) {
		ret = cover_del(s->zones[i].cover, id, k);
		if (ret < 0 && ret != -ENOENT)
			return ret;
		found = found || ret == 0;
	}
	return found ? 0 : -ENOENT;
}

struct out {
	struct jit_elem *v;
	size_t n, cap;
};

/* The n elements of a cover, on every name range of zone z (NULL: all). */
static int put(struct out *o, const struct zone *z, const struct jit_elem *e,
	       size_t n)
{
	size_t per = z ? z->z.n_ranges : 1;

	if (!n)
		return 0;
	if (grow_array((void **)&o->v, &o->cap, o->n + n * per, sizeof(*o->v)) <
	    0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!z) {
			o->v[o->n++] = e[i];
			continue;
		}
		for (size_t k = 0; k < per; k++) {
			struct jit_elem x = e[i];

			x.iface = true;
			memcpy(x.ifname_lo, z->z.ranges[k].lo, IFNAMSIZ);
			memcpy(x.ifname_hi, z->z.ranges[k].hi, IFNAMSIZ);
			o->v[o->n++] = x;
		}
	}
	return 0;
}

static int cover_put_delta(struct jit_cover *c, const struct zone *z,
			   struct out *d, struct out *a)
{
	_cleanup_free_ struct jit_elem *del = NULL, *add = NULL;
	size_t n_del = 0, n_add = 0;
	int ret = cover_delta(c, &del, &n_del, &add, &n_add);

	if (ret == 0)
		ret = put(d, z, del, n_del);
	if (ret == 0)
		ret = put(a, z, add, n_add);
	return ret;
}

int scopes_delta(struct jit_scopes *s, struct jit_elem **del, size_t *n_del,
		 struct jit_elem **add, size_t *n_add)
{
	struct out d = { 0 }, a = { 0 };
	int ret;

	/* Without interface-scoped policies, the cover's own arrays. */
	if (!s->n_zones && !s->n_retired)
		return cover_delta(s->all, del, n_del, add, n_add);
	*del = *add = NULL;
	*n_del = *n_add = 0;
	ret = cover_put_delta(s->all, NULL, &d, &a);
	for (size_t i = 0; ret == 0 && i < s->n_zones; i++)
		ret = cover_put_delta(s->zones[i].cover, &s->zones[i], &d, &a);
	for (size_t i = 0; ret == 0 && i < s->n_retired; i++) {
		_cleanup_free_ struct jit_elem *v = NULL;
		size_t n = 0;

		ret = cover_elements(s->retired[i].cover, &v, &n);
		if (ret == 0)
			ret = put(&d, &s->retired[i], v, n);
	}
	if (ret < 0) {
		free(d.v);
		free(a.v);
		return ret;
	}
	*del = d.v;
	*n_del = d.n;
	*add = a.v;
	*n_add = a.n;
	return 0;
}

void scopes_commit(struct jit_scopes *s)
{
	cover_commit(s->all);
	for (size_t i = 0; i < s->n_zones; i++)
		cover_commit(s->zones[i].cover);
	retired_clear(s);
}

void scopes_rollback(struct jit_scopes *s)
{
	cover_rollback(s->all);
	for (size_t i = 0; i < s->n_zones; i++)
		cover_rollback(s->zones[i].cover);
}

int scopes_elements(const struct jit_scopes *s, struct jit_elem **ret,
		    size_t *n)
{
	struct out o = { 0 };
	int r;

	if (!s->n_zones)
		return cover_elements(s->all, ret, n);
	*ret = NULL;
	*n = 0;
	{
		_cleanup_free_ struct jit_elem *v = NULL;
		size_t nv = 0;

		r = cover_elements(s->all, &v, &nv);
		if (r == 0)
			r = put(&o, NULL, v, nv);
	}
	for (size_t i = 0; r == 0 && i < s->n_zones; i++) {
		_cleanup_free_ struct jit_elem *v = NULL;
		size_t nv = 0;

		r = cover_elements(s->zones[i].cover, &v, &nv);
		if (r == 0)
			r = put(&o, &s->zones[i], v, nv);
	}
	if (r < 0) {
		free(o.v);
		return r;
	}
	*ret = o.v;
	*n = o.n;
	return 0;
}

size_t scopes_count(const struct jit_scopes *s)
{
	size_t n;

	if (!s)
		return 0;
	n = cover_count(s->all);
	for (size_t i = 0; i < s->n_zones; i++)
		n += cover_count(s->zones[i].cover) * s->zones[i].z.n_ranges;
	return n;
}
