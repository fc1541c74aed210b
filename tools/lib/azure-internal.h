/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the parts of the cloud JIT format share: a conversion's context,
 * where its errors and notes go, JSON paths for messages, and the checks
 * that policies and requests both make.
 */
#ifndef JIT_AZURE_INTERNAL_H
#define JIT_AZURE_INTERNAL_H

#include <stdbool.h>

#include "addr.h"
#include "azure.h"

/* JSON paths are short; a longer one is cut, never overflowed. */
#define PATH_LEN 256

/**
 * struct conv - one conversion: where its messages go
 * @file: the document's name, for messages
 * @diag: errors
 * @notes: what was read but not carried over
 * @oom: out of memory somewhere: the conversion fails with -ENOMEM
 */
struct conv {
	const char *file;
	struct jit_diag *diag;
	struct azure_notes *notes;
	bool oom;
};

/* An error about the value at path ("" or NULL: the document). -EINVAL. */
__attribute__((format(printf, 3, 4))) int
conv_error(struct conv *c, const char *path, const char *fmt, ...);
/* A note "path: message". */
__attribute__((format(printf, 3, 4))) void
conv_note(struct conv *c, const char *path, const char *fmt, ...);

/* "base.key" (or "key" at the root), "base[i]". Return buf. */
char *path_key(char buf[static PATH_LEN], const char *base, const char *key);
char *path_index(char buf[static PATH_LEN], const char *base, size_t i);

/* What a JSON value is, for "expected X, got Y". */
const char *json_what(const json_t *v);
bool in_list(const char *key, const char *const *list);

/*
 * A string, cut and made safe to show inside quotes: printable ASCII only,
 * others become '?'. Returns buf.
 */
char *shown(const char *s, char *buf, size_t size);
#define SHOWN_LEN 80
#define SHOW(s)	  shown((s), (char[SHOWN_LEN]){ 0 }, SHOWN_LEN)

json_t *load_json(struct conv *c, const char *text, size_t len);
/*
 * The document in root: root itself, or the one a REST API example wraps
 * (parameters.body, else responses.200.body), with its path in base.
 * Returns NULL after reporting why there is none.
 */
json_t *unwrap(struct conv *c, json_t *root, char base[static PATH_LEN]);

/* A note when ver (an api-version) is not the one we read. */
void note_api_version(struct conv *c, json_t *ver, const char *path);

/* What a document is, from its keys. */
enum azure_kind {
	AZURE_UNKNOWN,
	AZURE_POLICY,	   /* a JitNetworkAccessPolicy, enveloped or flat */
	AZURE_POLICY_LIST, /* {"value": [...]} or [...] of them */
	AZURE_TEMPLATE,	   /* an ARM template */
	AZURE_INITIATE,	   /* a JitNetworkAccessPolicyInitiateRequest */
	AZURE_RECORD,	   /* a JitNetworkAccessRequest */
	AZURE_RECORDS,	   /* [...] of them (or of initiate bodies) */
	AZURE_EMPTY_LIST,  /* [] */
};
enum azure_kind azure_kind_of(json_t *v);

/* "*", "Any" and "Internet": every address. */
bool tag_means_any(const char *s);
void note_unknown(struct conv *c, json_t *obj, const char *base,
		  const char *const *known);
json_t *required_list(struct conv *c, json_t *obj, const char *base,
		      const char *key, char path[static PATH_LEN],
		      const char *why_empty);
int port_number(struct conv *c, json_t *num, const char *path, long *ret);
int vm_name_of(struct conv *c, json_t *vm, const char *path, const char **ret);
int parse_prefix(struct conv *c, const char *path, const char *s,
		 const char *tag_hint, struct jit_prefix *ret);

/*
 * A copy of v, a value of the ARM template, with every template expression
 * in it evaluated (azure-arm.c); NULL after reporting, at its path, each
 * one that cannot be.
 */
json_t *arm_evaluate(struct conv *c, json_t *template, json_t *v,
		     const char *path);

#endif
