/* dcstat: the directory cache (spec §2.12, §3.12), on the original's two
 * functions. A path walk looks each component up with lookup_fast() first
 * (REFERENCE: a look-up in the cache); d_lookup() is the cache look-up of
 * the callers that do not walk (open with O_CREAT, unlink, mkdir, rename,
 * lookup_one_len() in filesystems), counted on its return (SLOW), with the
 * ones that found nothing (MISS). No tracepoint is anywhere near either
 * function, so the thread has trampoline and probe variants only. */
#define NO_TRACEPOINTS
#include "common.bpf.h"

enum dc_counter {
	DC_REFERENCE,
	DC_SLOW,
	DC_MISS,
	DC_COUNTERS,
};

COUNTER_ARRAY(dc_counters, enum dc_counter, DC_COUNTERS);
TGID_VALUES(DC_COUNTERS)
PID_FILTER_PROGRAMS

static __always_inline void dc_reference(void)
{
	__u64 *own;

	if (current_counted(&own))
		count(&dc_counters, own, DC_REFERENCE, 1);
}

static __always_inline void dc_lookup(const struct dentry *found)
{
	__u64 *own;

	if (!current_counted(&own))
		return;
	count(&dc_counters, own, DC_SLOW, 1);
	if (!found)
		count(&dc_counters, own, DC_MISS, 1);
}

ENTRY_PROGRAMS(dc_lookup_fast, dc_reference())
RETURN_PROGRAMS(dc_d_lookup, const struct dentry *, dc_lookup(ret))
