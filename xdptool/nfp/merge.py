"""One memory read for several loads through the same pointer.

The kernel's JIT merges packet loads within a 64-byte window of one packet
pointer into one read (nfp-facts.md); a memory command moves at most 32 bytes
directly, so we merge loads that fall within a 32-byte span.  Within a basic
block (no label, branch or firmware call in between), consecutive
`mem[read32_swap]`s through the same base register at constant offsets become
one read of the whole span into $in_0.., issued where the first one was; each
load's consumers (a move of a word, or the low bytes of a narrow load) then
take their bytes out of the transfer registers:

    aligned word        alu[x, --, B, $in_k]
    part of one word    ld_field_w_clr[x, mask, $in_k, >>8b]
    across two words    alu[t, --, B, $in_k+1]; alu_shf[x', t, B, $in_k, >>dbl 8b] (+ ld_field_w_clr)

Merging stops at anything else that touches memory or redefines the base.
Every load was bounds-checked by branches before its block, so the span
between two of them is inside the packet too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .isa import MEM_MAX_BYTES, NfpInsn, Shift, mov
from .registers import Imm, VReg, Xfer


@dataclass
class _Load:
    index: int  # the mem instruction
    offset: int
    size: int
    consumers: list[int] = field(default_factory=list)  # indices of alu[x, --, B, $in_k]


def _is_read(insn: NfpInsn) -> bool:
    return (insn.kind == "mem" and insn.op == "read32_swap" and insn.sync == "ctx_swap" and insn.dst == Xfer("in", 0)
            and isinstance(insn.a, VReg) and isinstance(insn.b, Imm) and "bytes" in insn.meta)


def _consumes(insn: NfpInsn) -> bool:
    takes = isinstance(insn.b, Xfer) and insn.b.direction == "in"
    narrow = insn.kind == "ld_field" and insn.width == "w_clr" and insn.shift is None
    return takes and ((insn.kind == "alu" and insn.op == "B") or narrow)


def merge_reads(insns: list[NfpInsn], labels: dict[str, int], first_id: int = 1 << 22):
    """Returns (instructions, labels, loads merged away)."""
    ids = itertools.count(first_id)
    starts = set(labels.values())
    groups: list[list[_Load]] = []
    current: list[_Load] = []
    base = None

    def close() -> None:
        nonlocal current, base
        if len(current) > 1:
            groups.append(current)
        current, base = [], None

    index = 0
    while index < len(insns):
        insn = insns[index]
        if index in starts:
            close()
        if _is_read(insn):
            load = _Load(index, insn.b.value, insn.meta["bytes"])
            span_lo = min([load.offset] + [g.offset for g in current])
            span_hi = max([load.offset + load.size] + [g.offset + g.size for g in current])
            if current and (insn.a != base or span_hi - span_lo > MEM_MAX_BYTES):
                close()
            if not current:
                base = insn.a
            current.append(load)
            k = index + 1
            while k < len(insns) and k not in starts and _consumes(insns[k]):
                load.consumers.append(k)
                k += 1
            index = k
            continue
        if insn.kind == "mem" or insn.is_branch or insn.kind in ("csr_wr", "csr_rd") or base in insn.defs():
            close()
        index += 1
    close()
    if not groups:
        return insns, labels, 0

    replace: dict[int, list[NfpInsn]] = {}
    for group in groups:
        lo = min(g.offset for g in group)
        hi = max(g.offset + g.size for g in group)
        first = insns[group[0].index]
        replace[group[0].index] = [first.copy(b=Imm(lo), value=-(-(hi - lo) // 4), meta={**first.meta, "bytes": hi - lo})]
        for load in group[1:]:
            replace[load.index] = []
        for load in group:
            for consumer in load.consumers:
                word = insns[consumer].b.index  # 0: the low half, 1: the high half of an 8-byte load
                start = load.offset - lo + 4 * word
                width = min(4, load.size - 4 * word)
                replace[consumer] = _extract(insns[consumer], start, width, ids)
    out, new_index = [], []
    for index, insn in enumerate(insns):
        new_index.append(len(out))
        out.extend(replace.get(index, [insn]))
    new_index.append(len(out))
    merged = sum(len(g) - 1 for g in groups)
    return out, {name: new_index[pos] for name, pos in labels.items()}, merged


def _extract(consumer: NfpInsn, start: int, width: int, ids) -> list[NfpInsn]:
    dst = consumer.dst
    word, byte = divmod(start, 4)
    mask = (1 << width) - 1

    def tag(insns: list[NfpInsn]) -> list[NfpInsn]:
        for insn in insns:
            insn.note, insn.ebpf_pc, insn.meta = consumer.note, consumer.ebpf_pc, dict(consumer.meta)
        return insns

    here = Xfer("in", word)
    if byte == 0 and width == 4:
        return tag([mov(dst, here)])
    if byte + width <= 4:
        shift = Shift(">>", 8 * byte) if byte else None
        return tag([NfpInsn("ld_field", dst=dst, b=here, value=mask, width="w_clr", shift=shift)])
    upper, joined = VReg(next(ids)), VReg(next(ids))
    out = [mov(upper, Xfer("in", word + 1)),
           NfpInsn("alu_shf", dst=joined if width < 4 else dst, a=upper, op="B", b=here, shift=Shift(">>dbl", 8 * byte))]
    if width < 4:
        out.append(NfpInsn("ld_field", dst=dst, b=joined, value=mask, width="w_clr"))
    return tag(out)
