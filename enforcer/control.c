/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "log.h"
#include "loop.h"
#include "util.h"

/* A published line, queued for several followers at once. */
struct shared_line {
	unsigned refs;
	size_t len; /* with the newline */
	char s[];
};

/* Output waiting for control_release: a reply, or a published line. */
struct held {
	json_t *reply;
	struct shared_line *line;
};

struct client {
	struct jit_io io;
	struct jit_control *ctl;
	struct jit_peer peer;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
	uint64_t last_active;
	bool closing;	    /* flush the output, then drop */
	unsigned follows;   /* topics it follows (jitctl alerts --follow) */
	void *follow_state; /* the owner's, from follow_ops.open */
	/* Output waiting for control_release: replies (kept as objects,
	 * which the owner may still change, e.g. to not-recorded, until the
	 * journal sync) and published lines. */
	struct held *held;
	size_t n_held, cap_held;
	size_t held_bytes; /* of the held published lines */
	unsigned handled;  /* requests handled in this pass */
	bool paused;	   /* not read until the pass ends: budget spent */
	uint64_t yielded;  /* its next request waits for a pass of its own
			    * (control_run_yielded), in this order; 0: no */
	uint64_t lost;	   /* published lines it missed, not yet told */
	struct client *next;
};

struct jit_control {
	struct jit_io io;
	int epfd;
	char *path;
	control_handler_fn fn;
	void *userdata;
	struct client *clients;
	unsigned n_clients;
	bool hold;	    /* replies wait for control_release */
	struct jit_io kick; /* eventfd: buffered requests wait for a pass */
	struct control_follow_ops follow_ops;
	uint64_t lost; /* published lines followers missed, in all */
	control_yields_fn yields;
	uint64_t yield_seq; /* the last client's turn given */
	unsigned n_yielded; /* clients whose request waits for its pass */
	bool running_yielded;
};

static struct shared_line *line_new(const char *s, size_t len)
{
	struct shared_line *l = malloc(sizeof(*l) + len + 1);

	if (!l)
		return NULL;
	l->refs = 1;
	memcpy(l->s, s, len);
	l->s[len] = '\n';
	l->len = len + 1;
	return l;
}

static void line_unref(struct shared_line *l)
{
	if (l && !--l->refs)
		free(l);
}

static void held_release(struct held *h)
{
	json_decref(h->reply);
	line_unref(h->line);
}

json_t *control_error(const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_truncate_invalid(msg);
	return json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", code,
			 "message", msg);
}

json_t *control_parse_line(const char *line, size_t len, json_t **reply)
{
	json_error_t jerr;
	json_t *req, *op;

	*reply = NULL;
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		*reply = control_error("bad-json",
				       "invalid JSON at column %d: %s",
				       jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(req)) {
		json_decref(req);
		*reply = control_error("bad-request",
				       "a request must be a JSON object");
		return NULL;
	}
	op = json_object_get(req, "op");
	if (!op) {
		json_decref(req);
		*reply = control_error("bad-request", "missing field 'op'");
		return NULL;
	}
	if (!json_is_string(op)) {
		json_decref(req);
		*reply = control_error("bad-request",
				       "field 'op' must be a string");
		return NULL;
	}
	return req;
}

static void client_free(struct client *cl)
{
	struct jit_control *c = cl->ctl;

	for (struct client **p = &c->clients; *p; p = &(*p)->next) {
		if (*p == cl) {
			*p = cl->next;
			break;
		}
	}
	c->n_clients--;
	if (cl->yielded)
		c->n_yielded--;
	loop_del(c->epfd, &cl->io);
	close(cl->io.fd);
	if (cl->follows && c->follow_ops.close)
		c->follow_ops.close(c->userdata, cl->follow_state);
	for (size_t i = 0; i < cl->n_held; i++)
		held_release(&cl->held[i]);
	free(cl->held);
	free(cl->in);
	free(cl->out);
	free(cl);
}

static void client_update_events(struct client *cl)
{
	uint32_t ev = EPOLLIN | EPOLLRDHUP;

	if (cl->out_len)
		ev |= EPOLLOUT;
	if (cl->closing || cl->paused)
		ev &= ~(uint32_t)(EPOLLIN | EPOLLRDHUP);
	(void)loop_mod(cl->ctl->epfd, &cl->io, ev);
}

/* Append to the output; drops a client past the cap (-1: freed). */
static int client_append(struct client *cl, const char *s, size_t n)
{
	if (cl->out_len + n > JIT_CONTROL_OUTBUF_MAX ||
	    grow_array((void **)&cl->out, &cl->out_cap, cl->out_len + n, 1) <
		    0) {
		client_free(cl);
		return -1;
	}
	memcpy(cl->out + cl->out_len, s, n);
	cl->out_len += n;
	return 0;
}

/*
 * Keep h for control_release. No client is freed while output is held
 * (a handler may be publishing to others): one that cannot keep it is
 * closed, and freed once the pass ends. Returns 0, or -1 when h was not
 * kept (and released).
 */
static int client_hold(struct client *cl, struct held h)
{
	if (grow_array((void **)&cl->held, &cl->cap_held, cl->n_held + 1,
		       sizeof(*cl->held)) < 0) {
		held_release(&h);
		cl->closing = true;
		return -1;
	}
	if (h.line)
		cl->held_bytes += h.line->len;
	cl->held[cl->n_held++] = h;
	return 0;
}

/* Queue a published line: held, or appended (the caller flushes). */
static int client_put_line(struct client *cl, struct shared_line *l)
{
	if (!cl->ctl->hold)
		return client_append(cl, l->s, l->len);
	l->refs++;
	return client_hold(cl, (struct held){ .line = l });
}

/* Tell a follower how many lines it missed (-1: freed). */
static int client_tell_lost(struct client *cl)
{
	char buf[48];
	struct shared_line *l;
	int r;

	snprintf(buf, sizeof(buf), "{\"lost\":%llu}",
		 (unsigned long long)cl->lost);
	l = line_new(buf, strlen(buf));
	if (!l)
		return 0; /* told with the next line */
	r = client_put_line(cl, l);
	line_unref(l);
	if (r == 0)
		cl->lost = 0;
	return r;
}

/* A follower that missed lines has read half of its backlog. */
static bool lost_due(const struct client *cl)
{
	return cl->lost && !cl->ctl->hold && !cl->closing &&
	       cl->out_len + cl->held_bytes <= JIT_CONTROL_FOLLOW_MAX / 2;
}

/* Returns 0, or -1 if the client was freed. */
static int client_flush(struct client *cl)
{
	for (;;) {
		while (cl->out_len) {
			ssize_t n = send(cl->io.fd, cl->out, cl->out_len,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				client_free(cl);
				return -1;
			}
			memmove(cl->out, cl->out + n, cl->out_len - (size_t)n);
			cl->out_len -= (size_t)n;
		}
		if (!lost_due(cl))
			break;
		if (client_tell_lost(cl) < 0)
			return -1;
		if (cl->lost) /* no memory for the notice: later */
			break;
	}
	if (!cl->out_len && cl->closing) {
		client_free(cl);
		return -1;
	}
	client_update_events(cl);
	return 0;
}

/* Add a reply line to the output; drops a client past the cap. */
static int client_queue(struct client *cl, json_t *reply)
{
	char *s;
	size_t n;
	int r;

	if (!json_object_get(reply, "ok"))
		json_object_set_new(reply, "ok", json_true());
	s = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (!s) {
		client_free(cl);
		return -1;
	}
	n = strlen(s);
	s[n] = '\n'; /* over the terminating NUL, which is not sent */
	r = client_append(cl, s, n + 1);
	free(s);
	return r;
}

/* Send a reply, or keep it while replies are held. */
static int client_send(struct client *cl, json_t *reply)
{
	if (cl->ctl->hold)
		return client_hold(cl, (struct held){ .reply = reply });
	if (client_queue(cl, reply) < 0)
		return -1;
	return client_flush(cl);
}

/* Follow topics from now on (0: nothing), with the owner's state. */
static void client_follow(struct client *cl, unsigned topics)
{
	struct jit_control *c = cl->ctl;

	if (topics == cl->follows)
		return;
	if (cl->follows && c->follow_ops.close)
		c->follow_ops.close(c->userdata, cl->follow_state);
	cl->follow_state = NULL;
	cl->follows = topics;
	if (topics && c->follow_ops.open)
		cl->follow_state =
			c->follow_ops.open(c->userdata, &cl->peer, topics);
}

/* Handle one request: req (taken) if parsed already, else the line. */
static int client_handle_req(struct client *cl, json_t *req, char *line,
			     size_t len)
{
	json_t *reply = NULL;

	if (!req)
		req = control_parse_line(line, len, &reply);
	if (req) {
		reply = cl->ctl->fn(cl->ctl->userdata, &cl->peer, req);
		json_decref(req);
		if (!reply)
			reply = control_error("internal", "no reply");
	}
	if (json_object_get(reply, CONTROL_FOLLOW)) {
		client_follow(cl, (unsigned)json_integer_value(json_object_get(
					  reply, CONTROL_FOLLOW)));
		json_object_del(reply, CONTROL_FOLLOW);
	}
	return client_send(cl, reply);
}

/*
 * Whether the request at the start of the input waits for a pass of its
 * own (a listing: see control_run_yielded); if so the client is queued
 * for it. Never while that pass runs it. *req is the request parsed (or
 * NULL, the line then being parsed again to report its error).
 */
static bool client_yields(struct client *cl, size_t len, json_t **req)
{
	struct jit_control *c = cl->ctl;
	json_t *reply = NULL;

	*req = NULL;
	if (cl->yielded)
		return true;
	if (!c->yields || !c->hold || c->running_yielded)
		return false;
	*req = control_parse_line(cl->in, len, &reply);
	json_decref(reply);
	if (!*req || !c->yields(c->userdata, *req))
		return false;
	json_decref(*req);
	*req = NULL;
	cl->yielded = ++c->yield_seq;
	c->n_yielded++;
	return true;
}

/*
 * Handle the complete requests in the input, within the pass's budget: 0
 * when none is left, 1 when the budget ran out first (the client is
 * paused until the pass ends), -1 when the client was freed.
 */
static int client_handle_lines(struct client *cl)
{
	char *nl;

	while (!cl->closing && cl->in_len &&
	       (nl = memchr(cl->in, '\n', cl->in_len))) {
		size_t len = (size_t)(nl - cl->in);
		json_t *req = NULL;

		if (cl->handled >= JIT_CONTROL_LINES_PER_PASS ||
		    client_yields(cl, len, &req)) {
			cl->paused = true;
			client_update_events(cl);
			return 1;
		}
		cl->handled++;
		if (client_handle_req(cl, req, cl->in, len) < 0)
			return -1;
		memmove(cl->in, nl + 1, cl->in_len - len - 1);
		cl->in_len -= len + 1;
	}
	return 0;
}

static void client_read(struct client *cl)
{
	for (;;) {
		ssize_t n;

		if (client_handle_lines(cl) != 0 || cl->closing)
			return;
		if (!cl->in) {
			cl->in = malloc(JIT_CONTROL_LINE_MAX + 1);
			if (!cl->in) {
				client_free(cl);
				return;
			}
		}
		n = recv(cl->io.fd, cl->in + cl->in_len,
			 JIT_CONTROL_LINE_MAX + 1 - cl->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* Peer closed (or failed): answer nothing more. */
			if (cl->n_held) {
				cl->closing = true;
				client_update_events(cl);
			} else if (cl->out_len) {
				cl->closing = true;
				client_flush(cl);
			} else {
				client_free(cl);
			}
			return;
		}
		cl->in_len += (size_t)n;
		cl->last_active = now_mono_ms();
		/* Full, and no request ends in it. */
		if (cl->in_len > JIT_CONTROL_LINE_MAX &&
		    !memchr(cl->in, '\n', cl->in_len)) {
			cl->closing = true;
			client_send(cl, control_error("line-too-long",
						      "request longer than %d "
						      "bytes",
						      JIT_CONTROL_LINE_MAX));
			return;
		}
	}
}

/* Has requests read and not yet handled, and may have them handled. */
static bool client_waiting(const struct client *cl)
{
	return !cl->paused && !cl->closing && cl->in_len &&
	       memchr(cl->in, '\n', cl->in_len);
}

/*
 * The requests left waiting at the end of the last pass: one client's at
 * a time, as the loop takes one event at a time (handling a request may
 * free other clients), the eventfd kept readable while others wait.
 */
static void kick_cb(struct jit_io *io, uint32_t events)
{
	struct jit_control *c = container_of(io, struct jit_control, kick);
	struct client *cl;
	uint64_t v;

	(void)!read(c->kick.fd, &v, sizeof(v));
	for (cl = c->clients; cl && !client_waiting(cl); cl = cl->next)
		;
	if (!cl)
		return;
	client_read(cl);
	for (cl = c->clients; cl && !client_waiting(cl); cl = cl->next)
		;
	if (cl)
		(void)!write(c->kick.fd, &(uint64_t){ 1 }, sizeof(uint64_t));
}

static void client_cb(struct jit_io *io, uint32_t events)
{
	struct client *cl = (struct client *)io;

	if (events & (EPOLLERR | EPOLLHUP)) {
		client_free(cl);
		return;
	}
	if (events & EPOLLOUT) {
		if (client_flush(cl) < 0)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP))
		client_read(cl);
}

/*
 * Make room for a new client by dropping the one idle the longest. A
 * follower (alerts --follow) is idle by nature and never dropped for it.
 * Returns false when there is nobody to drop.
 */
static bool evict_idlest(struct jit_control *c)
{
	struct client *victim = NULL;

	for (struct client *cl = c->clients; cl; cl = cl->next)
		if (!cl->follows &&
		    (!victim || cl->last_active < victim->last_active))
			victim = cl;
	if (victim)
		client_free(victim);
	return victim != NULL;
}

static unsigned clients_of(const struct jit_control *c, uid_t uid)
{
	unsigned n = 0;

	for (const struct client *cl = c->clients; cl; cl = cl->next)
		n += cl->peer.uid == uid;
	return n;
}

/* Tell a connection why it is not taken, and close it. */
static void turn_away(int fd, const char *code, const char *message)
{
	json_t *j = control_error(code, "%s", message);
	char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (line) {
		size_t n = strlen(line);

		line[n] = '\n';
		(void)!send(fd, line, n + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		line[n] = '\0';
	}
	free(line);
	json_decref(j);
	close(fd);
}

static void listen_cb(struct jit_io *io, uint32_t events)
{
	struct jit_control *c = (struct jit_control *)io;

	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *cl;
		int fd;

		fd = accept4(c->io.fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			close(fd);
			continue;
		}
		/* One user cannot take every connection from the others. */
		if (cred.uid != 0 &&
		    clients_of(c, cred.uid) >= JIT_CONTROL_CLIENTS_PER_UID) {
			turn_away(fd, "too-many-connections",
				  "too many connections from this user");
			continue;
		}
		/* The last few are root's: followers, never evicted, cannot
		 * take every connection from the one who may revoke. */
		if (c->n_clients >=
			    JIT_CONTROL_CLIENTS_MAX -
				    (cred.uid ? JIT_CONTROL_CLIENTS_ROOT : 0) &&
		    !evict_idlest(c)) {
			turn_away(fd, "too-many-connections",
				  "the agent serves too many connections");
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			close(fd);
			continue;
		}
		cl->io.fd = fd;
		cl->io.cb = client_cb;
		cl->ctl = c;
		cl->peer = (struct jit_peer){ cred.uid, cred.gid, cred.pid };
		cl->last_active = now_mono_ms();
		if (loop_add(c->epfd, &cl->io, EPOLLIN | EPOLLRDHUP) < 0) {
			close(fd);
			free(cl);
			continue;
		}
		cl->next = c->clients;
		c->clients = cl;
		c->n_clients++;
	}
}

/*
 * 0 if nobody answers at path (stale or absent) or only an impostor does
 * (a listener that is not root: *impostor says who), -EADDRINUSE if an
 * agent does.
 */
static int probe_live(const struct sockaddr_un *sa, struct ucred *impostor)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	impostor->pid = 0;
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -EADDRINUSE;
	if (cred.uid == 0 || cred.uid == geteuid())
		return -EADDRINUSE;
	*impostor = cred;
	return 0;
}

int control_open(const char *path, gid_t group, int epfd, control_handler_fn fn,
		 void *userdata, struct jit_control **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX },
			   tmp = { .sun_family = AF_UNIX };
	struct ucred impostor;
	_cleanup_close_ int fd = -1;
	struct jit_control *c;
	mode_t old;
	int r;

	if (strlen(path) + 16 >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	r = probe_live(&sa, &impostor);
	if (r < 0)
		return r;
	if (impostor.pid)
		log_warn("'%s' was answered by a process that is not an agent "
			 "(pid %d, uid %u); replacing it",
			 path, (int)impostor.pid, (unsigned)impostor.uid);

	/*
	 * Bound under a temporary name, with its owner and mode set there,
	 * then renamed over the final one in one step: the path never
	 * names a socket with wider permissions, nor anyone else's.
	 */
	snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d", path,
		 (int)getpid());
	(void)unlink(tmp.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0117);
	r = bind(fd, (struct sockaddr *)&tmp, sizeof(tmp));
	umask(old);
	if (r < 0)
		return -errno;
	/* Its owner is the agent (root); its group, the socket group. */
	if (lchown(tmp.sun_path, (uid_t)-1, group) < 0 ||
	    fchmodat(AT_FDCWD, tmp.sun_path, 0660, 0) < 0 ||
	    listen(fd, 64) < 0 || rename(tmp.sun_path, path) < 0) {
		r = -errno;
		unlink(tmp.sun_path);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		unlink(path);
		return -ENOMEM;
	}
	c->epfd = epfd;
	c->fn = fn;
	c->userdata = userdata;
	c->kick.fd = -1;
	r = loop_watch(epfd, &c->io, TAKE_FD(fd), listen_cb, EPOLLIN);
	if (r == 0) {
		int kfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		r = kfd < 0 ? -errno
			    : loop_watch(epfd, &c->kick, kfd, kick_cb, EPOLLIN);
	}
	if (r < 0) {
		control_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

struct jit_control *control_close(struct jit_control *c)
{
	if (!c)
		return NULL;
	while (c->clients)
		client_free(c->clients);
	loop_del(c->epfd, &c->io);
	close(c->io.fd);
	if (c->kick.fd >= 0) {
		loop_del(c->epfd, &c->kick);
		close(c->kick.fd);
	}
	unlink(c->path);
	free(c->path);
	free(c);
	return NULL;
}

void control_set_follow_ops(struct jit_control *c,
			    const struct control_follow_ops *ops)
{
	c->follow_ops = *ops;
}

void control_broadcast(struct jit_control *c, unsigned topic, json_t *msg,
		       control_filter_fn filter, void *ctx)
{
	struct client *cl = c ? c->clients : NULL;

	while (cl) {
		/* Sending may free the client: step first. */
		struct client *next = cl->next;

		if ((cl->follows & topic) && !cl->closing &&
		    (!filter || filter(ctx, cl->follow_state)))
			client_send(cl, json_incref(msg));
		cl = next;
	}
	json_decref(msg);
}

void control_publish(struct jit_control *c, unsigned topic, const char *line,
		     size_t len, control_filter_fn filter, void *ctx)
{
	struct client *cl = c ? c->clients : NULL;
	struct shared_line *l = NULL;

	while (cl) {
		/* Sending may free the client: step first. */
		struct client *next = cl->next;

		if (!(cl->follows & topic) || cl->closing ||
		    (filter && !filter(ctx, cl->follow_state))) {
			cl = next;
			continue;
		}
		/* Lost for it rather than held for it: a follower that
		 * does not read never grows the agent or slows it down. */
		if (cl->out_len + cl->held_bytes + len + 1 >
			    JIT_CONTROL_FOLLOW_MAX ||
		    (!l && !(l = line_new(line, len)))) {
			cl->lost++;
			c->lost++;
			cl = next;
			continue;
		}
		if ((!cl->lost || client_tell_lost(cl) == 0) &&
		    client_put_line(cl, l) == 0 && !c->hold)
			client_flush(cl);
		cl = next;
	}
	line_unref(l);
}

unsigned control_followers(const struct jit_control *c, unsigned topic)
{
	unsigned n = 0;

	for (const struct client *cl = c ? c->clients : NULL; cl; cl = cl->next)
		n += (cl->follows & topic) != 0;
	return n;
}

uint64_t control_lost(const struct jit_control *c)
{
	return c ? c->lost : 0;
}

void control_hold(struct jit_control *c)
{
	if (c)
		c->hold = true;
}

void control_release(struct jit_control *c)
{
	struct client *cl;
	bool waiting = false;

	if (!c || !c->hold)
		return;
	c->hold = false;
	for (cl = c->clients; cl;) {
		/* Sending may free the client: step first. */
		struct client *next = cl->next;
		struct held *held = cl->held;
		size_t n = cl->n_held;
		size_t i;
		int r = 0;

		cl->held = NULL;
		cl->n_held = cl->cap_held = 0;
		cl->held_bytes = 0;
		for (i = 0; i < n && r == 0; i++) {
			if (held[i].reply) {
				r = client_queue(cl, TAKE_PTR(held[i].reply));
			} else {
				r = client_append(cl, held[i].line->s,
						  held[i].line->len);
				line_unref(TAKE_PTR(held[i].line));
			}
		}
		/* A client dropped midway leaves the rest unsent. */
		for (; i < n; i++)
			held_release(&held[i]);
		free(held);
		if (r < 0) {
			cl = next;
			continue;
		}
		/* A new pass, a new budget: a paused client is read again,
		 * and what it sent already is handled in the next pass. */
		cl->handled = 0;
		if (cl->paused && !cl->yielded) {
			cl->paused = false;
			client_update_events(cl);
			waiting = true;
		}
		/* A follower that read its backlog in this pass learns here
		 * what it missed (never while held: out of order). */
		if (n || cl->closing || cl->lost)
			client_flush(cl);
		cl = next;
	}
	if (waiting)
		(void)!write(c->kick.fd, &(uint64_t){ 1 }, sizeof(uint64_t));
}

unsigned control_clients(const struct jit_control *c)
{
	return c->n_clients;
}

void control_set_yields(struct jit_control *c, control_yields_fn fn)
{
	c->yields = fn;
}

bool control_yielded(const struct jit_control *c)
{
	return c && c->n_yielded;
}

void control_run_yielded(struct jit_control *c)
{
	struct client *cl, *first = NULL;
	char *nl;

	if (!c)
		return;
	for (cl = c->clients; cl; cl = cl->next)
		if (cl->yielded && (!first || cl->yielded < first->yielded))
			first = cl;
	if (!first)
		return;
	cl = first;
	cl->yielded = 0;
	c->n_yielded--;
	nl = memchr(cl->in, '\n', cl->in_len);
	if (!nl || cl->closing)
		return;
	c->running_yielded = true;
	cl->handled++;
	if (client_handle_req(cl, NULL, cl->in, (size_t)(nl - cl->in)) == 0) {
		size_t len = (size_t)(nl - cl->in);

		memmove(cl->in, nl + 1, cl->in_len - len - 1);
		cl->in_len -= len + 1;
	}
	c->running_yielded = false;
}
