/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the khopages session life: preserve, hand-over, release, map,
 * finish. With a persistent trace instance they survive the kexec they
 * describe.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM khopages

#if !defined(_KHOPAGES_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KHOPAGES_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(khopages_preserve,
	    TP_PROTO(const char *session, int pid, u64 start, u64 len,
		     u64 nr_pages, u64 nr_folios, int err),
	    TP_ARGS(session, pid, start, len, nr_pages, nr_folios, err),
	    TP_STRUCT__entry(__string(session, session)
			     __field(int, pid)
			     __field(u64, start)
			     __field(u64, len)
			     __field(u64, nr_pages)
			     __field(u64, nr_folios)
			     __field(int, err)),
	    TP_fast_assign(__assign_str(session);
			   __entry->pid = pid;
			   __entry->start = start;
			   __entry->len = len;
			   __entry->nr_pages = nr_pages;
			   __entry->nr_folios = nr_folios;
			   __entry->err = err;),
	    TP_printk("session=%s pid=%d range=0x%llx+0x%llx pages=%llu new_folios=%llu err=%d",
		      __get_str(session), __entry->pid, __entry->start,
		      __entry->len, __entry->nr_pages, __entry->nr_folios,
		      __entry->err)
);

TRACE_EVENT(khopages_hand_over,
	    TP_PROTO(const char *session, u64 nr_pages, u64 nr_folios,
		     u64 meta_bytes, int err),
	    TP_ARGS(session, nr_pages, nr_folios, meta_bytes, err),
	    TP_STRUCT__entry(__string(session, session)
			     __field(u64, nr_pages)
			     __field(u64, nr_folios)
			     __field(u64, meta_bytes)
			     __field(int, err)),
	    TP_fast_assign(__assign_str(session);
			   __entry->nr_pages = nr_pages;
			   __entry->nr_folios = nr_folios;
			   __entry->meta_bytes = meta_bytes;
			   __entry->err = err;),
	    TP_printk("session=%s pages=%llu folios=%llu meta_bytes=%llu err=%d",
		      __get_str(session), __entry->nr_pages, __entry->nr_folios,
		      __entry->meta_bytes, __entry->err)
);

TRACE_EVENT(khopages_release,
	    TP_PROTO(const char *session, u32 state, u64 nr_pages),
	    TP_ARGS(session, state, nr_pages),
	    TP_STRUCT__entry(__string(session, session)
			     __field(u32, state)
			     __field(u64, nr_pages)),
	    TP_fast_assign(__assign_str(session);
			   __entry->state = state;
			   __entry->nr_pages = nr_pages;),
	    TP_printk("session=%s state=%u pages=%llu",
		      __get_str(session), __entry->state, __entry->nr_pages)
);

TRACE_EVENT(khopages_map,
	    TP_PROTO(const char *session, int pid, u64 orig_va, u64 dst_va,
		     u64 len, u64 mapped, u64 shared, u64 copied, int err),
	    TP_ARGS(session, pid, orig_va, dst_va, len, mapped, shared, copied,
		    err),
	    TP_STRUCT__entry(__string(session, session)
			     __field(int, pid)
			     __field(u64, orig_va)
			     __field(u64, dst_va)
			     __field(u64, len)
			     __field(u64, mapped)
			     __field(u64, shared)
			     __field(u64, copied)
			     __field(int, err)),
	    TP_fast_assign(__assign_str(session);
			   __entry->pid = pid;
			   __entry->orig_va = orig_va;
			   __entry->dst_va = dst_va;
			   __entry->len = len;
			   __entry->mapped = mapped;
			   __entry->shared = shared;
			   __entry->copied = copied;
			   __entry->err = err;),
	    TP_printk("session=%s pid=%d 0x%llx+0x%llx -> 0x%llx mapped=%llu shared=%llu copied=%llu err=%d",
		      __get_str(session), __entry->pid, __entry->orig_va,
		      __entry->len, __entry->dst_va, __entry->mapped,
		      __entry->shared, __entry->copied, __entry->err)
);

TRACE_EVENT(khopages_finish,
	    TP_PROTO(const char *session, u64 mapped, u64 released),
	    TP_ARGS(session, mapped, released),
	    TP_STRUCT__entry(__string(session, session)
			     __field(u64, mapped)
			     __field(u64, released)),
	    TP_fast_assign(__assign_str(session);
			   __entry->mapped = mapped;
			   __entry->released = released;),
	    TP_printk("session=%s mapped=%llu released=%llu",
		      __get_str(session), __entry->mapped, __entry->released)
);

#endif /* _KHOPAGES_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE khopages_trace
#include <trace/define_trace.h>
