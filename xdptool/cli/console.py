"""A small console facade over rich: results on stdout, diagnostics on stderr.

Colour only on a terminal and never with NO_COLOR; `--json` commands print one
JSON document on stdout and nothing else there: on an error that document is
`{"error": {"message", "code", "kind"}}` (as `bpftool -j` prints its errors), with
the one line on stderr as without --json.  Whether the running command was given
--json (or --jsonl) is recorded in click's context (`ctx.meta`, shared by the group
and its subcommand) by the options' callback, so the error path reads it there.

Everything printed is text, never rich markup or emoji codes: both consoles are
made with markup and emoji off, so a path, a section name or a C comment holding
`[/x]` or `[[case]]` prints as it is (and table cells and titles likewise).
Style goes through `styled`, which builds a `rich.text.Text` from plain strings and
(string, style) pairs, so user text never passes through the markup parser.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, NoReturn

import click

from ..errors import XdpError, internal_error_line

# What makes rich's Console.is_terminal true for a stream that is not a tty (rich/console.py).
TERMINAL_OVERRIDES = ("TTY_COMPATIBLE", "FORCE_COLOR")


def startup_over() -> None:
    """The command's own work begins: the cyclic collector, which `main()` turned off while
    modules load (their classes, functions and tables live as long as the process, and ~40
    collection passes over them cost a warm replay 5-15 ms), runs again, and everything made
    so far is frozen out of its passes (gc.freeze).  A no-op where the collector is on (a
    command invoked in-process, as the tests do)."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _color() -> bool:
    return "NO_COLOR" not in os.environ


def _console(stderr: bool):
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, no_color=not _color(), soft_wrap=True)


class _LazyConsole:
    """The rich Console for stdout or stderr, made on first use: importing rich costs
    ~30 ms of every start-up, and a command that prints only JSON never needs it."""

    def __init__(self, stderr: bool):
        self._stderr = stderr
        self._console = None

    def console(self):
        """The rich Console itself (made now if it was not yet)."""
        if self._console is None:
            self._console = _console(self._stderr)
        return self._console

    def __getattr__(self, name: str):
        return getattr(self.console(), name)


out = _LazyConsole(stderr=False)
err = _LazyConsole(stderr=True)


def stderr_is_terminal() -> bool:
    """`err.is_terminal`, answered without rich when stderr is plainly not a terminal."""
    if not any(name in os.environ for name in TERMINAL_OVERRIDES):
        isatty = getattr(sys.stderr, "isatty", None)
        try:
            if isatty is None or not isatty():
                return False
        except ValueError:  # a closed stream
            return False
    return err.is_terminal


def styled(*parts: str | tuple[str, str]):
    """Text from plain strings and (text, style) pairs: `styled(("error:", "bold red"), " ", message)`."""
    from rich.text import Text

    return Text.assemble(*parts)


JSON_MODE = "xdptool.json"  # ctx.meta key: "json" or "jsonl" when the command was asked for JSON

# exit code -> the error object's "kind" (errors.py says what each code means)
ERROR_KINDS = {1: "failed", 2: "bad_input", 3: "internal"}


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[JSON_MODE] = param.name.removeprefix("as_")
    return value


def json_option(help: str = "Print one JSON document (an error too: {\"error\": {\"message\", \"code\", \"kind\"}}).",
                name: str = "json"):
    """The --json flag of every command (--jsonl: name="jsonl"); the parameter is `as_<name>`."""
    return click.option(f"--{name}", f"as_{name}", is_flag=True, callback=_remember_json, help=help)


def json_mode() -> str | None:
    """"json", "jsonl" or None: how the running command prints, for its errors."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(JSON_MODE) if ctx is not None else None


def error_document(message: str, code: int, kind: str | None = None, **extra: Any) -> dict:
    """The error object --json prints: {"error": {"message", "code", "kind", ...}}."""
    return {"error": {"message": message, "code": code, "kind": kind or ERROR_KINDS.get(code, "failed"), **extra}}


def print_error_json(document: dict, mode: str | None) -> None:
    """The error object as the command's one document (--json) or one more line (--jsonl)."""
    if mode == "jsonl":
        click.echo(json.dumps(document, default=_json_default))
    elif mode:
        print_json(document)


def fail(message: str, code: int = 2, label: str = "error:", **extra: Any) -> NoReturn:
    """One line on stderr (and with --json the error object on stdout), then exit with
    `code` (2: bad input, 1: the program failed)."""
    print_error_json(error_document(message, code, **extra), json_mode())
    err.print(styled((label, "bold red"), " ", message))
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
    err.print(styled(("warning:", "yellow"), " ", message))


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if hasattr(value, "__dict__"):
        return vars(value)
    return str(value)


def report_error(exc: XdpError) -> NoReturn:
    fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code, type=type(exc).__name__)


DEBUG_ENV = "XDPTOOL_DEBUG"  # =1: a bug also prints its full traceback


def report_internal(exc: BaseException) -> NoReturn:
    """A bug: one line saying so and where to report it (exit 3); the traceback only
    with XDPTOOL_DEBUG=1, since users need the line and developers the stack."""
    if os.environ.get(DEBUG_ENV) == "1":
        import traceback  # only here: a command that succeeds never imports it

        traceback.print_exception(exc, file=sys.stderr)
    from ..errors import InternalError

    kind = type(exc).__name__ if type(exc).__module__ == "builtins" else f"{type(exc).__module__}.{type(exc).__name__}"
    detail = str(exc) if isinstance(exc, InternalError) and str(exc) else ": ".join(filter(None, (kind, str(exc))))
    line = internal_error_line(detail)
    print_error_json(error_document(line, InternalError.exit_code, type=kind), json_mode())
    err.print(styled((line, "bold red")))
    sys.exit(InternalError.exit_code)
