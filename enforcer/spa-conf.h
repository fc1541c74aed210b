/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SPA access file, in fwknopd's access.conf syntax: stanzas that start
 * with SOURCE, each with its keys and the limits it puts on what a packet
 * may ask. One keyword is ours, JIT_USER: the local account whose rights
 * under the policies a packet of that stanza carries. Keywords that are not
 * supported, or that would widen access, are errors, never ignored.
 */
#ifndef JIT_SPA_CONF_H
#define JIT_SPA_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "diag.h"

#define JIT_SPA_KEY_MAX	       128
#define JIT_SPA_STANZAS_MAX    1024
#define JIT_SPA_PORTS_MAX      64
#define JIT_SPA_SOURCES_MAX    256
#define JIT_SPA_USER_MAX       33
#define JIT_SPA_FILE_MAX_BYTES (1024 * 1024)
/* fwknopd's defaults. */
#define JIT_SPA_ACCESS_TIMEOUT_S  30
#define JIT_SPA_MAX_TIMEOUT_S	  300
#define JIT_SPA_PORT_DEFAULT	  62201
#define JIT_SPA_MAX_AGE_S_DEFAULT 120

/* One "tcp/22" of OPEN_PORTS or RESTRICT_PORTS. */
struct jit_spa_port {
	uint8_t ipproto;
	uint16_t port;
};

/**
 * struct jit_spa_stanza - one SOURCE block
 * @line: line of its SOURCE keyword
 * @any_source: SOURCE ANY
 * @sources: else, the prefixes a packet's source must be in
 * @any_destination: no DESTINATION, or DESTINATION ANY
 * @destinations: else, the prefixes its destination must be in
 * @key: Rijndael key (KEY or KEY_BASE64), @key_len bytes
 * @hmac_key: HMAC key (HMAC_KEY or HMAC_KEY_BASE64), @hmac_key_len bytes
 * @hmac_type: libfko's FKO_HMAC_* (HMAC_DIGEST_TYPE, default SHA256)
 * @enc_mode: libfko's FKO_ENC_MODE_* (ENCRYPTION_MODE, default CBC)
 * @access_timeout_s: FW_ACCESS_TIMEOUT, for packets that name none
 * @max_timeout_s: MAX_FW_TIMEOUT, the cap on any grant of this stanza
 * @require_user: REQUIRE_USERNAME, or ""
 * @jit_user: JIT_USER (default: @require_user)
 * @open_ports: OPEN_PORTS: if any, every port asked must be one of them
 * @restrict_ports: RESTRICT_PORTS: no port asked may be one of them
 * @require_source_address: REQUIRE_SOURCE_ADDRESS: refuse 0.0.0.0
 * @expire_s: ACCESS_EXPIRE(_EPOCH) as unix seconds, 0 for never
 */
struct jit_spa_stanza {
	unsigned line;
	bool any_source;
	struct jit_prefix *sources;
	size_t n_sources;
	bool any_destination;
	struct jit_prefix *destinations;
	size_t n_destinations;
	uint8_t key[JIT_SPA_KEY_MAX];
	int key_len;
	uint8_t hmac_key[JIT_SPA_KEY_MAX];
	int hmac_key_len;
	int hmac_type;
	int enc_mode;
	uint32_t access_timeout_s;
	uint32_t max_timeout_s;
	char require_user[JIT_SPA_USER_MAX];
	char jit_user[JIT_SPA_USER_MAX];
	struct jit_spa_port *open_ports;
	size_t n_open_ports;
	struct jit_spa_port *restrict_ports;
	size_t n_restrict_ports;
	bool require_source_address;
	int64_t expire_s;
};

struct jit_spa_conf {
	char *path;
	struct jit_spa_stanza *stanzas;
	size_t n_stanzas;
};

/*
 * Read path: it must be a regular file owned by root that no one else may
 * read or write (mode 0600 or 0640 with a root group... group write and any
 * access by others are refused). Every error goes to diag as "file:line:
 * message" (never quoting a line: keys are on them). Returns 0 or
 * -EINVAL/-EPERM/-errno.
 */
int spa_conf_load(const char *path, struct jit_spa_conf **ret,
		  struct jit_diag *diag);
/* The same from memory (no ownership check): for tests and fuzzing. */
int spa_conf_parse(const char *path, const char *text, size_t len,
		   struct jit_spa_conf **ret, struct jit_diag *diag);
struct jit_spa_conf *spa_conf_free(struct jit_spa_conf *c);
/* "SHA256", "CBC"... as access.conf writes them. */
const char *spa_hmac_name(int hmac_type);
const char *spa_enc_mode_name(int enc_mode);

#endif
