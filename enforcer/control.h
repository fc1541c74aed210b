/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: a Unix stream socket speaking one JSON object per line
 * each way. Each request is answered in order; the peer's credentials come
 * from SO_PEERCRED at connect time and go with every request to the handler.
 */
#ifndef JIT_CONTROL_H
#define JIT_CONTROL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define JIT_CONTROL_LINE_MAX	(64 * 1024)
#define JIT_CONTROL_CLIENTS_MAX 256
/* Connections one user (root excepted) may hold at once. */
#define JIT_CONTROL_CLIENTS_PER_UID 32
/* Connections only root may take: others never lock root out. */
#define JIT_CONTROL_CLIENTS_ROOT 8
/* A client that lets this much output pile up unread is dropped. */
#define JIT_CONTROL_OUTBUF_MAX (4 * 1024 * 1024)
/*
 * Requests one client may have handled in a pass of the loop; the rest
 * wait for the next pass, so that one client cannot keep the others
 * waiting nor make the agent hold its replies without bound.
 */
#define JIT_CONTROL_LINES_PER_PASS 32

/**
 * struct jit_peer - who is on the other end of a control connection
 * @uid: effective uid at connect time
 * @gid: effective gid at connect time
 * @pid: process id at connect time
 */
struct jit_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

/*
 * Handle one request; request is a JSON object with a string "op". Returns
 * a new reference to the reply object ("ok" is added if missing).
 */
typedef json_t *(*control_handler_fn)(void *userdata,
				      const struct jit_peer *peer,
				      json_t *request);

struct jit_control;

/*
 * Bind path (removing a stale socket, refusing if a live one answers), with
 * mode 0660 and the given group, and register it on the epoll instance.
 * Returns 0 or -errno (-EADDRINUSE when another agent answers).
 */
int control_open(const char *path, gid_t group, int epfd, control_handler_fn fn,
		 void *userdata, struct jit_control **ret);
/* Close every client and the socket, and unlink the path. */
struct jit_control *control_close(struct jit_control *c);
unsigned control_clients(const struct jit_control *c);
/*
 * While held, replies and broadcasts are queued, unsent, and may still be
 * changed by whoever keeps a reference to them: the daemon holds them while
 * it syncs its journal, so no reply says more than what is durable.
 */
void control_hold(struct jit_control *c);
void control_release(struct jit_control *c);

/*
 * A reply carrying this key subscribes its client to the topics it names
 * (a mask of CONTROL_TOPIC_*; 0 ends a subscription). The key is removed
 * before sending. A connection follows what its latest such reply said.
 */
#define CONTROL_FOLLOW	     "_follow"
#define CONTROL_TOPIC_ALERTS 1u
#define CONTROL_TOPIC_EVENTS 2u
/*
 * Bytes a follower may leave unread (queued here, not counting the
 * kernel's socket buffer) before published lines are lost for it.
 */
#define JIT_CONTROL_FOLLOW_MAX (1024 * 1024)

/**
 * struct control_follow_ops - what the owner keeps per follower
 * @open: a client subscribed to topics; returns the owner's state for it
 *        (who it is, what it may see), or NULL
 * @close: the client left or changed its topics; state as open returned
 */
struct control_follow_ops {
	void *(*open)(void *userdata, const struct jit_peer *peer,
		      unsigned topics);
	void (*close)(void *userdata, void *state);
};
void control_set_follow_ops(struct jit_control *c,
			    const struct control_follow_ops *ops);

/* Whether the follower with this state gets a published line. */
typedef bool (*control_filter_fn)(void *ctx, void *state);

/*
 * Send msg (taken) as a line to every follower of topic whose owner's
 * state filter accepts (no filter: all). A follower that lets
 * JIT_CONTROL_OUTBUF_MAX pile up unread is dropped.
 */
void control_broadcast(struct jit_control *c, unsigned topic, json_t *msg,
		       control_filter_fn filter, void *ctx);
/*
 * Send line (one JSON object, len bytes, no newline) to every follower of
 * topic that filter accepts (NULL: all). Never stalls and never drops a
 * follower: one with JIT_CONTROL_FOLLOW_MAX bytes unread misses the line,
 * which is counted, and is told how many it missed, {"lost": N}, before
 * the next line it gets or once it has read half of its backlog.
 */
void control_publish(struct jit_control *c, unsigned topic, const char *line,
		     size_t len, control_filter_fn filter, void *ctx);
/* Clients following topic (any of the mask). */
unsigned control_followers(const struct jit_control *c, unsigned topic);
/* Published lines that followers missed since the socket opened. */
uint64_t control_lost(const struct jit_control *c);

/*
 * Requests that yield to the others (listings, which may take a few ms
 * each): one met while a pass is held is not handled in that pass; its
 * client waits (reads nothing more) until control_run_yielded, which the
 * owner calls after the pass ended (replies sent), in a pass of its own:
 * one such request at a time, oldest first, so that between two listings
 * there is always a pass for everyone else. fn says whether req yields.
 */
typedef bool (*control_yields_fn)(void *userdata, json_t *req);
void control_set_yields(struct jit_control *c, control_yields_fn fn);
/* A request waits for control_run_yielded. */
bool control_yielded(const struct jit_control *c);
/* Handle the oldest such request (its reply held while the pass is). */
void control_run_yielded(struct jit_control *c);

/* Error reply: {"ok": false, "error": {"code": code, "message": ...}}. */
__attribute__((format(printf, 2, 3))) json_t *
control_error(const char *code, const char *fmt, ...);

/*
 * Parse one request line. Returns the object, or NULL with *reply set to an
 * error reply (bad JSON, not an object, "op" missing or not a string).
 */
json_t *control_parse_line(const char *line, size_t len, json_t **reply);

#endif
