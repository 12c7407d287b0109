/* bpf_for_each_map_elem over the hash kinds beside the plain hash map (Linux 6.18's
 * htab_lru_map_ops, htab_percpu_map_ops, htab_lru_percpu_map_ops have map_for_each_callback):
 * each packet first inserts the key at bytes 16..19 (0: none), then walks the map; the
 * callback sums values and keys, adds 3 to the value, deletes the element when its key % 4 is
 * byte 20's (0: none), and stops the walk at element byte 15 (0: never; a stop shows the walk's
 * order, which only the vm and the jit share). Back from byte 14: r0, the sums, the count. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define HASH_KIND(name, kind) \
	struct { __uint(type, kind); __uint(max_entries, 256); \
		 __type(key, __u32); __type(value, __u64); } name SEC(".maps")
HASH_KIND(lru, BPF_MAP_TYPE_LRU_HASH);
HASH_KIND(pcpu_hash, BPF_MAP_TYPE_PERCPU_HASH);
HASH_KIND(lru_pcpu, BPF_MAP_TYPE_LRU_PERCPU_HASH);

struct walk { __u64 sum, keys, seen; __u32 stop_at, drop; };

static long visit(void *map, __u32 *key, __u64 *val, struct walk *w)
{
	w->sum += *val;
	w->keys += *key * 2654435761u;
	w->seen++;
	*val += 3;
	if (w->drop && (*key & 3) == (w->drop & 3))
		bpf_map_delete_elem(map, key);
	return w->stop_at && w->seen == w->stop_at;
}

static __always_inline int walk(struct xdp_md *ctx, void *map)
{
	struct walk w = {};
	__u8 stop, drop;
	__u32 insert;
	__u64 value = 7, out[4];

	if (bpf_xdp_load_bytes(ctx, 15, &stop, 1) || bpf_xdp_load_bytes(ctx, 16, &insert, 4) ||
	    bpf_xdp_load_bytes(ctx, 20, &drop, 1))
		return XDP_PASS;
	w.stop_at = stop;
	w.drop = drop;
	if (insert) {
		value += insert;
		bpf_map_update_elem(map, &insert, &value, BPF_ANY);
	}
	out[0] = bpf_for_each_map_elem(map, visit, &w, 0);
	out[1] = w.sum, out[2] = w.keys, out[3] = w.seen;
	bpf_xdp_store_bytes(ctx, 14, out, sizeof(out));
	return XDP_TX;
}

SEC("xdp") int walk_lru(struct xdp_md *ctx) { return walk(ctx, &lru); }
SEC("xdp") int walk_percpu_hash(struct xdp_md *ctx) { return walk(ctx, &pcpu_hash); }
SEC("xdp") int walk_lru_percpu(struct xdp_md *ctx) { return walk(ctx, &lru_pcpu); }

char _license[] SEC("license") = "GPL";
