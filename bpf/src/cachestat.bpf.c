/* cachestat: the page cache's accesses, the pages it added (read in or
 * created: the misses) and the pages dirtied, in pages (spec §2.11, §3.11;
 * README.md says what each variant counts and how hits are derived).
 *
 * tracepoint (BTF tracepoints, kernel 6.11+ for the access ones):
 * mm_filemap_add_to_page_cache (a folio added), writeback_dirty_folio (a
 * folio of a written-back mapping dirtied), and the accesses:
 * mm_filemap_get_pages (a read's pages), mm_filemap_map_pages (a fault's
 * pages mapped around it) and mm_filemap_fault. trampoline and probe: the
 * original's functions under their folio names (5.16+): filemap_add_folio,
 * folio_mark_accessed and __folio_mark_dirty. */
#include "common.bpf.h"
#include "folio.bpf.h"

enum cachestat_counter {
	CACHESTAT_ACCESSED,
	CACHESTAT_ADDED,
	CACHESTAT_DIRTIED,
	CACHESTAT_COUNTERS,
};

COUNTER_ARRAY(cachestat_counters, enum cachestat_counter, CACHESTAT_COUNTERS);
TGID_VALUES(CACHESTAT_COUNTERS)
PID_FILTER_PROGRAMS

/* The kernel's page size: 4 KiB on every architecture we build for. */
#define CACHESTAT_PAGE_SHIFT 12

static __always_inline void cachestat_count(__u32 counter, __u64 pages)
{
	__u64 *own;

	if (current_counted(&own))
		count(&cachestat_counters, own, counter, pages);
}

/* The last call of filemap_get_pages() on this CPU: a read longer than a
 * batch of folios calls it again for the rest, with the same last page and
 * a later first one; that range was counted by its first call. Per CPU, not
 * per task: a per-task hash cost more than the rest of the program (aya
 * 0.14 has no task storage); a read preempted by another reader, or moved
 * to another CPU, between two calls counts its rest again. */
struct read_range {
	__u64 mapping;
	__u64 first;
	__u64 last;
	__u32 task;
	__u32 unused;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct read_range);
} cachestat_reads SEC(".maps");

SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(cachestat_get_pages, struct address_space *mapping, unsigned long first,
	     unsigned long last)
{
	struct read_range *range;
	__u32 task, zero = 0;
	/* Typed: plain loads, no probe reads. */
	loff_t size = mapping->host->i_size;
	__u64 end;
	__u64 *own;

	/* The range is what the read asked for, which may go past the end of
	 * the file: only the file's pages are looked up. */
	if (size <= 0 || !current_counted(&own))
		return 0;
	end = (size - 1) >> CACHESTAT_PAGE_SHIFT;
	if (last > end)
		last = end;
	if (last < first)
		return 0;
	task = (__u32)bpf_get_current_pid_tgid();
	range = bpf_map_lookup_elem(&cachestat_reads, &zero);
	if (range) {
		bool rest = range->task == task && range->mapping == (__u64)mapping &&
			    range->last == last && range->first < first;

		range->task = task;
		range->mapping = (__u64)mapping;
		range->first = first;
		range->last = last;
		if (rest)
			return 0;
	}
	count(&cachestat_counters, own, CACHESTAT_ACCESSED, last - first + 1);
	return 0;
}

/* The pages a fault mapped from the page cache around the faulting one (the
 * kernel clamps the range to the file). */
SEC("tp_btf/mm_filemap_map_pages")
int BPF_PROG(cachestat_map_pages, struct address_space *mapping, unsigned long first,
	     unsigned long last)
{
	if (last >= first)
		cachestat_count(CACHESTAT_ACCESSED, last - first + 1);
	return 0;
}

SEC("tp_btf/mm_filemap_fault")
int BPF_PROG(cachestat_fault, struct address_space *mapping, unsigned long index)
{
	cachestat_count(CACHESTAT_ACCESSED, 1);
	return 0;
}

SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(cachestat_added, struct folio *folio)
{
	cachestat_count(CACHESTAT_ADDED, folio_pages(folio));
	return 0;
}

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(cachestat_dirtied, struct folio *folio, struct address_space *mapping)
{
	cachestat_count(CACHESTAT_DIRTIED, folio_pages(folio));
	return 0;
}

/* One call is one folio accessed, whatever its size, as the original
 * counted mark_page_accessed(). */
ENTRY_PROGRAMS(cachestat_access, cachestat_count(CACHESTAT_ACCESSED, 1), struct folio *folio)
ENTRY_PROGRAMS(cachestat_add, cachestat_count(CACHESTAT_ADDED, folio_pages(folio)),
	       struct address_space *mapping, struct folio *folio)
ENTRY_PROGRAMS(cachestat_dirty, cachestat_count(CACHESTAT_DIRTIED, folio_pages(folio)),
	       struct folio *folio)
