/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent: policies in, table out, control socket, one epoll loop. */
#ifndef JIT_DAEMON_H
#define JIT_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * struct jit_config - how the agent runs (from the command line)
 * @policy_dir: directory of policy files, watched with inotify
 * @state_dir: where state is kept
 * @socket_path: control socket
 * @socket_group: group owning the control socket (0660)
 * @table: name of our inet table
 * @allow_owner: use owner+persist when the kernel has it
 * @log_dir: directory of the JSON-lines logs (audit.log), or NULL for
 *           syslog only
 * @use_syslog: also log to syslog
 * @nflog_group: NFLOG group of denied packets (alerts)
 * @spa_access: SPA access file (fwknopd's access.conf syntax), or NULL:
 *              no SPA
 * @spa_port: UDP port of SPA packets
 * @spa_group: NFLOG group the table copies SPA packets to
 * @spa_max_age_s: SPA packets whose time is further from ours are refused
 * @fleet_config: fleet.yaml; fleet mode is off while it does not exist
 * @spa_window_ms: the window of refused SPA packets (0: a minute; tests)
 * @viewer_refresh_ms: how often followers' groups are looked up again
 *                     (0: a minute; tests)
 */
struct jit_config {
	const char *policy_dir;
	const char *state_dir;
	const char *socket_path;
	gid_t socket_group;
	const char *table;
	bool allow_owner;
	const char *log_dir;
	bool use_syslog;
	uint16_t nflog_group;
	const char *spa_access;
	uint16_t spa_port;
	uint16_t spa_group;
	unsigned spa_max_age_s;
	const char *fleet_config;
	double user_rate;    /* decisions per second per user; 0: no limit */
	unsigned user_burst; /* decisions at once */
	uint32_t spa_window_ms;
	uint32_t viewer_refresh_ms;
};

#define JIT_USER_RATE_DEFAULT  1.0
#define JIT_USER_BURST_DEFAULT 10

#define JIT_NFLOG_GROUP_DEFAULT	    2701
#define JIT_SPA_NFLOG_GROUP_DEFAULT 2702

/* Run until SIGTERM/SIGINT. Returns the process exit code. */
int daemon_run(const struct jit_config *cfg);

#endif
