"""The project's error types.

Every error a user can cause by giving bad input derives from XdpError; the CLI
turns it into one line on stderr and exit code 2.  Anything else escaping is a bug.
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
