"""Path-sensitive precision: the kernel's mark_chain_precision and propagate_precision.

precision.py says, for every pc, which scalars' values may matter on *some* path from
there.  In a loop that is often too much: a counter whose value decides a branch right
after it was loaded from the packet, and drifts undecided afterwards, is precise at the
loop head on every iteration, and no two iterations' states ever match.  The kernel
marks precision per path instead (kernel/bpf/verifier.c mark_chain_precision,
backtrack_insn): where a value decides something (a branch is_branch_taken settles,
pointer arithmetic, a helper argument), it walks this path's instructions backwards
(its jmp_history) and marks the registers and stack slots the value came from in
every checkpoint on the way; a checkpoint whose continuations never made a value
decide anything keeps it imprecise, and then any scalar matches it there.  When a
state is pruned, the checkpoint that subsumed it hands its marks on to the pruned
path's checkpoints (propagate_precision): their safety relied on them.

`Tracker` keeps the history of the current path since its newest checkpoint (`hist`:
pcs, some annotated as tuples: stack accesses with the frame and slots they touched,
calls into and exits out of subprograms and callbacks, conditional jumps with the scalars
they linked, marked together when the walk reaches them with one marked) and each checkpoint's marks
(`Entry.marks`: [registers, slots] per frame).  Pruning uses the marks of the
checkpoint together with precision.py's (both are sound over-approximations of what
matters, so their intersection is too).

Checkpoints whose continuations were cut by a state pruned against a checkpoint still
being explored (may_goto, bpf_loop callbacks: iterations converge against an open
ancestor, the kernel's loop entries) have marks that are not final: they are flagged
`loose` and keep precision.py's answer alone, as before.
"""

from __future__ import annotations

from . import codes

STACK, CALL_LOCAL, CALL_CALLBACK, EXIT_LOCAL, EXIT_CALLBACK, LINKED = range(6)  # kinds of annotated history entries
_ARGS = 0b111110  # r1-r5
_CALLER_SAVED = 0b111111  # r0-r5
_MAX_FRAMES = 8
_FETCH, _CMPXCHG = 0x01, 0xF1  # BPF_FETCH, BPF_CMPXCHG
# codes.py's fields as this module's own names: C constants in the compiled build (backtrack.pxd)
_ALU, _ALU64, _LDX, _ST, _STX, _LD = codes.ALU, codes.ALU64, codes.LDX, codes.ST, codes.STX, codes.LD
_JMP, _JMP32 = codes.JMP, codes.JMP32
_OP_MOV, _OP_NEG, _OP_END, _OP_CALL, _OP_EXIT = codes.OP_MOV, codes.OP_NEG, codes.OP_END, codes.OP_CALL, codes.OP_EXIT
_OP_JA, _OP_JCOND, _X, _MODE_ATOMIC, _SIZE_DW = codes.OP_JA, codes.OP_JCOND, codes.X, codes.MODE_ATOMIC, codes.SIZE_DW


class Tracker:
    """The current path's history and the walk backwards over it (one per Checker)."""

    def __init__(self, checker):
        self.checker = checker
        # per pc: the cfg's row of its instruction, (pc, code, dst, src, off, imm), and whether
        # _back may change the frame depth or give up there (calls, exits); built at the first
        # walk, from the cfg (the checker builds it after this)
        self.rows: list = []
        self.structural = bytearray()

    def _index_rows(self) -> None:
        rows = self.checker.cfg.rows
        self.rows = by_pc = [None] * (rows[-1][0] + 1 if rows else 1)
        self.structural = structural = bytearray(len(by_pc))
        for row in rows:
            pc, code = row[0], row[1]
            by_pc[pc] = row
            cls, op = code & 0x07, code & 0xF0
            if (cls == _JMP or cls == _JMP32) and (op == _OP_CALL or op == _OP_EXIT):
                structural[pc] = 1

    # -- the sources: something decided by values ---------------------------------------------
    def mark_regs(self, regs, current_done=True) -> None:  # types: backtrack.pxd
        """The registers `regs` of the current frame, as they were before the instruction being
        interpreted (`current_done`: it is the history's last entry), decided something."""
        if regs:
            depth = len(self.checker.state.frames) - 1
            masks = [[0, 0] for _ in range(depth + 1)]
            masks[depth][0] = regs
            self._walk(masks, current_done)

    def mark_slots(self, frameno, slots) -> None:  # types: backtrack.pxd
        """Stack slots of frame `frameno`, before the current instruction, decided something."""
        if slots:
            masks = [[0, 0] for _ in range(len(self.checker.state.frames))]
            masks[frameno][1] = slots
            self._walk(masks, True)

    def propagate(self, old) -> None:
        """propagate_precision: the current state was pruned by checkpoint `old`, whose marks
        (what its continuations relied on) now hold for this path's checkpoints too."""
        marks = old.marks
        if marks is not None and not self._nothing_marked(marks):
            frames = len(self.checker.state.frames)
            if len(marks) == frames:
                self._walk([list(m) for m in marks], False)

    def hit_loose(self, old) -> None:
        """The current state was pruned by `old` while `old`'s own marks are not final (it is
        still being explored, or loose itself): this path's checkpoints are loose too."""
        entry = self.checker.head
        stop = old if old.branches else None
        while entry is not None and entry is not stop:
            entry.loose = True
            entry = entry.parent

    # -- the walk backwards (backtrack_insn over the history, then the parent checkpoints) ---
    def _walk(self, masks: list, current_done) -> None:  # types: backtrack.pxd
        checker = self.checker
        if not self.rows:  # (every program has an instruction)
            self._index_rows()
        depth = len(masks) - 1
        seg = checker.hist
        i = len(seg) - (2 if current_done else 1)
        entry = checker.head
        while True:
            while i >= 0:
                elem = seg[i]
                depth = self._back(elem, masks, depth)
                if depth < 0:  # something this walk does not follow: make the chain loose
                    self._give_up(entry)
                    return
                i -= 1
                if not masks[depth][0] and self._nothing_marked(masks):
                    # nothing left to mark (the kernel stops here too): what remains is whether
                    # the history's calls and exits and the checkpoint's frames are followed
                    structural = self.structural
                    while i >= 0:
                        elem = seg[i]
                        if type(elem) is not int or structural[elem]:  # (compiled: a type pointer test)
                            depth = self._back(elem, masks, depth)
                            if depth < 0:
                                self._give_up(entry)
                                return
                        i -= 1
                    if entry is not None and len(entry.state.frames) != depth + 1:
                        self._give_up(entry)
                    elif entry is not None and entry.marks is None:
                        entry.marks = [[0, 0] for _ in range(depth + 1)]
                    return
            if entry is None:
                return
            if len(entry.state.frames) != depth + 1:
                self._give_up(entry)
                return
            marks = entry.marks
            if marks is None:
                marks = entry.marks = [[0, 0] for _ in range(depth + 1)]
            new = False
            live = False
            for f in range(depth + 1):
                regs, slots = masks[f]
                mark = marks[f]
                if regs & ~mark[0] or slots & ~mark[1]:
                    new = True
                    mark[0] |= regs
                    mark[1] |= slots
                live = live or regs or slots
            if not new or not live:
                return  # everything already marked here, and so further up
            seg = entry.hist
            i = len(seg) - 1
            entry = entry.parent

    def _nothing_marked(self, masks: list) -> bool:
        for mask in masks:
            if mask[0] or mask[1]:
                return False
        return True

    def _give_up(self, entry) -> None:
        while entry is not None:
            entry.loose = True
            entry = entry.parent

    def _back(self, elem, masks: list, depth) -> int:  # types: backtrack.pxd
        """Marks before the history entry `elem` from those after it; the new frame depth
        (-1: a history this walk does not follow)."""
        if type(elem) is int:  # (compiled: a type pointer test, not an attribute read)
            pc, kind, frameno, slots = elem, -1, 0, 0
        else:
            pc, kind, frameno, slots = elem
            if kind == LINKED:  # a conditional jump that taught its operands' links (`slots`: linked.collect)
                _sync_links(slots, masks)
                depth = self._back(pc, masks, depth)
                _sync_links(slots, masks)
                return depth
        _, code, dst, src, _, imm = self.rows[pc]
        cls = code & 0x07
        mask = masks[depth]
        regs = mask[0]
        dst_bit, src_bit = 1 << dst, 1 << src
        if cls == _ALU or cls == _ALU64:
            op = code & 0xF0
            if op == _OP_MOV:
                if regs & dst_bit:
                    regs &= ~dst_bit
                    if code & _X:
                        regs |= src_bit
            elif op != _OP_NEG and op != _OP_END and code & _X and regs & dst_bit:
                regs |= src_bit
            mask[0] = regs
            return depth
        if cls == _LDX:
            if regs & dst_bit:
                mask[0] = regs & ~dst_bit
                if kind == STACK:
                    masks[frameno][1] |= slots
            return depth
        if cls == _ST or cls == _STX:
            atomic = code & 0xE0 == _MODE_ATOMIC
            fetched = (1 if imm == _CMPXCHG else src_bit) if atomic and imm & _FETCH else 0
            if kind != STACK:
                mask[0] = regs & ~fetched  # a fetch from other memory: the value came from there
                return depth
            frame_slots = masks[frameno][1]
            if regs & fetched:  # the fetched old value was a slot's
                regs &= ~fetched
                frame_slots |= slots
            if frame_slots & slots:
                if cls == _STX:
                    regs |= src_bit | (1 if fetched == 1 else 0)
                whole = not atomic and code & 0x18 == _SIZE_DW and not slots & (slots - 1)
                if whole:  # the slot was written whole: its value is the source's
                    frame_slots &= ~slots
            mask[0] = regs
            masks[frameno][1] = frame_slots
            return depth
        if cls == _LD:
            mask[0] = regs & ~dst_bit
            return depth
        op = code & 0xF0
        if op == _OP_CALL:
            if kind == CALL_LOCAL:  # back into the caller: the callee's r1-r5 were its arguments
                if depth == 0:
                    return -1
                masks[depth - 1][0] |= regs & _ARGS
                masks.pop()
                return depth - 1
            if kind == CALL_CALLBACK:  # the caller's frame was left as it was
                if depth == 0:
                    return -1
                masks.pop()
                return depth - 1
            mask[0] = regs & ~_CALLER_SAVED  # a helper, kfunc or global function: r0-r5 are new
            return depth
        if op == _OP_EXIT:
            if kind != EXIT_LOCAL and kind != EXIT_CALLBACK or depth + 1 >= _MAX_FRAMES:
                return -1
            callee = [0, 0]
            if kind == EXIT_LOCAL and regs & 1:  # r0 came back from the callee
                callee[0] = 1
                mask[0] = regs & ~1
            masks.append(callee)
            return depth + 1
        if op == _OP_JA or op == _OP_JCOND:
            return depth
        if code & _X and regs & (dst_bit | src_bit):  # backtrack_insn: both operands of a compare
            mask[0] = regs | dst_bit | src_bit
        return depth


def _sync_links(links: tuple, masks: list) -> None:
    """bt_sync_linked_regs: when one of the scalars a jump linked (frameno, register or slot,
    is a register) is marked, all are: the bounds of each came from the others' there."""
    for frameno, index, is_reg in links:
        if masks[frameno][0 if is_reg else 1] >> index & 1:
            break
    else:
        return
    for frameno, index, is_reg in links:
        masks[frameno][0 if is_reg else 1] |= 1 << index


def precise_of(loose, marks, static: tuple) -> tuple:
    """What pruning against a checkpoint compares in the current frame: precision.py's answer
    (`static`: registers, slots, live slots) narrowed to the checkpoint's own marks (its
    `loose` and `marks`, read by the caller from its typed Entry: no attribute reads here)."""
    if loose:
        return static
    if marks is None:
        return 0, 0, static[2]
    regs, slots = marks[-1]
    return static[0] & regs, static[1] & slots, static[2]
