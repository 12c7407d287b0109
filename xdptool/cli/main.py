"""The `xdptool` command: a click group whose subcommands load lazily.

Each subcommand is a module `xdptool.cli.<name>` exposing `command`; importing
only the one that runs keeps `--help` instant (scapy alone costs 0.6 s).
XdpError escaping a command becomes one line on stderr and its exit code; any
other exception is a bug and becomes one "internal error" line and exit code 3
(its traceback only with XDPTOOL_DEBUG=1).  click's own exceptions, SystemExit
and KeyboardInterrupt keep their meaning.  A command given --json (or --jsonl) also
prints the error as `{"error": {"message", "code", "kind"}}` on stdout, usage
errors included (console.py).
"""

from __future__ import annotations

import errno
import gc
import importlib
import os
import sys

import click

from .. import __version__
from ..errors import XdpError

# command name -> (module, one-line help shown by `xdptool --help`)
COMMANDS = {
    "build": ("build", "Compile restricted C to an eBPF object with clang."),
    "inspect": ("inspect", "Show an object's programs, maps, global data and BTF."),
    "disasm": ("disasm", "Disassemble an object (llvm-objdump compatible)."),
    "verify": ("verify", "Verify a program with xdptool's static verifier."),
    "run": ("run", "Run one packet through a program."),
    "replay": ("replay", "Replay a pcap capture through a program."),
    "offload": ("offload", "Offload a program to the emulated NFP SmartNIC."),
    "maps": ("maps", "Dump, set or reset the emulated NIC's maps."),
    "test": ("test", "Run XDP test spec files."),
}
# Commands that call console.startup_over() themselves, where their own work begins (after
# their lazy imports and set-up); for the others the collector runs again once the command
# is resolved.
ENDS_STARTUP_ITSELF = {"replay"}
# Commands whose every output is a file closed (committed) by the command itself or stdout:
# their process ends without Python's teardown of every module and object (~5 ms after a
# replay), once the atexit handlers ran and stdout/stderr are flushed (see _leave).
LEAVES_WITHOUT_TEARDOWN = {"replay"}
_resolved: list[str] = []  # the subcommand this process runs (get_command's last)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        try:
            module = importlib.import_module(f"xdptool.cli.{entry[0]}")
        except ModuleNotFoundError as exc:
            if exc.name != f"xdptool.cli.{entry[0]}":
                raise
            return _not_available(name, entry[1])
        if name not in ENDS_STARTUP_ITSELF:
            from .console import startup_over

            startup_over()
        _resolved.append(name)
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGS] = list(args)  # for a usage error met before --json's own callback ran
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:  # noqa: BLE001 - sorted by _report
            _report(exc, ctx)


ARGS = "xdptool.args"  # ctx.meta key: the command line after `xdptool`


# click's exceptions (usage errors, aborts, exits) are handled by click; EOFError
# becomes click's Abort in standalone mode.
CLICK_EXCEPTIONS = (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit, EOFError)


def _report(exc: Exception, ctx: click.Context | None = None):
    """Bad input: its one line and exit code; a bug: the internal-error line, exit 3."""
    from .console import report_error, report_internal

    if isinstance(exc, XdpError):
        report_error(exc)
    if isinstance(exc, click.exceptions.ClickException) and ctx is not None:
        _usage_error_json(exc, ctx)
    if isinstance(exc, CLICK_EXCEPTIONS) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
        raise exc  # a closed pipe (`xdptool disasm ... | head`): click exits quietly
    report_internal(exc)


def _usage_error_json(exc: click.exceptions.ClickException, ctx: click.Context) -> None:
    """With --json on the command line, a usage error's object on stdout; click then prints
    its own message on stderr and exits with its code."""
    from .console import JSON_MODE, error_document, print_error_json

    args = ctx.meta.get(ARGS, [])
    args = args[: args.index("--")] if "--" in args else args
    mode = ctx.meta.get(JSON_MODE) or next((a[2:] for a in args if a in ("--json", "--jsonl")), None)
    print_error_json(error_document(exc.format_message(), exc.exit_code, "usage"), mode)


def _not_available(name: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def missing(args):
        from .console import fail

        fail(f"`xdptool {name}` is not implemented in this version", 2)

    return missing


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xdptool")
def cli() -> None:
    """xdptool: build, verify, run, replay, offload and test XDP programs — no kernel needed."""


def main() -> None:
    gc.disable()  # while modules load (xdptool.cli.run, the console script, did so before click); console.startup_over turns it back on
    try:
        try:
            cli.main(standalone_mode=True)
        except Exception as exc:  # noqa: BLE001 - raised outside a command's invoke (e.g. while parsing)
            _report(exc)
    except SystemExit as exc:
        _leave(exc)
        raise


def _leave(exc: SystemExit) -> None:
    """End the process now, with exc's status, for a LEAVES_WITHOUT_TEARDOWN command (else
    return: the normal exit).  Also the normal exit where it may matter: another thread
    still running (it would be joined), a status that is a message, or stdout/stderr that
    cannot be flushed (a closed pipe: the normal exit reports it as it always did)."""
    import atexit
    import threading

    code = 0 if exc.code is None else exc.code
    if not _resolved or _resolved[-1] not in LEAVES_WITHOUT_TEARDOWN or not isinstance(code, int):
        return
    if threading.active_count() > 1:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    atexit._run_exitfuncs()  # what the normal exit runs first (multiprocessing's cleanup, ...)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


if __name__ == "__main__":
    sys.exit(main())
