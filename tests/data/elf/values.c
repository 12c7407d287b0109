// Fixture for map values shown through BTF (xdptool.elf.values): global data and
// maps whose types cover what `bpftool map dump` formats -- bitfields, enums, char
// arrays, nested arrays, unions (named and anonymous), bools and signed integers --
// and what xdptool adds: network-order integers, MAC and IP addresses.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <stdbool.h>

enum mode { MODE_OFF, MODE_ON = 7 };

struct flow {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct backend {
	__u8 mac[6];
	__u8 ip6_addr[16];
	__u16 weight : 12;
	__u16 up : 1;
	__s16 delta : 3;
	union {
		__u32 as_u32;
		__u8 as_bytes[4];
	};
	union { __u32 raw; __u16 halves[2]; } load;
	enum mode mode;
	char name[8];
	__u32 grid[2][2];
	bool active;
	__s64 balance;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, struct flow);
	__type(value, struct backend);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __s32);
} signed_values SEC(".maps");

struct backend default_backend = {
	.mac = { 0x02, 0, 0, 0, 0, 0x0a },
	.ip6_addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
	.weight = 100, .up = 1, .delta = -2,
	.as_u32 = 0x01020304,
	.load = { .raw = 0x00050001 },
	.mode = MODE_ON,
	.name = "web",
	.grid = { { 1, 2 }, { 3, 4 } },
	.active = true,
	.balance = -5,
};
const volatile __u32 limit = 1500;
__u64 counter;

SEC("xdp")
int values_prog(struct xdp_md *ctx)
{
	struct flow key = {};
	struct backend *b = bpf_map_lookup_elem(&flows, &key);

	counter += limit + default_backend.weight;
	return b ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
