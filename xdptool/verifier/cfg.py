"""Structural checks before abstract interpretation (kernel check_subprogs/check_cfg).

Opcodes and reserved fields, ld_imm64 halves, jumps that leave their subprogram
or land in the middle of ld_imm64, the last instruction of each subprogram, a
depth-first walk for unreachable instructions and back-edges, invalid shifts and
division by an immediate zero.  The result (`Cfg`) also tells the interpreter
where to checkpoint states: jump targets, fall-throughs of conditional jumps,
returns from calls, and loop heads.
"""

from __future__ import annotations

from ..ebpf.insn import Instruction
from ..ebpf.opcodes import SIZE_BYTES, VALID_OPCODES, AluOp, Cls, JmpOp, Mode, PseudoSrc
from ..ebpf.validate import ANY, FIELDS, REG, ZERO, register_effects, rules_for
from ..platform.helpers import CALLBACKS, HELPER_ID
from ..platform.kfuncs import KF, XDP_KFUNCS
from . import codes
from .result import Reject

BPF_LOOP = 181  # helper id of bpf_loop(nr, callback, ctx, flags)
# helpers that run a callback during the call (is_sync_callback_calling_function) or later
SYNC_CALLBACK_HELPERS = frozenset(HELPER_ID[n] for n, c in CALLBACKS.items() if not c.is_async)
ASYNC_CALLBACK_HELPERS = frozenset(HELPER_ID[n] for n, c in CALLBACKS.items() if c.is_async)
# visit_errors' value for BPF_ADDR_SPACE_CAST (a mov with off 1): the checker decides when it gets there
ADDR_SPACE_CAST = "addr_space_cast"
# The static passes read every instruction's fields several times; a tuple of plain ints
# costs a fraction of a dataclass attribute lookup per field, so they are read once.
PC, CODE, DST, SRC, OFF, IMM = range(6)
# The same indices for this module's own passes: C integers in the compiled build (cfg.pxd), where a
# row indexed by a module global is a generic item lookup with a Python int.
_PC_AT, _CODE_AT, _DST_AT, _SRC_AT, _OFF_AT, _IMM_AT = PC, CODE, DST, SRC, OFF, IMM


def rows_of(insns: list[Instruction]) -> list[tuple[int, int, int, int, int, int]]:
    """(pc, code, dst, src, off, imm) of every instruction, in program order."""
    return [(i.pc, i.code, i.dst, i.src, i.off, i.imm) for i in insns]


SIZE_OF_CODE = {int(size): n for size, n in SIZE_BYTES.items()}  # code & 0x18 -> bytes (no Size() per access)
_CALL = codes.CALL


class Cfg:
    """The program's control flow, read once before the walk (a plain class: a dataclass costs
    ~1 ms to create at the first analysis in a process; compiled, an extension type whose
    fields the static passes and the checker read from C slots, cfg.pxd)."""

    __slots__ = ("insns", "by_pc", "rows", "subprog_starts", "prune_points", "loop_heads", "live_in",
                 "callback_calls", "may_gotos", "iter_nexts", "succ", "targets", "backward", "helper_args",
                 "visit_errors", "calls", "fp_spills", "_preds")

    def __init__(self, insns: list[Instruction], by_pc: dict[int, Instruction], rows: list[tuple],
                 subprog_starts: list[int], helper_args: dict[int, int] | None = None,
                 visit_errors: dict[int, str] | None = None, calls: list[int] | None = None,
                 fp_spills: list[tuple] | None = None):
        self.insns = insns
        self.by_pc = by_pc
        self.rows = rows  # rows_of(insns): (pc, code, dst, src, off, imm)
        self.subprog_starts = subprog_starts  # sorted first slots; [0] is the entry
        self.prune_points: set[int] = set()
        self.loop_heads: set[int] = set()  # targets of back-edges
        self.live_in: list[int] = []  # slot -> bitmask of registers live before it
        self.callback_calls: set[int] = set()  # helper calls that run a sync callback (loops)
        self.may_gotos: set[int] = set()  # may_goto instructions (forced checkpoints)
        self.iter_nexts: set[int] = set()  # calls of an iterator's _next kfunc (forced checkpoints)
        self.succ: dict[int, list[int]] = {}  # pc -> slots control reaches next
        self.targets: dict[int, int] = {}  # pc -> where a goto or conditional jump goes
        self.backward: list[int] = []  # pcs with a successor at or before them (loops)
        self.helper_args = {} if helper_args is None else helper_args  # helper id -> argument registers read
        self.visit_errors = {} if visit_errors is None else visit_errors  # pc -> refusal when the walk reaches it
        self.calls = [] if calls is None else calls  # pcs of every call (helper, local, kfunc), in order
        self.fp_spills = [] if fp_spills is None else fp_spills  # rows of the 8-byte stores through r10 (fastcall.py)
        self._preds: dict[int, list[int]] | None = None

    @property
    def slots(self) -> int:
        """Length of a list indexed by slot (one past the last instruction's, with room for ld_imm64)."""
        return self.rows[-1][PC] + 2

    def args_read(self, row: tuple) -> int:
        """Mask of the argument registers a call (a row) reads: the helper's, or all of r1-r5."""
        count = self.helper_args.get(row[IMM], 5) if row[CODE] == _CALL and row[SRC] == 0 else 5
        return ((1 << count) - 1) << 1

    def predecessors(self) -> dict[int, list[int]]:  # types: cfg.pxd
        """pc -> the slots whose successors include it (built once, on first use)."""
        if self._preds is None:
            preds = {pc: [] for pc in self.succ}
            for pc, nxt in self.succ.items():
                for s in nxt:
                    preds[s].append(pc)
            self._preds = preds
        return self._preds

    def subprog_of(self, pc: int) -> int:
        index = 0
        for i, start in enumerate(self.subprog_starts):
            if start <= pc:
                index = i
        return index


def _reserved_message(insn: Instruction) -> str:
    cls, op = insn.cls, insn.op
    if insn.is_alu:
        return {AluOp.END: "BPF_END", AluOp.NEG: "BPF_NEG", AluOp.MOV: "BPF_MOV"}.get(op, "BPF_ALU") + " uses reserved fields"
    if insn.is_jmp:
        name = {JmpOp.CALL: "BPF_CALL", JmpOp.JA: "BPF_JA", JmpOp.EXIT: "BPF_EXIT"}.get(op, "BPF_JMP/JMP32")
        return f"{name} uses reserved fields"
    if cls == Cls.LD:
        return "invalid bpf_ld_imm64 insn" if insn.is_ld_imm64 else "BPF_LD_[ABS|IND] uses reserved fields"
    if insn.is_atomic:
        return f"BPF_ATOMIC uses invalid atomic opcode {insn.imm & 0xff:02x}"
    return {Cls.LDX: "BPF_LDX", Cls.ST: "BPF_ST", Cls.STX: "BPF_STX"}[Cls(cls)] + " uses reserved fields"


_PSEUDO_SRCS = frozenset(int(s) for s in PseudoSrc)
# code << 4 | src -> check_insn_fields' rule (_rule_of: rules depend on nothing else), a list by
# that index (None until first needed): no int object hashed per instruction
_RULES: list = [None] * (256 << 4)


# Plain ints (not enum members, see codes.py): compared once or more per instruction.
_ALU = codes.ALU
_OP_DIV, _OP_MOD, _OP_LSH, _OP_RSH, _OP_ARSH = codes.OP_DIV, codes.OP_MOD, codes.OP_LSH, codes.OP_RSH, codes.OP_ARSH
_EXIT, _GOTOL, _ALU64, _X = codes.EXIT, codes.GOTOL, codes.ALU64, codes.X
_JA, _EXIT_OP, _CALL_OP, _LD_IMM64 = codes.OP_JA, codes.OP_EXIT, codes.OP_CALL, codes.LD_IMM64
_PSEUDO_FUNC = int(PseudoSrc.FUNC)
_VALID_OPCODES = frozenset(int(code) for code in VALID_OPCODES)
_IS_VALID_OPCODE = [code in _VALID_OPCODES for code in range(256)]  # by list index: no set lookup per insn
_MAY_GOTO = codes.MAY_GOTO
_JMP, _JMP32 = codes.JMP, codes.JMP32
_STX_DW = codes.STX | codes.MODE_MEM | codes.SIZE_DW
_MOV64_X = codes.ALU64 | codes.OP_MOV | codes.X


_LAST_REG = max(REG)
_FIELD_AT = {"dst": DST, "src": SRC, "off": OFF, "imm": IMM}
# check_insn_fields' rule for one code and src: (fields that must be 0, fields that must name a
# register, ((row index, allowed values), ...) for the rest), the fields as bits by row index;
# most rules are the two masks alone, tested on C integers with no set lookup per field.
_BIT_DST, _BIT_SRC, _BIT_OFF, _BIT_IMM = 1 << DST, 1 << SRC, 1 << OFF, 1 << IMM


def _rule_of(insn: Instruction) -> tuple:
    """check_insn_fields' rule for the instruction's code and src (see above)."""
    rules = rules_for(insn)[1]
    zero = reg = 0
    listed = []
    for name in FIELDS:
        allowed, at = rules[name], _FIELD_AT[name]
        if allowed is ANY:
            continue
        if allowed == ZERO:
            zero |= 1 << at
        elif allowed == REG:
            reg |= 1 << at
        else:
            listed.append((at, allowed))
    return zero, reg, tuple(listed)


def check_insn_fields(pc, code, dst, src, off, imm, insn: Instruction) -> str | None:  # types: cfg.pxd
    """Opcode and reserved fields of one instruction (its fields as ints); returns the
    refusal of an ALU immediate the kernel makes only when its walk reaches the instruction."""
    if code == _MAY_GOTO:
        return None  # its fields are checked where it runs (check_cond_jmp_op: "invalid may_goto imm")
    if not _IS_VALID_OPCODE[code]:
        raise Reject(f"unknown opcode {code:02x}", pc)
    if code == _LD_IMM64:
        if insn.ext != b"\0\0\0\0":
            raise Reject("invalid bpf_ld_imm64 insn", pc)
        if src not in _PSEUDO_SRCS:
            raise Reject("unrecognized bpf_ld_imm64 insn", pc)
    if code == _MOV64_X and off == 1:  # BPF_ADDR_SPACE_CAST: check_alu_op, where the walk gets
        if imm != 1 and imm != 1 << 16:
            return "addr_space_cast insn can only convert between address space 1 and 0"
        return ADDR_SPACE_CAST
    index = code << 4 | src
    rule = _RULES[index]
    if rule is None:
        rule = _RULES[index] = _rule_of(insn)
    zero, reg, listed = rule
    nonzero = ((_BIT_DST if dst else 0) | (_BIT_SRC if src else 0) | (_BIT_OFF if off else 0)
               | (_BIT_IMM if imm else 0))
    not_reg = ((0 if 0 <= dst <= _LAST_REG else _BIT_DST) | (0 if 0 <= src <= _LAST_REG else _BIT_SRC)
               | (0 if 0 <= off <= _LAST_REG else _BIT_OFF) | (0 if 0 <= imm <= _LAST_REG else _BIT_IMM))
    if nonzero & zero or not_reg & reg or (listed and not _listed_ok(listed, dst, src, off, imm)):
        raise Reject(_reserved_message(insn), pc)
    cls = code & 0x07
    if (cls == _ALU or cls == _ALU64) and not code & _X:  # refused only where the walk gets (check_alu_op)
        op = code & 0xF0
        if (op == _OP_DIV or op == _OP_MOD) and imm == 0:
            return "div by zero"
        if op == _OP_LSH or op == _OP_RSH or op == _OP_ARSH:
            width = 64 if cls == _ALU64 else 32
            if not 0 <= imm < width:
                return f"invalid shift {imm}"
    return None


def _listed_ok(listed: tuple, dst, src, off, imm) -> bool:  # types: cfg.pxd
    """Whether each field a rule lists the values of holds one of them."""
    for at, allowed in listed:
        value = dst if at == _DST_AT else src if at == _SRC_AT else off if at == _OFF_AT else imm
        if value not in allowed:
            return False
    return True


def build_cfg(insns: list[Instruction], *, allow_loops: bool = True, helper_args: dict[int, int] | None = None) -> Cfg:
    """`helper_args`: helper id -> how many argument registers it reads (default: all five)."""
    if not insns:
        raise Reject("last insn is not an exit or jmp", 0)
    last = insns[-1]
    end = last.pc + (2 if last.code == _LD_IMM64 else 1)
    rows, by_pc, visit_errors, starts, succ, branches, calls, fp_spills = _read_insns(insns, end)
    subprog_starts = sorted(starts)
    cfg = Cfg(insns, by_pc, rows, subprog_starts, helper_args=helper_args if helper_args is not None else {},
              visit_errors=visit_errors, calls=calls, fp_spills=fp_spills)  # (helper_args is only read: no copy)
    cfg.succ, cfg.targets = succ, branches
    _check_subprogs(rows, branches, subprog_starts, end)
    for pc, target in branches.items():
        if target not in by_pc:
            raise Reject(f"jump into the middle of ldimm64 insn {target - 1}", pc)
    _mark_prune_points(cfg, branches)
    _walk(cfg, allow_loops)
    _liveness(cfg)
    return cfg


def _read_insns(insns: list, end) -> tuple:  # types: cfg.pxd
    """(rows, by_pc, visit_errors, subprogram starts, successors, branch targets, calls, r10
    spills): one pass that reads each instruction's fields once -- its row, its fields' check,
    where control goes next (a local call's entry is not among its successors), the
    subprograms it starts, the calls and 8-byte stack stores fastcall.py looks at.
    A call out of range is reported after every instruction's fields were checked (the
    kernel's order), so the first one is kept until then."""
    rows: list = []
    by_pc: dict = {}
    visit_errors: dict = {}
    starts = {0}
    succ: dict = {}
    branches: dict = {}  # pc -> where a goto or conditional jump goes
    calls: list = []
    fp_spills: list = []
    bad_call = None
    for insn in insns:
        pc, code, dst, src, off, imm = insn.pc, insn.code, insn.dst, insn.src, insn.off, insn.imm
        row = (pc, code, dst, src, off, imm)
        rows.append(row)
        by_pc[pc] = insn
        error = check_insn_fields(pc, code, dst, src, off, imm, insn)
        if error is not None:
            visit_errors[pc] = error
        cls = code & 0x07
        target = pc + 1 + imm  # a local call's or a callback's entry
        if cls != _JMP and cls != _JMP32:
            succ[pc] = [pc + 2 if code == _LD_IMM64 else pc + 1]
            if code == _STX_DW and dst == 10:
                fp_spills.append(row)
            if code == _LD_IMM64 and src == _PSEUDO_FUNC:
                if 0 <= target < end:
                    starts.add(target)
                elif bad_call is None:
                    bad_call = (pc, target)
            continue
        op = code & 0xF0
        if op == _EXIT_OP:
            succ[pc] = []
        elif op == _CALL_OP:
            succ[pc] = [pc + 1]
            if code == _CALL:
                calls.append(pc)
            if code == _CALL and src == 1:
                if 0 <= target < end:
                    starts.add(target)
                elif bad_call is None:
                    bad_call = (pc, target)
        else:
            target = pc + 1 + (imm if code == _GOTOL else off)
            branches[pc] = target
            succ[pc] = [target] if op == _JA else [pc + 1, target]
    if bad_call is not None:
        raise Reject(f"jump out of range from insn {bad_call[0]} to {bad_call[1]}", bad_call[0])
    return rows, by_pc, visit_errors, starts, succ, branches, calls, fp_spills


def _check_subprogs(rows: list, branches: dict, subprog_starts: list, end) -> None:  # types: cfg.pxd
    """check_subprogs, in pc order as the kernel reports: jumps stay in their subprogram,
    which ends with an exit or a goto and is not empty."""
    bounds = list(zip(subprog_starts, subprog_starts[1:] + [end]))
    sub, (first, stop) = 0, bounds[0]
    count = len(rows)
    subs = len(bounds)
    for i in range(count):
        row = rows[i]
        pc, code = row[_PC_AT], row[_CODE_AT]
        target = branches.get(pc)
        if target is not None and not first <= target < stop:
            raise Reject(f"jump out of range from insn {pc} to {target}", pc)
        if i + 1 == count or rows[i + 1][_PC_AT] >= stop:
            if not (code == _EXIT or (target is not None and code & 0xF0 == _JA)):
                raise Reject("last insn is not an exit or jmp", pc)
            sub += 1
            if sub < subs and (i + 1 == count or bounds[sub][1] <= rows[i + 1][_PC_AT]):
                raise Reject("last insn is not an exit or jmp", bounds[sub][0])  # an empty subprogram
            if sub < subs:
                first, stop = bounds[sub]


def _mark_prune_points(cfg: Cfg, branches: dict) -> None:
    """Where the walk looks for equivalent states, as the kernel's check_cfg marks them
    (visit_insn, push_insn; Linux 6.18): a conditional jump itself and its target (not
    its fall-through), the target of a goto, the slot after a call, a local call and its
    callee's entry, calls of helpers that run a sync callback (bpf_loop: forced checkpoints)
    and of those that set an async one (a prune point: before another walk is queued), calls
    of an iterator's _next kfunc (forced checkpoints: where its loop converges)."""
    prune_points = cfg.prune_points
    for pc, code, _, src, _, imm in cfg.rows:
        cls = code & 0x07
        if cls != _JMP and cls != _JMP32:
            continue
        if code == _CALL:
            prune_points.add(pc + 1)
            if src == 1:
                prune_points.add(pc)
                prune_points.add(pc + 1 + imm)
            elif src == 0 and imm in SYNC_CALLBACK_HELPERS:
                prune_points.add(pc)
                cfg.callback_calls.add(pc)
            elif src == 0 and imm in ASYNC_CALLBACK_HELPERS:
                prune_points.add(pc)
            elif src == 2 and _is_iter_next(cfg.by_pc[pc]):
                prune_points.add(pc)
                cfg.iter_nexts.add(pc)
            continue
        target = branches.get(pc)
        if target is None:  # exit
            continue
        prune_points.add(target)
        if code & 0xF0 != _JA:
            prune_points.add(pc)
        if code == _MAY_GOTO:
            cfg.may_gotos.add(pc)


def _is_iter_next(insn: Instruction) -> bool:
    kfunc = XDP_KFUNCS.get(insn.reloc.symbol) if insn.reloc is not None else None
    return kfunc is not None and bool(kfunc.flags & KF.ITER_NEXT)


def _walk(cfg: Cfg, allow_loops: bool) -> None:
    """Iterative DFS from every subprogram entry (check_cfg): back-edges, unreachable code."""
    rows = cfg.rows
    size = cfg.slots
    edges: list = [None] * size  # slot -> successors, and a local call's entry stored as ~entry
    for pc, nxt in cfg.succ.items():
        edges[pc] = nxt
    by_pc = cfg.by_pc
    for pc in cfg.calls:
        call = by_pc[pc]
        if call.src == 1:
            edges[pc] = edges[pc] + [~(pc + 1 + call.imm)]
    color = [0] * size  # 1 = on the DFS stack, 2 = done
    for entry in cfg.subprog_starts:
        if color[entry]:
            continue
        stack, positions = [entry], [0]  # the path, and how far each node's edges have been followed
        color[entry] = 1
        while stack:
            pc = stack[-1]
            out = edges[pc]
            i = positions[-1]
            if i == len(out):
                color[pc] = 2
                stack.pop()
                positions.pop()
                continue
            positions[-1] = i + 1
            target = out[i]
            is_call = target < 0
            if is_call:
                target = ~target
            state = color[target]
            if state == 0:
                color[target] = 1
                stack.append(target)
                positions.append(0)
            elif state == 1:
                if is_call or not allow_loops:
                    raise Reject(f"back-edge from insn {pc} to {target}", pc)
                cfg.loop_heads.add(target)
    for row in rows:
        if not color[row[_PC_AT]]:
            raise Reject(f"unreachable insn {row[_PC_AT]}", row[_PC_AT])


def _effect_shapes() -> dict[int, tuple[int, int, int, int, int, int]]:
    """code -> (fixed reads, reads dst, reads src, fixed writes, writes dst, writes src).

    Derived once from validate.register_effects by probing each opcode with dst=r7
    and src=r8 (no opcode implies r7-r9 by itself), so that liveness needs no
    per-instruction decoding.  Calls, exit and atomics (whose effects depend on
    the immediate) are left out and decoded per instruction.
    """
    shapes = {}
    for code in VALID_OPCODES:
        if code in (_CALL, _EXIT) or code in _ATOMIC_STX:
            continue
        reads, writes, kills = register_effects(Instruction(code, dst=7, src=8))
        writes = set(writes) | set(kills)
        shapes[code] = (sum(1 << r for r in reads - {7, 8}), 7 in reads, 8 in reads,
                        sum(1 << r for r in writes - {7, 8}), 7 in writes, 8 in writes)
    return shapes


_ATOMIC_STX = frozenset(code for code in VALID_OPCODES if code & 0x07 == Cls.STX and code & 0xE0 == Mode.ATOMIC)
_SHAPES = _effect_shapes()


_SHAPE_OF = [_SHAPES.get(code) for code in range(256)]  # the same, by list index


def _packed_shape(shape: tuple | None) -> int:
    """A shape as one int (-1 for none): fixed reads, fixed writes << _WRITES_SHIFT, and the four
    flags above both, so that _reads_writes_packed converts one int instead of six."""
    if shape is None:
        return -1
    fixed_r, dst_r, src_r, fixed_w, dst_w, src_w = shape
    return (fixed_r | fixed_w << _WRITES_SHIFT | dst_r << _DST_READ | src_r << _SRC_READ
            | dst_w << _DST_WRITTEN | src_w << _SRC_WRITTEN)


def _reads_writes(cfg: Cfg, row: tuple) -> tuple[int, int]:
    """Registers a row reads and writes, as bit masks (for liveness)."""
    packed = _reads_writes_packed(cfg, row)
    return packed & _MASK, packed >> _WRITES_SHIFT


_WRITES_SHIFT = 16  # _reads_writes_packed: reads in the low bits, writes above (r0-r10 need 11 bits each)
_MASK = (1 << _WRITES_SHIFT) - 1
_DST_READ, _SRC_READ, _DST_WRITTEN, _SRC_WRITTEN = 2 * _WRITES_SHIFT, 2 * _WRITES_SHIFT + 1, 2 * _WRITES_SHIFT + 2, 2 * _WRITES_SHIFT + 3
_PACKED_SHAPE_OF = [_packed_shape(shape) for shape in _SHAPE_OF]  # by code


def _reads_writes_packed(cfg: Cfg, row: tuple) -> int:
    """_reads_writes as one int, reads | writes << _WRITES_SHIFT (no tuple per instruction)."""
    shift = _WRITES_SHIFT  # a C int in the compiled build (a global would make the arithmetic Python's)
    shape = _PACKED_SHAPE_OF[row[_CODE_AT]]
    if shape < 0:
        reads, writes = _decode_reads_writes(cfg, row)
        return reads | writes << shift
    dst_no, src_no = row[_DST_AT], row[_SRC_AT]
    dst, src = 1 << dst_no, 1 << src_no
    reads = (shape & _MASK) | (dst if shape >> _DST_READ & 1 else 0) | (src if shape >> _SRC_READ & 1 else 0)
    writes = (shape >> shift & _MASK) | (dst if shape >> _DST_WRITTEN & 1 else 0) | (src if shape >> _SRC_WRITTEN & 1 else 0)
    return reads | writes << shift


def _decode_reads_writes(cfg: Cfg, row: tuple) -> tuple[int, int]:
    if row[CODE] == _CALL:  # reads its arguments (as the kernel's compute_live_registers), clobbers r0-r5
        return cfg.args_read(row), 0b111111
    if row[CODE] == _EXIT:
        return 0b1, 0
    if row[CODE] == _MAY_GOTO:
        return 0, 0
    reads, writes, kills = register_effects(cfg.by_pc[row[PC]])
    r = sum(1 << x for x in reads)
    w = sum(1 << x for x in writes) | sum(1 << x for x in kills)
    return r, w


def _liveness(cfg: Cfg) -> None:
    """Backward may-live analysis of registers (kernel compute_live_registers): live_in[pc],
    a list by slot.  One pass in reverse pc order is the whole solution unless a jump goes
    backwards; then more passes over the instructions up to the last such jump until nothing
    changes (each starts from an under-approximation and only adds: the same least solution
    a worklist finds, without a predecessor map or a call per update).  As the kernel's
    compute_insn_live_regs: an exit reads r0 only, a call reads its arguments and writes
    r0-r5 (r6-r9 pass through to the slot after it), r10 counts as read everywhere."""
    rows = cfg.rows
    succ = cfg.succ
    shift, mask = _WRITES_SHIFT, _MASK  # C ints in the compiled build
    live_in = [0] * cfg.slots
    backward = []
    packs = None  # from the last backward jump down: each row's packed reads/writes, for the passes
    top = -1  # index in rows of the last instruction with a backward successor
    for i in range(len(rows) - 1, -1, -1):
        row = rows[i]
        pc = row[_PC_AT]
        packed = _reads_writes_packed(cfg, row)  # _live_node's, without a tuple per row
        nxt, gen, keep = succ[pc], (packed & mask) | (1 << 10), ~(packed >> shift)
        out = 0
        for s in nxt:
            if s > pc:
                out |= live_in[s]
            elif not backward or backward[-1] != pc:
                backward.append(pc)  # not known yet: the passes below take it into account
        if backward:
            if packs is None:
                packs, top = [0] * (i + 1), i
            packs[i] = packed
        live_in[pc] = gen | (out & keep)
    changed = bool(backward)
    while changed:
        changed = False
        for i in range(top, -1, -1):
            pc = rows[i][_PC_AT]
            packed = packs[i]
            out = 0
            for s in succ[pc]:
                out |= live_in[s]
            new = (packed & mask) | (1 << 10) | (out & ~(packed >> shift))
            if new != live_in[pc]:
                live_in[pc] = new
                changed = True
    cfg.live_in, cfg.backward = live_in, backward
