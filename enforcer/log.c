/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static bool log_syslog;
static bool log_stderr = true;
static int log_max = LOG_INFO;
static const char *log_ident = "jit-enforcer";

/* systemd sets JOURNAL_STREAM to the device:inode of the stream it reads. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_open(const char *ident, bool use_syslog)
{
	log_ident = ident;
	log_syslog = use_syslog;
	/* syslog() reaches the journal too: each line once, with its level. */
	log_stderr = !(use_syslog && stderr_is_journal());
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_close(void)
{
	if (log_syslog)
		closelog();
	log_syslog = false;
	log_stderr = true;
}

void log_set_max_level(int level)
{
	log_max = level;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void log_msg(int level, const char *fmt, ...)
{
	/* Callers write `return log_err("...: %m"), -errno;`: keep errno. */
	int saved = errno;
	char buf[2048];
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* A value quoted in a message cannot forge or hide a log line. */
	text_make_safe(buf);
	if (log_stderr)
		fprintf(stderr, "%s: %s: %s\n", log_ident, level_name(level),
			buf);
	if (log_syslog)
		syslog(level, "%s", buf);
	errno = saved;
}

void log_lines(int level, const char *text)
{
	while (text && *text) {
		const char *nl = strchr(text, '\n');
		int n = nl ? (int)(nl - text) : (int)strlen(text);

		log_msg(level, "%.*s", n, text);
		text += n + (nl ? 1 : 0);
	}
}
