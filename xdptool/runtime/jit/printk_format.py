"""bpf_trace_printk's format parsed at run time, natively: runtime/printk.parse as one internal
IR function of the module, for the call sites whose format is not known when the module is
built (read from a map, say).

`printk_parse(fmt, size, out) -> 0 or -1` (-1: -EINVAL): the format is the bytes before the
first NUL within `size` (none: -EINVAL); each byte must be allowed (printk._is_allowed); a
conversion is `%`, flags of "0+- ", a width `[1-9][0-9]*`, then what printk._conversion
accepts (a string conversion followed by the end, white space or punctuation), at most
MAX_ARGS of them; `%%` is one literal character.  `out` gets OUT_WORDS words: the literal
characters, the conversion count, the format's length, then per conversion its code
(printk.RUNTIME_KINDS / NUMBER_CODE) and its width.  The function's arithmetic is plain
64-bit; widths saturate at WIDTH_MAX (the vm's are exact: a wider field is no real format).
"""

from __future__ import annotations

from typing import Any

import llvmlite.ir as ir

from .. import printk
from .irtypes import I1, I8, I64, I8P, I64P, c64

OUT_LITERAL, OUT_COUNT, OUT_LENGTH, OUT_CONVERSIONS = 0, 1, 2, 3  # then code, width per conversion
OUT_WORDS = OUT_CONVERSIONS + 2 * printk.MAX_ARGS
WIDTH_MAX = 1 << 40
NAME = "printk_parse"


def _one_of(b: ir.IRBuilder, value, chars):
    result: Any = ir.Constant(I1, 0)
    for char in chars:
        code = char if isinstance(char, int) else ord(char)
        result = b.or_(result, b.icmp_unsigned("==", value, c64(code)))
    return result


def parse_function(module: ir.Module) -> ir.Function:
    fn = module.globals.get(NAME)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(I64, [I8P, I64, I64P]), name=NAME)
    fn.linkage = "internal"
    fmt, size, out = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    blocks = {name: fn.append_basic_block(name) for name in (
        "invalid", "nul_scan", "nul_next", "parse", "head", "byte", "literal", "percent", "double", "conversion",  # noqa: E501
        "flags", "flag_next", "width", "width_digit", "kind", "accepted", "finish")}
    variables = {}
    for name in ("k", "n", "i", "literal", "count", "width", "plus"):
        variables[name] = b.alloca(I64, name=name)
        b.store(c64(0), variables[name])

    def get(name):
        return b.load(variables[name])

    def put(name, value):
        b.store(value, variables[name])

    def at(k):
        """fmt[k] before the NUL, else 0 (printk.parse's `at`)."""
        inside = b.icmp_unsigned("<", k, get("n"))
        return b.select(inside, b.zext(b.load(b.gep(fmt, [b.select(inside, k, c64(0))])), I64), c64(0))

    def goto(name):
        b.branch(blocks[name])
        b.position_at_end(blocks[name])

    def when(cond, name, otherwise):
        b.cbranch(cond, blocks[name], blocks[otherwise])
        b.position_at_end(blocks[otherwise])

    b.branch(blocks["nul_scan"])
    b.position_at_end(blocks["invalid"])
    b.ret(c64(-1))

    # the NUL within `size`
    b.position_at_end(blocks["nul_scan"])
    k = get("k")
    when(b.icmp_unsigned(">=", k, size), "invalid", "nul_next")
    is_nul = b.icmp_unsigned("==", b.load(b.gep(fmt, [k])), ir.Constant(I8, 0))
    put("k", b.add(k, c64(1)))
    b.cbranch(is_nul, blocks["parse"], blocks["nul_scan"])
    b.position_at_end(blocks["parse"])
    put("n", k)
    goto("head")

    # one byte: a literal, "%%", or a conversion
    i = get("i")
    when(b.icmp_unsigned("<", i, get("n")), "byte", "finish")
    b.position_at_end(blocks["byte"])
    byte = at(i)
    allowed = b.or_(b.and_(b.icmp_unsigned(">=", byte, c64(0x20)), b.icmp_unsigned("!=", byte, c64(0x7F))),
                    _one_of(b, byte, printk.SPACE))
    when(b.not_(allowed), "invalid", "percent")
    when(b.icmp_unsigned("!=", byte, c64(ord("%"))), "literal", "double")
    when(b.icmp_unsigned("==", at(b.add(i, c64(1))), c64(ord("%"))), "literal", "conversion")  # "%%": one literal
    count = get("count")
    with b.if_then(b.icmp_unsigned(">=", count, c64(printk.MAX_ARGS)), likely=False):
        b.branch(blocks["invalid"])
        b.position_at_end(fn.append_basic_block("unreachable"))
    put("i", b.add(i, c64(1)))
    put("width", c64(0))
    put("plus", c64(0))
    goto("flags")
    flag = at(get("i"))
    when(_one_of(b, flag, printk.FLAG_CHARS), "flag_next", "width")
    b.position_at_end(blocks["flag_next"])
    put("plus", b.or_(get("plus"), b.zext(_one_of(b, flag, "+ "), I64)))
    put("i", b.add(get("i"), c64(1)))
    b.branch(blocks["flags"])
    b.position_at_end(blocks["width"])
    first = at(get("i"))
    starts = b.and_(b.icmp_unsigned(">=", first, c64(ord("1"))), b.icmp_unsigned("<=", first, c64(ord("9"))))
    with b.if_then(starts):
        loop = fn.append_basic_block("width_loop")
        out_of_loop = fn.append_basic_block("width_done")
        b.branch(loop)
        b.position_at_end(loop)
        digit = at(get("i"))
        is_digit = b.and_(b.icmp_unsigned(">=", digit, c64(ord("0"))), b.icmp_unsigned("<=", digit, c64(ord("9"))))
        b.cbranch(is_digit, blocks["width_digit"], out_of_loop)
        b.position_at_end(blocks["width_digit"])
        wider = b.add(b.mul(get("width"), c64(10)), b.sub(digit, c64(ord("0"))))
        put("width", b.select(b.icmp_unsigned(">", wider, c64(WIDTH_MAX)), c64(WIDTH_MAX), wider))
        put("i", b.add(get("i"), c64(1)))
        b.branch(loop)
        b.position_at_end(out_of_loop)
    goto("kind")
    code, length = _conversion(b, at, get("i"), get("plus"))
    when(b.icmp_signed("<", code, c64(0)), "invalid", "accepted")
    after = b.add(get("i"), length)
    is_string = _one_of(b, code, [printk.RUNTIME_KINDS.index(kind) for kind in printk.STRING_KINDS])
    ends = b.or_(b.icmp_unsigned("==", at(after), c64(0)), _one_of(b, at(after), printk.SPACE | printk.PUNCT))
    with b.if_then(b.and_(is_string, b.not_(ends)), likely=False):
        b.branch(blocks["invalid"])
        b.position_at_end(fn.append_basic_block("unreachable"))
    slot = b.add(c64(OUT_CONVERSIONS), b.mul(count, c64(2)))
    b.store(code, b.gep(out, [slot]))
    b.store(get("width"), b.gep(out, [b.add(slot, c64(1))]))
    put("count", b.add(count, c64(1)))
    put("i", after)
    b.branch(blocks["head"])

    b.position_at_end(blocks["literal"])
    step = b.select(b.icmp_unsigned("==", at(i), c64(ord("%"))), c64(2), c64(1))
    put("literal", b.add(get("literal"), c64(1)))
    put("i", b.add(i, step))
    b.branch(blocks["head"])

    b.position_at_end(blocks["finish"])
    for word, name in ((OUT_LITERAL, "literal"), (OUT_COUNT, "count"), (OUT_LENGTH, "n")):
        b.store(get(name), b.gep(out, [c64(word)]))
    b.ret(c64(0))
    return fn


def _conversion(b: ir.IRBuilder, at, i, plus):
    """(code, characters) of the conversion at `i` (printk._conversion); code -1: -EINVAL."""
    c, n1, n2 = at(i), at(b.add(i, c64(1))), at(b.add(i, c64(2)))
    kinds = printk.RUNTIME_KINDS
    cases: list[tuple[Any, Any, int]] = []  # (condition, code, characters), the first that holds

    def code_of(kind: str):
        return c64(kinds.index(kind))

    is_p = b.icmp_unsigned("==", c, c64(ord("p")))
    for letter in "ku":
        cases.append((b.and_(is_p, b.and_(b.icmp_unsigned("==", n1, c64(ord(letter))),
                                          b.icmp_unsigned("==", n2, c64(ord("s"))))), code_of(letter + "s"), 3))
    for letter in "KxsSB":
        cases.append((b.and_(is_p, b.icmp_unsigned("==", n1, c64(ord(letter)))), code_of("p" + letter), 2))
    bare = b.or_(b.icmp_unsigned("==", n1, c64(0)), _one_of(b, n1, printk.SPACE | printk.PUNCT))
    cases.append((b.and_(is_p, bare), code_of("p"), 1))
    for letter in "iI":
        for digits in "46":
            cases.append((b.and_(is_p, b.and_(b.icmp_unsigned("==", n1, c64(ord(letter))),
                                              b.icmp_unsigned("==", n2, c64(ord(digits))))),
                          code_of(letter + digits), 3))
    cases.append((b.icmp_unsigned("==", c, c64(ord("s"))), code_of("s"), 1))
    cases.append((b.icmp_unsigned("==", c, c64(ord("c"))), code_of("c"), 1))
    # numbers: up to two "l", then one of diuxX
    l1 = b.icmp_unsigned("==", c, c64(ord("l")))
    l2 = b.and_(l1, b.icmp_unsigned("==", n1, c64(ord("l"))))
    spelled = b.add(b.zext(l1, I64), b.zext(l2, I64))
    conv = at(b.add(i, spelled))
    family = b.select(_one_of(b, conv, "di"), c64(0),
                      b.select(b.icmp_unsigned("==", conv, c64(ord("u"))), c64(1),
                               b.select(_one_of(b, conv, "xX"), c64(2), c64(-1))))
    signed = b.and_(b.icmp_unsigned("==", family, c64(0)), b.icmp_unsigned("!=", plus, c64(0)))
    number = b.add(c64(printk.NUMBER_CODE), b.add(b.mul(family, c64(4)),
                                                  b.add(b.mul(b.zext(l1, I64), c64(2)), b.zext(signed, I64))))
    code = b.select(b.icmp_signed("<", family, c64(0)), c64(-1), number)
    length = b.add(spelled, c64(1))
    for cond, case_code, chars in reversed(cases):
        code = b.select(cond, case_code, code)
        length = b.select(cond, c64(chars), length)
    return code, length
