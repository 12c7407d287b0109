/* counters.h — bump a __u64 counter in an ARRAY map.
 *
 * Why atomic: ARRAY values are shared by all CPUs, and the NFP offload only accepts
 * atomic adds into map values (a plain read-modify-write is a "map write" it refuses),
 * so the add is a single `lock *(u64 *)(r + 0) += r` (BPF_ATOMIC | BPF_ADD) whose
 * result is not used (no fetch: works with -mcpu=v1).
 */
#ifndef XDPTOOL_PROGRAMS_COUNTERS_H
#define XDPTOOL_PROGRAMS_COUNTERS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __always_inline void counter_add(void *array_map, __u32 index, __u64 delta)
{
	__u64 *value = bpf_map_lookup_elem(array_map, &index);

	if (value)
		__sync_fetch_and_add(value, delta);
}

#endif /* XDPTOOL_PROGRAMS_COUNTERS_H */
