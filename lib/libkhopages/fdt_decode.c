// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Decode the khopages handover FDT (the "khopages" KHO subtree). Integer
 * properties are in the CPU's byte order, like KHO's own, so they are
 * copied as they are rather than through fdt32_to_cpu()/fdt64_to_cpu().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "khopages.h"
#include "handover_abi.h"

static _Thread_local char why_buf[256];

static int bad(const char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
	if (why)
		*why = why_buf;
	return -EINVAL;
}

static int no_memory(const char **why)
{
	if (why)
		*why = "out of memory";
	return -ENOMEM;
}

/* Untrusted strings from the blob, made printable for a message. */
static const char *printable(char *buf, size_t size, const char *s, int len)
{
	size_t o = 0;

	for (int i = 0; i < len && s[i] && o + 1 < size; i++)
		buf[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[o] = '\0';
	return buf;
}

static int get_u64(const void *fdt, int node, const char *session,
		   const char *prop, uint64_t *val, const char **why)
{
	int len;
	const void *p = fdt_getprop(fdt, node, prop, &len);

	if (!p && len == -FDT_ERR_NOTFOUND)
		return bad(why, "session %s: property \"%s\" is missing",
			   session, prop);
	if (!p)
		return bad(why, "session %s: property \"%s\": %s", session,
			   prop, fdt_strerror(len));
	if (len != (int)sizeof(*val))
		return bad(why, "session %s: property \"%s\" is %d bytes, expected %zu",
			   session, prop, len, sizeof(*val));
	memcpy(val, p, sizeof(*val));
	return 0;
}

/* Check one session node; @pids points into the blob (maybe unaligned). */
static int parse_session(const void *fdt, int node, struct khop_fdt_session *s,
			 const void **pids, const char **why)
{
	char shown[KHOPAGES_NAME_MAX];
	int len, ret;

	memset(s, 0, sizeof(*s));
	s->name = fdt_get_name(fdt, node, &len);
	if (!s->name)
		return bad(why, "session node at offset %d: %s", node,
			   fdt_strerror(len));
	if (!khop_valid_name(s->name))
		return bad(why, "session node \"%s\": not a valid session name",
			   printable(shown, sizeof(shown), s->name, len));

	*pids = fdt_getprop(fdt, node, KHOPAGES_PROP_PIDS, &len);
	if (!*pids && len == -FDT_ERR_NOTFOUND)
		return bad(why, "session %s: property \"%s\" is missing",
			   s->name, KHOPAGES_PROP_PIDS);
	if (!*pids)
		return bad(why, "session %s: property \"%s\": %s", s->name,
			   KHOPAGES_PROP_PIDS, fdt_strerror(len));
	if (len % (int)sizeof(uint32_t))
		return bad(why, "session %s: property \"%s\" is %d bytes, not a multiple of 4",
			   s->name, KHOPAGES_PROP_PIDS, len);
	s->nr_pids = (size_t)len / sizeof(uint32_t);

	ret = get_u64(fdt, node, s->name, KHOPAGES_PROP_NR_PAGES, &s->nr_pages, why);
	if (!ret)
		ret = get_u64(fdt, node, s->name, KHOPAGES_PROP_NR_FOLIOS, &s->nr_folios, why);
	if (!ret)
		ret = get_u64(fdt, node, s->name, KHOPAGES_PROP_NR_WORDS, &s->nr_words, why);
	if (!ret)
		ret = get_u64(fdt, node, s->name, KHOPAGES_PROP_TABLE, &s->table_phys, why);
	if (ret)
		return ret;
	if (s->nr_words && !s->table_phys)
		return bad(why, "session %s: %llu table words but no table",
			   s->name, (unsigned long long)s->nr_words);
	return 0;
}

static int check_root(const void *fdt, size_t size, const char **why)
{
	char shown[KHOPAGES_NAME_MAX];
	const char *compat;
	int err, len;

	err = fdt_check_header(fdt);
	if (err)
		return bad(why, "not a flattened device tree: %s", fdt_strerror(err));
	if (fdt_totalsize(fdt) > size)
		return bad(why, "truncated: the FDT header says %u bytes, only %zu present",
			   fdt_totalsize(fdt), size);
	err = fdt_check_full(fdt, size);
	if (err)
		return bad(why, "corrupted FDT: %s", fdt_strerror(err));

	err = fdt_node_check_compatible(fdt, 0, KHOPAGES_COMPATIBLE);
	if (err == 0)
		return 0;
	compat = fdt_getprop(fdt, 0, "compatible", &len);
	if (!compat)
		return bad(why, "the root node has no \"compatible\" property (expected \"%s\")",
			   KHOPAGES_COMPATIBLE);
	return bad(why, "root compatible is \"%s\", expected \"%s\"",
		   printable(shown, sizeof(shown), compat, len), KHOPAGES_COMPATIBLE);
}

int khop_fdt_sessions(const void *blob, size_t size,
		      int (*fn)(const struct khop_fdt_session *s, void *arg),
		      void *arg, const char **why)
{
	struct khop_fdt_session s;
	const void *raw_pids;
	void *copy = NULL;
	int node, ret;

	if (why)
		*why = NULL;
	if (!blob)
		return bad(why, "no blob (NULL)");
	if (size < sizeof(struct fdt_header))
		return bad(why, "truncated: %zu bytes, an FDT header alone is %zu",
			   size, sizeof(struct fdt_header));
	/* libfdt refuses blobs that are not 8-byte aligned. */
	if ((uintptr_t)blob % 8) {
		copy = malloc(size);
		if (!copy)
			return no_memory(why);
		memcpy(copy, blob, size);
		blob = copy;
	}

	ret = check_root(blob, size, why);
	if (ret)
		goto out;

	/* Validate every session first so @fn never sees half a bad tree. */
	fdt_for_each_subnode(node, blob, 0) {
		ret = parse_session(blob, node, &s, &raw_pids, why);
		if (ret)
			goto out;
	}
	if (node != -FDT_ERR_NOTFOUND) {
		ret = bad(why, "walking the sessions: %s", fdt_strerror(node));
		goto out;
	}
	if (!fn)
		goto out;

	fdt_for_each_subnode(node, blob, 0) {
		uint32_t *pids = NULL;

		parse_session(blob, node, &s, &raw_pids, why);
		if (s.nr_pids) {
			pids = malloc(s.nr_pids * sizeof(*pids));
			if (!pids) {
				ret = no_memory(why);
				goto out;
			}
			memcpy(pids, raw_pids, s.nr_pids * sizeof(*pids));
		}
		s.pids = pids;
		ret = fn(&s, arg);
		free(pids);
		if (ret)
			goto out;
	}
out:
	free(copy);
	return ret;
}
