/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The union of overlapping access records as set elements: a fake kernel
 * that refuses what nftables refuses, a brute-force model over a small
 * universe, the cases that went wrong before this module existed, and a
 * check that one change costs one element however many records there are.
 */
#include <check.h>
#include <netinet/in.h>

#include "cover.h"
#include "util.h"
#include "helpers.h"
#include "runner.h"

/*
 * Check logs the place of every assertion that passes; the model checks
 * millions of points, so its loops only call Check on a failure.
 */
#define require(cond, ...)                         \
	do {                                       \
		if (!(cond))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

#define TCP JIT_PROTO_TCP
#define UDP JIT_PROTO_UDP
#define ANY (JIT_PROTO_TCP | JIT_PROTO_UDP)

static unsigned alen(uint8_t family)
{
	return family == AF_INET ? 4 : 16;
}

static void parse_addr(const char *s, uint8_t family, uint8_t out[16])
{
	struct jit_prefix p = test_prefix(s);

	ck_assert_int_eq(p.family, family);
	memset(out, 0, 16);
	memcpy(out, p.addr, alen(family));
}

static bool elem_eq(const struct jit_elem *a, const struct jit_elem *b)
{
	return a->family == b->family && a->proto == b->proto &&
	       a->interval == b->interval &&
	       memcmp(a->addr_lo, b->addr_lo, alen(a->family)) == 0 &&
	       memcmp(a->addr_hi, b->addr_hi, alen(a->family)) == 0 &&
	       a->port_lo == b->port_lo && a->port_hi == b->port_hi &&
	       a->end_ms == b->end_ms;
}

static int elem_cmp(const void *x, const void *y)
{
	const struct jit_elem *a = x, *b = y;
	int r;

	if (a->interval != b->interval)
		return a->interval - b->interval;
	if (a->family != b->family)
		return a->family - b->family;
	if (a->proto != b->proto)
		return a->proto - b->proto;
	r = memcmp(a->addr_lo, b->addr_lo, alen(a->family));
	if (r)
		return r;
	return a->port_lo - b->port_lo;
}

/* --- a fake kernel: four sets ------------------------------------------- */

/* hash v4, hash v6, interval v4, interval v6 */
struct fake_kernel {
	struct jit_elem *set[4];
	size_t n[4], cap[4];
	size_t missing_del;
};

static size_t fk_set(const struct jit_elem *e)
{
	return (e->interval ? 2 : 0) + (e->family == AF_INET6 ? 1 : 0);
}

/* Same element as the kernel keys it: everything but the end. */
static bool same_key(const struct jit_elem *a, const struct jit_elem *b)
{
	struct jit_elem x = *b;

	x.end_ms = a->end_ms;
	return elem_eq(a, &x);
}

static bool ranges_meet(const struct jit_elem *a, const struct jit_elem *b)
{
	unsigned n = alen(a->family);

	return memcmp(a->addr_lo, b->addr_hi, n) <= 0 &&
	       memcmp(b->addr_lo, a->addr_hi, n) <= 0 &&
	       a->port_lo <= b->port_hi && b->port_lo <= a->port_hi;
}

static void fk_del(struct fake_kernel *fk, const struct jit_elem *e)
{
	size_t s = fk_set(e);

	for (size_t i = 0; i < fk->n[s]; i++)
		if (same_key(&fk->set[s][i], e)) {
			fk->set[s][i] = fk->set[s][--fk->n[s]];
			return;
		}
	/* Allowed, as DESTROY is; counted so tests can insist on exactness. */
	fk->missing_del++;
}

/* The interval element of the set that e would overlap, or NULL. */
static const struct jit_elem *fk_overlap(const struct fake_kernel *fk,
					 const struct jit_elem *e)
{
	size_t s = fk_set(e);

	for (size_t i = 0; i < fk->n[s]; i++) {
		const struct jit_elem *o = &fk->set[s][i];

		if (o->proto == e->proto && ranges_meet(o, e))
			return o;
	}
	return NULL;
}

static void fk_add(struct fake_kernel *fk, const struct jit_elem *e)
{
	size_t s = fk_set(e);
	unsigned n = alen(e->family);

	require(e->family == AF_INET || e->family == AF_INET6, "bad family %u",
		e->family);
	require(e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP,
		"bad proto %u", e->proto);
	require(e->end_ms != 0, "element with end 0");
	require(memcmp(e->addr_lo, e->addr_hi, n) <= 0 &&
			e->port_lo <= e->port_hi,
		"empty element");
	if (!e->interval) {
		require(memcmp(e->addr_lo, e->addr_hi, n) == 0 &&
				e->port_lo == e->port_hi,
			"hash element is a range");
		for (size_t i = 0; i < fk->n[s]; i++)
			if (same_key(&fk->set[s][i], e)) {
				fk->set[s][i].end_ms = e->end_ms;
				return;
			}
	} else {
		const struct jit_elem *o = fk_overlap(fk, e);

		/* The kernel refuses the batch: so does the test. */
		require(!o,
			"kernel refuses overlapping interval (ports "
			"%u-%u over %u-%u)",
			e->port_lo, e->port_hi, o ? o->port_lo : 0,
			o ? o->port_hi : 0);
	}
	require(grow_array((void **)&fk->set[s], &fk->cap[s], fk->n[s] + 1,
			   sizeof(*fk->set[s])) == 0,
		"out of memory");
	fk->set[s][fk->n[s]++] = *e;
}

static void fk_apply(struct fake_kernel *fk, const struct jit_elem *del,
		     size_t n_del, const struct jit_elem *add, size_t n_add)
{
	for (size_t i = 0; i < n_del; i++)
		fk_del(fk, &del[i]);
	for (size_t i = 0; i < n_add; i++)
		fk_add(fk, &add[i]);
}

static size_t fk_count(const struct fake_kernel *fk)
{
	return fk->n[0] + fk->n[1] + fk->n[2] + fk->n[3];
}

/* What the kernel does with a packet: latest end of a matching element. */
static uint64_t fk_end_at(const struct fake_kernel *fk, uint8_t family,
			  const uint8_t *addr, uint8_t proto, uint16_t port)
{
	unsigned n = alen(family);
	uint64_t end = 0;

	for (size_t s = family == AF_INET ? 0 : 1; s < 4; s += 2)
		for (size_t i = 0; i < fk->n[s]; i++) {
			const struct jit_elem *e = &fk->set[s][i];

			if (e->proto == proto && e->port_lo <= port &&
			    port <= e->port_hi &&
			    memcmp(e->addr_lo, addr, n) <= 0 &&
			    memcmp(addr, e->addr_hi, n) <= 0 && e->end_ms > end)
				end = e->end_ms;
		}
	return end;
}

static void fk_release(struct fake_kernel *fk)
{
	for (size_t s = 0; s < 4; s++)
		free(fk->set[s]);
	memset(fk, 0, sizeof(*fk));
}

struct delta_size {
	size_t del, add;
};

/* delta, into the fake kernel, commit */
static struct delta_size sync_kernel(struct jit_cover *c,
				     struct fake_kernel *fk)
{
	struct jit_elem *del, *add;
	struct delta_size d;

	ck_assert_int_eq(cover_delta(c, &del, &d.del, &add, &d.add), 0);
	fk_apply(fk, del, d.del, add, d.add);
	cover_commit(c);
	free(del);
	free(add);
	return d;
}

/* cover_elements and cover_count agree with what the kernel holds. */
static void assert_elements_match(const struct jit_cover *c,
				  const struct fake_kernel *fk)
{
	_cleanup_free_ struct jit_elem *mine = NULL, *theirs = NULL;
	size_t n, k = 0;

	ck_assert_int_eq(cover_elements(c, &mine, &n), 0);
	ck_assert_uint_eq(n, fk_count(fk));
	ck_assert_uint_eq(cover_count(c), n);
	if (!n)
		return;
	theirs = calloc(n, sizeof(*theirs));
	ck_assert_ptr_nonnull(theirs);
	for (size_t s = 0; s < 4; s++)
		for (size_t i = 0; i < fk->n[s]; i++)
			theirs[k++] = fk->set[s][i];
	qsort(mine, n, sizeof(*mine), elem_cmp);
	qsort(theirs, n, sizeof(*theirs), elem_cmp);
	for (size_t i = 0; i < n; i++)
		require(elem_eq(&mine[i], &theirs[i]),
			"element %zu differs from the kernel's", i);
}

UNIT_TEST("fake kernel", test_fake_kernel)
{
	struct fake_kernel fk = { 0 };
	struct jit_elem h = { .family = AF_INET,
			      .proto = IPPROTO_TCP,
			      .port_lo = 22,
			      .port_hi = 22,
			      .end_ms = 5 };
	struct jit_elem iv = { .family = AF_INET,
			       .proto = IPPROTO_TCP,
			       .interval = true,
			       .port_lo = 20,
			       .port_hi = 30,
			       .end_ms = 7 };
	struct jit_elem other = iv;
	uint8_t a[16];

	parse_addr("192.0.2.1", AF_INET, h.addr_lo);
	memcpy(h.addr_hi, h.addr_lo, 16);
	parse_addr("10.0.0.0", AF_INET, iv.addr_lo);
	parse_addr("10.0.0.255", AF_INET, iv.addr_hi);
	fk_add(&fk, &h);
	h.end_ms = 9;
	fk_add(&fk, &h); /* replaces the end */
	ck_assert_uint_eq(fk_count(&fk), 1);
	ck_assert_uint_eq(fk_end_at(&fk, AF_INET, h.addr_lo, IPPROTO_TCP, 22),
			  9);
	fk_add(&fk, &iv);
	/* Same box, other protocol: no overlap. */
	other.proto = IPPROTO_UDP;
	fk_add(&fk, &other);
	/* Adjacent ports: no overlap. */
	other.proto = IPPROTO_TCP;
	other.port_lo = 31;
	other.port_hi = 40;
	fk_add(&fk, &other);
	ck_assert_uint_eq(fk_count(&fk), 4);
	parse_addr("10.0.0.9", AF_INET, a);
	ck_assert_uint_eq(fk_end_at(&fk, AF_INET, a, IPPROTO_TCP, 30), 7);
	ck_assert_uint_eq(fk_end_at(&fk, AF_INET, a, IPPROTO_TCP, 41), 0);
	fk_del(&fk, &iv);
	ck_assert_uint_eq(fk_end_at(&fk, AF_INET, a, IPPROTO_TCP, 30), 0);
	fk_del(&fk, &iv);
	ck_assert_uint_eq(fk.missing_del, 1);
	ck_assert_uint_eq(fk_count(&fk), 3);
	fk_release(&fk);
}
END_TEST

/*
 * The kernel refuses an overlapping interval, exact duplicates included;
 * fk_add fails the test on what fk_overlap finds.
 */
UNIT_TEST("fake kernel", test_fake_kernel_refuses_overlap)
{
	struct fake_kernel fk = { 0 };
	struct jit_elem a = { .family = AF_INET6,
			      .proto = IPPROTO_UDP,
			      .interval = true,
			      .port_lo = 20,
			      .port_hi = 30,
			      .end_ms = 7 };
	struct jit_elem b = a;

	parse_addr("2001:db8::", AF_INET6, a.addr_lo);
	parse_addr("2001:db8::ff", AF_INET6, a.addr_hi);
	parse_addr("2001:db8::80", AF_INET6, b.addr_lo);
	parse_addr("2001:db8::1:0", AF_INET6, b.addr_hi);
	b.port_lo = 30;
	b.port_hi = 35;
	fk_add(&fk, &a);
	ck_assert_ptr_eq(fk_overlap(&fk, &b), &fk.set[3][0]);
	ck_assert_ptr_eq(fk_overlap(&fk, &a), &fk.set[3][0]);
	/* One port apart, or the other protocol, or the hash set: fine. */
	b.port_lo = 31;
	ck_assert_ptr_null(fk_overlap(&fk, &b));
	b.port_lo = 30;
	b.proto = IPPROTO_TCP;
	ck_assert_ptr_null(fk_overlap(&fk, &b));
	parse_addr("2001:db8::100", AF_INET6, b.addr_lo);
	b.proto = IPPROTO_UDP;
	ck_assert_ptr_null(fk_overlap(&fk, &b));
	fk_release(&fk);
}
END_TEST

/* --- the brute-force model ---------------------------------------------- */

/*
 * The universe: 192.0.2.0/28 and 2001:db8::/124, ports 20..40, tcp and udp.
 * Small enough to check every point after every commit.
 */
#define U_ADDRS	   16
#define U_PORT_MIN 20
#define U_PORT_MAX 40
#define U_PORTS	   (U_PORT_MAX - U_PORT_MIN + 1)
#define U_LIVE_MAX 24

static const uint8_t base4[16] = { 192, 0, 2, 0 };
static const uint8_t base6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

struct model_rec {
	uint64_t id;
	struct jit_grant_key k;
	uint64_t end;
};

/* Live records stay under U_LIVE_MAX, plus one transaction's adds. */
struct model {
	struct model_rec v[U_LIVE_MAX + 4];
	size_t n;
};

static uint64_t rng_state;

static uint64_t rnd(uint64_t n)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (rng_state * 2685821657736338717ULL >> 32) % n;
}

static void u_addr(unsigned fam, unsigned off, uint8_t out[16])
{
	memcpy(out, fam ? base6 : base4, 16);
	out[fam ? 15 : 3] = (uint8_t)off;
}

static struct jit_grant_key rand_key(void)
{
	unsigned fam = (unsigned)rnd(2), max = fam ? 128 : 32, bits, width;
	struct jit_grant_key k = { .protos = (unsigned)rnd(3) + 1 };

	/* Half hosts, half prefixes up to the size of the universe. */
	bits = rnd(2) ? 0 : (unsigned)rnd(5);
	k.source.family = fam ? AF_INET6 : AF_INET;
	k.source.len = (uint8_t)(max - bits);
	u_addr(fam, (unsigned)rnd(U_ADDRS) & ~((1u << bits) - 1),
	       k.source.addr);
	k.port_lo = (uint16_t)(U_PORT_MIN + rnd(U_PORTS));
	/* Mostly a few ports (hash keys), sometimes up to 21 (intervals). */
	width = rnd(2) ? (unsigned)rnd(4) : (unsigned)rnd(21);
	k.port_hi =
		(uint16_t)(k.port_lo + width > U_PORT_MAX ? U_PORT_MAX
							  : k.port_lo + width);
	return k;
}

static bool key_covers(const struct jit_grant_key *k, unsigned fam,
		       unsigned off, unsigned pi, unsigned port)
{
	unsigned bits = (fam ? 128u : 32u) - k->source.len;
	unsigned first = k->source.addr[fam ? 15 : 3];

	return (k->source.family == AF_INET6) == (fam == 1) &&
	       (k->protos & (pi ? UDP : TCP)) && k->port_lo <= port &&
	       port <= k->port_hi && off >= first && off < first + (1u << bits);
}

static uint64_t model_end_at(const struct model *m, unsigned fam, unsigned off,
			     unsigned pi, unsigned port)
{
	uint64_t end = 0;

	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].end > end &&
		    key_covers(&m->v[i].k, fam, off, pi, port))
			end = m->v[i].end;
	return end;
}

/*
 * Ends in the model are small; a kernel end that is not saturates, and
 * still differs. Half the size of 64-bit cells: valgrind clears byte-wise.
 */
static uint32_t grid_model[2][U_ADDRS][2][U_PORTS];
static uint32_t grid_kernel[2][U_ADDRS][2][U_PORTS];

static uint32_t cell(uint64_t end)
{
	return end > UINT32_MAX ? UINT32_MAX : (uint32_t)end;
}

static void paint_model(const struct model *m)
{
	memset(grid_model, 0, sizeof(grid_model));
	for (size_t i = 0; i < m->n; i++) {
		const struct jit_grant_key *k = &m->v[i].k;
		unsigned fam = k->source.family == AF_INET6;
		unsigned bits = (fam ? 128u : 32u) - k->source.len;
		unsigned first = k->source.addr[fam ? 15 : 3];

		for (unsigned a = first; a < first + (1u << bits); a++)
			for (unsigned pi = 0; pi < 2; pi++) {
				if (!(k->protos & (pi ? UDP : TCP)))
					continue;
				for (unsigned p = k->port_lo; p <= k->port_hi;
				     p++) {
					uint32_t *g =
						&grid_model[fam][a][pi]
							   [p - U_PORT_MIN];

					if (cell(m->v[i].end) > *g)
						*g = cell(m->v[i].end);
				}
			}
	}
}

/* Offset of an element address in the universe; fails if it is outside. */
static unsigned u_offset(const struct jit_elem *e, const uint8_t *addr)
{
	unsigned fam = e->family == AF_INET6, last = fam ? 15 : 3;

	require(memcmp(addr, fam ? base6 : base4, last) == 0 &&
			addr[last] < U_ADDRS,
		"element outside the universe");
	return addr[last];
}

static void paint_kernel(const struct fake_kernel *fk)
{
	memset(grid_kernel, 0, sizeof(grid_kernel));
	for (size_t s = 0; s < 4; s++)
		for (size_t i = 0; i < fk->n[s]; i++) {
			const struct jit_elem *e = &fk->set[s][i];
			unsigned fam = e->family == AF_INET6;
			unsigned pi = e->proto == IPPROTO_UDP;
			unsigned lo = u_offset(e, e->addr_lo);
			unsigned hi = u_offset(e, e->addr_hi);

			require(e->port_lo >= U_PORT_MIN &&
					e->port_hi <= U_PORT_MAX,
				"element ports outside the universe");
			for (unsigned a = lo; a <= hi; a++)
				for (unsigned p = e->port_lo; p <= e->port_hi;
				     p++) {
					uint32_t *g =
						&grid_kernel[fam][a][pi]
							    [p - U_PORT_MIN];

					if (cell(e->end_ms) > *g)
						*g = cell(e->end_ms);
				}
		}
}

static void check_kernel(const struct model *m, const struct fake_kernel *fk,
			 unsigned step)
{
	paint_model(m);
	paint_kernel(fk);
	for (unsigned f = 0; f < 2; f++)
		for (unsigned a = 0; a < U_ADDRS; a++)
			for (unsigned pi = 0; pi < 2; pi++)
				for (unsigned p = 0; p < U_PORTS; p++) {
					uint32_t want = grid_model[f][a][pi][p];
					uint32_t got = grid_kernel[f][a][pi][p];

					require(want || !got,
						"step %u: element at "
						"uncovered point "
						"v%u+%u %s/%u",
						step, f ? 6 : 4, a,
						pi ? "udp" : "tcp",
						p + U_PORT_MIN);
					require(want == got,
						"step %u: v%u+%u %s/%u: "
						"kernel end %u, model %u",
						step, f ? 6 : 4, a,
						pi ? "udp" : "tcp",
						p + U_PORT_MIN, got, want);
				}
	require(fk->missing_del == 0, "step %u: deleted a missing element",
		step);
}

static void check_end_at_point(const struct jit_cover *c, const struct model *m,
			       unsigned f, unsigned a, unsigned pi, unsigned p,
			       unsigned step)
{
	uint8_t addr[16];
	uint64_t got, want = model_end_at(m, f, a, pi, p);

	u_addr(f, a, addr);
	got = cover_end_at(c, f ? AF_INET6 : AF_INET, addr,
			   pi ? IPPROTO_UDP : IPPROTO_TCP, (uint16_t)p);
	require(got == want,
		"step %u: cover_end_at v%u+%u %s/%u = %llu, model %llu", step,
		f ? 6 : 4, a, pi ? "udp" : "tcp", p, (unsigned long long)got,
		(unsigned long long)want);
}

/* A sample of points each time, every point now and then. */
static void check_end_at(const struct jit_cover *c, const struct model *m,
			 bool all, unsigned step)
{
	if (all) {
		for (unsigned f = 0; f < 2; f++)
			for (unsigned a = 0; a < U_ADDRS; a++)
				for (unsigned pi = 0; pi < 2; pi++)
					for (unsigned p = U_PORT_MIN;
					     p <= U_PORT_MAX; p++)
						check_end_at_point(c, m, f, a,
								   pi, p, step);
		return;
	}
	for (unsigned i = 0; i < 12; i++)
		check_end_at_point(c, m, (unsigned)rnd(2),
				   (unsigned)rnd(U_ADDRS), (unsigned)rnd(2),
				   U_PORT_MIN + (unsigned)rnd(U_PORTS), step);
}

static void assert_delta_empty(struct jit_cover *c, unsigned step)
{
	struct jit_elem *del, *add;
	size_t n_del, n_add;

	require(cover_delta(c, &del, &n_del, &add, &n_add) == 0,
		"step %u: delta", step);
	require(n_del == 0 && n_add == 0,
		"step %u: delta of %zu/%zu right after commit/rollback", step,
		n_del, n_add);
	free(del);
	free(add);
}

static void model_add(struct model *m, uint64_t id,
		      const struct jit_grant_key *k, uint64_t end)
{
	require(m->n < ARRAY_SIZE(m->v), "model full");
	m->v[m->n++] = (struct model_rec){ .id = id, .k = *k, .end = end };
}

UNIT_CASE("model", .timeout_s = 60);

UNIT_TEST("model", test_model)
{
	struct jit_cover *c = cover_new();
	struct fake_kernel fk = { 0 };
	struct model m = { 0 }, saved;
	uint64_t next_id = 1, dead_id = 0;
	unsigned ops = 0, commits = 0, rollbacks = 0, hash_keys = 0,
		 interval_keys = 0;

	ck_assert_ptr_nonnull(c);
	rng_state = 0x9e3779b97f4a7c15ULL;
	while (ops < 10000) {
		unsigned n = 1 + (unsigned)rnd(4);

		saved = m;
		for (unsigned i = 0; i < n; i++, ops++) {
			bool grow =
				m.n < 4 || (m.n < U_LIVE_MAX && rnd(100) < 55);

			if (grow) {
				struct jit_grant_key k = rand_key();
				uint64_t end = 1000 + 1000 * rnd(6);
				uint64_t id = next_id++;

				/* Now and then, an id deleted earlier. */
				if (dead_id && rnd(10) == 0) {
					id = dead_id;
					dead_id = 0;
				}
				require(cover_add(c, id, &k, end) == 0,
					"step %u: add", ops);
				model_add(&m, id, &k, end);
				if (grant_key_is_prefix(&k))
					interval_keys++;
				else
					hash_keys++;
				if (rnd(20) == 0)
					require(cover_add(c, id, &k, end + 1) ==
							-EEXIST,
						"step %u: add twice", ops);
			} else {
				size_t j = rnd(m.n);
				struct jit_grant_key wrong = m.v[j].k;

				if (rnd(20) == 0) {
					wrong.port_hi =
						wrong.port_hi == 65535
							? 65534
							: wrong.port_hi + 1;
					require(cover_del(c, m.v[j].id,
							  &wrong) == -EINVAL,
						"step %u: wrong key", ops);
				}
				require(cover_del(c, m.v[j].id, &m.v[j].k) == 0,
					"step %u: del", ops);
				require(cover_del(c, m.v[j].id, &m.v[j].k) ==
						-ENOENT,
					"step %u: del twice", ops);
				dead_id = m.v[j].id;
				m.v[j] = m.v[--m.n];
			}
			/* A delta mid-way must not stick in a cache. */
			if (rnd(8) == 0) {
				struct jit_elem *d, *a;
				size_t nd, na;

				require(cover_delta(c, &d, &nd, &a, &na) == 0,
					"step %u: delta", ops);
				free(d);
				free(a);
			}
		}

		if (rnd(100) < 15) {
			/* The kernel refused: nothing of it may remain. */
			struct jit_elem *d, *a;
			size_t nd, na, before = fk_count(&fk);

			require(cover_delta(c, &d, &nd, &a, &na) == 0,
				"step %u: delta", ops);
			free(d);
			free(a);
			cover_rollback(c);
			m = saved;
			/* It may be live again. */
			dead_id = 0;
			rollbacks++;
			require(fk_count(&fk) == before, "step %u", ops);
			assert_delta_empty(c, ops);
			check_end_at(c, &m, rollbacks % 100 == 0, ops);
			continue;
		}

		{
			struct jit_elem *d1, *a1, *d2, *a2;
			size_t nd1, na1, nd2, na2;

			/* Asking twice gives the same answer. */
			require(cover_delta(c, &d1, &nd1, &a1, &na1) == 0 &&
					cover_delta(c, &d2, &nd2, &a2, &na2) ==
						0,
				"step %u: delta", ops);
			require(nd1 == nd2 && na1 == na2,
				"step %u: second delta differs", ops);
			for (size_t i = 0; i < nd1; i++)
				require(elem_eq(&d1[i], &d2[i]),
					"step %u: delete %zu differs", ops, i);
			for (size_t i = 0; i < na1; i++)
				require(elem_eq(&a1[i], &a2[i]),
					"step %u: add %zu differs", ops, i);
			fk_apply(&fk, d1, nd1, a1, na1);
			cover_commit(c);
			free(d1);
			free(a1);
			free(d2);
			free(a2);
		}
		commits++;
		check_kernel(&m, &fk, ops);
		/* Every point each time; the costlier listings now and then. */
		require(cover_count(c) == fk_count(&fk),
			"step %u: count %zu, kernel holds %zu", ops,
			cover_count(c), fk_count(&fk));
		if (commits % 8 == 0)
			assert_elements_match(c, &fk);
		assert_delta_empty(c, ops);
		check_end_at(c, &m, commits % 250 == 0, ops);
	}
	/* The run must have exercised what it claims to. */
	ck_assert_uint_gt(rollbacks, 100);
	ck_assert_uint_gt(hash_keys, 1000);
	ck_assert_uint_gt(interval_keys, 1000);

	/* Delete everything: the kernel ends empty. */
	for (size_t j = 0; j < m.n; j++)
		ck_assert_int_eq(cover_del(c, m.v[j].id, &m.v[j].k), 0);
	m.n = 0;
	sync_kernel(c, &fk);
	check_kernel(&m, &fk, ops);
	ck_assert_uint_eq(cover_count(c), 0);
	ck_assert_uint_eq(fk_count(&fk), 0);
	fk_release(&fk);
	cover_free(c);
}
END_TEST

/* --- focused cases ------------------------------------------------------ */

static uint64_t end_at(const struct fake_kernel *fk, const char *addr,
		       uint8_t proto, uint16_t port)
{
	struct jit_prefix p;
	uint8_t a[16] = { 0 };

	ck_assert(prefix_parse(addr, &p) == 0);
	memcpy(a, p.addr, alen(p.family));
	return fk_end_at(fk, p.family, a, proto, port);
}

static uint64_t staged_at(const struct jit_cover *c, const char *addr,
			  uint8_t proto, uint16_t port)
{
	struct jit_prefix p;

	ck_assert(prefix_parse(addr, &p) == 0);
	return cover_end_at(c, p.family, p.addr, proto, port);
}

#define MIN_MS (60 * 1000ull)

UNIT_TEST("cases", test_short_udp_does_not_cut_long_grant)
{
	struct jit_cover *c = cover_new();
	struct fake_kernel fk = { 0 };
	struct jit_grant_key both = test_key("192.0.2.7", ANY, 22, 22);
	struct jit_grant_key udp = test_key("192.0.2.7", UDP, 22, 22);
	struct delta_size d;

	ck_assert_int_eq(cover_add(c, 1, &both, 30 * MIN_MS), 0);
	ck_assert_int_eq(cover_add(c, 2, &udp, 3000), 0);
	d = sync_kernel(c, &fk);
	ck_assert_uint_eq(d.add, 2);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_UDP, 22),
			  30 * MIN_MS);

	ck_assert_int_eq(cover_del(c, 2, &udp), 0);
	d = sync_kernel(c, &fk);
	ck_assert_uint_eq(d.del, 0);
	ck_assert_uint_eq(d.add, 0);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_UDP, 22),
			  30 * MIN_MS);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_TCP, 22),
			  30 * MIN_MS);

	/* The other way round: the short one is latest on udp for a while. */
	ck_assert_int_eq(cover_add(c, 3, &udp, 40 * MIN_MS), 0);
	d = sync_kernel(c, &fk);
	ck_assert_uint_eq(d.del, 1);
	ck_assert_uint_eq(d.add, 1);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_UDP, 22),
			  40 * MIN_MS);
	ck_assert_int_eq(cover_del(c, 3, &udp), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_UDP, 22),
			  30 * MIN_MS);
	ck_assert_uint_eq(cover_count(c), 2);
	ck_assert_uint_eq(fk.missing_del, 0);
	fk_release(&fk);
	cover_free(c);
}
END_TEST

UNIT_TEST("cases", test_port_inside_range_stays)
{
	struct jit_cover *c = cover_new();
	struct fake_kernel fk = { 0 };
	struct jit_grant_key one = test_key("192.0.2.7", TCP, 2202, 2202);
	struct jit_grant_key range = test_key("192.0.2.7", TCP, 2202, 2205);
	struct jit_grant_key wide = test_key("192.0.2.7", TCP, 2200, 2300);
	struct delta_size d;

	ck_assert_int_eq(cover_add(c, 1, &one, 500), 0);
	ck_assert_int_eq(cover_add(c, 2, &range, 400), 0);
	d = sync_kernel(c, &fk);
	ck_assert_uint_eq(d.add, 4);
	ck_assert_int_eq(cover_del(c, 1, &one), 0);
	d = sync_kernel(c, &fk);
	/* 2202 stays, with the range's end. */
	ck_assert_uint_eq(d.del, 1);
	ck_assert_uint_eq(d.add, 1);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_TCP, 2202), 400);
	ck_assert_uint_eq(cover_count(c), 4);

	/* The same with a range wide enough for the interval set. */
	ck_assert_int_eq(cover_add(c, 3, &one, 500), 0);
	ck_assert_int_eq(cover_add(c, 4, &wide, 300), 0);
	sync_kernel(c, &fk);
	ck_assert_int_eq(cover_del(c, 3, &one), 0);
	ck_assert_int_eq(cover_del(c, 2, &range), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_TCP, 2202), 300);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_TCP, 2300), 300);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_TCP, 2301), 0);
	ck_assert_uint_eq(fk.n[0], 0);
	ck_assert_uint_eq(fk.n[2], 1);
	ck_assert_uint_eq(fk.missing_del, 0);
	fk_release(&fk);
	cover_free(c);
}
END_TEST

static void assert_piece(const struct jit_elem *e, const char *lo,
			 const char *hi, uint16_t plo, uint16_t phi,
			 uint64_t end)
{
	uint8_t a[16];

	ck_assert(e->interval);
	parse_addr(lo, e->family, a);
	ck_assert_msg(memcmp(e->addr_lo, a, alen(e->family)) == 0,
		      "piece does not start at %s", lo);
	parse_addr(hi, e->family, a);
	ck_assert_msg(memcmp(e->addr_hi, a, alen(e->family)) == 0,
		      "piece does not end at %s", hi);
	ck_assert_uint_eq(e->port_lo, plo);
	ck_assert_uint_eq(e->port_hi, phi);
	ck_assert_uint_eq(e->end_ms, end);
}

/* The applied elements, sorted; checks the fake kernel agrees. */
static size_t elements(const struct jit_cover *c, const struct fake_kernel *fk,
		       struct jit_elem **ret)
{
	size_t n;

	/* Tests look again after a change: the last look is released. */
	free(*ret);
	*ret = NULL;
	assert_elements_match(c, fk);
	ck_assert_int_eq(cover_elements(c, ret, &n), 0);
	if (n)
		qsort(*ret, n, sizeof(**ret), elem_cmp);
	return n;
}

UNIT_TEST("cases", test_nested_prefixes)
{
	struct jit_cover *c = cover_new();
	struct fake_kernel fk = { 0 };
	struct jit_grant_key outer = test_key("10.0.0.0/8", TCP, 22, 22);
	struct jit_grant_key inner = test_key("10.1.0.0/16", TCP, 22, 22);
	_cleanup_free_ struct jit_elem *e = NULL;

	ck_assert_int_eq(cover_add(c, 1, &outer, 100), 0);
	ck_assert_int_eq(cover_add(c, 2, &inner, 200), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(elements(c, &fk, &e), 3);
	assert_piece(&e[0], "10.0.0.0", "10.0.255.255", 22, 22, 100);
	assert_piece(&e[1], "10.1.0.0", "10.1.255.255", 22, 22, 200);
	assert_piece(&e[2], "10.2.0.0", "10.255.255.255", 22, 22, 100);
	ck_assert_uint_eq(staged_at(c, "10.1.2.3", IPPROTO_TCP, 22), 200);
	ck_assert_uint_eq(staged_at(c, "10.2.0.0", IPPROTO_TCP, 22), 100);
	ck_assert_uint_eq(staged_at(c, "11.0.0.0", IPPROTO_TCP, 22), 0);

	/* Inner gone: one piece again. */
	ck_assert_int_eq(cover_del(c, 2, &inner), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(elements(c, &fk, &e), 1);
	assert_piece(&e[0], "10.0.0.0", "10.255.255.255", 22, 22, 100);
	ck_assert_uint_eq(fk.missing_del, 0);
	fk_release(&fk);
	cover_free(c);
}
END_TEST

UNIT_TEST("cases", test_nested_prefixes_reverse_ends)
{
	struct jit_cover *c = cover_new();
	struct fake_kernel fk = { 0 };
	struct jit_grant_key outer = test_key("10.0.0.0/8", TCP, 22, 22);
	struct jit_grant_key inner = test_key("10.1.0.0/16", TCP, 22, 22);
	_cleanup_free_ struct jit_elem *e = NULL;
	struct delta_size d;

	ck_assert_int_eq(cover_add(c, 1, &outer, 200), 0);
	sync_kernel(c, &fk);
	ck_assert_int_eq(cover_add(c, 2, &inner, 100), 0);
	d = sync_kernel(c, &fk);
	/* Hidden by the outer one: nothing to tell the kernel. */
	ck_assert_uint_eq(d.del, 0);
	ck_assert_uint_eq(d.add, 0);
	ck_assert_uint_eq(elements(c, &fk, &e), 1);
	assert_piece(&e[0], "10.0.0.0", "10.255.255.255", 22, 22, 200);
	fk_release(&fk);
	cover_free(c);
}
END_TEST

UNIT_TEST("cases", test_adjacent_pieces_merge)
{
	struct jit_cover *c = cover_new();
	struct fake_kernel fk = { 0 };
	struct jit_grant_key lo = test_key("10.0.0.0/9", UDP, 1, 100);
	struct jit_grant_key hi = test_key("10.128.0.0/9", UDP, 1, 100);
	struct jit_grant_key ports = test_key("10.0.0.0/8", UDP, 101, 200);
	struct jit_grant_key side = test_key("10.1.0.0/16", UDP, 201, 300);
	_cleanup_free_ struct jit_elem *e = NULL;

	ck_assert_int_eq(cover_add(c, 1, &lo, 100), 0);
	ck_assert_int_eq(cover_add(c, 2, &hi, 100), 0);
	ck_assert_int_eq(cover_add(c, 3, &ports, 100), 0);
	sync_kernel(c, &fk);
	/* Two halves and the next ports: one box. */
	ck_assert_uint_eq(elements(c, &fk, &e), 1);
	assert_piece(&e[0], "10.0.0.0", "10.255.255.255", 1, 200, 100);

	/*
	 * A record beside it on other ports splits the addresses; the ports
	 * 1-200 of both sides do not merge across the middle slab because it
	 * reaches port 300 with the same end: three slabs, one box each.
	 */
	ck_assert_int_eq(cover_add(c, 4, &side, 100), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(elements(c, &fk, &e), 3);
	assert_piece(&e[0], "10.0.0.0", "10.0.255.255", 1, 200, 100);
	assert_piece(&e[1], "10.1.0.0", "10.1.255.255", 1, 300, 100);
	assert_piece(&e[2], "10.2.0.0", "10.255.255.255", 1, 200, 100);

	/* With another end beside, the 1-200 box runs through. */
	ck_assert_int_eq(cover_del(c, 4, &side), 0);
	ck_assert_int_eq(cover_add(c, 5, &side, 999), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(elements(c, &fk, &e), 2);
	assert_piece(&e[0], "10.0.0.0", "10.255.255.255", 1, 200, 100);
	assert_piece(&e[1], "10.1.0.0", "10.1.255.255", 201, 300, 999);
	ck_assert_uint_eq(fk.missing_del, 0);
	fk_release(&fk);
	cover_free(c);
}
END_TEST

UNIT_TEST("cases", test_whole_address_space)
{
	struct jit_cover *c = cover_new();
	struct fake_kernel fk = { 0 };
	struct jit_grant_key all4 = test_key("0.0.0.0/0", ANY, 1, 65535);
	struct jit_grant_key top4 = test_key("255.255.255.0/24", TCP, 1, 65535);
	struct jit_grant_key half4 = test_key("128.0.0.0/1", TCP, 65535, 65535);
	struct jit_grant_key all6 = test_key("::/0", UDP, 53, 53);
	struct jit_grant_key top6 =
		test_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
			 "ff00/120",
			 UDP, 53, 53);
	struct jit_grant_key host6 =
		test_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
			 "ffff",
			 UDP, 53, 53);
	_cleanup_free_ struct jit_elem *e = NULL;
	size_t n;

	ck_assert_int_eq(cover_add(c, 1, &all4, 100), 0);
	ck_assert_int_eq(cover_add(c, 2, &all6, 100), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(elements(c, &fk, &e), 3);
	assert_piece(&e[0], "0.0.0.0", "255.255.255.255", 1, 65535, 100);
	assert_piece(&e[1], "0.0.0.0", "255.255.255.255", 1, 65535, 100);
	assert_piece(&e[2], "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 53,
		     53, 100);

	ck_assert_int_eq(cover_add(c, 3, &top4, 200), 0);
	ck_assert_int_eq(cover_add(c, 4, &half4, 300), 0);
	ck_assert_int_eq(cover_add(c, 5, &top6, 200), 0);
	ck_assert_int_eq(cover_add(c, 6, &host6, 300), 0);
	sync_kernel(c, &fk);
	n = elements(c, &fk, &e);
	/* The host key sits in the hash set, over the interval piece. */
	ck_assert_uint_eq(fk.n[1], 1);
	ck_assert_uint_eq(end_at(&fk, "255.255.255.255", IPPROTO_TCP, 65535),
			  300);
	ck_assert_uint_eq(end_at(&fk, "255.255.255.255", IPPROTO_TCP, 65534),
			  200);
	ck_assert_uint_eq(end_at(&fk, "255.255.254.255", IPPROTO_TCP, 65534),
			  100);
	ck_assert_uint_eq(end_at(&fk, "255.255.254.255", IPPROTO_TCP, 65535),
			  300);
	ck_assert_uint_eq(end_at(&fk, "127.255.255.255", IPPROTO_TCP, 65535),
			  100);
	ck_assert_uint_eq(end_at(&fk, "255.255.255.255", IPPROTO_UDP, 65535),
			  100);
	ck_assert_uint_eq(end_at(&fk, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
				 IPPROTO_UDP, 53),
			  300);
	ck_assert_uint_eq(end_at(&fk, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
				 IPPROTO_UDP, 53),
			  200);
	ck_assert_uint_eq(end_at(&fk, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:feff",
				 IPPROTO_UDP, 53),
			  100);
	ck_assert_uint_eq(end_at(&fk, "::", IPPROTO_UDP, 53), 100);
	ck_assert_uint_eq(n, fk_count(&fk));

	/* Take the whole spaces away: only the smaller ones stay. */
	ck_assert_int_eq(cover_del(c, 1, &all4), 0);
	ck_assert_int_eq(cover_del(c, 2, &all6), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(end_at(&fk, "::", IPPROTO_UDP, 53), 0);
	ck_assert_uint_eq(end_at(&fk, "127.255.255.255", IPPROTO_TCP, 65535),
			  0);
	ck_assert_uint_eq(end_at(&fk, "255.255.255.255", IPPROTO_TCP, 1), 200);
	ck_assert_uint_eq(end_at(&fk, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00",
				 IPPROTO_UDP, 53),
			  200);
	ck_assert_uint_eq(fk.missing_del, 0);
	assert_elements_match(c, &fk);
	fk_release(&fk);
	cover_free(c);
}
END_TEST

UNIT_TEST("cases", test_identical_records)
{
	static const char *const keys[] = { "192.0.2.7", "2001:db8::/64" };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		struct jit_cover *c = cover_new();
		struct fake_kernel fk = { 0 };
		struct jit_grant_key k = test_key(keys[i], ANY, 443, 443);
		struct delta_size d;

		ck_assert_int_eq(cover_add(c, 1, &k, 100), 0);
		ck_assert_int_eq(cover_add(c, 2, &k, 100), 0);
		d = sync_kernel(c, &fk);
		ck_assert_uint_eq(d.add, 2);
		ck_assert_int_eq(cover_del(c, 1, &k), 0);
		d = sync_kernel(c, &fk);
		ck_assert_uint_eq(d.del + d.add, 0);
		ck_assert_uint_eq(cover_count(c), 2);
		ck_assert_int_eq(cover_del(c, 2, &k), 0);
		d = sync_kernel(c, &fk);
		ck_assert_uint_eq(d.del, 2);
		ck_assert_uint_eq(d.add, 0);
		ck_assert_uint_eq(cover_count(c), 0);
		ck_assert_uint_eq(fk_count(&fk), 0);
		ck_assert_uint_eq(fk.missing_del, 0);
		fk_release(&fk);
		cover_free(c);
	}
}
END_TEST

UNIT_TEST("cases", test_rollback)
{
	struct jit_cover *c = cover_new();
	struct fake_kernel fk = { 0 };
	struct jit_grant_key host = test_key("192.0.2.7", TCP, 22, 23);
	struct jit_grant_key net = test_key("198.51.100.0/24", UDP, 53, 53);
	struct jit_cover_stats st;
	struct jit_elem *del, *add;
	size_t n_del, n_add;

	ck_assert_int_eq(cover_add(c, 1, &host, 100), 0);
	ck_assert_int_eq(cover_add(c, 2, &net, 100), 0);
	sync_kernel(c, &fk);

	/* Delete both, add one again under the same id, then roll back. */
	ck_assert_int_eq(cover_del(c, 1, &host), 0);
	ck_assert_int_eq(cover_del(c, 2, &net), 0);
	ck_assert_int_eq(cover_add(c, 1, &net, 500), 0);
	ck_assert_uint_eq(staged_at(c, "198.51.100.9", IPPROTO_UDP, 53), 500);
	ck_assert_uint_eq(staged_at(c, "192.0.2.7", IPPROTO_TCP, 22), 0);
	ck_assert_int_eq(cover_delta(c, &del, &n_del, &add, &n_add), 0);
	ck_assert_uint_eq(n_del, 3);
	ck_assert_uint_eq(n_add, 1);
	free(del);
	free(add);
	cover_rollback(c);

	ck_assert_uint_eq(staged_at(c, "198.51.100.9", IPPROTO_UDP, 53), 100);
	ck_assert_uint_eq(staged_at(c, "192.0.2.7", IPPROTO_TCP, 23), 100);
	ck_assert_int_eq(cover_delta(c, &del, &n_del, &add, &n_add), 0);
	ck_assert_uint_eq(n_del + n_add, 0);
	ck_assert_ptr_null(del);
	ck_assert_ptr_null(add);
	/* Nothing is left to look at either. */
	cover_stats(c, &st);
	ck_assert_uint_eq(st.points_checked, 0);
	ck_assert_uint_eq(st.groups_computed, 0);
	ck_assert_uint_eq(st.records, 2);
	/* Record 1 is the host key again. */
	ck_assert_int_eq(cover_del(c, 1, &net), -EINVAL);
	ck_assert_int_eq(cover_del(c, 1, &host), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(cover_count(c), 1);
	assert_elements_match(c, &fk);

	/* Rolling back an add leaves nothing behind. */
	ck_assert_int_eq(cover_add(c, 9, &host, 100), 0);
	cover_rollback(c);
	ck_assert_int_eq(cover_del(c, 9, &host), -ENOENT);
	ck_assert_uint_eq(staged_at(c, "192.0.2.7", IPPROTO_TCP, 22), 0);
	cover_rollback(c); /* nothing staged: harmless */
	ck_assert_uint_eq(cover_count(c), 1);
	fk_release(&fk);
	cover_free(c);
}
END_TEST

/*
 * At start the daemon stages every record, commits without asking for a
 * delta and writes the sets whole from cover_elements.
 */
UNIT_TEST("cases", test_commit_without_delta)
{
	struct jit_cover *c = cover_new();
	struct fake_kernel fk = { 0 };
	struct jit_grant_key outer = test_key("10.0.0.0/8", ANY, 22, 22);
	struct jit_grant_key inner = test_key("10.1.0.0/16", TCP, 22, 22);
	struct jit_grant_key host = test_key("192.0.2.7", UDP, 53, 54);
	struct jit_elem *all;
	size_t n;

	ck_assert_int_eq(cover_add(c, 1, &outer, 100), 0);
	ck_assert_int_eq(cover_add(c, 2, &inner, 200), 0);
	ck_assert_int_eq(cover_add(c, 3, &host, 300), 0);
	cover_commit(c);
	ck_assert_uint_eq(cover_count(c), 6);
	ck_assert_int_eq(cover_elements(c, &all, &n), 0);
	ck_assert_uint_eq(n, 6);
	fk_apply(&fk, NULL, 0, all, n);
	free(all);
	assert_delta_empty(c, 0);
	ck_assert_uint_eq(end_at(&fk, "10.1.0.1", IPPROTO_TCP, 22), 200);
	ck_assert_uint_eq(end_at(&fk, "10.1.0.1", IPPROTO_UDP, 22), 100);
	ck_assert_uint_eq(end_at(&fk, "192.0.2.7", IPPROTO_UDP, 54), 300);

	/* And from there on, deltas as usual. */
	ck_assert_int_eq(cover_del(c, 2, &inner), 0);
	sync_kernel(c, &fk);
	ck_assert_uint_eq(end_at(&fk, "10.1.0.1", IPPROTO_TCP, 22), 100);
	ck_assert_uint_eq(fk.missing_del, 0);
	assert_elements_match(c, &fk);
	fk_release(&fk);
	cover_free(c);
}
END_TEST

UNIT_TEST("cases", test_errors)
{
	struct jit_cover *c = cover_new();
	struct jit_grant_key k = test_key("192.0.2.7", TCP, 22, 22);
	struct jit_grant_key bad = k;
	struct jit_elem *del, *add, *all;
	size_t n_del, n_add, n;
	struct jit_cover_stats st;
	uint8_t a[16] = { 192, 0, 2, 7 };

	ck_assert_ptr_null(cover_free(NULL));
	ck_assert_int_eq(cover_add(NULL, 1, &k, 1), -EINVAL);
	ck_assert_int_eq(cover_add(c, 1, NULL, 1), -EINVAL);
	ck_assert_int_eq(cover_del(NULL, 1, &k), -EINVAL);
	ck_assert_int_eq(cover_del(c, 1, NULL), -EINVAL);
	ck_assert_int_eq(cover_del(c, 1, &k), -ENOENT);
	ck_assert_int_eq(cover_delta(NULL, &del, &n_del, &add, &n_add),
			 -EINVAL);
	ck_assert_int_eq(cover_delta(c, NULL, &n_del, &add, &n_add), -EINVAL);
	ck_assert_int_eq(cover_delta(c, &del, &n_del, &add, NULL), -EINVAL);
	ck_assert_int_eq(cover_elements(NULL, &all, &n), -EINVAL);
	ck_assert_int_eq(cover_elements(c, NULL, &n), -EINVAL);
	ck_assert_uint_eq(cover_end_at(NULL, AF_INET, a, IPPROTO_TCP, 22), 0);
	ck_assert_uint_eq(cover_end_at(c, AF_INET, NULL, IPPROTO_TCP, 22), 0);
	ck_assert_uint_eq(cover_count(NULL), 0);
	cover_commit(NULL);
	cover_rollback(NULL);
	cover_stats(NULL, &st);
	ck_assert_uint_eq(st.records, 0);
	cover_stats(c, NULL);

	bad.protos = 0;
	ck_assert_int_eq(cover_add(c, 1, &bad, 1), -EINVAL);
	bad.protos = 4;
	ck_assert_int_eq(cover_add(c, 1, &bad, 1), -EINVAL);
	bad = k;
	bad.port_lo = 23;
	ck_assert_int_eq(cover_add(c, 1, &bad, 1), -EINVAL);
	bad = k;
	bad.source.len = 33;
	ck_assert_int_eq(cover_add(c, 1, &bad, 1), -EINVAL);
	bad.source.family = AF_UNIX;
	ck_assert_int_eq(cover_add(c, 1, &bad, 1), -EINVAL);

	/* End 0 would read as "no element": it becomes 1 ms. */
	ck_assert_int_eq(cover_add(c, 1, &k, 0), 0);
	ck_assert_int_eq(cover_add(c, 1, &k, 5), -EEXIST);
	ck_assert_uint_eq(cover_end_at(c, AF_INET, a, IPPROTO_TCP, 22), 1);
	ck_assert_uint_eq(cover_end_at(c, AF_INET, a, IPPROTO_UDP, 22), 0);
	ck_assert_uint_eq(cover_end_at(c, AF_INET, a, IPPROTO_ICMP, 22), 0);
	ck_assert_uint_eq(cover_end_at(c, AF_UNIX, a, IPPROTO_TCP, 22), 0);
	ck_assert_int_eq(cover_delta(c, &del, &n_del, &add, &n_add), 0);
	ck_assert_uint_eq(n_add, 1);
	ck_assert_uint_eq(add[0].end_ms, 1);
	free(del);
	free(add);
	cover_commit(c);

	/* Not the key it was added with. */
	bad = k;
	bad.protos = ANY;
	ck_assert_int_eq(cover_del(c, 1, &bad), -EINVAL);
	bad = test_key("192.0.2.8", TCP, 22, 22);
	ck_assert_int_eq(cover_del(c, 1, &bad), -EINVAL);
	bad = test_key("192.0.2.0/24", TCP, 22, 22);
	ck_assert_int_eq(cover_del(c, 1, &bad), -EINVAL);
	ck_assert_int_eq(cover_del(c, 1, &k), 0);
	cover_commit(c); /* without a delta: still consistent */

	/* Part of the ports, or a narrower prefix, is not the key either. */
	k = test_key("192.0.2.7", TCP, 22, 23);
	ck_assert_int_eq(cover_add(c, 2, &k, 5), 0);
	bad = test_key("192.0.2.7", TCP, 22, 22);
	ck_assert_int_eq(cover_del(c, 2, &bad), -EINVAL);
	bad = test_key("192.0.2.7", TCP, 23, 23);
	ck_assert_int_eq(cover_del(c, 2, &bad), -EINVAL);
	ck_assert_int_eq(cover_del(c, 2, &k), 0);
	k = test_key("10.0.0.0/8", UDP, 22, 23);
	ck_assert_int_eq(cover_add(c, 3, &k, 5), 0);
	bad = test_key("10.0.0.0/16", UDP, 22, 23);
	ck_assert_int_eq(cover_del(c, 3, &bad), -EINVAL);
	/* Same last address. */
	bad = test_key("10.128.0.0/9", UDP, 22, 23);
	ck_assert_int_eq(cover_del(c, 3, &bad), -EINVAL);
	bad = test_key("10.0.0.0/8", UDP, 22, 24);
	ck_assert_int_eq(cover_del(c, 3, &bad), -EINVAL);
	bad = test_key("10.0.0.0/8", ANY, 22, 23);
	ck_assert_int_eq(cover_del(c, 3, &bad), -EINVAL);
	ck_assert_int_eq(cover_del(c, 3, &k), 0);
	cover_commit(c);
	ck_assert_uint_eq(cover_count(c), 0);
	ck_assert_int_eq(cover_elements(c, &all, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(all);
	cover_free(c);
}
END_TEST

/* --- cost ---------------------------------------------------------------- */

#define MANY 100000

static struct jit_grant_key host_n(uint32_t i)
{
	struct jit_grant_key k = { .protos = ANY,
				   .port_lo = 22,
				   .port_hi = 22 };

	k.source = test_host_v4(i);
	return k;
}

static struct delta_size delta_commit(struct jit_cover *c)
{
	struct jit_elem *del, *add;
	struct delta_size d;

	ck_assert_int_eq(cover_delta(c, &del, &d.del, &add, &d.add), 0);
	cover_commit(c);
	free(del);
	free(add);
	return d;
}

UNIT_CASE("cost", .timeout_s = 60);

UNIT_TEST("cost", test_many_records)
{
	struct jit_cover *c = cover_new();
	struct jit_grant_key net4 = test_key("172.16.0.0/12", TCP, 22, 22);
	struct jit_grant_key net6 = test_key("2001:db8::/32", UDP, 53, 53);
	struct jit_grant_key net6t = test_key("2001:db8::/32", TCP, 53, 53);
	struct jit_grant_key one = test_key("198.51.100.1", TCP, 443, 443);
	struct jit_grant_key k;
	struct jit_cover_stats st;
	struct delta_size d;

	ck_assert_int_eq(cover_add(c, 1, &net4, 10), 0);
	ck_assert_int_eq(cover_add(c, 2, &net6, 10), 0);
	for (uint32_t i = 0; i < MANY; i++) {
		k = host_n(i);
		require(cover_add(c, 100 + i, &k, 1000 + i % 7) == 0,
			"adding host %u", i);
	}
	/* Staged, with the rollback journal still held. */
	cover_stats(c, &st);
	ck_assert_msg(st.bytes < 14u << 20, "%zu bytes staged", st.bytes);
	d = delta_commit(c);
	ck_assert_uint_eq(d.del, 0);
	ck_assert_uint_eq(d.add, 2 * MANY + 2);
	cover_stats(c, &st);
	ck_assert_uint_eq(st.records, MANY + 2);
	ck_assert_uint_eq(st.elements, 2 * MANY + 2);
	ck_assert_uint_eq(st.groups_computed, 2);
	/* Both protocols of 100,000 hosts, capacities included. */
	ck_assert_msg(st.bytes < 12u << 20, "%zu bytes for %d host records",
		      st.bytes, MANY);

	/* One more host: one element, no group recomputed. */
	ck_assert_int_eq(cover_add(c, 7, &one, 50), 0);
	d = delta_commit(c);
	ck_assert_uint_eq(d.del, 0);
	ck_assert_uint_eq(d.add, 1);
	cover_stats(c, &st);
	ck_assert_uint_eq(st.points_checked, 1);
	ck_assert_uint_eq(st.groups_computed, 0);

	/* A later end on an existing host: one replaced per protocol. */
	k = host_n(4242);
	ck_assert_int_eq(cover_add(c, 8, &k, 99999), 0);
	d = delta_commit(c);
	ck_assert_uint_eq(d.del, 2);
	ck_assert_uint_eq(d.add, 2);
	cover_stats(c, &st);
	ck_assert_uint_eq(st.points_checked, 1);

	/* A prefix: only its own group. */
	ck_assert_int_eq(cover_add(c, 9, &net6t, 10), 0);
	d = delta_commit(c);
	ck_assert_uint_eq(d.del, 0);
	ck_assert_uint_eq(d.add, 1);
	cover_stats(c, &st);
	ck_assert_uint_eq(st.points_checked, 0);
	ck_assert_uint_eq(st.groups_computed, 1);

	k = host_n(77);
	ck_assert_int_eq(cover_del(c, 100 + 77, &k), 0);
	d = delta_commit(c);
	ck_assert_uint_eq(d.del, 2);
	ck_assert_uint_eq(d.add, 0);
	ck_assert_uint_eq(cover_count(c), 2 * MANY + 2 + 1 - 2 + 1);
	cover_free(c);
}
END_TEST
