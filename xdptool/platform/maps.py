"""Map types as data: the uapi enum and the facts that hang off a type.

Where a new map type goes: add it to `MapType` (enum bpf_map_type,
include/uapi/linux/bpf.h) and, if it is per-CPU, to `PERCPU_MAP_TYPES`; which
helpers may use it is in platform/helpers.py (check_map_func_compatibility).
"""

from __future__ import annotations

import enum


class MapType(enum.IntEnum):
    """enum bpf_map_type (uapi/linux/bpf.h)."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33

    @property
    def kernel_name(self) -> str:
        """Lower-case name without the BPF_MAP_TYPE_ prefix, as bpftool prints it."""
        return self.name.lower()


PERCPU_MAP_TYPES = {MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH}

# map_flags bits that limit what the program (not user space) may do with the values
# (uapi/linux/bpf.h; bpf_map_flags_to_cap: with RDONLY_PROG it may only read, with
# WRONLY_PROG only write).
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_INNER_MAP = 1 << 12  # an inner map template whose instances may have other max_entries


def map_prog_can_write(mapdef) -> bool:
    return not (mapdef.readonly or mapdef.flags & BPF_F_RDONLY_PROG)


def map_prog_can_read(mapdef) -> bool:
    return mapdef.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != BPF_F_WRONLY_PROG


# The kernel struct behind a map of each type (its ops' map_btf_id: kernel/bpf/arraymap.c,
# hashtab.c, lpm_trie.c, devmap.c, cpumap.c, net/xdp/xskmap.c, queue_stack_maps.c,
# ringbuf.c, bloom_filter.c, stackmap.c): what a load through a map pointer reads
# (check_ptr_to_map_access, in the kernel's BTF).
MAP_KERNEL_STRUCT = {
    **dict.fromkeys((MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
                     MapType.CGROUP_ARRAY, MapType.ARRAY_OF_MAPS), "bpf_array"),
    **dict.fromkeys((MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH,
                     MapType.HASH_OF_MAPS), "bpf_htab"),
    MapType.LPM_TRIE: "lpm_trie", MapType.DEVMAP: "bpf_dtab", MapType.DEVMAP_HASH: "bpf_dtab",
    MapType.CPUMAP: "bpf_cpu_map", MapType.XSKMAP: "xsk_map", MapType.QUEUE: "bpf_queue_stack",
    MapType.STACK: "bpf_queue_stack", MapType.RINGBUF: "bpf_ringbuf_map", MapType.USER_RINGBUF: "bpf_ringbuf_map",
    MapType.BLOOM_FILTER: "bpf_bloom_filter", MapType.STACK_TRACE: "bpf_stack_map",
    MapType.ARENA: "bpf_arena",  # kernel/bpf/arena.c (not checked live: this kernel creates no arena maps)
}
