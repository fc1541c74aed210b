/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nftables netlink channel: one socket that owns our table, and atomic
 * batches on it. Every message of a batch gets its own sequence number and a
 * description, so that a kernel error names the object that caused it.
 */
#ifndef JIT_NFT_H
#define JIT_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;
struct jit_nft;
struct jit_batch;

/* Open the NETLINK_NETFILTER socket. Returns 0 or -errno. */
int nft_open(struct jit_nft **ret);
struct jit_nft *nft_close(struct jit_nft *n);
/* The netlink port id of the socket: the kernel names it in the events of
 * every transaction the socket committed. */
uint32_t nft_portid(const struct jit_nft *n);

/* Start a batch. Returns NULL on allocation failure. */
struct jit_batch *batch_new(struct jit_nft *n);
/*
 * A batch the kernel takes only while the ruleset's generation is still
 * genid (from nft_genid; 0: any): otherwise it fails whole with -ERESTART.
 */
struct jit_batch *batch_new_at(struct jit_nft *n, uint32_t genid);
/* The ruleset's generation id now. Returns 0 or -errno. */
int nft_genid(struct jit_nft *n, uint32_t *ret);
struct jit_batch *batch_free(struct jit_batch *b);

/*
 * Append a message header of the given NFT_MSG_* type for the inet family
 * and return it for the caller to fill with a libnftnl *_nlmsg_build_payload.
 * what describes the object for error messages ("set protected"). The caller
 * must call batch_push() once the payload is in.
 */
__attribute__((format(printf, 4, 5))) struct nlmsghdr *
batch_msg(struct jit_batch *b, uint16_t type, uint16_t flags, const char *what,
	  ...);
/* Close the message batch_msg() opened. Returns 0 or -ENOMEM. */
int batch_push(struct jit_batch *b);
/* Messages in the batch so far. */
size_t batch_count(const struct jit_batch *b);

/*
 * Send the batch as one transaction and collect the kernel's verdict. The
 * kernel processes it while sendmsg() runs, so errors are already queued
 * when it returns. On failure returns the first -errno and, if err is given,
 * a message naming the object ("set protected: File exists").
 * *failed_type (if given) is the NFT_MSG_* type of the message that failed,
 * or -1 when the failure is not tied to one.
 */
int batch_commit(struct jit_batch *b, char *err, size_t errlen,
		 int *failed_type);

/*
 * Run a dump request (a message built by the caller in buf with
 * NLM_F_DUMP) on the channel's socket and call cb for every reply message.
 * A dump interrupted by a concurrent change is restarted (up to 5 times).
 * Returns 0 or -errno (-ENOENT when the object does not exist).
 */
typedef int (*nft_dump_cb)(const struct nlmsghdr *nlh, void *data);
typedef void (*nft_dump_reset)(void *data);
int nft_dump(struct jit_nft *n, uint16_t type, uint16_t family,
	     const void *payload_obj,
	     void (*build)(struct nlmsghdr *nlh, const void *obj),
	     nft_dump_cb cb, nft_dump_reset reset, void *data);

#endif
