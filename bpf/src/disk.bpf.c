/* disk: block I/O latency per device, from block_rq_issue to
 * block_rq_complete (issue and completion often run on different CPUs, so
 * the start times are shared), counted per device in log2 buckets of
 * microseconds. */
#include "common.bpf.h"

/* `disk_latency` maps a device (the kernel's dev_t, major << 20 | minor)
 * to completion counts by latency bucket: bucket 0 holds [0, 1) us,
 * bucket k holds [2^(k-1), 2^k) us, the last one everything from 2^22 us
 * (4.2 s) on. One copy for all CPUs (atomic adds): per-CPU copies would
 * cost 48 KiB per possible CPU. */
#define DISK_MAX_DEVICES 256
#define DISK_MAX_IN_FLIGHT 16384

struct disk_buckets {
	__u64 count[LATENCY_BUCKETS];
};

/* tp_btf programs key a request by its address; the tracefs records only
 * have the device and sector, so there the key is those two, as in the
 * original (two requests in flight for the same sector would mix). */
struct request_key {
	__u64 id;
	__u64 dev;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DISK_MAX_IN_FLIGHT);
	__type(key, struct request_key);
	__type(value, __u64);
} disk_issued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DISK_MAX_DEVICES);
	__type(key, __u32);
	__type(value, struct disk_buckets);
} disk_latency SEC(".maps");

/* Before 5.17 a request named its disk itself. */
struct request___rq_disk {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

/* The device the block tracepoints report: the whole disk, as dev_t. For
 * tp_btf programs only: `rq` is a typed pointer, read directly (much
 * cheaper than bpf_probe_read_kernel). */
static __always_inline __u32 request_dev(struct request *rq)
{
	struct gendisk *disk;

	if (bpf_core_field_exists(((struct request___rq_disk *)rq)->rq_disk))
		disk = ((struct request___rq_disk *)rq)->rq_disk;
	else
		disk = rq->q->disk;
	if (!disk)
		return 0;
	return ((__u32)disk->major << 20) | (__u32)disk->first_minor;
}

static __always_inline void issued(struct request_key *key)
{
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&disk_issued, key, &now, BPF_ANY);
}

/* The time since the request was issued, which is then forgotten; false
 * when its issue was not seen (before we attached, or the map was full). */
static __always_inline bool since_issue(struct request_key *key, __u64 *elapsed)
{
	__u64 *start = bpf_map_lookup_elem(&disk_issued, key);

	if (!start)
		return false;
	*elapsed = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&disk_issued, key);
	return true;
}

static __always_inline void count_latency(__u32 dev, __u64 elapsed)
{
	static const struct disk_buckets zero;
	struct disk_buckets *buckets;
	__u64 slot;

	if (!dev)
		return;
	buckets = lookup_or_init(&disk_latency, &dev, &zero);
	if (!buckets)
		return;
	slot = latency_bucket(elapsed);
	/* Completions can interrupt one another on a CPU (softirq, hardirq). */
	__sync_fetch_and_add(&buckets->count[slot], 1);
}

/* The device is only needed once the request completes. */
SEC("tp_btf/block_rq_issue")
int BPF_PROG(disk_issue_btf, struct request *rq)
{
	struct request_key key = { .id = (__u64)rq };

	issued(&key);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(disk_complete_btf, struct request *rq)
{
	struct request_key key = { .id = (__u64)rq };
	__u64 elapsed;

	if (since_issue(&key, &elapsed))
		count_latency(request_dev(rq), elapsed);
	return 0;
}

/* The original skipped device 0 here too. */
SEC("tracepoint/block/block_rq_issue")
int disk_issue_tp(struct trace_event_raw_block_rq *ctx)
{
	struct request_key key = { .id = ctx->sector, .dev = ctx->dev };

	if (key.dev)
		issued(&key);
	return 0;
}

SEC("tracepoint/block/block_rq_complete")
int disk_complete_tp(struct trace_event_raw_block_rq_completion *ctx)
{
	struct request_key key = { .id = ctx->sector, .dev = ctx->dev };
	__u64 elapsed;

	if (since_issue(&key, &elapsed))
		count_latency(key.dev, elapsed);
	return 0;
}
