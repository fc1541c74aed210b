/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl spa-keygen: new keys for one SPA user, printed as the stanza for
 * the agent's access file and the matching fwknop client command line, so
 * that onboarding is one copy-paste on each side. Keys come from libfko,
 * as `fwknop --key-gen` makes them.
 */
#include <ctype.h>
#include <fko.h>
#include <pwd.h>
#include <unistd.h>

#include "addr.h"
#include "jitctl.h"
#include "util.h"

static const struct command_option spa_keygen_options[] = {
	{ LONG_ONLY('u'), "user", "NAME",
	  "the user the packets act for (not root); default: the one who runs "
	  "it, or $SUDO_USER" },
	{ LONG_ONLY('H'), "host", "HOST",
	  "the host fwknop sends to; default: this host's name" },
	{ LONG_ONLY('p'), "port", "PROTO/PORT",
	  "the port fwknop asks for; default: tcp/22" },
	{ 0 },
};

COMMAND(spa_keygen, "spa-keygen", "[--user NAME] [--host HOST] [--port tcp/22]",
	"new SPA keys: the access file stanza and the fwknop "
	"command",
	"Make new keys for one user's single packet authorization "
	"(libfko's, as 'fwknop --key-gen' makes them) and print the "
	"stanza for the agent's access file (--spa-access) and the "
	"fwknop command line that matches it, to run once on the "
	"user's machine. The output as a whole is valid access file "
	"text: '>> FILE' works. It needs no agent.",
	spa_keygen_options);

/* Base64 of libfko's longest keys, with room to spare. */
#define KEY_B64_BUF 256

static int default_user(char *buf, size_t n)
{
	const char *sudo = getenv("SUDO_USER");
	struct passwd *pw;

	if (getuid() == 0 && sudo && *sudo && !streq(sudo, "root")) {
		snprintf(buf, n, "%s", sudo);
		return 0;
	}
	pw = getpwuid(getuid());
	if (!pw || pw->pw_uid == 0)
		return -ENOENT;
	snprintf(buf, n, "%s", pw->pw_name);
	return 0;
}

static bool word_ok(const char *s, const char *extra)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (const char *c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(extra, *c))
			return false;
	return true;
}

static int cmd_spa_keygen(struct ctx *ctx, int argc, char **argv)
{
	char user[64] = "", host[256] = "", key[KEY_B64_BUF] = "",
	     hmac[KEY_B64_BUF] = "", client[2048], stanza[1024];
	const char *port = "tcp/22";
	char port_text[32];
	uint16_t port_no;
	uint8_t proto;
	int c, r;

	while ((c = next_option(ctx, argc, argv)) != -1) {
		switch (c) {
		case 'u':
			snprintf(user, sizeof(user), "%s", optarg);
			break;
		case 'H':
			snprintf(host, sizeof(host), "%s", optarg);
			break;
		case 'p':
			port = optarg;
			break;
		default:
			return 2;
		}
	}
	if ((r = want_args(ctx, argc, argv, 0, 0)))
		return r;
	if (!user[0] && default_user(user, sizeof(user)) < 0)
		return usage_error(ctx, "name the user the packets act for: "
					"--user NAME (not root)");
	if (!word_ok(user, "._-") || streq(user, "root") || user[0] == '-' ||
	    strlen(user) > 32)
		return usage_error(ctx, "'%s' is not an ordinary user name",
				   user);
	if (!host[0] && gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "localhost");
	if (!word_ok(host, ".-:_"))
		return usage_error(ctx,
				   "--host takes a host name or address, "
				   "not '%s'",
				   host);
	snprintf(port_text, sizeof(port_text), "%s", port);
	if (proto_port_parse(port_text, &proto, &port_no) < 0)
		return usage_error(
			ctx,
			"--port takes tcp/PORT or udp/PORT (1..65535), "
			"not '%s'",
			port);
	/* As the access file and fwknop write it: tcp/22. */
	snprintf(port_text, sizeof(port_text), "%s/%u", proto_name(proto),
		 port_no);
	port = port_text;
	r = fko_key_gen(key, FKO_DEFAULT_KEY_LEN, hmac,
			FKO_DEFAULT_HMAC_KEY_LEN, FKO_HMAC_SHA256);
	if (r != FKO_SUCCESS)
		return fail(ctx, "key-generation-failed", "%s", fko_errstr(r));
	snprintf(stanza, sizeof(stanza),
		 "SOURCE              ANY\n"
		 "KEY_BASE64          %s\n"
		 "HMAC_KEY_BASE64     %s\n"
		 "JIT_USER            %s\n"
		 "FW_ACCESS_TIMEOUT   30\n",
		 key, hmac, user);
	snprintf(client, sizeof(client),
		 "fwknop -A %s -s -D %s --use-hmac --key-base64-rijndael %s "
		 "--key-base64-hmac %s -n %s --save-rc-stanza",
		 port, host, key, hmac, host);
	if (ctx->json) {
		json_t *j = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s}", "ok", 1,
				      "user", user, "stanza", stanza, "client",
				      client, "key_base64", key,
				      "hmac_key_base64", hmac);

		print_json(ctx, j);
		json_decref(j);
	} else {
		/* Valid access-file text as a whole: `>> FILE` works. */
		printf("# SPA stanza for %s (jitctl spa-keygen). Append it to "
		       "the "
		       "agent's\n"
		       "# --spa-access file (root, mode 600), then jitctl "
		       "reload. On %s's machine\n"
		       "# (fwknop-client), run this once; it saves the keys in "
		       "~/.fwknoprc, and\n"
		       "# `fwknop -n %s` is enough afterwards:\n"
		       "#   %s\n"
		       "%s",
		       user, user, host, client, stanza);
	}
	explicit_bzero(key, sizeof(key));
	explicit_bzero(hmac, sizeof(hmac));
	explicit_bzero(stanza, sizeof(stanza));
	explicit_bzero(client, sizeof(client));
	return 0;
}
