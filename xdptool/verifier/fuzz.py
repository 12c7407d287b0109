"""Random plausible XDP programs for soundness fuzzing (tests and bench/bench_verifier.py).

Each program parses a packet with bounds checks (some correct, some off by one
or on the wrong branch), reads at constant and variable offsets, does
arithmetic, spills to the stack and runs small loops.  The property checked by
the callers: whatever the verifier accepts runs on any packet in the reference
VM without a checked-memory fault.
"""

from __future__ import annotations

import random

SIZES = ("u8", "u16", "u32", "u64")
SIZE_BYTES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}


def _block(rng: random.Random, label: int) -> list[str]:
    kind = rng.choice(("check", "check", "read", "read", "alu", "varoff", "stack", "loop", "cmp"))
    n = rng.randint(1, 48)
    if kind == "check":
        op = rng.choice(("<=", "<", ">", ">="))
        bad_side = op in (">", ">=")  # jump away when out of bounds
        if rng.random() < 0.15:
            bad_side = not bad_side
        return ["r2 = r6", f"r2 += {n}", f"if r2 {op} r7 goto {'out' if bad_side else f'l{label}'}"] + (
            [] if bad_side else ["goto out", f"l{label}:"])
    if kind == "read":
        size = rng.choice(SIZES)
        off = rng.randint(0, 44)
        return [f"r{rng.choice((3, 4))} = *({size} *)(r6 + {off})"]
    if kind == "alu":
        op = rng.choice(("+=", "&=", "|=", "^=", "-=", "*=", ">>=", "<<="))
        imm = rng.randint(0, 63) if op in (">>=", "<<=") else rng.randint(-64, 255)
        return ["r3 = 0" if rng.random() < 0.2 else f"r3 {op} {imm}", f"r4 {rng.choice(('+=', '&=', '|='))} r3"]
    if kind == "varoff":
        mask = rng.choice((1, 3, 7, 15, 31, 63))
        size = rng.choice(SIZES)
        extra = SIZE_BYTES[size] + (0 if rng.random() < 0.85 else -1)
        return ["r5 = r3", f"r5 &= {mask}", "r8 = r6", "r8 += r5", "r2 = r8", f"r2 += {max(extra, 0)}",
                "if r2 > r7 goto out", f"r0 = *({size} *)(r8 + 0)", "r0 &= 3"]
    if kind == "stack":
        slot = rng.choice((8, 16, 24))
        reg = rng.choice((3, 4, 6))
        return [f"*(u64 *)(r10 - {slot}) = r{reg}", f"r{rng.choice((3, 4))} = *(u64 *)(r10 - {slot})"]
    if kind == "loop":
        count = rng.randint(1, 12)
        return ["r9 = 0", f"l{label}:", "r9 += 1", "r4 += r9", f"if r9 < {count} goto l{label}"]
    return [f"if r3 {rng.choice(('>', '<', '==', '!=', 's>'))} {rng.randint(0, 255)} goto out"]


def random_program_text(seed: int, blocks: int | None = None) -> str:
    rng = random.Random(seed)
    lines = ["r6 = *(u32 *)(r1 + 0)", "r7 = *(u32 *)(r1 + 4)", "r3 = 0", "r4 = 0", "r0 = 2"]
    for label in range(blocks if blocks is not None else rng.randint(2, 10)):
        lines += _block(rng, label)
    lines += ["r0 &= 3", "out:", "exit"]
    return "\n".join(lines) + "\n"


def random_program(seed: int):
    from ..ebpf.asm import assemble
    from ..ebpf.insn import renumber
    from ..elf.model import Object, Program, ProgType, Subprogram

    insns = renumber(assemble(random_program_text(seed)))
    end = insns[-1].pc + insns[-1].slots
    prog = Program(f"fuzz{seed}", "xdp", ProgType.XDP, "xdp", insns, [Subprogram(f"fuzz{seed}", 0, end, "xdp")], "GPL")
    prog.object = Object(f"fuzz{seed}", [prog], {}, "GPL", 0, [])
    return prog


def random_packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed ^ 0x5EED)
    return [bytes(rng.randrange(256) for _ in range(rng.randint(14, 64))) for _ in range(count)]
