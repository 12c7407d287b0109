"""64-bit binary encoding of NFP instructions: isa.FORMS walked both ways.

`encode` checks the instruction against its form's operand rules (the ones
the executor enforces too), lets each part of the form fill its fields, and
packs the token (tokens.py: nfp_asm.h's masks).  `decode` finds the token by
its opcode bits and tries that token's forms in declaration order.  Every
word fits GENMASK(45, 0), the ustore's validity check
(nfp_ustore_check_valid_no_ecc): `encode` asserts it.
"""

from __future__ import annotations

from .forms import NoMatch
from .isa import FORMS, NfpInsn, form_of
from .tokens import TOKENS, USTORE_VALID, EncodeError

__all__ = ["EncodeError", "decode", "encode"]

_BY_TOKEN = {token: tuple(f for f in FORMS if f.token is token) for token in TOKENS}


def encode(insn: NfpInsn) -> int:
    word = form_of(insn).encode(insn)
    if word & ~USTORE_VALID:
        raise EncodeError(f"{insn.kind} encodes as {word:#x}, outside the ustore's 46 bits")
    return word


def decode(word: int) -> NfpInsn:
    for token in TOKENS:
        if token.matches(word):
            misses = []
            for form in _BY_TOKEN[token]:
                try:
                    return NfpInsn(form.kind, **form.decode(word))
                except NoMatch as miss:
                    misses.append(str(miss))
            raise EncodeError(f"no {token.name} form encodes as {word:#018x} ({'; '.join(dict.fromkeys(misses))})")
    raise EncodeError(f"no NFP instruction encodes as {word:#018x}")
