// Fixture for the BTF parser: one of (almost) every BTF kind clang 14 emits.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum color { RED, GREEN = 5, BLUE = -1 };
union number { __u32 u; float f; };
struct opaque;
struct flags {
	unsigned int a : 3;
	unsigned int b : 5;
	int c;
	const volatile struct opaque *restrict p;
	char name[3][4];
	union number n;
	enum color col;
	int __attribute__((btf_type_tag("user"))) *tagged;
};

struct flags example __attribute__((btf_decl_tag("decl"))) SEC(".data.custom") = { .a = 1, .c = 2 };
float ratio = 0.5f;

__attribute__((noinline)) int global_helper(struct flags *f, enum color c)
{
	return f->a + f->b + c;
}

SEC("xdp")
int btf_prog(struct xdp_md *ctx)
{
	return global_helper(&example, GREEN) + (int)sizeof(ratio);
}

char LICENSE[] SEC("license") = "GPL";
