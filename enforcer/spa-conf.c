/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fko.h>
#include <limits.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "spa-conf.h"
#include "util.h"

/* fwknopd reads lines of at most this many bytes. */
#define LINE_MAX_BYTES 1024
/* Base64 text of a key: 4/3 of JIT_SPA_KEY_MAX, with padding. */
#define KEY_B64_MAX 176

/* libfko's constants and the names access.conf gives them. */
struct fko_name {
	const char *name;
	int value;
};

static const struct fko_name hmac_types[] = {
	{ "MD5", FKO_HMAC_MD5 },	   { "SHA1", FKO_HMAC_SHA1 },
	{ "SHA256", FKO_HMAC_SHA256 },	   { "SHA384", FKO_HMAC_SHA384 },
	{ "SHA512", FKO_HMAC_SHA512 },	   { "SHA3_256", FKO_HMAC_SHA3_256 },
	{ "SHA3_512", FKO_HMAC_SHA3_512 },
};

static const struct fko_name enc_modes[] = {
	{ "CBC", FKO_ENC_MODE_CBC },
	{ "CTR", FKO_ENC_MODE_CTR },
	{ "ECB", FKO_ENC_MODE_ECB },
	{ "CFB", FKO_ENC_MODE_CFB },
	{ "PCBC", FKO_ENC_MODE_PCBC },
	{ "OFB", FKO_ENC_MODE_OFB },
	{ "legacy", FKO_ENC_MODE_CBC_LEGACY_IV },
};

static const char *fko_name_of(const struct fko_name *t, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == value)
			return t[i].name;
	return "?";
}

/* The value named name (in any case); -ENOENT for no such name. */
static int fko_value_of(const struct fko_name *t, size_t n, const char *name,
			int *ret)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(name, t[i].name)) {
			*ret = t[i].value;
			return 0;
		}
	return -ENOENT;
}

const char *spa_hmac_name(int hmac_type)
{
	return fko_name_of(hmac_types, ARRAY_SIZE(hmac_types), hmac_type);
}

const char *spa_enc_mode_name(int enc_mode)
{
	return fko_name_of(enc_modes, ARRAY_SIZE(enc_modes), enc_mode);
}

/*
 * fwknopd keywords we do not take, each with why. Those that run commands,
 * forward or translate addresses would widen what a packet can do; GnuPG
 * is not supported; includes would read files whose ownership we have not
 * checked.
 */
static const struct {
	const char *prefix;
	const char *why;
} refused[] = {
	{ "ENABLE_CMD_EXEC", "running commands is not supported" },
	{ "ENABLE_CMD_SUDO_EXEC", "running commands is not supported" },
	{ "CMD_", "running commands is not supported" },
	{ "FORCE_NAT", "NAT access is not supported" },
	{ "FORCE_SNAT", "NAT access is not supported" },
	{ "FORCE_MASQUERADE", "NAT access is not supported" },
	{ "DISABLE_DNAT", "NAT access is not supported" },
	{ "FORWARD_ALL", "forwarding is not supported" },
	{ "GPG_", "GnuPG packets are not supported: use Rijndael with HMAC "
		  "keys (jitctl spa-keygen)" },
	{ "%include", "includes are not supported: put every stanza in this "
		      "one file" },
};

/* Room for one more element after n (lists here grow one by one). */
static int grow1(void **array, size_t n, size_t sz)
{
	void *p = reallocarray(*array, n + 1, sz);

	if (!p)
		return -ENOMEM;
	*array = p;
	return 0;
}

struct parser {
	const char *path;
	struct jit_diag *diag;
	struct jit_spa_conf *conf;
	struct jit_spa_stanza *cur;
	unsigned seen; /* keywords given in the current stanza, by bit */
	unsigned line;
	int errors;
};

#define SEEN(k) (1u << (k))
enum {
	K_KEY,
	K_HMAC_KEY,
	K_HMAC_TYPE,
	K_ENC_MODE,
	K_ACCESS_TIMEOUT,
	K_MAX_TIMEOUT,
	K_REQUIRE_USER,
	K_JIT_USER,
	K_OPEN_PORTS,
	K_RESTRICT_PORTS,
	K_REQUIRE_SOURCE,
	K_EXPIRE,
	K_DESTINATION,
};

__attribute__((format(printf, 2, 3))) static int err(struct parser *p,
						     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->errors++;
	return diag_error(p->diag, p->path, NULL, p->line, 0, "%s", msg);
}

static void stanza_release(struct jit_spa_stanza *s)
{
	free(s->sources);
	free(s->destinations);
	free(s->open_ports);
	free(s->restrict_ports);
	explicit_bzero(s->key, sizeof(s->key));
	explicit_bzero(s->hmac_key, sizeof(s->hmac_key));
}

struct jit_spa_conf *spa_conf_free(struct jit_spa_conf *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_stanzas; i++)
		stanza_release(&c->stanzas[i]);
	free(c->stanzas);
	free(c->path);
	free(c);
	return NULL;
}

/* "Y"/"N" as fwknopd reads them (the first letter, either case). */
static int parse_bool(struct parser *p, const char *kw, const char *val,
		      bool *ret)
{
	if (val[0] == 'Y' || val[0] == 'y') {
		*ret = true;
		return 0;
	}
	if (val[0] == 'N' || val[0] == 'n') {
		*ret = false;
		return 0;
	}
	return err(p, "%s must be Y or N", kw);
}

static int parse_seconds(struct parser *p, const char *kw, const char *val,
			 uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (!isdigit((unsigned char)val[0]) || *end || errno || v < 1 ||
	    v > JIT_DURATION_MAX_S)
		return err(p, "%s must be a number of seconds, 1 to %u", kw,
			   JIT_DURATION_MAX_S);
	*ret = (uint32_t)v;
	return 0;
}

/* "255.255.255.0" as a prefix length, or -1. */
static int mask_len(const char *s)
{
	struct in_addr a;
	uint32_t m;
	int n = 0;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	m = ntohl(a.s_addr);
	while (m & 0x80000000u) {
		m <<= 1;
		n++;
	}
	return m ? -1 : n;
}

/* "ANY" or a list of addresses and networks, "," or space separated. */
static int parse_prefixes(struct parser *p, const char *kw, char *val,
			  bool *any, struct jit_prefix **ret, size_t *n)
{
	char *save = NULL;

	if (!strcasecmp(val, "ANY")) {
		*any = true;
		return 0;
	}
	*any = false;
	for (char *t = strtok_r(val, ", \t", &save); t;
	     t = strtok_r(NULL, ", \t", &save)) {
		struct jit_prefix pfx;
		char buf[JIT_PREFIX_STRLEN + 16];
		char *slash = strchr(t, '/');
		bool host_bits;

		if (strlen(t) >= sizeof(buf))
			return err(p, "%s entry is too long", kw);
		snprintf(buf, sizeof(buf), "%s", t);
		if (slash && strchr(slash + 1, '.')) {
			int len = mask_len(slash + 1);

			if (len < 0)
				return err(p,
					   "%s: '%s' has a netmask that is "
					   "not contiguous",
					   kw, t);
			snprintf(buf + (slash - t),
				 sizeof(buf) - (size_t)(slash - t), "/%d", len);
		}
		if (prefix_parse_relaxed(buf, &pfx, &host_bits) < 0)
			return err(p,
				   "%s: '%s' is not an IPv4/IPv6 address "
				   "or network",
				   kw, t);
		if (*n >= JIT_SPA_SOURCES_MAX)
			return err(p, "%s: more than %d entries", kw,
				   JIT_SPA_SOURCES_MAX);
		if (grow1((void **)ret, *n, sizeof(**ret)) < 0)
			return -ENOMEM;
		(*ret)[(*n)++] = pfx;
	}
	if (!*n)
		return err(p, "%s needs ANY or at least one address", kw);
	return 0;
}

/* "tcp/22, udp/1194". */
static int parse_ports(struct parser *p, const char *kw, char *val,
		       struct jit_spa_port **ret, size_t *n)
{
	char *save = NULL;

	for (char *t = strtok_r(val, ", \t", &save); t;
	     t = strtok_r(NULL, ", \t", &save)) {
		const char *port = strchr(t, '/');
		struct jit_spa_port sp;

		switch (proto_port_parse(t, &sp.ipproto, &sp.port)) {
		case -EINVAL:
			return err(p, "%s: '%s' is not proto/port (tcp/22)", kw,
				   t);
		case -EPROTONOSUPPORT:
			return err(p, "%s: protocol '%s' is not tcp or udp", kw,
				   t);
		case -ERANGE:
			return err(p, "%s: port '%s' is not 1..65535", kw,
				   port + 1);
		}
		if (*n >= JIT_SPA_PORTS_MAX)
			return err(p, "%s: more than %d ports", kw,
				   JIT_SPA_PORTS_MAX);
		if (grow1((void **)ret, *n, sizeof(**ret)) < 0)
			return -ENOMEM;
		(*ret)[(*n)++] = sp;
	}
	if (!*n)
		return err(p, "%s needs at least one proto/port", kw);
	return 0;
}

static int parse_key(struct parser *p, const char *kw, const char *val,
		     bool b64, uint8_t *key, int *len)
{
	size_t n = strlen(val);

	if (!b64) {
		if (n > JIT_SPA_KEY_MAX)
			return err(p, "%s is longer than %d bytes", kw,
				   JIT_SPA_KEY_MAX);
		memcpy(key, val, n);
		*len = (int)n;
	} else {
		char in[KEY_B64_MAX + 1];
		unsigned char out[KEY_B64_MAX];
		int r;

		if (n > KEY_B64_MAX)
			return err(p, "%s is longer than %d bytes once decoded",
				   kw, JIT_SPA_KEY_MAX);
		if (strspn(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
				"rstuvwxyz0123456789+/=") != n ||
		    n % 4)
			return err(p, "%s is not base64", kw);
		memcpy(in, val, n + 1);
		r = fko_base64_decode(in, out);
		explicit_bzero(in, sizeof(in));
		if (r <= 0 || r > JIT_SPA_KEY_MAX) {
			explicit_bzero(out, sizeof(out));
			return err(p, "%s is not base64 of 1 to %d bytes", kw,
				   JIT_SPA_KEY_MAX);
		}
		memcpy(key, out, (size_t)r);
		explicit_bzero(out, sizeof(out));
		*len = r;
	}
	if (!*len)
		return err(p, "%s is empty", kw);
	return 0;
}

static bool user_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= JIT_SPA_USER_MAX || s[0] == '-')
		return false;
	for (const char *c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("._-$", *c))
			return false;
	return true;
}

/* ACCESS_EXPIRE MM/DD/YYYY: local midnight at the start of that day. */
/* ACCESS_EXPIRE_EPOCH: unix seconds. */
static int parse_epoch(struct parser *p, const char *val, int64_t *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(val, &end, 10);
	if (!isdigit((unsigned char)val[0]) || *end || errno || v < 1)
		return err(p, "ACCESS_EXPIRE_EPOCH must be unix seconds");
	*ret = v;
	return 0;
}

static int parse_date(struct parser *p, const char *val, int64_t *ret)
{
	struct tm tm = { 0 };
	const char *end = strptime(val, "%m/%d/%Y", &tm);
	time_t t;

	if (!end || *end)
		return err(p, "ACCESS_EXPIRE must be a date as MM/DD/YYYY");
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t == (time_t)-1)
		return err(p, "ACCESS_EXPIRE is not a date this system can "
			      "represent");
	*ret = (int64_t)t;
	return 0;
}

static int once(struct parser *p, const char *kw, int k)
{
	if (p->seen & SEEN(k))
		return err(p, "%s is given twice in the stanza of line %u", kw,
			   p->cur->line);
	p->seen |= SEEN(k);
	return 0;
}

/* The stanza ends (at the next SOURCE or the end): is it whole? */
static int stanza_finish(struct parser *p, unsigned end_line)
{
	struct jit_spa_stanza *s = p->cur;
	unsigned save = p->line;
	int r = 0;

	if (!s)
		return 0;
	p->line = s->line;
	if (!s->key_len)
		r = err(p, "stanza has no KEY or KEY_BASE64");
	if (!s->hmac_key_len)
		r = err(p, "stanza has no HMAC_KEY or HMAC_KEY_BASE64: packets "
			   "are only accepted with HMAC (fwknop --use-hmac)");
	if (s->key_len && s->key_len == s->hmac_key_len &&
	    !memcmp(s->key, s->hmac_key, (size_t)s->key_len))
		r = err(p, "the HMAC key must differ from the encryption key");
	if (!s->jit_user[0] && s->require_user[0])
		snprintf(s->jit_user, sizeof(s->jit_user), "%s",
			 s->require_user);
	if (!s->jit_user[0])
		r = err(p, "stanza has neither JIT_USER nor REQUIRE_USERNAME: "
			   "name the local account whose rights its packets "
			   "carry");
	if (streq(s->jit_user, "root"))
		r = err(p, "JIT_USER root: a packet would carry every right of "
			   "root; name an ordinary account the policies list");
	if (s->access_timeout_s > s->max_timeout_s)
		r = err(p, "FW_ACCESS_TIMEOUT %u is above MAX_FW_TIMEOUT %u",
			s->access_timeout_s, s->max_timeout_s);
	p->line = save;
	(void)end_line;
	p->cur = NULL;
	p->seen = 0;
	return r;
}

static int stanza_begin(struct parser *p, char *val)
{
	struct jit_spa_conf *c = p->conf;
	struct jit_spa_stanza *s;
	int r;

	r = stanza_finish(p, p->line);
	if (r == -ENOMEM)
		return r;
	if (c->n_stanzas >= JIT_SPA_STANZAS_MAX)
		return err(p, "more than %d stanzas", JIT_SPA_STANZAS_MAX);
	if (grow1((void **)&c->stanzas, c->n_stanzas, sizeof(*c->stanzas)) < 0)
		return -ENOMEM;
	s = &c->stanzas[c->n_stanzas++];
	memset(s, 0, sizeof(*s));
	s->line = p->line;
	s->any_destination = true;
	s->hmac_type = FKO_HMAC_SHA256;
	s->enc_mode = FKO_ENC_MODE_CBC;
	s->access_timeout_s = JIT_SPA_ACCESS_TIMEOUT_S;
	s->max_timeout_s = JIT_SPA_MAX_TIMEOUT_S;
	p->cur = s;
	return parse_prefixes(p, "SOURCE", val, &s->any_source, &s->sources,
			      &s->n_sources);
}

static int parse_hmac_type(struct parser *p, struct jit_spa_stanza *s,
			   const char *val)
{
	if (fko_value_of(hmac_types, ARRAY_SIZE(hmac_types), val,
			 &s->hmac_type) == 0)
		return 0;
	return err(p,
		   "HMAC_DIGEST_TYPE '%s' is not MD5, SHA1, SHA256, "
		   "SHA384, SHA512, SHA3_256 or SHA3_512",
		   val);
}

static int parse_enc_mode(struct parser *p, struct jit_spa_stanza *s,
			  const char *val)
{
	if (!strcasecmp(val, "Asymmetric"))
		return err(p, "ENCRYPTION_MODE Asymmetric (GnuPG) is "
			      "not supported");
	if (fko_value_of(enc_modes, ARRAY_SIZE(enc_modes), val, &s->enc_mode) ==
	    0)
		return 0;
	return err(p,
		   "ENCRYPTION_MODE '%s' is not CBC, CTR, ECB, CFB, "
		   "PCBC, OFB or legacy",
		   val);
}

static int parse_require_user(struct parser *p, struct jit_spa_stanza *s,
			      const char *val)
{
	if (strlen(val) >= sizeof(s->require_user))
		return err(p, "REQUIRE_USERNAME is longer than %d bytes",
			   JIT_SPA_USER_MAX - 1);
	snprintf(s->require_user, sizeof(s->require_user), "%s", val);
	return 0;
}

static int parse_jit_user(struct parser *p, struct jit_spa_stanza *s,
			  const char *val)
{
	if (!user_name_valid(val))
		return err(p, "JIT_USER '%.40s' is not a user name", val);
	snprintf(s->jit_user, sizeof(s->jit_user), "%s", val);
	return 0;
}

static int keyword(struct parser *p, const char *kw, char *val)
{
	struct jit_spa_stanza *s = p->cur;

	if (!strcasecmp(kw, "SOURCE"))
		return stanza_begin(p, val);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (!strncasecmp(kw, refused[i].prefix,
				 strlen(refused[i].prefix)))
			return err(p, "%s: %s", kw, refused[i].why);
	if (!s)
		return err(p,
			   "%s before the first SOURCE: every stanza starts "
			   "with SOURCE",
			   kw);

	if (!strcasecmp(kw, "KEY") || !strcasecmp(kw, "KEY_BASE64"))
		return once(p, "KEY", K_KEY)
			       ?: parse_key(p, kw, val, kw[3] != '\0', s->key,
					    &s->key_len);
	if (!strcasecmp(kw, "HMAC_KEY") || !strcasecmp(kw, "HMAC_KEY_BASE64"))
		return once(p, "HMAC_KEY", K_HMAC_KEY)
			       ?: parse_key(p, kw, val, kw[8] != '\0',
					    s->hmac_key, &s->hmac_key_len);
	if (!strcasecmp(kw, "HMAC_DIGEST_TYPE"))
		return once(p, kw, K_HMAC_TYPE) ?: parse_hmac_type(p, s, val);
	if (!strcasecmp(kw, "ENCRYPTION_MODE"))
		return once(p, kw, K_ENC_MODE) ?: parse_enc_mode(p, s, val);
	if (!strcasecmp(kw, "FW_ACCESS_TIMEOUT"))
		return once(p, kw, K_ACCESS_TIMEOUT)
			       ?: parse_seconds(p, kw, val,
						&s->access_timeout_s);
	if (!strcasecmp(kw, "MAX_FW_TIMEOUT"))
		return once(p, kw, K_MAX_TIMEOUT)
			       ?: parse_seconds(p, kw, val, &s->max_timeout_s);
	if (!strcasecmp(kw, "REQUIRE_USERNAME"))
		return once(p, kw, K_REQUIRE_USER)
			       ?: parse_require_user(p, s, val);
	if (!strcasecmp(kw, "JIT_USER"))
		return once(p, kw, K_JIT_USER) ?: parse_jit_user(p, s, val);
	if (!strcasecmp(kw, "OPEN_PORTS"))
		return once(p, kw, K_OPEN_PORTS)
			       ?: parse_ports(p, kw, val, &s->open_ports,
					      &s->n_open_ports);
	if (!strcasecmp(kw, "RESTRICT_PORTS"))
		return once(p, kw, K_RESTRICT_PORTS)
			       ?: parse_ports(p, kw, val, &s->restrict_ports,
					      &s->n_restrict_ports);
	if (!strcasecmp(kw, "REQUIRE_SOURCE_ADDRESS") ||
	    !strcasecmp(kw, "REQUIRE_SOURCE"))
		return once(p, "REQUIRE_SOURCE_ADDRESS", K_REQUIRE_SOURCE)
			       ?: parse_bool(p, kw, val,
					     &s->require_source_address);
	if (!strcasecmp(kw, "DESTINATION"))
		return once(p, kw, K_DESTINATION)
			       ?: parse_prefixes(
					  p, kw, val, &s->any_destination,
					  &s->destinations, &s->n_destinations);
	if (!strcasecmp(kw, "ACCESS_EXPIRE"))
		return once(p, "ACCESS_EXPIRE", K_EXPIRE)
			       ?: parse_date(p, val, &s->expire_s);
	if (!strcasecmp(kw, "ACCESS_EXPIRE_EPOCH"))
		return once(p, "ACCESS_EXPIRE", K_EXPIRE)
			       ?: parse_epoch(p, val, &s->expire_s);
	return err(p, "unknown keyword '%.40s'", kw);
}

/* One line: "KEYWORD value", a ';' ends the value, as fwknopd reads it. */
static int parse_line(struct parser *p, char *line)
{
	char *kw, *val, *end;

	while (isspace((unsigned char)*line))
		line++;
	if (!*line || *line == '#' || *line == ';')
		return 0;
	kw = line;
	while (*line && !isspace((unsigned char)*line))
		line++;
	if (*line)
		*line++ = '\0';
	/* fwknopd takes "KEYWORD:" too. */
	end = kw + strlen(kw);
	if (end > kw && end[-1] == ':')
		end[-1] = '\0';
	while (isspace((unsigned char)*line))
		line++;
	val = line;
	val[strcspn(val, ";")] = '\0';
	end = val + strlen(val);
	while (end > val && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (!*val)
		return err(p, "%.40s has no value", kw);
	return keyword(p, kw, val);
}

int spa_conf_parse(const char *path, const char *text, size_t len,
		   struct jit_spa_conf **ret, struct jit_diag *diag)
{
	struct parser p = { .path = path, .diag = diag };
	const char *pos = text, *stop = text + len;
	int r = 0;

	if (len > JIT_SPA_FILE_MAX_BYTES)
		return diag_error(diag, path, NULL, 0, 0,
				  "larger than %d bytes",
				  JIT_SPA_FILE_MAX_BYTES);
	p.conf = calloc(1, sizeof(*p.conf));
	if (!p.conf || !(p.conf->path = strdup(path))) {
		spa_conf_free(p.conf);
		return -ENOMEM;
	}
	while (pos < stop) {
		const char *nl = memchr(pos, '\n', (size_t)(stop - pos));
		size_t n = nl ? (size_t)(nl - pos) : (size_t)(stop - pos);
		char line[LINE_MAX_BYTES + 1];

		p.line++;
		if (n > LINE_MAX_BYTES) {
			err(&p, "line longer than %d bytes", LINE_MAX_BYTES);
		} else if (memchr(pos, '\0', n)) {
			err(&p, "line holds a NUL byte");
		} else {
			memcpy(line, pos, n);
			line[n] = '\0';
			if (n && line[n - 1] == '\r')
				line[n - 1] = '\0';
			r = parse_line(&p, line);
			explicit_bzero(line, sizeof(line));
			if (r == -ENOMEM)
				break;
		}
		pos += n + (nl ? 1 : 0);
	}
	if (r != -ENOMEM)
		r = stanza_finish(&p, p.line);
	if (r != -ENOMEM && !p.conf->n_stanzas) {
		p.line = 0;
		err(&p, "no stanza: the file needs at least one SOURCE");
	}
	if (r == -ENOMEM || p.errors) {
		spa_conf_free(p.conf);
		return r == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	*ret = p.conf;
	return 0;
}

int spa_conf_load(const char *path, struct jit_spa_conf **ret,
		  struct jit_diag *diag)
{
	/* It holds keys: nobody else may read it, or change it. */
	const struct jit_file_rules rules = {
		.max_bytes = JIT_SPA_FILE_MAX_BYTES,
		.refused_mode = S_IWGRP | S_IRWXO,
		.mode_what = "others may read or change its keys",
		.mode_why = ": chmod 600 it",
		.root_owned = true,
		.no_symlink = true,
	};
	char *text = NULL;
	size_t len = 0;
	int r;

	r = diag_read_file(path, &rules, diag, &text, &len);
	if (r < 0)
		return r;
	r = spa_conf_parse(path, text, len, ret, diag);
	explicit_bzero(text, len);
	free(text);
	return r;
}
