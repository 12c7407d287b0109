"""Packet expressions: scapy's syntax, read by `ast.parse` and computed by a walk over an allow-list.

Spec files and `xdptool run --scapy` describe packets the way scapy users write them
(`Ether()/IP(dst='10.0.0.1')/UDP(dport=53)/b'payload'`). That text can come from any
`test_*.toml` that pytest happens to collect, so it is never handed to `eval`: this
module evaluates the syntax tree itself, node by node, and refuses, by name, every
construct not listed here:

- literals: numbers, strings, bytes, True/False/None, lists and tuples of allowed values;
- `+x`, `-x`, and `+ - *` on numbers; `+` joining two strings, bytes, lists or tuples;
  `*` repeating a string, bytes, list or tuple a whole number of times;
- calls of scapy layer classes (the Packet subclasses scapy.all exports, such as Ether,
  IP, IPv6, UDP, TCP, DNS, DNSQR, IPOption_NOP, Raw), with keyword arguments named after
  the layer's fields and at most one positional argument, the bytes the layer dissects;
  argument values are any allowed value, layers included (`DNS(qd=DNSQR(qname='x'))`);
- `bytes.fromhex('...')`;
- `/` stacking, with a layer on at least one side and a layer, bytes or string on the other.

Bounds keep hostile text cheap to refuse: its length, the nesting depth of its tree, and
the size of every value it builds (so `b'x' * 10**12` fails before any memory is taken).
scapy is imported on first use: it costs over half a second.
"""

from __future__ import annotations

import ast
import operator
from functools import lru_cache
from typing import Any, Callable

from .errors import XdpError

MAX_TEXT = 10_000  # characters of expression text
MAX_DEPTH = 100  # levels of the syntax tree (a stack of N layers is N levels)
MAX_SIZE = 64 * 1024  # bytes (or elements) any one value may stand for
SHOWN = 60  # characters of the expression quoted in an error


class PacketError(XdpError):
    """A packet expression that does not evaluate to a packet."""


class _Refused(Exception):
    """Why the expression is refused; `evaluate` adds the expression itself."""


@lru_cache(maxsize=1)
def layer_classes() -> dict[str, type]:
    """Every scapy layer class scapy.all exports, by name: the only callables an expression may name."""
    import scapy.all as scapy
    from scapy.packet import Packet

    found = {}
    for name in dir(scapy):
        value = getattr(scapy, name)
        if not name.startswith("_") and isinstance(value, type) and issubclass(value, Packet):
            found[name] = value
    return found


@lru_cache(maxsize=None)
def field_names(layer: type) -> frozenset[str]:
    """Keyword arguments a layer accepts: its fields and the old names scapy still maps to them."""
    return frozenset(f.name for f in layer.fields_desc) | frozenset(getattr(layer, "deprecated_fields", {}))


def evaluate(text: str) -> Any:
    """The value of a packet expression (a scapy packet, bytes, ...); PacketError naming what is refused."""
    try:
        if len(text) > MAX_TEXT:
            raise _Refused(f"longer than {MAX_TEXT} characters ({len(text)})")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise _Refused(f"SyntaxError: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels") from None
        value, _ = _value(tree.body, 0)
    except _Refused as exc:
        raise PacketError(f"bad packet expression {shorten(text)!r}: {exc}") from None
    return value


def shorten(text: str) -> str:
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def one_line(exc: BaseException) -> str:
    """An exception raised inside scapy, as `Type: message` on one line."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# -- the walk: every handler returns (value, size), size being what the value costs in bytes --


def _value(node: ast.AST, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise _Refused(f"{_construct(node)} is not allowed")
    value, size = handler(node, depth + 1)
    _check_size(size)
    return value, size


def _check_size(size: int) -> None:
    if size > MAX_SIZE:
        raise _Refused(f"a value of {size} bytes, over the {MAX_SIZE}-byte limit")


def _size_of(value: Any) -> int:
    if isinstance(value, (bytes, str)):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 8 + 1
    return 1


LITERAL_TYPES = (int, float, str, bytes, bool, type(None))
JOINABLE = (bytes, str, list, tuple)
PAYLOADS = (bytes, str)


def _constant(node: ast.Constant, depth: int) -> tuple[Any, int]:
    if not isinstance(node.value, LITERAL_TYPES):
        raise _Refused(f"the literal {node.value!r} is not allowed")
    return node.value, _size_of(node.value)


def _sequence(node: ast.List | ast.Tuple, depth: int) -> tuple[Any, int]:
    items = [_value(item, depth) for item in node.elts]
    values = [value for value, _ in items]
    return (values if isinstance(node, ast.List) else tuple(values)), 1 + sum(size for _, size in items)


def _name(node: ast.Name, depth: int) -> tuple[Any, int]:
    if node.id in layer_classes():
        raise _Refused(f"{node.id} is a layer class: call it, as in {node.id}()")
    raise _Refused(f"name {node.id!r} is not a scapy layer")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _is_layer(value: Any) -> bool:
    from scapy.packet import Packet

    return isinstance(value, Packet)


def _arithmetic(compute: Callable[[], Any]) -> tuple[Any, int]:
    """A number from numbers (float overflow is the user's input, not our bug)."""
    try:
        result = compute()
    except ArithmeticError as exc:  # OverflowError, ZeroDivisionError
        raise _Refused(one_line(exc)) from None
    return result, _size_of(result)


def _unary(node: ast.UnaryOp, depth: int) -> tuple[Any, int]:
    sign = UNARY.get(type(node.op))
    symbol = SYMBOLS.get(type(node.op), type(node.op).__name__)
    if sign is None:
        raise _Refused(f"operator {symbol} is not allowed")
    value, _ = _value(node.operand, depth)
    if not _is_number(value):
        raise _Refused(f"unary {symbol} on {type(value).__name__}: only on numbers")
    return _arithmetic(lambda: sign(value))


def _binary(node: ast.BinOp, depth: int) -> tuple[Any, int]:
    rule = BINARY.get(type(node.op))
    if rule is None:
        raise _Refused(f"operator {SYMBOLS.get(type(node.op), type(node.op).__name__)} is not allowed")
    left, left_size = _value(node.left, depth)
    right, right_size = _value(node.right, depth)
    return rule(left, left_size, right, right_size)


def _stack(left, left_size, right, right_size) -> tuple[Any, int]:
    """`/`: a layer on one side, a layer, bytes or a string on the other (then scapy's own rules apply)."""
    stackable = (_is_layer(left) and (_is_layer(right) or isinstance(right, PAYLOADS))) or (
        isinstance(left, PAYLOADS) and _is_layer(right)
    )
    if not stackable:
        raise _Refused(f"/ stacks layers, not {type(left).__name__} / {type(right).__name__}")
    try:
        return left / right, left_size + right_size
    except Exception as exc:  # scapy refusing this stacking
        raise _Refused(one_line(exc)) from None


def _add(left, left_size, right, right_size) -> tuple[Any, int]:
    if _is_number(left) and _is_number(right):
        return _arithmetic(lambda: left + right)
    if isinstance(left, JOINABLE) and type(left) is type(right):
        _check_size(left_size + right_size)  # before the join allocates anything
        return left + right, left_size + right_size
    raise _Refused(f"+ on {type(left).__name__} and {type(right).__name__}")


def _subtract(left, left_size, right, right_size) -> tuple[Any, int]:
    if not (_is_number(left) and _is_number(right)):
        raise _Refused(f"- on {type(left).__name__} and {type(right).__name__}: only on numbers")
    return _arithmetic(lambda: left - right)


def _multiply(left, left_size, right, right_size) -> tuple[Any, int]:
    if _is_number(left) and _is_number(right):
        _check_size(left_size + right_size)  # the product's size, about
        return _arithmetic(lambda: left * right)
    if isinstance(right, JOINABLE) and isinstance(left, int):
        left, left_size, right, right_size = right, right_size, left, left_size
    if not (isinstance(left, JOINABLE) and isinstance(right, int) and not isinstance(right, bool)):
        raise _Refused(f"* on {type(left).__name__} and {type(right).__name__}: numbers, or a sequence by a whole number")
    size = left_size * max(right, 0)
    _check_size(size)  # before the repetition allocates anything
    return left * right, size


def _call(node: ast.Call, depth: int) -> tuple[Any, int]:
    function = FUNCTIONS.get(_dotted(node.func))
    if function is not None:
        return function(node, depth)
    if not isinstance(node.func, ast.Name):
        raise _Refused(f"only scapy layers can be called, not {_source(node.func)}")
    layer = layer_classes().get(node.func.id)
    if layer is None:
        raise _Refused(f"name {node.func.id!r} is not a scapy layer")
    return _construct_layer(layer, node, depth)


def _construct_layer(layer: type, node: ast.Call, depth: int) -> tuple[Any, int]:
    name = layer.__name__
    if len(node.args) > 1:
        raise _Refused(f"{name}() takes at most one positional argument (the bytes it dissects)")
    args, size = [], 1
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise _Refused(f"{_construct(arg)} is not allowed")
        value, arg_size = _value(arg, depth)
        if not isinstance(value, PAYLOADS):
            raise _Refused(f"{name}()'s positional argument is the bytes it dissects, not {type(value).__name__}")
        args.append(value)
        size += arg_size
    fields = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _Refused(f"{_construct(keyword)} is not allowed")
        if keyword.arg.startswith("_") or keyword.arg not in field_names(layer):
            raise _Refused(f"{name} has no field {keyword.arg!r} ({_field_list(layer)})")
        fields[keyword.arg], arg_size = _value(keyword.value, depth)
        size += arg_size
    _check_size(size)
    try:
        return layer(*args, **fields), size
    except Exception as exc:  # scapy refusing a field value
        raise _Refused(f"{name}(): {one_line(exc)}") from None


def _field_list(layer: type, shown: int = 12) -> str:
    names = [f.name for f in layer.fields_desc]
    if not names:
        return "it has no fields"
    return "fields: " + ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def _from_hex(node: ast.Call, depth: int) -> tuple[Any, int]:
    if node.keywords or len(node.args) != 1:
        raise _Refused("bytes.fromhex takes one string")
    text, _ = _value(node.args[0], depth)
    if not isinstance(text, str):
        raise _Refused(f"bytes.fromhex takes a string, not {type(text).__name__}")
    try:
        result = bytes.fromhex(text)
    except ValueError as exc:
        raise _Refused(f"bytes.fromhex: {exc}") from None
    return result, len(result)


def _dotted(node: ast.AST) -> str | None:
    """`a.b` as text when the callee is a plain dotted name, for the FUNCTIONS table."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _source(node: ast.AST) -> str:
    return shorten(ast.unparse(node))


def _construct(node: ast.AST) -> str:
    """What a refused node is, in the words a user would search for."""
    if isinstance(node, ast.Attribute):
        return f"attribute access (.{node.attr})"
    if isinstance(node, ast.keyword):
        return f"**{_source(node.value)} (keyword unpacking)"
    if isinstance(node, ast.Starred):
        return f"*{_source(node.value)} (a starred argument)"
    return REFUSED.get(type(node), f"a {type(node).__name__} expression")


REFUSED: dict[type, str] = {
    ast.Subscript: "a subscript ([...])",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.NamedExpr: "an assignment expression (:=)",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.IfExp: "a conditional expression (x if c else y)",
    ast.Compare: "a comparison",
    ast.BoolOp: "and/or",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}

SYMBOLS: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&",
    ast.BitXor: "^", ast.MatMult: "@", ast.UAdd: "+", ast.USub: "-", ast.Not: "not", ast.Invert: "~",
}  # fmt: skip

UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}

BINARY: dict[type, Callable[[Any, int, Any, int], tuple[Any, int]]] = {
    ast.Div: _stack,
    ast.Add: _add,
    ast.Sub: _subtract,
    ast.Mult: _multiply,
}

FUNCTIONS: dict[str, Callable[[ast.Call, int], tuple[Any, int]]] = {"bytes.fromhex": _from_hex}

_HANDLERS: dict[type, Callable[[Any, int], tuple[Any, int]]] = {
    ast.Constant: _constant,
    ast.List: _sequence,
    ast.Tuple: _sequence,
    ast.Name: _name,
    ast.UnaryOp: _unary,
    ast.BinOp: _binary,
    ast.Call: _call,
}
