/* swap: pages read from and written to swap (spec §2.15, §3.15), counted
 * where the kernel counts pswpin and pswpout, in pages as they are: READ
 * on entry of swap_read_folio() (swap_readpage() before 6.10), WRITE on
 * entry of __swap_writepage(), which issues the write (swap_writepage(),
 * the original's hook, also sees folios that zswap or 6.12's zero map
 * keep, which are never written). No tracepoint fires in either, so the
 * thread has trampoline and probe variants only; both count on entry in
 * either load mode (there is no error to see on return). */
#define NO_TRACEPOINTS
#include "common.bpf.h"
#include "folio.bpf.h"

enum swap_counter {
	SWAP_READ,
	SWAP_WRITE,
	SWAP_COUNTERS,
};

COUNTER_ARRAY(swap_counters, enum swap_counter, SWAP_COUNTERS);
TGID_VALUES(SWAP_COUNTERS)
PID_FILTER_PROGRAMS

/* A folio (6.1's page: the head page of its compound page, if any) of
 * pages read or written. */
static __always_inline void swap_pages(__u32 counter, struct folio *folio)
{
	__u64 *own;

	if (current_counted(&own))
		count(&swap_counters, own, counter, folio_pages(folio));
}

ENTRY_PROGRAMS(swap_read, swap_pages(SWAP_READ, folio), struct folio *folio)
ENTRY_PROGRAMS(swap_write, swap_pages(SWAP_WRITE, folio), struct folio *folio)
