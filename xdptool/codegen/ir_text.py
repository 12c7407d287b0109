"""Pieces of hand-written LLVM IR text shared by the native loops of the replay (replay/
kernels.py, replay/scan.py) and of the emulated card (nfp/datapath.py), so that the
counting loop and the "which bytes are packet i now" rule are each written once.

Each piece is text to paste into a module's IR (the modules are compiled by
runtime/jit/cache.ir_functions); names starting with `%` are the function's values.
"""

from __future__ import annotations


def index_loop(define: str, body: str, done: str = "ret void", *, index: str = "i", count: str = "%n",
               carried: tuple[tuple[str, str, str], ...] = (), prologue: str = "") -> str:
    """`define { prologue; for (%index = 0; %index < count; %index++) body; done }`.

    `body` is straight-line code (one block) that sees %index and, for each carried
    (name, type, start), the value %name of this round, and defines %name1 for the next
    round; `done` sees the final %name values.  A loop whose body branches is written out.
    """
    phis = "".join(f"  %{name} = phi {kind} [ {start}, %entry ], [ %{name}1, %body ]\n"
                   for name, kind, start in carried)
    return (f"{define} {{\nentry:\n{prologue}  br label %loop\nloop:\n"
            f"  %{index} = phi i64 [ 0, %entry ], [ %{index}1, %body ]\n{phis}"
            f"  %more = icmp ult i64 %{index}, {count}\n  br i1 %more, label %body, label %done\n"
            f"body:\n{body.strip(chr(10))}\n  %{index}1 = add i64 %{index}, 1\n  br label %loop\n"
            f"done:\n  {done}\n}}\n")


# Where packet i's bytes are after the program ran: its output slot, or its input bytes
# when the program left it unchanged (out_offs[i] == -1: jit/batch.py UNCHANGED).
OUTPUT_PACKET_IR = r"""
define internal ptr @output_packet(i64 %i, ptr %in_base, ptr %in_offs, ptr %out_base, ptr %out_offs) alwaysinline {
  %oop = getelementptr i64, ptr %out_offs, i64 %i
  %oo = load i64, ptr %oop, align 8
  %unchanged = icmp eq i64 %oo, -1
  %iop = getelementptr i64, ptr %in_offs, i64 %i
  %io = load i64, ptr %iop, align 8
  %src_in = getelementptr i8, ptr %in_base, i64 %io
  %src_out = getelementptr i8, ptr %out_base, i64 %oo
  %src = select i1 %unchanged, ptr %src_in, ptr %src_out
  ret ptr %src
}
"""

# Where packet i stands in a capture in memory (offs/lens arrays): %o its offset, %l (and %l64)
# its length; the caller's %base + %o is its first byte.
PACKET_SLOT_AT_I = r"""
  %op = getelementptr i64, ptr %offs, i64 %i
  %o = load i64, ptr %op, align 8
  %lp = getelementptr i32, ptr %lens, i64 %i
  %l = load i32, ptr %lp, align 4
  %l64 = zext i32 %l to i64
"""


def store_words(array: str, words: tuple[tuple[int, str], ...]) -> str:
    """Stores i64 values into words of an i64 array: ((index, value), ...) -> IR lines
    (the native loops' state vectors, whose layout each loop's docstring gives)."""
    return "".join(f"  %{array}{index} = getelementptr i64, ptr %{array}, i64 {index}\n"
                   f"  store i64 {value}, ptr %{array}{index}, align 8\n" for index, value in words)
