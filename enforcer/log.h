/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Daemon logging: stderr (for a foreground run and journald) and syslog. */
#ifndef JIT_LOG_H
#define JIT_LOG_H

#include <stdbool.h>
#include <syslog.h>

/*
 * ident is the syslog identity; use_syslog false logs to stderr only. With
 * syslog, a stderr that is the journal (systemd's JOURNAL_STREAM) is left
 * out: the journal has each line from syslog already.
 */
void log_open(const char *ident, bool use_syslog);
void log_close(void);
void log_set_max_level(int level);

__attribute__((format(printf, 2, 3))) void log_msg(int level, const char *fmt,
						   ...);

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

/* Log each line of a multi-line text (rendered diagnostics) at level. */
void log_lines(int level, const char *text);

#endif
