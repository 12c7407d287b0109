
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 16);
         __type(key, __u32); __type(value, __u64); } arr SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 8);
         __type(key, __u32); __type(value, __u64); } pcpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64);
         __type(key, __u32); __type(value, __u64); } h SEC(".maps");

struct walk { __u64 sum, keys, seen, first_key; __u32 stop_at, drop, inserts, pad; };

static long on_hash(void *map, __u32 *key, __u64 *val, struct walk *w)
{
	__u64 one = 1;
	__u32 k = *key + 1000;

	w->sum += *val;
	w->keys += *key * 2654435761u;
	w->seen++;
	*val += 3;
	if (!w->first_key)
		w->first_key = (__u64)(long)key;
	if (w->drop && (*key & 3) == (w->drop & 3))
		bpf_map_delete_elem(map, key);
	if (w->inserts && *key < 1000) {
		w->inserts--;
		bpf_map_update_elem(map, &k, &one, BPF_NOEXIST);
	}
	return 0;
}

static long on_array(void *map, __u32 *key, __u64 *val, struct walk *w)
{
	w->sum += *val;
	w->keys += *key * 2654435761u;
	w->seen++;
	*val += *key + 1;
	if (!w->first_key)
		w->first_key = (__u64)(long)key;
	return w->stop_at && w->seen == w->stop_at;
}

static long nested(void *map, __u32 *key, __u64 *val, struct walk *w)
{
	struct walk inner = {};

	w->seen++;
	w->sum += bpf_for_each_map_elem(&h, on_hash, &inner, 0);
	w->keys += inner.keys + *key;
	if (!w->first_key)
		w->first_key = (__u64)(long)key;
	return w->seen == 3;
}

static __always_inline int walk(struct xdp_md *ctx, int what)
{
	struct walk w = {};
	__u8 stop, drop;
	__u32 insert;
	__u64 one = 7, out[5];
	long r;

	if (bpf_xdp_load_bytes(ctx, 15, &stop, 1) || bpf_xdp_load_bytes(ctx, 16, &insert, 4) ||
	    bpf_xdp_load_bytes(ctx, 20, &drop, 1))
		return XDP_PASS;
	w.stop_at = stop;
	w.drop = drop;
	if (insert)
		bpf_map_update_elem(&h, &insert, &one, BPF_ANY);
	if (what == 0)
		r = bpf_for_each_map_elem(&arr, on_array, &w, 0);
	else if (what == 1)
		r = bpf_for_each_map_elem(&pcpu, on_array, &w, 0);
	else if (what == 2)
		r = bpf_for_each_map_elem(&h, on_hash, &w, 0);
	else if (what == 3) {
		w.inserts = 3;
		w.drop = 0;
		r = bpf_for_each_map_elem(&h, on_hash, &w, 0);
	} else
		r = bpf_for_each_map_elem(&arr, nested, &w, 0);
	out[0] = r, out[1] = w.sum, out[2] = w.keys, out[3] = w.seen, out[4] = w.first_key;
	bpf_xdp_store_bytes(ctx, 14, out, sizeof(out));
	return XDP_TX;
}

SEC("xdp") int walk_array(struct xdp_md *ctx) { return walk(ctx, 0); }
SEC("xdp") int walk_percpu(struct xdp_md *ctx) { return walk(ctx, 1); }
SEC("xdp") int walk_hash(struct xdp_md *ctx) { return walk(ctx, 2); }
SEC("xdp") int walk_growing(struct xdp_md *ctx) { return walk(ctx, 3); }
SEC("xdp") int walk_nested(struct xdp_md *ctx) { return walk(ctx, 4); }

char _license[] SEC("license") = "GPL";
