/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fleet-probe: the fleet tests' NATS client, connected as one user
 * (host, requester, approver). It does what a host does (register, read
 * its own grants, publish audit) and tries what a host must not (read
 * another host's keys, write grants, publish as another host), telling
 * how the server answered:
 *
 *   fleet-probe URLS USER PASSWORD_FILE OP ARGS...
 *     register HOST LABELS_JSON    the registry entry, as the agent writes it
 *     grants HOST                  HOST's live grant keys, one per line
 *     audit HOST JSON              one message on audit.HOST
 *     audit-id HOST MSGID JSON     the same with the given Nats-Msg-Id
 *     try-watch NAME HOST          consumer w_NAME on HOST's grants
 *     try-get HOST                 direct get of HOST's newest grant
 *     try-put-grant KEY            a grant written at KEY
 *     try-audit HOST               a message on audit.HOST
 *     try-register HOST            HOST's registry entry
 *     put SUBJECT JSON             a JetStream publish that must be acked
 *     try-put SUBJECT              a JetStream publish
 *     config STREAM                STREAM's limits as JSON (admin)
 *     leader STREAM                the server name leading STREAM (admin)
 *     purge STREAM SUBJECT         every message of SUBJECT removed from
 *                                  STREAM, delete markers too (admin)
 *     delete-stream STREAM         STREAM deleted, with what it holds (admin)
 *
 * URLS is comma-separated. A try-* prints "refused: WHY" and exits 0 when
 * the server reported a permission violation for it, "allowed" and exits
 * 3 when it worked, "unclear: WHY" and exits 4 otherwise (a timeout with
 * no violation proves nothing).
 */
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char violation[1024];

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus s,
		     void *arg)
{
	const char *text = NULL;

	(void)sub;
	(void)arg;
	if (s != NATS_NOT_PERMITTED)
		return;
	natsConnection_GetLastError(nc, &text);
	pthread_mutex_lock(&lock);
	if (!violation[0])
		snprintf(violation, sizeof(violation), "%s",
			 text ? text : "permissions violation");
	pthread_mutex_unlock(&lock);
}

static int verdict(natsStatus s)
{
	const char *text;
	natsStatus ls;

	/* A violation arrives asynchronously: give it a moment. */
	for (int i = 0; i < 40; i++) {
		pthread_mutex_lock(&lock);
		if (violation[0]) {
			printf("refused: %s\n", violation);
			pthread_mutex_unlock(&lock);
			return 0;
		}
		pthread_mutex_unlock(&lock);
		if (s == NATS_OK)
			break;
		nats_Sleep(50);
	}
	if (s == NATS_OK) {
		printf("allowed\n");
		return 3;
	}
	text = nats_GetLastError(&ls);
	printf("unclear: %s\n", text && text[0] ? text : natsStatus_GetText(s));
	return 4;
}

static int die(const char *what, natsStatus s)
{
	natsStatus ls;
	const char *text = nats_GetLastError(&ls);

	fprintf(stderr, "fleet-probe: %s: %s\n", what,
		text && text[0] ? text : natsStatus_GetText(s));
	return 1;
}

static int publish(jsCtx *js, const char *subject, const char *data,
		   const char *msg_id, natsStatus *ret)
{
	jsPubOptions po;
	jsPubAck *pa = NULL;
	jsErrCode jerr = 0;

	jsPubOptions_Init(&po);
	po.MsgId = msg_id;
	po.MaxWait = 2000;
	*ret = js_Publish(&pa, js, subject, data, (int)strlen(data), &po,
			  &jerr);
	jsPubAck_Destroy(pa);
	return 0;
}

/* HOST's live grants: a confined consumer, last value per key. */
static int list_grants(jsCtx *js, const char *host)
{
	char subject[256], name[128];
	jsDirectGetMsgOptions dgo;
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsMsg *m = NULL;
	natsStatus s;

	snprintf(subject, sizeof(subject), "$KV.jit_grants.host.%s.>", host);
	snprintf(name, sizeof(name), "w_%s", host);
	/* Nothing at all under the range: nothing to wait for. */
	jsDirectGetMsgOptions_Init(&dgo);
	dgo.LastBySubject = subject;
	s = js_DirectGetMsg(&m, js, "KV_jit_grants", NULL, &dgo);
	natsMsg_Destroy(m);
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK)
		return die("direct get", s);
	jsSubOptions_Init(&so);
	so.Stream = "KV_jit_grants";
	so.Config.Name = name;
	so.Config.AckPolicy = js_AckNone;
	so.Config.DeliverPolicy = js_DeliverLastPerSubject;
	so.Config.InactiveThreshold = 10LL * 1000000000;
	s = js_SubscribeSync(&sub, js, subject, NULL, &so, &jerr);
	if (s != NATS_OK)
		return die("consumer", s);
	for (;;) {
		jsMsgMetaData *meta = NULL;
		const char *op = NULL;
		uint64_t pending = 0;

		s = natsSubscription_NextMsg(&m, sub, 5000);
		if (s != NATS_OK) {
			natsSubscription_Destroy(sub);
			return die("next", s);
		}
		if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
			pending = meta->NumPending;
			jsMsgMetaData_Destroy(meta);
		}
		natsMsgHeader_Get(m, "KV-Operation", &op);
		if (!op)
			printf("%s %.*s\n",
			       natsMsg_GetSubject(m) +
				       strlen("$KV.jit_grants."),
			       natsMsg_GetDataLength(m), natsMsg_GetData(m));
		natsMsg_Destroy(m);
		if (!pending)
			break;
	}
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	return 0;
}

static int try_watch(jsCtx *js, const char *name, const char *host)
{
	char subject[256], consumer[128];
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	snprintf(subject, sizeof(subject), "$KV.jit_grants.host.%s.>", host);
	snprintf(consumer, sizeof(consumer), "w_%s", name);
	jsSubOptions_Init(&so);
	so.Stream = "KV_jit_grants";
	so.Config.Name = consumer;
	so.Config.AckPolicy = js_AckNone;
	so.Config.DeliverPolicy = js_DeliverLastPerSubject;
	s = js_SubscribeSync(&sub, js, subject, NULL, &so, &jerr);
	if (s == NATS_OK) {
		natsMsg *m = NULL;

		/* Created: it is only a breach if it delivers. */
		s = natsSubscription_NextMsg(&m, sub, 2000);
		natsMsg_Destroy(m);
		natsSubscription_Destroy(sub);
	}
	return verdict(s);
}

int main(int argc, char **argv)
{
	char *urls[8], inbox[128], password[256] = "", *save = NULL, *tok;
	natsConnection *nc = NULL;
	natsOptions *o = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	natsStatus s;
	int nurls = 0, rc = 2;
	const char *op;
	FILE *f;

	if (argc < 5) {
		fprintf(stderr, "usage: fleet-probe URLS USER PASSWORD_FILE "
				"OP ARGS...\n");
		return 2;
	}
	for (tok = strtok_r(argv[1], ",", &save); tok && nurls < 8;
	     tok = strtok_r(NULL, ",", &save))
		urls[nurls++] = tok;
	f = fopen(argv[3], "re");
	if (!f || !fgets(password, sizeof(password), f)) {
		perror(argv[3]);
		return 1;
	}
	fclose(f);
	password[strcspn(password, "\r\n")] = '\0';
	snprintf(inbox, sizeof(inbox), "_INBOX_%s", argv[2]);
	op = argv[4];
	natsOptions_Create(&o);
	natsOptions_SetServers(o, (const char **)urls, nurls);
	natsOptions_SetUserInfo(o, argv[2], password);
	natsOptions_SetCustomInboxPrefix(o, inbox);
	natsOptions_SetErrorHandler(o, on_error, NULL);
	natsOptions_SetTimeout(o, 3000);
	s = natsConnection_Connect(&nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK)
		return die("connect", s);
	jsOptions_Init(&jo);
	jo.Wait = 2000;
	if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
		return die("jetstream", s);

	if (!strcmp(op, "register") && argc == 7) {
		char subject[256], value[2048];

		snprintf(subject, sizeof(subject), "$KV.jit_hosts.host.%s",
			 argv[5]);
		snprintf(value, sizeof(value),
			 "{\"host\":\"%s\",\"labels\":%s,\"version\":\"probe\","
			 "\"last_seen_ms\":%lld}",
			 argv[5], argv[6], (long long)nats_Now());
		publish(js, subject, value, NULL, &s);
		rc = s == NATS_OK ? 0 : die("register", s);
	} else if (!strcmp(op, "grants") && argc == 6) {
		rc = list_grants(js, argv[5]);
	} else if (!strcmp(op, "audit") && argc == 7) {
		char subject[256], id[128];

		snprintf(subject, sizeof(subject), "audit.%s", argv[5]);
		snprintf(id, sizeof(id), "%s:probe:%lld", argv[5],
			 (long long)nats_NowInNanoSeconds());
		publish(js, subject, argv[6], id, &s);
		rc = s == NATS_OK ? 0 : die("audit", s);
	} else if (!strcmp(op, "audit-id") && argc == 8) {
		char subject[256];

		snprintf(subject, sizeof(subject), "audit.%s", argv[5]);
		publish(js, subject, argv[7], argv[6], &s);
		rc = s == NATS_OK ? 0 : die("audit", s);
	} else if (!strcmp(op, "purge") && argc == 7) {
		jsOptions po;
		jsErrCode jerr = 0;

		jsOptions_Init(&po);
		po.Stream.Purge.Subject = argv[6];
		s = js_PurgeStream(js, argv[5], &po, &jerr);
		rc = s == NATS_OK ? 0 : die("purge", s);
	} else if (!strcmp(op, "delete-stream") && argc == 6) {
		jsErrCode jerr = 0;

		s = js_DeleteStream(js, argv[5], NULL, &jerr);
		rc = s == NATS_OK ? 0 : die("delete stream", s);
	} else if (!strcmp(op, "try-watch") && argc == 7) {
		rc = try_watch(js, argv[5], argv[6]);
	} else if (!strcmp(op, "try-get") && argc == 6) {
		char subject[256];
		jsDirectGetMsgOptions dgo;
		natsMsg *m = NULL;

		snprintf(subject, sizeof(subject), "$KV.jit_grants.host.%s.>",
			 argv[5]);
		jsDirectGetMsgOptions_Init(&dgo);
		dgo.LastBySubject = subject;
		s = js_DirectGetMsg(&m, js, "KV_jit_grants", NULL, &dgo);
		natsMsg_Destroy(m);
		rc = verdict(s);
	} else if (!strcmp(op, "try-put-grant") && argc == 6) {
		char subject[256];

		snprintf(subject, sizeof(subject), "$KV.jit_grants.%s",
			 argv[5]);
		publish(js, subject, "{\"forged\":true}", NULL, &s);
		rc = verdict(s);
	} else if (!strcmp(op, "try-audit") && argc == 6) {
		char subject[256];

		snprintf(subject, sizeof(subject), "audit.%s", argv[5]);
		publish(js, subject, "{\"forged\":true}", NULL, &s);
		rc = verdict(s);
	} else if (!strcmp(op, "try-register") && argc == 6) {
		char subject[256];

		snprintf(subject, sizeof(subject), "$KV.jit_hosts.host.%s",
			 argv[5]);
		publish(js, subject, "{\"forged\":true}", NULL, &s);
		rc = verdict(s);
	} else if (!strcmp(op, "put") && argc == 7) {
		publish(js, argv[5], argv[6], NULL, &s);
		rc = s == NATS_OK ? 0 : die("put", s);
	} else if (!strcmp(op, "try-put") && argc == 6) {
		publish(js, argv[5], "{\"forged\":true}", NULL, &s);
		rc = verdict(s);
	} else if (!strcmp(op, "config") && argc == 6) {
		jsStreamInfo *si = NULL;
		jsErrCode jerr = 0;

		s = js_GetStreamInfo(&si, js, argv[5], NULL, &jerr);
		if (s == NATS_OK) {
			jsStreamConfig *c = si->Config;

			printf("{\"max_age_s\":%lld,\"replicas\":%lld,"
			       "\"history\":%lld,\"duplicates_s\":%lld,"
			       "\"deny_delete\":%s,\"deny_purge\":%s,"
			       "\"max_msg_size\":%d,\"file\":%s}\n",
			       (long long)(c->MaxAge / 1000000000),
			       (long long)c->Replicas,
			       (long long)c->MaxMsgsPerSubject,
			       (long long)(c->Duplicates / 1000000000),
			       c->DenyDelete ? "true" : "false",
			       c->DenyPurge ? "true" : "false",
			       (int)c->MaxMsgSize,
			       c->Storage == js_FileStorage ? "true" : "false");
			rc = 0;
		} else {
			rc = die("stream info", s);
		}
		jsStreamInfo_Destroy(si);
	} else if (!strcmp(op, "leader") && argc == 6) {
		jsStreamInfo *si = NULL;
		jsErrCode jerr = 0;

		s = js_GetStreamInfo(&si, js, argv[5], NULL, &jerr);
		if (s == NATS_OK && si->Cluster && si->Cluster->Leader) {
			printf("%s\n", si->Cluster->Leader);
			rc = 0;
		} else {
			rc = s == NATS_OK ? 1 : die("stream info", s);
		}
		jsStreamInfo_Destroy(si);
	} else {
		fprintf(stderr,
			"fleet-probe: unknown operation '%s' or wrong "
			"arguments\n",
			op);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return rc;
}
