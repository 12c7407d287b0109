"""Writing files without losing data: atomic replacement, a lock for shared state,
and a guard that keeps every command's outputs off its inputs.

1. Atomic writes.  A file is written under a temporary name in its own directory,
   flushed and fsynced, renamed over the target (os.replace) and the directory
   fsynced: a reader sees the old file or the new one, never a part of either, and
   a crash (kill -9, power) or an error (a full disk) leaves the old file as it was.
   A temporary file left by a killed process is named `.NAME.XXXXXXXX.tmp`.
2. Locking.  Read-modify-write of shared state (the emulated NIC's state
   directory) runs under `FileLock`: fcntl.flock on a lock file, advisory,
   re-entrant within one process, released by the kernel when the holder dies.
3. Outputs (`check_output`), the rule every command that writes a file follows:
   - an output is never the same file as an input of the same command (same inode,
     or the same resolved path), and --force does not change that;
   - an output is never written through a symbolic link: a link there is refused,
     and --force replaces the link itself, never the file it points to;
   - an existing file is replaced only when it is of the output's own kind (an ELF
     object for `build -o`, a pcap for `--out-dir`, JSON for `--maps-out`, ...):
     that is an earlier run's output, so rebuilding prog.o or rerunning a replay
     into the same directory just works.  Any other existing file needs --force.
   Devices, pipes and descriptor links (/dev/null, /dev/stdout) are streams:
   written in place, never replaced.

Test hook: XDPTOOL_TEST_WRITE_FAULT="pause:NAME[:SECONDS]" or "enospc:NAME" acts
when a file named NAME is about to be renamed into place, its bytes all written:
`pause` prints "xdptool-test: paused writing PATH" on stderr and sleeps (60 s
unless SECONDS is given), so a test can kill the process there or act while it
holds a lock; `enospc` fails as a full disk would.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import time
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from pathlib import Path  # imported where used: a warm replay never needs pathlib

from .errors import XdpError

FAULT_HOOK = "XDPTOOL_TEST_WRITE_FAULT"
CACHE_ENV = "XDPTOOL_CACHE_DIR"


def cache_folder() -> str:
    """Where xdptool keeps what it can rebuild (compiled objects, the JIT's code):
    $XDPTOOL_CACHE_DIR, else $XDG_CACHE_HOME/xdptool, else ~/.cache/xdptool."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "xdptool")
    return root


def cache_root() -> Path:
    """cache_folder() as a Path."""
    from pathlib import Path

    return Path(cache_folder())

# descriptor links: written in place even when they lead to a regular file (`--junit /dev/stdout > f`)
FD_LINKS = ("/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/")

PCAP_MAGICS = tuple(
    m.to_bytes(4, order) for m in (0xA1B2C3D4, 0xA1B23C4D) for order in ("little", "big")
)  # fmt: skip

# output kind -> (what it is called, does a file starting with these bytes hold one?)
KINDS: dict[str, tuple[str, Callable[[bytes], bool]]] = {
    "object": ("an ELF object", lambda head: head.startswith(b"\x7fELF")),
    "pcap": ("a pcap capture", lambda head: head[:4] in PCAP_MAGICS),
    "pcapng": ("a pcapng capture", lambda head: head[:4] == b"\x0a\x0d\x0d\x0a"),  # a section header block
    "json": ("a JSON document", lambda head: head.lstrip()[:1] in (b"{", b"[")),
    "junit": ("a JUnit XML report", lambda head: head.lstrip().startswith((b"<?xml", b"<testsuite"))),
    "lcov": ("an lcov tracefile", lambda head: head.startswith((b"TN:", b"SF:"))),
    "listing": ("an NFP listing", lambda head: head.startswith(b"; ")),
}
HEAD_BYTES = 64


# -- atomic writes ----------------------------------------------------------------


def _is_stream(path: Path) -> bool:
    """A device, pipe or descriptor link: written in place, as there is no file to replace."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) or str(path.absolute()).startswith(FD_LINKS)


def _new_file_mode(path: Path) -> int:
    """The mode the file would get from open(): the old file's, else 0666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _fault_hook(path: Path) -> None:
    action, _, rest = os.environ.get(FAULT_HOOK, "").partition(":")
    name, _, seconds = rest.partition(":")
    if not action or name != path.name:
        return
    if action == "pause":
        print(f"xdptool-test: paused writing {path}", file=sys.stderr, flush=True)
        time.sleep(float(seconds or 60))
    elif action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (where the file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is still atomic
    finally:
        os.close(fd)


class AtomicFile:
    """A file written under a temporary name and renamed over `path` by commit().

    Used as a context manager it commits when the block ends normally and discards
    otherwise.  `temp` is the temporary path, for a tool (clang) that writes it itself.
    """

    def __init__(self, path: str | os.PathLike, mode: str = "wb"):
        from pathlib import Path

        self.path = Path(path)
        self.done = False
        try:
            if _is_stream(self.path):
                self.temp = None
                self.file = open(self.path, mode, encoding=None if "b" in mode else "utf-8")
                return
            import tempfile  # here: it costs start-up, and most commands never write a file

            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as exc:
            raise XdpError(f"{path}: cannot write: {exc.strerror or exc}") from None
        self.temp = Path(temp)
        os.fchmod(fd, _new_file_mode(self.path))
        self.file = os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")

    def write(self, data):
        return self.file.write(data)

    def commit(self) -> None:
        """Publish the new contents (or raise XdpError and leave the old file as it was)."""
        if self.done:
            return
        self.done = True
        try:
            if self.temp is None:
                self.file.close()
                return
            if not self.file.closed:
                self.file.flush()
                os.fsync(self.file.fileno())
                self.file.close()
            else:  # written by another program
                fd = os.open(self.temp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            _fault_hook(self.path)
            os.replace(self.temp, self.path)
        except OSError as exc:
            self._remove_temp()
            raise XdpError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        fsync_directory(self.path.parent)

    def discard(self) -> None:
        """Forget the new contents; the old file stays."""
        if self.done:
            return
        self.done = True
        self._remove_temp()

    def _remove_temp(self) -> None:
        try:
            self.file.close()  # may fail again flushing what a full disk refused
        except OSError:
            pass
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Replace `path` with `data` atomically (XdpError naming the file if that fails)."""
    with AtomicFile(path, "w" if isinstance(data, str) else "wb") as handle:
        try:
            handle.write(data)
        except OSError as exc:
            raise XdpError(f"{path}: cannot write: {exc.strerror}") from None


# -- locking ---------------------------------------------------------------------

QUIET_WAIT = 1.0  # seconds
_HELD: dict[str, list] = {}  # resolved lock path -> [fd, depth]: re-entrant within the process


class FileLock:
    """An exclusive advisory lock (flock) on `path`, created if missing.

    `waiting` is printed on stderr once when another process keeps the lock for
    more than QUIET_WAIT seconds (a replay holding the card, not a `maps set`).
    Re-entrant within a process, so it orders processes, not threads.
    """

    def __init__(self, path: str | os.PathLike, waiting: str | None = None):
        from pathlib import Path

        self.path = Path(path)
        self.waiting = waiting
        self.key: str | None = None
        self.outermost = False

    def acquire(self) -> "FileLock":
        key = os.path.realpath(self.path)
        held = _HELD.get(key)
        self.outermost = held is None  # this call took the lock from the kernel
        if held is not None:
            held[1] += 1
            self.key = key
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise XdpError(f"{self.path}: cannot create the lock file: {exc.strerror}") from None
        try:
            if not self._try(fd, QUIET_WAIT):
                if self.waiting:
                    print(self.waiting, file=sys.stderr, flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            os.close(fd)
            raise XdpError(f"{self.path}: cannot lock: {exc.strerror}") from None
        _HELD[key] = [fd, 1]
        self.key = key
        return self

    @staticmethod
    def _try(fd: int, seconds: float) -> bool:
        """Take the lock if it comes free within `seconds` (short waits are not worth a message)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.01)

    def release(self) -> None:
        if self.key is None:
            return
        held = _HELD[self.key]
        held[1] -= 1
        if held[1] == 0:
            del _HELD[self.key]
            fcntl.flock(held[0], fcntl.LOCK_UN)
            os.close(held[0])
        self.key = None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# -- the output guard ----------------------------------------------------------------


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Do the two paths name one file (the same inode, or the same resolved path)?"""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str | os.PathLike, kind: str, inputs: Iterable[str | os.PathLike | None] = (),
                 force: bool = False, outputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Refuse (XdpError) to write `path` where that would destroy data (the rule in the module docstring).

    inputs: the files the command reads; outputs: the other files it writes.
    """
    from pathlib import Path

    out = Path(path)
    for role, others in (("an input", inputs), ("another output", outputs)):
        for other in others:
            if other is not None and same_file(out, other):
                also = "" if os.path.realpath(out) == os.path.realpath(other) else f" (the same file as {other})"
                raise XdpError(f"{path}: is {role} of this command{also}; choose another output")
    if _is_stream(out):
        return out
    if out.is_symlink():
        if not force:
            raise XdpError(f"{path}: is a symbolic link; outputs are not written through links "
                           f"(--force replaces the link, not its target)")
        return out
    if out.is_dir():
        raise XdpError(f"{path}: is a directory")
    if out.exists() and not force:
        name, holds = KINDS[kind]
        try:
            with open(out, "rb") as handle:
                head = handle.read(HEAD_BYTES)
        except OSError as exc:
            raise XdpError(f"{path}: cannot read the existing file: {exc.strerror}") from None
        if head and not holds(head):
            raise XdpError(f"{path}: exists and is not {name} (not an earlier output); --force overwrites it")
    return out
