/* folio_pages(): folio_nr_pages() for objects that count pages (cachestat,
 * swap). Include after common.bpf.h. */
#ifndef EBPF_COLLECTOR_FOLIO_BPF_H
#define EBPF_COLLECTOR_FOLIO_BPF_H

/* Before 6.18 a folio's flags were a plain word (now memdesc_flags_t: CO-RE
 * refuses to read one as the other), and older kernels named a large
 * folio's page count _folio_nr_pages. */
struct folio___old {
	unsigned long flags;
	unsigned int _folio_nr_pages;
} __attribute__((preserve_access_index));

/* A large folio (ext4 and xfs make them, and swap-out of a huge page
 * writes one) is many pages. A head `struct page` is its folio. */
static __always_inline __u64 folio_pages(struct folio *folio)
{
	struct folio___old *old = (void *)folio;
	unsigned long flags = 0;

	if (bpf_core_field_exists(old->flags))
		flags = BPF_CORE_READ(old, flags);
	else
		bpf_core_read(&flags, sizeof(flags), &folio->flags);
	if (!(flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head))))
		return 1;
	if (bpf_core_field_exists(folio->_nr_pages))
		return BPF_CORE_READ(folio, _nr_pages);
	return BPF_CORE_READ(old, _folio_nr_pages);
}

#endif
