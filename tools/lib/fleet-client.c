/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl's NATS calls for fleet mode (libnats 3.4.1): connect as the
 * person's fleet identity, create the buckets and the audit stream, read
 * and write requests, hosts and grants, read the audit stream. Every write
 * is idempotent (create-if-absent, CAS on a revision, delete), because a
 * write that timed out may still be applied later.
 */
#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet-client.h"
#include "util.h"

/* How long one JetStream call waits for its answer. */
#define FLEET_WAIT_MS 5000
/* How long a delete is retried before it is reported as failed. */
#define FLEET_DELETE_DEADLINE_MS 30000

/*
 * The server's last permission violation on our connection: it answers a
 * refused request with nothing, so the call only sees a timeout.
 */
static pthread_mutex_t violation_lock = PTHREAD_MUTEX_INITIALIZER;
static char violation[512];

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus s,
		     void *arg)
{
	const char *text = NULL;

	(void)sub;
	(void)arg;
	if (s != NATS_NOT_PERMITTED)
		return;
	natsConnection_GetLastError(nc, &text);
	pthread_mutex_lock(&violation_lock);
	snprintf(violation, sizeof(violation), "%s",
		 text ? text : "permissions violation");
	pthread_mutex_unlock(&violation_lock);
}

struct fleet_client {
	natsConnection *nc;
	jsCtx *js;
	char inbox[FLEET_NAME_MAX + 8];
};

static int nats_fail(char *err, size_t n, const char *what, natsStatus s)
{
	natsStatus ls;
	const char *text = nats_GetLastError(&ls);
	bool refused;

	pthread_mutex_lock(&violation_lock);
	refused = violation[0] != '\0';
	if (refused)
		snprintf(err, n, "%s: the servers refuse it to this user (%s)",
			 what, violation);
	violation[0] = '\0';
	pthread_mutex_unlock(&violation_lock);
	if (refused)
		return -EACCES;

	snprintf(err, n, "%s: %s", what,
		 text && text[0] ? text : natsStatus_GetText(s));
	switch (s) {
	case NATS_TIMEOUT:
		return -ETIMEDOUT;
	case NATS_NOT_PERMITTED:
		return -EACCES;
	case NATS_NO_SERVER:
	case NATS_CONNECTION_CLOSED:
	case NATS_NO_RESPONDERS:
		return -EHOSTUNREACH;
	case NATS_NOT_FOUND:
		return -ENOENT;
	default:
		return -EIO;
	}
}

int fleet_connect(const struct fleet_config *cfg, int64_t timeout_ms,
		  struct fleet_client **ret, char *err, size_t n)
{
	struct fleet_client *c = calloc(1, sizeof(*c));
	natsOptions *o = NULL;
	jsOptions jo;
	natsStatus s;
	int r;

	if (!c)
		abort();
	snprintf(c->inbox, sizeof(c->inbox), "_INBOX_%s", cfg->user);
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, (const char **)cfg->servers,
					   (int)cfg->nservers);
	if (s == NATS_OK && cfg->password)
		s = natsOptions_SetUserInfo(o, cfg->user, cfg->password);
	/* Replies come to our own inbox: the permissions allow no other. */
	if (s == NATS_OK)
		s = natsOptions_SetCustomInboxPrefix(o, c->inbox);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, cfg->connect_timeout_ms
						      ? cfg->connect_timeout_ms
						      : timeout_ms);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, 5);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, on_error, NULL);
	if (s == NATS_OK && (cfg->tls_ca || cfg->tls_cert))
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && cfg->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(o, cfg->tls_ca);
	if (s == NATS_OK && cfg->tls_cert)
		s = natsOptions_LoadCertificatesChain(o, cfg->tls_cert,
						      cfg->tls_key);
	if (s == NATS_OK)
		s = natsConnection_Connect(&c->nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK) {
		r = nats_fail(err, n, "cannot reach the fleet's servers", s);
		if (s == NATS_CONNECTION_AUTH_FAILED)
			r = -EACCES;
		fleet_close(c);
		return r;
	}
	jsOptions_Init(&jo);
	jo.Wait = FLEET_WAIT_MS;
	s = natsConnection_JetStream(&c->js, c->nc, &jo);
	if (s != NATS_OK) {
		r = nats_fail(err, n, "JetStream", s);
		fleet_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

struct fleet_client *fleet_close(struct fleet_client *c)
{
	if (!c)
		return NULL;
	jsCtx_Destroy(c->js);
	if (c->nc) {
		natsConnection_FlushTimeout(c->nc, 1000);
		natsConnection_Destroy(c->nc);
	}
	free(c);
	return NULL;
}

static int open_kv(struct fleet_client *c, const char *bucket, kvStore **kv,
		   char *err, size_t n)
{
	natsStatus s = js_KeyValue(kv, c->js, bucket);

	if (s == NATS_OK)
		return 0;
	if (s == NATS_NOT_FOUND) {
		snprintf(err, n,
			 "bucket '%s' does not exist (run 'jitctl fleet init' "
			 "as the fleet's admin)",
			 bucket);
		return -ENOENT;
	}
	return nats_fail(err, n, bucket, s);
}

int fleet_init(struct fleet_client *c, int replicas, json_t **done, char *err,
	       size_t n)
{
	static const struct {
		const char *bucket;
		uint8_t history;
		int64_t ttl_s;
	} buckets[] = {
		/* 2 x the longest grant (24 h): a live grant never ages out. */
		{ FLEET_BUCKET_GRANTS, 5, 48LL * 3600 },
		{ FLEET_BUCKET_REQUESTS, 10, 30LL * 24 * 3600 },
		{ FLEET_BUCKET_HOSTS, 1, 0 },
	};
	const char *subjects[] = { "audit.>" };
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	json_t *list = json_array();

	for (size_t i = 0; i < ARRAY_SIZE(buckets); i++) {
		kvStore *kv = NULL;
		kvConfig kc;

		kvConfig_Init(&kc);
		kc.Bucket = buckets[i].bucket;
		kc.History = buckets[i].history;
		/* Nanoseconds in libnats 3.4.1 (its header does not say). */
		kc.TTL = buckets[i].ttl_s * 1000000000LL;
		kc.MaxValueSize = FLEET_VALUE_MAX;
		kc.StorageType = js_FileStorage;
		kc.Replicas = replicas;
		s = js_CreateKeyValue(&kv, c->js, &kc);
		if (s != NATS_OK) {
			json_decref(list);
			return nats_fail(err, n, buckets[i].bucket, s);
		}
		kvStore_Destroy(kv);
		json_array_append_new(list, json_string(buckets[i].bucket));
	}
	jsStreamConfig_Init(&sc);
	sc.Name = FLEET_STREAM_AUDIT;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.MaxAge = 30LL * 24 * 3600 * 1000000000LL;
	sc.Duplicates = 120LL * 1000000000LL;
	sc.DenyDelete = true;
	sc.DenyPurge = true;
	sc.Replicas = replicas;
	sc.MaxMsgSize = FLEET_VALUE_MAX;
	s = js_AddStream(&si, c->js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		json_decref(list);
		return nats_fail(err, n, FLEET_STREAM_AUDIT, s);
	}
	jsStreamInfo_Destroy(si);
	json_array_append_new(list, json_string(FLEET_STREAM_AUDIT));
	*done = list;
	return 0;
}

/* The newest entry of key, or NULL (none, or a delete marker). */
static kvEntry *kv_get(kvStore *kv, const char *key)
{
	kvEntry *e = NULL;

	if (kvStore_Get(&e, kv, key) != NATS_OK)
		return NULL;
	if (kvEntry_Operation(e) != kvOp_Put) {
		kvEntry_Destroy(e);
		return NULL;
	}
	return e;
}

int fleet_kv_create(struct fleet_client *c, const char *bucket, const char *key,
		    json_t *value, uint64_t *rev, char *err, size_t n)
{
	_cleanup_free_ char *data = fleet_value_encode(value);
	kvStore *kv = NULL;
	kvEntry *e;
	natsStatus s;
	int r;

	if (strlen(data) > FLEET_VALUE_MAX) {
		snprintf(err, n, "%s: value longer than %d bytes", key,
			 FLEET_VALUE_MAX);
		return -E2BIG;
	}
	if ((r = open_kv(c, bucket, &kv, err, n)))
		return r;
	s = kvStore_CreateString(rev, kv, key, data);
	if (s != NATS_OK) {
		r = nats_fail(err, n, key, s);
		/* Already there (an earlier try that timed out, or a twin). */
		e = kv_get(kv, key);
		if (e) {
			if (rev)
				*rev = kvEntry_Revision(e);
			kvEntry_Destroy(e);
			r = -EEXIST;
		}
	}
	kvStore_Destroy(kv);
	return r;
}

int fleet_kv_update(struct fleet_client *c, const char *bucket, const char *key,
		    json_t *value, uint64_t last, uint64_t *rev, char *err,
		    size_t n)
{
	_cleanup_free_ char *data = fleet_value_encode(value);
	kvStore *kv = NULL;
	natsStatus s;
	int r;

	if (strlen(data) > FLEET_VALUE_MAX) {
		snprintf(err, n, "%s: value longer than %d bytes", key,
			 FLEET_VALUE_MAX);
		return -E2BIG;
	}
	if ((r = open_kv(c, bucket, &kv, err, n)))
		return r;
	s = kvStore_UpdateString(rev, kv, key, data, last);
	if (s != NATS_OK) {
		natsStatus ls;
		const char *text = nats_GetLastError(&ls);

		r = nats_fail(err, n, key, s);
		if (text && strstr(text, "wrong last sequence"))
			r = -ESTALE;
	}
	kvStore_Destroy(kv);
	return r;
}

/* One asynchronous write of a batch, and what became of it. */
struct batch {
	pthread_mutex_t lock;
	char **subjects;
	int *results;
	size_t n;
	char err[256];
};

static void batch_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
		      void *closure)
{
	struct batch *b = closure;
	const char *subject = natsMsg_GetSubject(msg);

	(void)js;
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->n; i++) {
		if (!b->subjects[i] || !streq(subject, b->subjects[i]))
			continue;
		if (pa)
			b->results[i] = 0;
		else if (pae && pae->ErrCode == JSStreamWrongLastSequenceErr)
			b->results[i] = -EEXIST;
		else
			b->results[i] = -EIO;
		if (!pa && pae && !b->err[0])
			snprintf(b->err, sizeof(b->err), "%s: %s", subject,
				 pae->ErrText ? pae->ErrText
					      : natsStatus_GetText(pae->Err));
		break;
	}
	pthread_mutex_unlock(&b->lock);
	natsMsg_Destroy(msg);
}

int fleet_kv_batch(struct fleet_client *c, const char *bucket, bool del,
		   const char *const *keys, json_t *const *values, size_t n,
		   int *results, char *err, size_t errn)
{
	struct batch *b = calloc(1, sizeof(*b));
	natsMsgList pending = { 0 };
	jsCtx *js = NULL;
	jsOptions jo;
	jsPubOptions po;
	natsStatus s;
	kvStore *kv = NULL;

	if (!b)
		abort();
	pthread_mutex_init(&b->lock, NULL);
	b->n = n;
	b->subjects = calloc(n + 1, sizeof(*b->subjects));
	b->results = results;
	if (!b->subjects)
		abort();
	for (size_t i = 0; i < n; i++)
		results[i] = -ETIMEDOUT;
	jsOptions_Init(&jo);
	jo.Wait = FLEET_WAIT_MS;
	jo.PublishAsync.AckHandler = batch_ack;
	jo.PublishAsync.AckHandlerClosure = b;
	s = natsConnection_JetStream(&js, c->nc, &jo);
	if (s != NATS_OK) {
		free(b->subjects);
		free(b);
		return nats_fail(err, errn, "JetStream", s);
	}
	/* All in flight at once: one round trip, not one per host. */
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *data =
			del ? NULL : fleet_value_encode(values[i]);
		natsMsg *m = NULL;

		if (asprintf(&b->subjects[i], "$KV.%s.%s", bucket, keys[i]) < 0)
			abort();
		s = natsMsg_Create(&m, b->subjects[i], NULL, data ? data : "",
				   data ? (int)strlen(data) : 0);
		if (s == NATS_OK)
			s = del ? natsMsgHeader_Set(m, "KV-Operation", "DEL")
				: natsMsgHeader_Set(
					  m,
					  "Nats-Expected-Last-Subject-Sequence",
					  "0");
		if (s == NATS_OK)
			s = js_PublishMsgAsync(js, &m, NULL);
		natsMsg_Destroy(m);
		if (s != NATS_OK) {
			pthread_mutex_lock(&b->lock);
			results[i] = -EIO;
			pthread_mutex_unlock(&b->lock);
		}
	}
	jsPubOptions_Init(&po);
	po.MaxWait = FLEET_WAIT_MS;
	js_PublishAsyncComplete(js, &po);
	/*
	 * Acks still on their way are not counted: the caller retries those.
	 * Their messages are taken back, so no callback is due for them; one
	 * may be running now, so b is left for it (a few bytes, once).
	 */
	js_PublishAsyncGetPendingList(&pending, js);
	natsMsgList_Destroy(&pending);
	pthread_mutex_lock(&b->lock);
	b->n = 0;
	snprintf(err, errn, "%s", b->err);
	pthread_mutex_unlock(&b->lock);
	jsCtx_Destroy(js);
	/* A create refused because the key has a history: live, or deleted. */
	for (size_t i = 0; i < n && !del; i++) {
		kvEntry *e;

		if (results[i] != -EEXIST)
			continue;
		if (!kv && open_kv(c, bucket, &kv, err, errn))
			break;
		e = kv_get(kv, keys[i]);
		if (!e)
			results[i] = -ESTALE;
		kvEntry_Destroy(e);
	}
	kvStore_Destroy(kv);
	if (!pending.Count) {
		for (size_t i = 0; i < n; i++)
			free(b->subjects[i]);
		free(b->subjects);
		free(b);
	}
	return 0;
}

int fleet_kv_delete(struct fleet_client *c, const char *bucket, const char *key,
		    char *err, size_t n)
{
	uint64_t deadline = now_mono_ms() + FLEET_DELETE_DEADLINE_MS;
	kvStore *kv = NULL;
	natsStatus s;
	int r;

	if ((r = open_kv(c, bucket, &kv, err, n)))
		return r;
	/* A delete that timed out may have been applied: again is harmless. */
	for (;;) {
		s = kvStore_Delete(kv, key);
		if (s == NATS_OK)
			break;
		r = nats_fail(err, n, key, s);
		if (s == NATS_NOT_PERMITTED || now_mono_ms() >= deadline)
			break;
		nats_Sleep(250);
	}
	kvStore_Destroy(kv);
	return s == NATS_OK ? 0 : r;
}

int fleet_kv_last(struct fleet_client *c, const char *bucket,
		  const char *pattern, char **key, json_t **value,
		  uint64_t *rev, char *err, size_t n)
{
	_cleanup_free_ char *stream = NULL, *subject = NULL;
	jsDirectGetMsgOptions dgo;
	const char *op = NULL, *subj = NULL, *seq = NULL;
	natsMsg *m = NULL;
	natsStatus s;
	size_t plen;

	if (asprintf(&stream, "KV_%s", bucket) < 0 ||
	    asprintf(&subject, "$KV.%s.%s", bucket, pattern) < 0)
		abort();
	jsDirectGetMsgOptions_Init(&dgo);
	dgo.LastBySubject = subject;
	s = js_DirectGetMsg(&m, c->js, stream, NULL, &dgo);
	if (s == NATS_NOT_FOUND) {
		snprintf(err, n, "no such key");
		return -ENOENT;
	}
	if (s != NATS_OK)
		return nats_fail(err, n, pattern, s);
	natsMsgHeader_Get(m, "KV-Operation", &op);
	natsMsgHeader_Get(m, "Nats-Subject", &subj);
	natsMsgHeader_Get(m, "Nats-Sequence", &seq);
	plen = strlen("$KV.") + strlen(bucket) + 1;
	if ((op && !streq(op, "PUT")) || !subj || strlen(subj) <= plen) {
		natsMsg_Destroy(m);
		snprintf(err, n, "no such key");
		return -ENOENT;
	}
	*value = fleet_value_decode(natsMsg_GetData(m),
				    (size_t)natsMsg_GetDataLength(m));
	if (!*value) {
		snprintf(err, n, "%s: the value is not a JSON object", subj);
		natsMsg_Destroy(m);
		return -EBADMSG;
	}
	*key = strdup(subj + plen);
	*rev = seq ? strtoull(seq, NULL, 10) : 0;
	natsMsg_Destroy(m);
	if (!*key)
		abort();
	return 0;
}

int fleet_kv_list(struct fleet_client *c, const char *bucket, json_t **ret,
		  size_t *bad, char *err, size_t n)
{
	kvStore *kv = NULL;
	kvWatcher *w = NULL;
	kvWatchOptions wo;
	json_t *all = json_object();
	natsStatus s;
	int r;

	*bad = 0;
	if ((r = open_kv(c, bucket, &kv, err, n))) {
		json_decref(all);
		return r;
	}
	kvWatchOptions_Init(&wo);
	wo.IgnoreDeletes = true;
	s = kvStore_WatchAll(&w, kv, &wo);
	/* The current values, then a NULL entry: caught up. */
	while (s == NATS_OK) {
		kvEntry *e = NULL;
		json_t *v;

		s = kvWatcher_Next(&e, w, FLEET_WAIT_MS);
		if (s != NATS_OK || !e)
			break;
		v = fleet_value_decode(kvEntry_Value(e),
				       (size_t)kvEntry_ValueLen(e));
		if (v)
			json_object_set_new(all, kvEntry_Key(e), v);
		else
			(*bad)++;
		kvEntry_Destroy(e);
	}
	kvWatcher_Destroy(w);
	kvStore_Destroy(kv);
	if (s != NATS_OK) {
		json_decref(all);
		return nats_fail(err, n, bucket, s);
	}
	*ret = all;
	return 0;
}

int fleet_audit_read(struct fleet_client *c, bool follow, size_t limit,
		     int (*fn)(void *arg, uint64_t seq, const char *subject,
			       json_t *msg),
		     void *arg, char *err, size_t n)
{
	natsSubscription *sub = NULL;
	jsStreamInfo *si = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	uint64_t last, first;
	natsStatus s;
	int r = 0;

	s = js_GetStreamInfo(&si, c->js, FLEET_STREAM_AUDIT, NULL, &jerr);
	if (s != NATS_OK) {
		if (s == NATS_NOT_FOUND) {
			snprintf(err, n,
				 "stream '%s' does not exist (run 'jitctl "
				 "fleet init' as the fleet's admin)",
				 FLEET_STREAM_AUDIT);
			return -ENOENT;
		}
		return nats_fail(err, n, FLEET_STREAM_AUDIT, s);
	}
	last = si->State.LastSeq;
	first = si->State.FirstSeq;
	jsStreamInfo_Destroy(si);
	if (!follow && (last == 0 || last < first))
		return 0;
	jsSubOptions_Init(&so);
	so.Stream = FLEET_STREAM_AUDIT;
	so.Ordered = true;
	if (limit && last >= limit && last - limit + 1 > first) {
		so.Config.DeliverPolicy = js_DeliverByStartSequence;
		so.Config.OptStartSeq = last - limit + 1;
	} else {
		so.Config.DeliverPolicy = js_DeliverAll;
	}
	s = js_SubscribeSync(&sub, c->js, "audit.>", NULL, &so, &jerr);
	if (s != NATS_OK)
		return nats_fail(err, n, "audit stream", s);
	for (;;) {
		natsMsg *m = NULL;
		jsMsgMetaData *meta = NULL;
		json_t *v;
		uint64_t seq = 0;

		s = natsSubscription_NextMsg(&m, sub,
					     follow ? 1000 : FLEET_WAIT_MS);
		if (s == NATS_TIMEOUT && follow)
			continue;
		if (s != NATS_OK) {
			r = nats_fail(err, n, "audit stream", s);
			break;
		}
		if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
			seq = meta->Sequence.Stream;
			jsMsgMetaData_Destroy(meta);
		}
		v = fleet_value_decode(natsMsg_GetData(m),
				       (size_t)natsMsg_GetDataLength(m));
		if (!v)
			v = json_pack("{s:b}", "undecodable", 1);
		r = fn(arg, seq, natsMsg_GetSubject(m), v);
		json_decref(v);
		natsMsg_Destroy(m);
		if (r || (!follow && seq >= last))
			break;
	}
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	return r;
}
