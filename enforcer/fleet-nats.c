/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fleet's NATS thread (see fleet-nats.h). Its credentials allow it
 * only its own range: a named push consumer w_<host> created on the
 * subject that carries its filter, direct gets of its own keys, replies
 * on its own inbox prefix, its registry key and its audit subject. So the
 * stock KV watcher (which needs stream lookups and unfiltered consumer
 * creation) is not used.
 *
 * On every (re)connect, missed heartbeat or lost message, the consumer is
 * made anew with "last per subject": a full snapshot of the range, then
 * changes as they come. The loop reconciles by absence after each
 * snapshot, as deleted markers may have been purged and aged-out keys
 * leave no event.
 */
#include <inttypes.h>
#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>

#include "fleet-nats.h"
#include "fleet-outbox.h"
#include "util.h"

#define TICK_MS		  200
#define RETRY_MS	  1000
#define API_WAIT_MS	  2000
#define DELETE_WAIT_MS	  1000
#define SNAPSHOT_WAIT_MS  5000
#define PUBLISH_PER_ROUND 64
/* The library's close waits this long beyond a connect in progress. */
#define CLOSE_WAIT_MS 5000

struct pub {
	uint64_t seq;
	char *msgid;
	char *line;
	unsigned attempts;
	struct pub *next;
};

/*
 * A thread asked to stop, not yet joined; drain_ms: the longest it may
 * take to end (its blocking calls, the library's close, and the threads
 * it waits for first).
 */
struct retired {
	pthread_t thread;
	int64_t drain_ms;
	struct retired *next;
};

/*
 * Threads stopped and not yet joined. A new thread joins them before it
 * touches the library (each ends with nats_CloseAndWait, which must not
 * overlap a new connection); fleet_nats_wait joins them at exit.
 */
static pthread_mutex_t retired_mu = PTHREAD_MUTEX_INITIALIZER;
static struct retired *retired_list;

struct jit_fleet_nats {
	/* Set at start, read-only after. */
	char host[JIT_FLEET_HOST_MAX + 1];
	char **servers;
	size_t n_servers;
	char *user, *password;
	char *ca_file, *cert_file, *key_file;
	json_t *labels;
	char *version;
	char filter[128], consumer[80], inbox[80], audit_subject[80],
		registry_subject[128];
	int64_t connect_timeout_ms;
	int64_t drain_ms; /* see struct retired */
	int efd;
	pthread_t thread;
	/* The threads to join before this one starts (its own). */
	struct retired *predecessors;

	/* Shared, under mu. */
	pthread_mutex_t mu;
	bool stop;
	struct jit_fleet_msg *q_head, *q_tail;
	struct pub *p_head, *p_tail;

	/* Set by the library's callbacks. */
	atomic_bool resubscribe;

	/* The thread's own. */
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;
	bool connected, watching, snapshot;
	bool lib_used; /* the library was given n */
	uint64_t sub_ms, sub_try_ms, last_register_ms, next_register_ms,
		next_publish_ms;
	char error[200];
};

static void push(struct jit_fleet_nats *n, struct jit_fleet_msg *m)
{
	uint64_t one = 1;

	pthread_mutex_lock(&n->mu);
	m->next = NULL;
	if (n->q_tail)
		n->q_tail->next = m;
	else
		n->q_head = m;
	n->q_tail = m;
	pthread_mutex_unlock(&n->mu);
	(void)!write(n->efd, &one, sizeof(one));
}

static void push_kind(struct jit_fleet_nats *n, enum jit_fleet_msg_kind k,
		      uint64_t seq)
{
	struct jit_fleet_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->kind = k;
	m->seq = seq;
	push(n, m);
}

static void push_state(struct jit_fleet_nats *n)
{
	struct jit_fleet_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->kind = JIT_FLEET_MSG_STATE;
	m->connected = n->connected;
	m->watching = n->watching;
	snprintf(m->text, sizeof(m->text), "%s", n->error);
	push(n, m);
}

__attribute__((format(printf, 3, 4))) static void
set_error(struct jit_fleet_nats *n, natsStatus s, const char *fmt, ...)
{
	char what[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(n->error, sizeof(n->error), "%s: %s", what,
		 natsStatus_GetText(s));
}

static void set_watching(struct jit_fleet_nats *n, bool on)
{
	if (n->watching == on)
		return;
	n->watching = on;
	if (on)
		n->error[0] = '\0';
	push_state(n);
}

/* --- callbacks (the library's threads) ---------------------------------- */

static void on_connection_change(natsConnection *nc, void *closure)
{
	struct jit_fleet_nats *n = closure;

	atomic_store(&n->resubscribe, true);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
		     void *closure)
{
	struct jit_fleet_nats *n = closure;

	/* Missed heartbeats, dropped messages: the watch is no longer
	 * whole. */
	if (err == NATS_MISSED_HEARTBEAT || err == NATS_SLOW_CONSUMER ||
	    err == NATS_NOT_PERMITTED)
		atomic_store(&n->resubscribe, true);
}

/* --- the watch ---------------------------------------------------------- */

static void drop_sub(struct jit_fleet_nats *n)
{
	if (n->sub) {
		(void)natsSubscription_Unsubscribe(n->sub);
		natsSubscription_Destroy(n->sub);
		n->sub = NULL;
	}
	n->snapshot = false;
}

static int subscribe(struct jit_fleet_nats *n)
{
	jsOptions jo, dj;
	jsSubOptions so;
	jsDirectGetMsgOptions dg;
	jsErrCode jerr = 0;
	natsMsg *probe = NULL;
	natsStatus s;

	drop_sub(n);
	atomic_store(&n->resubscribe, false);
	jsOptions_Init(&dj);
	dj.Wait = DELETE_WAIT_MS;
	/* One of that name may be left from an earlier connection. */
	(void)js_DeleteConsumer(n->js, JIT_FLEET_STREAM, n->consumer, &dj,
				&jerr);
	jsOptions_Init(&jo);
	jo.Wait = API_WAIT_MS;
	jsSubOptions_Init(&so);
	so.Stream = JIT_FLEET_STREAM;
	so.Config.Name = n->consumer;
	so.Config.DeliverPolicy = js_DeliverLastPerSubject;
	so.Config.AckPolicy = js_AckNone;
	so.Config.Heartbeat = (int64_t)JIT_FLEET_HEARTBEAT_MS * 1000000;
	so.Config.InactiveThreshold = (int64_t)30 * 1000000000;
	s = js_SubscribeSync(&n->sub, n->js, n->filter, &jo, &so, &jerr);
	if (s != NATS_OK) {
		n->sub = NULL;
		set_error(n, s, "creating consumer %s (error %d)", n->consumer,
			  (int)jerr);
		atomic_store(&n->resubscribe, true);
		return -EAGAIN;
	}
	push_kind(n, JIT_FLEET_MSG_SNAPSHOT_BEGIN, 0);
	n->snapshot = true;
	n->sub_ms = now_mono_ms();
	/* An empty range delivers nothing: ask for its newest entry. */
	memset(&dg, 0, sizeof(dg));
	dg.LastBySubject = n->filter;
	s = js_DirectGetMsg(&probe, n->js, JIT_FLEET_STREAM, &jo, &dg);
	if (s == NATS_NOT_FOUND) {
		push_kind(n, JIT_FLEET_MSG_SNAPSHOT_END, 0);
		n->snapshot = false;
		set_watching(n, true);
	}
	natsMsg_Destroy(probe);
	return 0;
}

static void on_msg(struct jit_fleet_nats *n, natsMsg *m)
{
	const char *subj = natsMsg_GetSubject(m), *op = NULL;
	const char *prefix = "$KV." JIT_FLEET_BUCKET ".";
	struct jit_fleet_msg *q;
	jsMsgMetaData *meta = NULL;
	uint64_t pending = 1;
	int len;

	if (!subj || strncmp(subj, prefix, strlen(prefix)) ||
	    natsMsg_GetMetaData(&meta, m) != NATS_OK) {
		/* Without its revision an entry cannot be applied: take the
		 * range again rather than lose it. */
		snprintf(n->error, sizeof(n->error),
			 "a message on '%.100s' without JetStream metadata",
			 subj ? subj : "");
		atomic_store(&n->resubscribe, true);
		return;
	}
	q = calloc(1, sizeof(*q));
	len = natsMsg_GetDataLength(m);
	if (!q)
		goto out;
	q->kind = JIT_FLEET_MSG_ENTRY;
	snprintf(q->entry.key, sizeof(q->entry.key), "%s",
		 subj + strlen(prefix));
	q->entry.rev = meta->Sequence.Stream;
	pending = meta->NumPending;
	q->entry.op = JIT_FLEET_PUT;
	if (natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op)
		q->entry.op = streq(op, "PURGE") ? JIT_FLEET_PURGE
			      : streq(op, "DEL") ? JIT_FLEET_DEL
						 : JIT_FLEET_PUT;
	if (q->entry.op == JIT_FLEET_PUT && len > 0) {
		q->entry.data = malloc((size_t)len);
		if (!q->entry.data) {
			free(q);
			atomic_store(&n->resubscribe, true);
			goto out;
		}
		memcpy(q->entry.data, natsMsg_GetData(m), (size_t)len);
		q->entry.len = (size_t)len;
	}
	push(n, q);
	if (n->snapshot && pending == 0) {
		push_kind(n, JIT_FLEET_MSG_SNAPSHOT_END, 0);
		n->snapshot = false;
		set_watching(n, true);
	}
out:
	jsMsgMetaData_Destroy(meta);
}

/* --- registry and audit ------------------------------------------------- */

static void do_register(struct jit_fleet_nats *n, uint64_t now)
{
	jsPubOptions po;
	jsErrCode jerr = 0;
	natsStatus s;
	char *text;
	json_t *v = json_pack("{s:s, s:O, s:s, s:I}", "host", n->host, "labels",
			      n->labels, "version", n->version, "last_seen_ms",
			      (json_int_t)now_real_ms());

	text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (!text)
		return;
	jsPubOptions_Init(&po);
	po.MaxWait = API_WAIT_MS;
	s = js_Publish(NULL, n->js, n->registry_subject, text,
		       (int)strlen(text), &po, &jerr);
	free(text);
	if (s == NATS_OK) {
		n->next_register_ms = now + JIT_FLEET_REGISTER_MS;
	} else {
		set_error(n, s, "registering in " JIT_FLEET_HOSTS_BUCKET);
		n->next_register_ms = now + 5000;
	}
}

static bool stopping(struct jit_fleet_nats *n);

static void publish_some(struct jit_fleet_nats *n, uint64_t now)
{
	/* Each publish may wait API_WAIT_MS: a stop asked meanwhile must
	 * not wait for the whole round (the next thread waits for this
	 * one, and the exit a few seconds). */
	for (int i = 0;
	     i < PUBLISH_PER_ROUND && now >= n->next_publish_ms && !stopping(n);
	     i++) {
		jsPubOptions po;
		jsPubAck *pa = NULL;
		jsErrCode jerr = 0;
		struct pub *p;
		natsStatus s;

		pthread_mutex_lock(&n->mu);
		p = n->p_head;
		pthread_mutex_unlock(&n->mu);
		if (!p)
			return;
		jsPubOptions_Init(&po);
		po.MsgId = p->msgid;
		po.MaxWait = API_WAIT_MS;
		s = js_Publish(&pa, n->js, n->audit_subject, p->line,
			       (int)strlen(p->line), &po, &jerr);
		if (s != NATS_OK) {
			p->attempts++;
			set_error(n, s, "publishing on %s (error %d)",
				  n->audit_subject, (int)jerr);
			n->next_publish_ms = now + RETRY_MS;
			return;
		}
		/* Never sent before, yet already in the stream: someone
		 * else used the id. */
		if (pa->Duplicate && p->attempts == 0)
			push_kind(n, JIT_FLEET_MSG_SQUATTED, p->seq);
		jsPubAck_Destroy(pa);
		pthread_mutex_lock(&n->mu);
		n->p_head = p->next;
		if (!n->p_head)
			n->p_tail = NULL;
		pthread_mutex_unlock(&n->mu);
		push_kind(n, JIT_FLEET_MSG_ACKED, p->seq);
		free(p->msgid);
		free(p->line);
		free(p);
	}
}

/* --- the thread ---------------------------------------------------------- */

static natsStatus make_options(struct jit_fleet_nats *n, natsOptions **ret)
{
	natsOptions *o = NULL;
	natsStatus s;
	bool tls = n->ca_file || n->cert_file;

	for (size_t i = 0; i < n->n_servers; i++)
		tls |= !strncmp(n->servers[i], "tls://", 6);
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, (const char **)n->servers,
					   (int)n->n_servers);
	if (s == NATS_OK && n->password)
		s = natsOptions_SetUserInfo(o, n->user, n->password);
	if (s == NATS_OK)
		s = natsOptions_SetCustomInboxPrefix(o, n->inbox);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, n->host);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 500);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, n->connect_timeout_ms);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(o, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(o, 2);
	/* A request while disconnected fails now, not after reconnect. */
	if (s == NATS_OK)
		s = natsOptions_SetFailRequestsOnDisconnect(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(
			o, true, on_connection_change, n);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_connection_change, n);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_connection_change, n);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, on_error, n);
	if (s == NATS_OK && tls)
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && n->ca_file)
		s = natsOptions_LoadCATrustedCertificates(o, n->ca_file);
	if (s == NATS_OK && n->cert_file)
		s = natsOptions_LoadCertificatesChain(o, n->cert_file,
						      n->key_file);
	if (s != NATS_OK) {
		natsOptions_Destroy(o);
		return s;
	}
	*ret = o;
	return NATS_OK;
}

static bool stopping(struct jit_fleet_nats *n)
{
	bool stop;

	pthread_mutex_lock(&n->mu);
	stop = n->stop;
	pthread_mutex_unlock(&n->mu);
	return stop;
}

static void nap(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Options, connection, JetStream context; retried until stopped. */
static int setup(struct jit_fleet_nats *n, natsOptions **o)
{
	jsOptions jo;
	natsStatus s;

	while (!stopping(n)) {
		/* From here on, the library may hold n (callbacks). */
		n->lib_used = true;
		s = make_options(n, o);
		if (s == NATS_OK) {
			s = natsConnection_Connect(&n->nc, *o);
			if (s == NATS_NOT_YET_CONNECTED)
				s = NATS_OK;
		}
		if (s == NATS_OK) {
			jsOptions_Init(&jo);
			jo.Wait = API_WAIT_MS;
			s = natsConnection_JetStream(&n->js, n->nc, &jo);
		}
		if (s == NATS_OK)
			return 0;
		set_error(n, s, "setting up the NATS connection");
		push_state(n);
		jsCtx_Destroy(n->js);
		natsConnection_Destroy(n->nc);
		natsOptions_Destroy(*o);
		n->js = NULL;
		n->nc = NULL;
		*o = NULL;
		nap(RETRY_MS);
	}
	return -ECANCELED;
}

static void free_state(struct jit_fleet_nats *n);

static void *thread_main(void *arg)
{
	struct jit_fleet_nats *n = arg;
	natsOptions *o = NULL;
	natsStatus s;
	bool closed;

	/* Threads stopped before this one started end first: the library
	 * is theirs until their nats_CloseAndWait returned. The loop does
	 * not wait for this (a stopped thread may sit in a connect). */
	while (n->predecessors) {
		struct retired *r = n->predecessors;

		n->predecessors = r->next;
		pthread_join(r->thread, NULL);
		free(r);
	}
	if (setup(n, &o) < 0)
		goto out;
	atomic_store(&n->resubscribe, true);
	while (!stopping(n)) {
		uint64_t now = now_mono_ms();
		bool up = natsConnection_Status(n->nc) ==
			  NATS_CONN_STATUS_CONNECTED;
		natsMsg *m = NULL;

		if (up != n->connected) {
			n->connected = up;
			if (!up) {
				snprintf(n->error, sizeof(n->error),
					 "no NATS server reachable");
				n->watching = false;
			}
			push_state(n);
		}
		if (!up) {
			drop_sub(n);
			atomic_store(&n->resubscribe, true);
			nap(TICK_MS);
			continue;
		}
		/* At most one new consumer a second (a loop asking again
		 * while its journal fails must not spin). */
		if ((atomic_load(&n->resubscribe) ||
		     (n->snapshot && now - n->sub_ms > SNAPSHOT_WAIT_MS)) &&
		    now - n->sub_try_ms >= RETRY_MS) {
			n->sub_try_ms = now;
			set_watching(n, false);
			if (subscribe(n) < 0)
				push_state(n);
		}
		/* The registry and the audit stream do not need the watch:
		 * they go on while it is being made again (or cannot be). */
		if (now >= n->next_register_ms)
			do_register(n, now);
		publish_some(n, now);
		if (!n->sub) {
			nap(TICK_MS);
			continue;
		}
		s = natsSubscription_NextMsg(&m, n->sub, TICK_MS);
		if (s == NATS_OK) {
			on_msg(n, m);
			natsMsg_Destroy(m);
		} else if (s != NATS_TIMEOUT) {
			set_error(n, s, "watching %s", n->filter);
			atomic_store(&n->resubscribe, true);
		}
	}
out:
	drop_sub(n);
	jsCtx_Destroy(n->js);
	natsConnection_Destroy(n->nc);
	natsOptions_Destroy(o);
	/* The library's own threads and memory, before a restart of ours
	 * (a reload) opens it again. Its reconnect thread may be in a
	 * connect: the loop does not wait for this one, a successor does. */
	s = nats_CloseAndWait(n->connect_timeout_ms + CLOSE_WAIT_MS);
	/* NATS_NOT_INITIALIZED: nothing was open (a thread stopped before it
	 * connected). */
	closed = s == NATS_OK || s == NATS_NOT_INITIALIZED || !n->lib_used;
	/* The loop let go of n when it asked the stop: n is this thread's
	 * to free, unless a callback of the library may still come (it
	 * did not close in time): then it is left, a few hundred bytes. */
	if (closed)
		free_state(n);
	return NULL;
}

/* --- the loop's side ----------------------------------------------------- */

int fleet_nats_start(const struct jit_fleet_conf *conf, const char *password,
		     const char *version, struct jit_fleet_nats **ret, int *fd)
{
	struct jit_fleet_nats *n = calloc(1, sizeof(*n));
	int r = -ENOMEM;

	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->mu, NULL);
	n->efd = -1;
	n->connect_timeout_ms = conf->connect_timeout_ms;
	snprintf(n->host, sizeof(n->host), "%s", conf->host);
	n->servers = calloc(conf->n_servers, sizeof(*n->servers));
	n->labels = json_object();
	if (!n->servers || !n->labels)
		goto fail;
	for (size_t i = 0; i < conf->n_servers; i++) {
		n->servers[i] = strdup(conf->servers[i]);
		if (!n->servers[i])
			goto fail;
		n->n_servers++;
	}
	for (size_t i = 0; i < conf->n_labels; i++)
		json_object_set_new(n->labels, conf->labels[i].key,
				    json_string(conf->labels[i].value));
	n->user = strdup(conf->user);
	n->version = strdup(version);
	if (!n->user || !n->version)
		goto fail;
	if ((password && !(n->password = strdup(password))) ||
	    (conf->tls_ca_file && !(n->ca_file = strdup(conf->tls_ca_file))) ||
	    (conf->tls_cert_file &&
	     !(n->cert_file = strdup(conf->tls_cert_file))) ||
	    (conf->tls_key_file && !(n->key_file = strdup(conf->tls_key_file))))
		goto fail;
	snprintf(n->filter, sizeof(n->filter), "$KV.%s.host.%s.>",
		 JIT_FLEET_BUCKET, n->host);
	snprintf(n->consumer, sizeof(n->consumer), "w_%s", n->host);
	snprintf(n->inbox, sizeof(n->inbox), "_INBOX_%s", n->host);
	snprintf(n->audit_subject, sizeof(n->audit_subject), "audit.%s",
		 n->host);
	snprintf(n->registry_subject, sizeof(n->registry_subject),
		 "$KV.%s.host.%s", JIT_FLEET_HOSTS_BUCKET, n->host);
	n->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->efd < 0) {
		r = -errno;
		goto fail;
	}
	/* Its own blocking calls at worst: a connect to each server, three
	 * JetStream calls, the library's close. */
	n->drain_ms = (int64_t)n->n_servers * n->connect_timeout_ms +
		      3 * API_WAIT_MS + n->connect_timeout_ms + CLOSE_WAIT_MS;
	/* The new thread joins every thread stopped so far. */
	pthread_mutex_lock(&retired_mu);
	n->predecessors = retired_list;
	retired_list = NULL;
	for (struct retired *p = n->predecessors; p; p = p->next)
		n->drain_ms += p->drain_ms;
	pthread_mutex_unlock(&retired_mu);
	r = -pthread_create(&n->thread, NULL, thread_main, n);
	if (r < 0) {
		struct retired **tail;

		pthread_mutex_lock(&retired_mu);
		for (tail = &n->predecessors; *tail; tail = &(*tail)->next)
			;
		*tail = retired_list;
		retired_list = n->predecessors;
		n->predecessors = NULL;
		pthread_mutex_unlock(&retired_mu);
		goto fail;
	}
	*fd = n->efd;
	*ret = n;
	return 0;
fail:
	free_state(n);
	return r;
}

void fleet_nats_stop(struct jit_fleet_nats *n)
{
	struct retired *r;
	int64_t drain;
	pthread_t t;

	if (!n)
		return;
	/* Read before the stop: once it is seen, n may be freed. */
	t = n->thread;
	drain = n->drain_ms;
	r = malloc(sizeof(*r));
	pthread_mutex_lock(&n->mu);
	n->stop = true;
	pthread_mutex_unlock(&n->mu);
	if (!r) {
		/* Nowhere to keep it for a join: it frees its own state
		 * all the same, and nothing waits for it. */
		pthread_detach(t);
		return;
	}
	r->thread = t;
	r->drain_ms = drain;
	pthread_mutex_lock(&retired_mu);
	r->next = retired_list;
	retired_list = r;
	pthread_mutex_unlock(&retired_mu);
}

int fleet_nats_wait(int64_t timeout_ms)
{
	struct timespec deadline;
	struct retired *r, *left = NULL;
	int running = 0;

	pthread_mutex_lock(&retired_mu);
	if (timeout_ms < 0) {
		/* As long as the slowest may take, within the cap. */
		timeout_ms = 0;
		for (r = retired_list; r; r = r->next)
			if (r->drain_ms > timeout_ms)
				timeout_ms = r->drain_ms;
		if (timeout_ms > JIT_FLEET_EXIT_WAIT_MAX_MS)
			timeout_ms = JIT_FLEET_EXIT_WAIT_MAX_MS;
	}
	pthread_mutex_unlock(&retired_mu);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&retired_mu);
	r = retired_list;
	retired_list = NULL;
	pthread_mutex_unlock(&retired_mu);
	while (r) {
		struct retired *next = r->next;

		if (pthread_timedjoin_np(r->thread, NULL, &deadline) == 0) {
			free(r);
		} else {
			r->next = left;
			left = r;
			running++;
		}
		r = next;
	}
	pthread_mutex_lock(&retired_mu);
	for (r = left; r && r->next; r = r->next)
		;
	if (r) {
		r->next = retired_list;
		retired_list = left;
	}
	pthread_mutex_unlock(&retired_mu);
	return running;
}

static void free_state(struct jit_fleet_nats *n)
{
	struct jit_fleet_msg *m;

	while ((m = fleet_nats_take(n))) {
		while (m) {
			struct jit_fleet_msg *next = m->next;

			free(m->entry.data);
			free(m);
			m = next;
		}
	}
	while (n->p_head) {
		struct pub *p = n->p_head;

		n->p_head = p->next;
		free(p->msgid);
		free(p->line);
		free(p);
	}
	for (size_t i = 0; i < n->n_servers; i++)
		free(n->servers[i]);
	free(n->servers);
	free(n->user);
	if (n->password)
		explicit_bzero(n->password, strlen(n->password));
	free(n->password);
	free(n->ca_file);
	free(n->cert_file);
	free(n->key_file);
	free(n->version);
	json_decref(n->labels);
	if (n->efd >= 0)
		close(n->efd);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

void fleet_nats_resnapshot(struct jit_fleet_nats *n)
{
	atomic_store(&n->resubscribe, true);
}

struct jit_fleet_msg *fleet_nats_take(struct jit_fleet_nats *n)
{
	struct jit_fleet_msg *m;
	uint64_t v;

	(void)!read(n->efd, &v, sizeof(v));
	pthread_mutex_lock(&n->mu);
	m = n->q_head;
	n->q_head = n->q_tail = NULL;
	pthread_mutex_unlock(&n->mu);
	return m;
}

int fleet_nats_publish(struct jit_fleet_nats *n, uint64_t seq,
		       const char *nonce, const char *line, bool resend)
{
	struct pub *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->seq = seq;
	/* A line from before a restart may have been stored already. */
	p->attempts = resend ? 1 : 0;
	p->line = strdup(line);
	p->msgid = malloc(JIT_FLEET_HOST_MAX + JIT_FLEET_NONCE_LEN + 24);
	if (!p->line || !p->msgid) {
		free(p->msgid);
		free(p->line);
		free(p);
		return -ENOMEM;
	}
	fleet_msgid(n->host, nonce, seq, p->msgid,
		    JIT_FLEET_HOST_MAX + JIT_FLEET_NONCE_LEN + 24);
	pthread_mutex_lock(&n->mu);
	if (n->p_tail)
		n->p_tail->next = p;
	else
		n->p_head = p;
	n->p_tail = p;
	pthread_mutex_unlock(&n->mu);
	return 0;
}
