/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "caps.h"
#include "util.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT		 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

int caps_keep_net_admin_only(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = { 0 };
	int last = CAP_LAST_CAP;
	FILE *f;

	/* The running kernel may know more capabilities than our headers. */
	f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	/* Needs CAP_SETPCAP; under systemd the unit's bounding set rules. */
	for (int c = 0; c <= last; c++)
		if (c != CAP_NET_ADMIN)
			(void)prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective =
		CAP_TO_MASK(CAP_NET_ADMIN);
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].permitted =
		CAP_TO_MASK(CAP_NET_ADMIN);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

int caps_effective(char *buf, size_t n)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "CapEff:", 7) == 0) {
			char *p = line + 7;

			while (*p == '\t' || *p == ' ')
				p++;
			p[strcspn(p, "\n")] = '\0';
			snprintf(buf, n, "%s", p);
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}
