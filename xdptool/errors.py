"""The project's error types.

Every error a user can cause by giving bad input derives from XdpError; the CLI
turns it into one line on stderr and exit code 2.  Anything else escaping is a bug:
the CLI reports it as an InternalError (exit code 3), so that a broken invariant is
never mistaken for bad input.  InternalError is deliberately not an XdpError: code
that catches XdpError ("this engine cannot run that input") must let bugs through.
"""


class XdpError(Exception):
    """Bad input or an unusable environment: reported in one line, exit code 2."""

    exit_code = 2


class ToolchainError(XdpError):
    """clang (or another external tool) is missing or failed to start."""


class CompileError(XdpError):
    """clang ran and rejected the source: exit code 1, diagnostics shown."""

    exit_code = 1


class ObjectFormatError(XdpError):
    """The ELF object (or its BTF) is malformed or not an eBPF object."""


class DecodeError(XdpError):
    """Bytes that do not decode to a valid eBPF instruction."""


class AsmError(XdpError):
    """Assembly text that does not assemble; carries the line number."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


ISSUE_TRACKER = "the xdptool issue tracker"  # the README names no other place to report bugs


class InternalError(Exception):
    """A broken internal invariant (xdptool's bug, not the user's): exit code 3."""

    exit_code = 3


def internal_error_line(detail: str) -> str:
    """The one line the CLI prints for a bug: what broke and where to report it."""
    first = detail.splitlines()[0] if detail else "unknown"
    return f"internal error: {first} — please report this at {ISSUE_TRACKER}"
