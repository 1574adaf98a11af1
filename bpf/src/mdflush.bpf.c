/* mdflush: flushes md (software RAID) devices receive (spec §2.16, §3.17),
 * counted on entry to md_flush_request(), which every md personality calls
 * for a bio with REQ_PREFLUSH. No tracepoint is there, so the thread has
 * trampoline and probe variants only.
 *
 * The key is the original's, MINOR(mddev->unit) >> (partitioned ?
 * MdpMinorShift : 0), but read from the bio's disk, which md made from the
 * same unit (disk->major = MAJOR(unit), disk->first_minor = MINOR(unit)):
 * struct mddev is md's own, in md_mod's BTF when md is a module, and
 * the loader relocates against the kernel's BTF only; struct bio and
 * struct gendisk are the kernel's. */
#define NO_TRACEPOINTS
#include "common.bpf.h"

#define MD_MAJOR 9
#define MDP_MINOR_SHIFT 6
#define MDFLUSH_MAX_DEVICES 1024

/* Flushes per md unit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MDFLUSH_MAX_DEVICES);
	__type(key, __u32);
	__type(value, __u64);
} mdflush_flushes SEC(".maps");

/* Before 5.12 a bio named its disk itself. */
struct bio___bi_disk {
	struct gendisk *bi_disk;
} __attribute__((preserve_access_index));

static __always_inline void md_flush(struct bio *bio)
{
	struct gendisk *disk;
	__u64 zero = 0, *count;
	__u32 unit;

	if (bpf_core_field_exists(((struct bio___bi_disk *)bio)->bi_disk))
		disk = BPF_CORE_READ((struct bio___bi_disk *)bio, bi_disk);
	else
		disk = BPF_CORE_READ(bio, bi_bdev, bd_disk);
	if (!disk)
		return;
	unit = BPF_CORE_READ(disk, first_minor);
	if (BPF_CORE_READ(disk, major) != MD_MAJOR)
		unit >>= MDP_MINOR_SHIFT;
	count = lookup_or_init(&mdflush_flushes, &unit, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
}

ENTRY_PROGRAMS(mdflush, md_flush(bio), void *mddev, struct bio *bio)
