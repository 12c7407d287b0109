/* BTF-typed kernel pointers: each program is judged by xdptool's verifier and by the live
 * kernel (tests/test_verifier_btf_ptr.py builds this against the running kernel's vmlinux.h). */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __arg_trusted __attribute((btf_decl_tag("arg:trusted")))
#define __arg_nullable __attribute((btf_decl_tag("arg:nullable")))
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern struct cgroup *bpf_cgroup_acquire(struct cgroup *p) __ksym;
extern void bpf_cgroup_release(struct cgroup *p) __ksym;
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

__weak int g_nonnull(struct task_struct *task __arg_trusted) { return task->pid; }
__weak int g_nullable_to_nonnull(struct task_struct *task __arg_trusted __arg_nullable) { return g_nonnull(task); }
__weak int g_nullable(struct task_struct *task __arg_trusted __arg_nullable) { return task ? task->pid : 0; }
__weak int g_nullable_twice(struct task_struct *task __arg_trusted __arg_nullable) { return g_nullable(task); }

SEC("xdp") int or_null_to_nonnull(struct xdp_md *ctx) { return g_nullable_to_nonnull(bpf_get_current_task_btf()); }
SEC("xdp") int rcu_to_nonnull(struct xdp_md *ctx) { return g_nonnull(bpf_get_current_task_btf()->group_leader); }
SEC("xdp") int untrusted_to_nonnull(struct xdp_md *ctx) { return g_nonnull(bpf_get_current_task_btf()->parent); }
SEC("xdp") int rcu_to_nullable(struct xdp_md *ctx) { return g_nullable(bpf_get_current_task_btf()->group_leader); }
SEC("xdp") int untrusted_to_nullable(struct xdp_md *ctx) { return g_nullable(bpf_get_current_task_btf()->parent); }
SEC("xdp") int scalar_to_nullable(struct xdp_md *ctx) { return g_nullable((void *)(long)ctx->data); }
SEC("xdp") int wrong_struct(struct xdp_md *ctx) { return g_nonnull((void *)bpf_get_current_task_btf()->cgroups); }
SEC("xdp") int off_to_nonnull(struct xdp_md *ctx) { return g_nonnull((void *)((char *)bpf_get_current_task_btf() + 8)); }
SEC("xdp") int acq_rcu(struct xdp_md *ctx) { struct task_struct *t = bpf_task_acquire(bpf_get_current_task_btf()->group_leader); if (t) bpf_task_release(t); return 0; }
SEC("xdp") int acq_untrusted(struct xdp_md *ctx) { struct task_struct *t = bpf_task_acquire(bpf_get_current_task_btf()->parent); if (t) bpf_task_release(t); return 0; }
SEC("xdp") int rel_trusted(struct xdp_md *ctx) { bpf_task_release(bpf_get_current_task_btf()); return 0; }
SEC("xdp") int rel_rcu(struct xdp_md *ctx) { bpf_task_release(bpf_get_current_task_btf()->group_leader); return 0; }
SEC("xdp") int acq_null(struct xdp_md *ctx) { struct task_struct *t = bpf_task_acquire(0); if (t) bpf_task_release(t); return 0; }
SEC("xdp") int acq_wrong(struct xdp_md *ctx) { struct cgroup *t = bpf_cgroup_acquire((void *)bpf_get_current_task_btf()); if (t) bpf_cgroup_release(t); return 0; }
SEC("xdp") int rel_offset(struct xdp_md *ctx) { struct task_struct *t = bpf_task_acquire(bpf_get_current_task_btf()); if (t) bpf_task_release((void *)((char *)t + 8)); return 0; }
SEC("xdp") int leak(struct xdp_md *ctx) { struct task_struct *t = bpf_task_acquire(bpf_get_current_task_btf()); return t ? 1 : 0; }
SEC("xdp") int use_after_rel(struct xdp_md *ctx) { struct task_struct *t = bpf_task_acquire(bpf_get_current_task_btf()); if (!t) return 0; bpf_task_release(t); return t->pid; }
SEC("xdp") int write_trusted(struct xdp_md *ctx) { bpf_get_current_task_btf()->pid = 1; return 0; }
SEC("xdp") int write_untrusted(struct xdp_md *ctx) { bpf_get_current_task_btf()->parent->pid = 1; return 0; }
SEC("xdp") int beyond(struct xdp_md *ctx) { return *(int *)((char *)bpf_get_current_task_btf() + 5000); }
SEC("xdp") int ptr_partial(struct xdp_md *ctx) { return *(int *)((char *)bpf_get_current_task_btf() + 1288); }
SEC("xdp") int deref_rcu_nocheck(struct xdp_md *ctx) { return bpf_get_current_task_btf()->group_leader->pid; }
SEC("xdp") int deref_mm_exe(struct xdp_md *ctx) { struct mm_struct *mm = bpf_get_current_task_btf()->mm; return mm ? mm->task_size : 0; }
SEC("xdp") int cgrp_kn(struct xdp_md *ctx) { struct css_set *c = bpf_get_current_task_btf()->cgroups; struct cgroup *g = c->dfl_cgrp; return g->kn ? 1 : 0; }
SEC("xdp") int cgrp_acq_rcu(struct xdp_md *ctx) { struct css_set *c = bpf_get_current_task_btf()->cgroups; struct cgroup *g = bpf_cgroup_acquire(c->dfl_cgrp); if (g) bpf_cgroup_release(g); return 0; }
SEC("xdp") int null_cmp_trusted(struct xdp_md *ctx) { struct task_struct *t = bpf_get_current_task_btf(); if (t) return 1; return *(volatile int *)0; }
SEC("xdp") int ptr_arith_var(struct xdp_md *ctx) { struct task_struct *t = bpf_get_current_task_btf(); return *(int *)((char *)t + (ctx->data & 4)); }
SEC("xdp") int kctx_read(struct xdp_md *ctx) { struct xdp_buff *x = bpf_cast_to_kern_ctx(ctx); return x->frame_sz; }
SEC("xdp") int kctx_rxq(struct xdp_md *ctx) { struct xdp_buff *x = bpf_cast_to_kern_ctx(ctx); return x->rxq->queue_index; }
SEC("xdp") int kctx_data(struct xdp_md *ctx) { struct xdp_buff *x = bpf_cast_to_kern_ctx(ctx); char *d = x->data; return d[0]; }
SEC("xdp") int kctx_modified(struct xdp_md *ctx) { struct xdp_buff *x = bpf_cast_to_kern_ctx((char *)ctx + 4); return 0; }
SEC("xdp") int rdonly_task(struct xdp_md *ctx) { struct task_struct *t = bpf_rdonly_cast(bpf_get_current_task_btf(), bpf_core_type_id_kernel(struct task_struct)); return t->pid; }
SEC("xdp") int rdonly_var(struct xdp_md *ctx) { struct task_struct *t = bpf_rdonly_cast(bpf_get_current_task_btf(), ctx->data & 1); return 0; }
SEC("xdp") int rdonly_zero(struct xdp_md *ctx) { char *t = bpf_rdonly_cast(bpf_get_current_task_btf(), 0); return 0; }
SEC("xdp") int rdonly_zero_read(struct xdp_md *ctx) { char *t = bpf_rdonly_cast(bpf_get_current_task_btf(), 0); return t[0]; }
SEC("xdp") int rdonly_int(struct xdp_md *ctx) { char *t = bpf_rdonly_cast(bpf_get_current_task_btf(), bpf_core_type_id_kernel(int)); return 0; }
SEC("xdp") int rdonly_write(struct xdp_md *ctx) { struct task_struct *t = bpf_rdonly_cast(bpf_get_current_task_btf(), bpf_core_type_id_kernel(struct task_struct)); t->pid = 3; return 0; }
SEC("xdp") int task_to_helper_mem(struct xdp_md *ctx) { return bpf_csum_diff((void *)bpf_get_current_task_btf(), 8, 0, 0, 0); }
SEC("xdp") int task_ret(struct xdp_md *ctx) { return (long)bpf_get_current_task_btf(); }
SEC("xdp") int task_store_map(struct xdp_md *ctx) { static struct task_struct *p; p = bpf_get_current_task_btf(); return 0; }
SEC("xdp") int task_cmp_pkt(struct xdp_md *ctx) { return (void *)bpf_get_current_task_btf() == (void *)(long)ctx->data; }
SEC("xdp") int stack_spill(struct xdp_md *ctx) { struct task_struct * volatile t = bpf_get_current_task_btf(); return t->pid; }
SEC("xdp") int nested_struct(struct xdp_md *ctx) { return bpf_get_current_task_btf()->se.load.weight; }
SEC("xdp") int array_field(struct xdp_md *ctx) { return bpf_get_current_task_btf()->comm[3]; }
SEC("xdp") int t_void(struct xdp_md *ctx) { char *p = bpf_get_current_task_btf()->stack; return p[100]; }
SEC("xdp") int t_int(struct xdp_md *ctx) { int *p = bpf_get_current_task_btf()->set_child_tid; return p[1]; }
SEC("xdp") int u_void(struct xdp_md *ctx) { char *p = bpf_get_current_task_btf()->parent->stack; return p[0]; }
SEC("xdp") int t_write(struct xdp_md *ctx) { char *p = bpf_get_current_task_btf()->stack; p[0] = 1; return 0; }
SEC("xdp") int t_var(struct xdp_md *ctx) { char *p = bpf_get_current_task_btf()->stack; return p[ctx->ingress_ifindex]; }
SEC("xdp") int t_helper(struct xdp_md *ctx) { char *p = bpf_get_current_task_btf()->stack; return bpf_csum_diff((void *)p, 4, 0, 0, 0); }
SEC("xdp") int t_null(struct xdp_md *ctx) { char *p = bpf_get_current_task_btf()->stack; if (!p) return 0; return 1; }
SEC("xdp") int t_ptr_in_mem(struct xdp_md *ctx) { long *p = bpf_get_current_task_btf()->stack; long *q = (long *)p[0]; return q ? 1 : 0; }
SEC("xdp") int fnptr_read(struct xdp_md *ctx) { struct xdp_buff *x = bpf_cast_to_kern_ctx(ctx); const struct net_device_ops *f = x->rxq->dev->netdev_ops; long *q = (long *)f->ndo_open; return q ? 1 : 0; }
SEC("xdp") int unt_deref(struct xdp_md *ctx) { struct xdp_buff *x = bpf_cast_to_kern_ctx(ctx); return x->rxq->dev->netdev_ops ? 1 : 0; }
SEC("xdp") int nullable_chain(struct xdp_md *ctx) { return g_nullable_twice(bpf_get_current_task_btf()); }
SEC("xdp") int kctx_to_task(struct xdp_md *ctx) { return g_nonnull(bpf_cast_to_kern_ctx(ctx)); }
SEC("xdp") int kctx_wrong_kfunc(struct xdp_md *ctx) { struct cgroup *g = bpf_cgroup_acquire(bpf_cast_to_kern_ctx(ctx)); if (g) bpf_cgroup_release(g); return 0; }
SEC("xdp") int acquired_twice(struct xdp_md *ctx) { struct task_struct *a = bpf_task_acquire(bpf_get_current_task_btf()), *b; if (!a) return 0; b = bpf_task_acquire(a); bpf_task_release(a); if (b) bpf_task_release(b); return 0; }
SEC("xdp") int release_unchecked(struct xdp_md *ctx) { struct task_struct *a = bpf_task_acquire(bpf_get_current_task_btf()); bpf_task_release(a); return 0; }
/* loads through map pointers (verifier map_fields.py): the kernel's struct behind each map */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } mp_hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } mp_array SEC(".maps");
SEC("xdp") int map_max_entries(struct xdp_md *ctx) { return ((struct bpf_map *)&mp_hash)->max_entries; }
SEC("xdp") int map_ops_fn(struct xdp_md *ctx) { return ((struct bpf_map *)&mp_hash)->ops->map_lookup_elem ? 1 : 0; }
SEC("xdp") int map_inner(struct xdp_md *ctx) { struct bpf_map *i = ((struct bpf_map *)&mp_hash)->inner_map_meta; return i ? i->max_entries : 0; }
SEC("xdp") int htab_buckets(struct xdp_md *ctx) { return ((struct bpf_htab *)&mp_hash)->n_buckets; }
SEC("xdp") int array_elem_size(struct xdp_md *ctx) { return ((struct bpf_array *)&mp_array)->elem_size; }
SEC("xdp") int array_value(struct xdp_md *ctx) { return ((struct bpf_array *)&mp_array)->value[0]; }
SEC("xdp") int map_beyond(struct xdp_md *ctx) { return *(int *)((char *)&mp_hash + 4096); }
SEC("xdp") int map_write(struct xdp_md *ctx) { ((struct bpf_map *)&mp_hash)->max_entries = 1; return 0; }
/* bpf_find_vma (verifier callbacks.py): a task argument, a callback given the vma */
struct vma_ctx { __u64 start; };
static long vma_start(struct task_struct *task, struct vm_area_struct *vma, struct vma_ctx *c) { c->start = vma->vm_start; return 0; }
static long vma_oob(struct task_struct *task, struct vm_area_struct *vma, struct vma_ctx *c) { return *(volatile int *)((char *)vma + 100000) & 1; }
SEC("xdp") int vma_find(struct xdp_md *ctx) { struct vma_ctx c = {}; bpf_find_vma(bpf_get_current_task_btf(), 0, vma_start, &c, 0); return c.start & 1; }
SEC("xdp") int vma_find_rcu(struct xdp_md *ctx) { struct vma_ctx c = {}; bpf_find_vma(bpf_get_current_task_btf()->group_leader, 0, vma_start, &c, 0); return 0; }
SEC("xdp") int vma_find_ctx(struct xdp_md *ctx) { struct vma_ctx c = {}; bpf_find_vma((void *)ctx, 0, vma_start, &c, 0); return 0; }
SEC("xdp") int vma_find_wrong(struct xdp_md *ctx) { struct vma_ctx c = {}; bpf_find_vma((void *)bpf_get_current_task_btf()->cgroups, 0, vma_start, &c, 0); return 0; }
SEC("xdp") int vma_find_oob(struct xdp_md *ctx) { struct vma_ctx c = {}; bpf_find_vma(bpf_get_current_task_btf(), 0, vma_oob, &c, 0); return 0; }
char _license[] SEC("license") = "GPL";
