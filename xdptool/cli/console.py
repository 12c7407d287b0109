"""A small console facade over rich: results on stdout, diagnostics on stderr.

Colour only on a terminal and never with NO_COLOR; `--json` commands print one
JSON document on stdout and nothing else there.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, NoReturn

import click
from rich.console import Console

from ..errors import XdpError


def _color() -> bool:
    return "NO_COLOR" not in os.environ


out = Console(highlight=False, no_color=not _color(), soft_wrap=True)
err = Console(stderr=True, highlight=False, no_color=not _color(), soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit with `code` (2: bad input, 1: the program failed)."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    sys.exit(code)


def parse_hex(text: str, what: str, separators: str = r"\s:.\-", shown: int | None = None) -> bytes:
    """Bytes from hex typed on the command line: `separators` (a regex character class's
    contents) and a 0x prefix are ignored; bad hex is an XdpError quoting `shown` characters."""
    digits = re.sub(f"[{separators}]", "", text)
    digits = digits[2:] if digits[:2].lower() == "0x" else digits
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise XdpError(f"{what}: not hex bytes: {text[:shown]!r}") from None


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}")


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if hasattr(value, "__dict__"):
        return vars(value)
    return str(value)


def report_error(exc: XdpError) -> NoReturn:
    fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code)
