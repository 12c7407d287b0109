/* Shared by the callback cases: maps for bpf_for_each_map_elem, a user ring buffer, and
 * map values holding a bpf_timer (at offset 8) for the timer helpers. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct tval {
	__u64 n;
	struct bpf_timer timer;
	__u64 m;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct tval);
} timers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct tval);
} htimers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} urb SEC(".maps");

struct sum {
	__u64 total;
	__u64 n;
};

char _license[] SEC("license") = "GPL";

#define CLOCK_MONOTONIC 1
