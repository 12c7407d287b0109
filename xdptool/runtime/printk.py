"""bpf_trace_printk's format, arguments and text, as the kernel has them.

The format is checked as kernel/bpf/helpers.c bpf_bprintf_prepare checks it: no ASCII control
byte but white space, at most 3 conversions (bpf_trace_vprintk: as many as its arguments), each `%[0 +-]*[1-9][0-9]*` then one of `d i u x X`
(after `l` or `ll`), `c`, `s` (followed by the end, white space or punctuation), `p` alone or
`pK px ps pS pB pks pus pi4 pI4 pi6 pI6`; anything else -EINVAL.  The arguments are copied
into its 512-byte binary buffer (MAX_BPRINTF_BIN_ARGS: numbers 4-byte aligned, a string as
strncpy_from_kernel_nofault copies it, at most what is left; no room -ENOSPC), a string or
address it cannot read is empty or zeros, never a fault.  The text is lib/vsprintf.c's
(bstr_printf) and the return value its full length; the trace line keeps 1023 characters.

A pointer prints as 16 hex digits of the runtime's own address (the kernel hashes it, or
zeroes it under kptr_restrict: the same length); %ps/%pS/%pB print "0x" and the address, as
the kernel does for an address that is no kernel symbol.

`parse` gives the conversions once per format; `gather` reads what they need from memory
(the vm) and `render` makes the text from the arguments and what was read -- the jit records
the same values natively and renders them after the run (jit/printk.py).
"""


import errno
from functools import lru_cache
from typing import NamedTuple

MAX_ARGS = 3  # MAX_TRACE_PRINTK_VARARGS: bpf_trace_printk's arguments
MAX_VARARGS = 12  # MAX_BPRINTF_VARARGS (include/linux/bpf.h): bpf_trace_vprintk's, at most


def vararg_count(data_len: int) -> int | None:
    """How many u64 arguments bpf_trace_vprintk's `data_len` gives, or None where the kernel
    answers -EINVAL for it (kernel/trace/bpf_trace.c: not a multiple of 8, or above
    MAX_BPRINTF_VARARGS of them)."""
    return None if data_len & 7 or data_len > 8 * MAX_VARARGS else data_len // 8
BIN_ARGS = 512  # MAX_BPRINTF_BIN_ARGS
TEXT_MAX = 1024 - 1  # MAX_BPRINTF_BUF, less the NUL: what the trace line keeps
PUNCT = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
SPACE = frozenset(b" \t\n\v\f\r")
FLAG_CHARS = frozenset(b"0+- ")

# conversion kinds: what an argument is and how it prints
NUMBER_KINDS = frozenset("diuxX")
STRING_KINDS = frozenset(("s", "ks", "us"))  # the argument is a string's address
ADDRESS_KINDS = {"i4": 4, "I4": 4, "i6": 16, "I6": 16}  # the argument is an address's address
POINTER_KINDS = frozenset(("p", "pK", "px"))  # 16 hex digits
SYMBOL_KINDS = frozenset(("ps", "pS", "pB"))  # "0x" and hex digits


class Conversion(NamedTuple):
    kind: str  # "d" "i" "u" "x" "X" "c" "s" "ks" "us" "i4" "I4" "i6" "I6" "p" "pK" "px" "ps" "pS" "pB"
    size: int  # the argument's bytes in the binary buffer: 4 or 8 (numbers, pointers), 1 (c)
    flags: str  # of "0+- "
    width: int
    arg: int  # which argument (0..2)


def _is_allowed(byte: int) -> bool:
    """Printable ASCII, white space, or any byte from 0x80 (UTF-8 text; Linux 6.18 lets them
    through, older kernels refused every byte outside ASCII)."""
    return 0x20 <= byte != 0x7F or byte in SPACE


@lru_cache(maxsize=256)
def parse(fmt: bytes, max_args: int = MAX_ARGS) -> tuple[bytes | Conversion, ...] | None:
    """The literal pieces and conversions of `fmt` (up to its NUL), or None for -EINVAL
    (also for more conversions than the `max_args` arguments there are)."""
    pieces: list[bytes | Conversion] = []
    literal = bytearray()
    count, i, n = 0, 0, len(fmt)

    def at(k: int) -> int:
        return fmt[k] if k < n else 0

    while i < n:
        byte = fmt[i]
        if not _is_allowed(byte):
            return None
        if byte != ord("%"):
            literal.append(byte)
            i += 1
            continue
        if at(i + 1) == ord("%"):
            literal.append(byte)
            i += 2
            continue
        if count >= max_args:
            return None
        i += 1
        start = i
        while at(i) in FLAG_CHARS:
            i += 1
        flags = fmt[start:i].decode()
        width_start = i
        if ord("1") <= at(i) <= ord("9"):
            while ord("0") <= at(i) <= ord("9"):
                i += 1
        width = int(fmt[width_start:i] or b"0")
        spelled, size = _conversion(i, at)
        if spelled is None:
            return None
        i += len(spelled)
        kind = kind_of(spelled)
        if kind in STRING_KINDS and at(i) not in (0, *SPACE, *PUNCT):
            return None
        pieces.append(bytes(literal))
        literal.clear()
        pieces.append(Conversion(kind, size, flags, width, count))
        count += 1
    pieces.append(bytes(literal))
    return tuple(piece for piece in pieces if piece != b"")


def _conversion(i: int, at) -> tuple[str | None, int]:
    """(the conversion's spelling from `i`, as much as the kernel consumes, and its size in the
    binary buffer), or (None, 0) where bpf_bprintf_prepare says -EINVAL."""
    c = chr(at(i))
    if c == "p":
        nxt = at(i + 1)
        if nxt in (ord("k"), ord("u")) and at(i + 2) == ord("s"):
            return "p" + chr(nxt) + "s", 8
        if nxt in (ord("K"), ord("x"), ord("s"), ord("S"), ord("B")):
            return "p" + chr(nxt), 8
        if nxt == 0 or nxt in SPACE or nxt in PUNCT:
            return "p", 8
        if nxt in (ord("i"), ord("I")) and at(i + 2) in (ord("4"), ord("6")):
            return "p" + chr(nxt) + chr(at(i + 2)), 8
        return None, 0
    if c in ("s", "c"):
        return c, 8 if c == "s" else 1
    size = 4
    spelled = ""
    for _ in range(2):
        if at(i + len(spelled)) == ord("l"):
            spelled += "l"
            size = 8
    conv = chr(at(i + len(spelled)))
    if conv not in NUMBER_KINDS:
        return None, 0
    return spelled + conv, size


def conversions(pieces) -> list[Conversion]:
    return [piece for piece in pieces if isinstance(piece, Conversion)]


def kind_of(spelled: str) -> str:
    """The Conversion kind of a spelling ("pks" -> "ks", "pI4" -> "I4", "llx" -> "x")."""
    if spelled in ("pks", "pus") or spelled[:2] in ("pi", "pI"):
        return spelled[1:]
    return spelled.lstrip("l")


def _align4(used: int) -> int:
    return (used + 3) & ~3


def gather(read_string, read_address, pieces, args) -> list[bytes] | int:
    """What each conversion takes from memory, in order (a string's bytes, an address's 4 or
    16 bytes; b"" for the others), with the binary buffer accounted as bpf_bprintf_prepare
    does; -ENOSPC when it runs out.  read_string(addr, limit) gives at most `limit` bytes
    before a NUL, or None where it cannot read; read_address(addr, n) n bytes or None."""
    used = 0
    taken: list[bytes] = []
    for conv in conversions(pieces):
        value = args[conv.arg] & 0xFFFFFFFFFFFFFFFF
        room = BIN_ARGS - used
        kind = conv.kind
        if kind in STRING_KINDS:
            if room == 0:
                return -errno.ENOSPC
            text = b"" if kind == "us" else read_string(value, room - 1)  # no user memory in XDP
            text = b"" if text is None else text
            used += len(text) + 1
            taken.append(text)
        elif kind in ADDRESS_KINDS:
            size = ADDRESS_KINDS[kind]
            if room < size:
                return -errno.ENOSPC
            raw = read_address(value, size)
            raw = bytes(size) if raw is None else raw
            used += len(_address_text(kind, raw)) + 1
            taken.append(raw)
        elif kind == "c":
            if room == 0:
                return -errno.ENOSPC
            used += 1
            taken.append(b"")
        else:
            if kind == "pB":  # snprintf'd into the buffer, as the addresses are
                used += len(_symbol_text(value)) + 1
                taken.append(b"")
                continue
            used = _align4(used)
            if BIN_ARGS - used < conv.size:
                return -errno.ENOSPC
            used += conv.size
            taken.append(b"")
    return taken


def _address_text(kind: str, raw: bytes) -> str:
    if kind == "I4":
        return ".".join(str(b) for b in raw)
    if kind == "i4":
        return ".".join(f"{b:03d}" for b in raw)
    groups = [raw[i:i + 2].hex() for i in range(0, 16, 2)]
    return ":".join(groups) if kind == "I6" else "".join(groups)


def _symbol_text(value: int) -> str:
    return f"0x{value:x}"


def _number_text(conv: Conversion, value: int) -> str:
    bits = conv.size * 8
    value &= (1 << bits) - 1
    flags = conv.flags
    if conv.kind in "di":
        if value >> (bits - 1):
            value -= 1 << bits
        spec = "d"
    else:  # no sign for u, x, X (vsprintf sets SIGN only for d and i)
        flags = flags.replace("+", "").replace(" ", "")
        spec = "d" if conv.kind == "u" else conv.kind
    return f"%{flags}{conv.width or ''}{spec}" % value


def _padded(conv: Conversion, text: str) -> str:
    """A string-like conversion in its field: spaces, on the left unless '-' (widen_string)."""
    if len(text) >= conv.width:
        return text
    return text.ljust(conv.width) if "-" in conv.flags else text.rjust(conv.width)


def render(pieces, args, taken: list[bytes]) -> str:
    """The text bstr_printf makes of `pieces` with the arguments and what `gather` took."""
    out: list[str] = []
    converted = iter(taken)
    for piece in pieces:
        if isinstance(piece, bytes):
            out.append(piece.decode("latin-1"))
            continue
        value = args[piece.arg] & 0xFFFFFFFFFFFFFFFF
        raw = next(converted)
        kind = piece.kind
        if kind in NUMBER_KINDS:
            out.append(_number_text(piece, value))
        elif kind in STRING_KINDS:
            out.append(_padded(piece, raw.decode("latin-1")))
        elif kind in ADDRESS_KINDS:
            out.append(_padded(piece, _address_text(kind, raw)))
        elif kind == "c":
            out.append(_padded(piece, chr(value & 0xFF)))
        elif kind in POINTER_KINDS:
            out.append(_padded(piece, f"{value:016x}"))
        else:
            out.append(_padded(piece, _symbol_text(value)))
    return "".join(out)


def trace_text(text: str) -> str:
    """The line the trace keeps: 1023 characters, without a final newline."""
    text = text[:TEXT_MAX]
    return text[:-1] if text.endswith("\n") else text


# A format known only at run time (jit/printk.py parses it natively): each conversion as a code
# of this table -- the kinds one by one, the numbers by family, size and sign flag.
RUNTIME_KINDS = ("c", "s", "ks", "us", "i4", "I4", "i6", "I6", "p", "pK", "px", "ps", "pS", "pB")
NUMBER_CODE = 16  # + 4 * family (d/i, u, x/X) + 2 * (8-byte) + (d/i with "+" or " ")
NUMBER_FAMILIES = ("d", "u", "x")


def runtime_conversion(code: int, arg: int) -> Conversion:
    """The Conversion (without width: the native code applies it) a runtime code stands for."""
    if code < NUMBER_CODE:
        kind = RUNTIME_KINDS[code]
        return Conversion(kind, 1 if kind == "c" else 8, "", 0, arg)
    family, rest = divmod(code - NUMBER_CODE, 4)
    return Conversion(NUMBER_FAMILIES[family], 8 if rest & 2 else 4, "+" if rest & 1 else "", 0, arg)


RUNTIME_CODES = tuple(range(len(RUNTIME_KINDS))) + tuple(
    NUMBER_CODE + 4 * family + rest for family in range(3) for rest in range(4) if family == 0 or rest % 2 == 0)
RUNTIME_WORDS = 7  # a runtime record: the 3 arguments, the format's length, each conversion's bytes read


def decode_runtime_record(payload: bytes) -> str:
    """The trace line of a native record whose format was read at run time: the arguments, the
    format's length and the bytes each conversion read (0 for those that read none), then the
    format, then those bytes."""
    words = [int.from_bytes(payload[8 * k:8 * k + 8], "little") for k in range(RUNTIME_WORDS)]
    start = 8 * RUNTIME_WORDS
    fmt = payload[start:start + words[3]]
    pieces = parse(fmt)
    at, taken = start + words[3], []
    for size, _conv in zip(words[4:], conversions(pieces or ())):
        taken.append(payload[at:at + size])
        at += size
    return trace_text(render(pieces or (), words[:3], taken))


def decode_record(payload: bytes, fmt: bytes) -> str:
    """The trace line of a native site's record (jit/printk.py): the number of arguments (3
    for bpf_trace_printk, data_len / 8 for bpf_trace_vprintk), the arguments, then the byte
    count and the bytes of each string or address conversion."""
    count = int.from_bytes(payload[:8], "little")
    pieces = parse(fmt[:fmt.find(b"\0")], count)
    convs = conversions(pieces)
    reading = [c.kind in STRING_KINDS or c.kind in ADDRESS_KINDS for c in convs]
    words = [int.from_bytes(payload[8 * k:8 * k + 8], "little") for k in range(1 + count + sum(reading))]
    sizes = iter(words[1 + count:])
    at = 8 * len(words)
    taken = []
    for reads in reading:
        size = next(sizes) if reads else 0
        taken.append(payload[at:at + size])
        at += size
    return trace_text(render(pieces, words[1:1 + count], taken))
