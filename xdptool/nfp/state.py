"""The emulated NIC's state directory: the offloaded program, its image, its maps.

Layout (default `.xdptool/` in the working directory):

    nfp/offload.json   what was offloaded: the path the user gave (a .o, or a .c
                       built first) and its SHA-256, program, contexts, figures,
                       the image as 64-bit words (hex), the SHA-256 of program.o
    nfp/program.o      the object the card was loaded from (a copy)
    nfp/listing.s      the image as assembly
    nfp/maps.json      map contents, as MapStore.dump() writes them
    nfp/stats.json     the card's counters since the offload, by the driver's ethtool -S
                       names (datapath.py; every replay on the card adds its own)
    nfp/lock           the card's lock (see below)

Like a real card, the maps persist: `xdptool replay CAPTURE` (no --prog) runs
the offloaded program on nfp-emu from these maps and saves them back when it
closes the engine; `xdptool maps reset` returns them to the object's initial
contents.  As on a real card, what was offloaded stays loaded: the card keeps
its own copy of the object (program.o), so rebuilding or deleting the user's
file does not change what runs until the next offload.  The image is rebuilt
from that copy on load (deterministic) and checked against the saved words.

No update is lost.  Every file is replaced atomically (xdptool.files), so a
reader sees a whole file and a killed or failing writer leaves the old one.
Every read-modify-write (offload, maps set/reset, a replay on the card) holds
the card's lock from its read to its write.  A replay holds it for the whole
replay rather than merging its map changes into whatever the card holds at its
end: then concurrent commands take effect before or after it, exactly as if
run one after the other, and no merge rule has to guess whether a changed
8-byte value is a counter (add the increments) or an address or a timestamp
(one side wins).  The cost: a `maps set` waits for a running replay (it says
so); readers (`maps dump`, a replay on another engine) never wait.  An
offload writes maps.json before offload.json, so an interrupted offload leaves
the previous program, with maps that the load either accepts or names as
inconsistent.  A damaged or missing file is an error naming it, never a reset.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import XdpError
from ..files import FileLock, atomic_write

STATE_DIR = ".xdptool"
SUBDIR = "nfp"
OFFLOAD_FILE, LISTING_FILE, MAPS_FILE, LOCK_FILE = "offload.json", "listing.s", "maps.json", "lock"
STATS_FILE = "stats.json"
OBJECT_FILE = "program.o"


def _dir(state_dir: str | Path) -> Path:
    return Path(state_dir) / SUBDIR


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# offload.json: key -> type its value must have
OFFLOAD_FIELDS = {"object": str, "object_sha256": str, "program": str, "contexts": int, "image": list}


REOFFLOAD = "run `xdptool offload` again"
RESET_MAPS = "`xdptool maps reset` restores the object's initial maps"


def _read_json(path: Path, remedy: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, 4,300+ digits
        raise XdpError(f"{path}: unreadable NIC state ({str(exc).split(';')[0]}); {remedy}") from None


def _damaged(path: Path, what: str, remedy: str) -> XdpError:
    return XdpError(f"{path}: damaged NIC state ({what}); {remedy}")


def _write_json(path: Path, document: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XdpError(f"{path.parent}: cannot create the NIC state directory: {exc.strerror}") from None
    atomic_write(path, json.dumps(document, indent=2) + "\n")


class CardLock(FileLock):
    """The card's lock.  Every writer of the state directory holds it, so a temporary
    file found there when it is taken was left by a killed writer: removed."""

    def acquire(self) -> "CardLock":
        super().acquire()
        if self.outermost:
            for stale in self.path.parent.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        return self


def locked(state_dir: str | Path) -> CardLock:
    """The card's lock: hold it from reading the state to writing it back."""
    path = _dir(state_dir) / LOCK_FILE
    return CardLock(path, waiting=f"waiting for {path}: another xdptool command is using the card")


def state_files(state_dir: str | Path) -> list[Path]:
    """The files an offload writes (for the output guard of commands that read or write beside them)."""
    return [_dir(state_dir) / name for name in (OFFLOAD_FILE, LISTING_FILE, MAPS_FILE, STATS_FILE, OBJECT_FILE)]


def save_offload(state_dir: str | Path, object_path: str, object_data: bytes, report, listing: str,
                 maps_state: dict) -> None:
    """Load the card: `object_path` is what the user gave, `object_data` the ELF it was (or built to)."""
    from .encoding import encode

    image = report.image
    document = {
        "object": str(Path(object_path).resolve()),
        "object_sha256": _sha256(object_path),
        "card_object_sha256": hashlib.sha256(object_data).hexdigest(),
        "program": report.program,
        "contexts": image.contexts,
        "report": report.as_json(),
        "image": [format(encode(i), "016x") for i in image.insns],
    }
    with locked(state_dir):
        save_maps(state_dir, maps_state)
        save_stats(state_dir, {})  # a new program: the counters start again
        atomic_write(_dir(state_dir) / LISTING_FILE, listing)
        atomic_write(_dir(state_dir) / OBJECT_FILE, object_data)
        _write_json(_dir(state_dir) / OFFLOAD_FILE, document)  # last: the offload's commit point


def save_maps(state_dir: str | Path, maps_state: dict) -> None:
    """Replace the card's maps (atomically; the caller holds `locked` for a read-modify-write)."""
    _write_json(maps_path(state_dir), maps_state)


def save_stats(state_dir: str | Path, stats: dict[str, int]) -> None:
    """Replace the card's counters (the caller holds `locked`)."""
    _write_json(_dir(state_dir) / STATS_FILE, stats)


def load_stats(state_dir: str | Path) -> dict[str, int]:
    """The card's counters since the offload ({} for a card offloaded before they were kept)."""
    path = _dir(state_dir) / STATS_FILE
    document = _read_json(path, REOFFLOAD)
    if document is None:
        return {}
    if not isinstance(document, dict) or not all(isinstance(v, int) for v in document.values()):
        raise _damaged(path, 'expected {"COUNTER": integer}', REOFFLOAD)
    return document


def maps_path(state_dir: str | Path) -> Path:
    return _dir(state_dir) / MAPS_FILE


def load_maps(state_dir: str | Path) -> dict:
    """The card's maps; a missing or malformed maps.json is an error, never a silent reset."""
    path = maps_path(state_dir)
    document = _read_json(path, RESET_MAPS)
    if document is None:
        raise XdpError(f"{path}: missing (the card's maps); {RESET_MAPS}")
    if not isinstance(document, dict) or not all(isinstance(v, list) for v in document.values()):
        raise _damaged(path, 'expected {"MAP": [entries]}', RESET_MAPS)
    return document


def offloaded(state_dir: str | Path) -> dict | None:
    """The offload.json document, or None when nothing is offloaded."""
    path = _dir(state_dir) / OFFLOAD_FILE
    document = _read_json(path, REOFFLOAD)
    if document is None:
        return None
    if not isinstance(document, dict):
        raise _damaged(path, "not a JSON object", REOFFLOAD)
    for key, kind in OFFLOAD_FIELDS.items():
        if not isinstance(document.get(key), kind):
            raise _damaged(path, f"no {kind.__name__} {key!r}", REOFFLOAD)
    return document


def load(state_dir: str | Path):
    """(object, program, document) of the offloaded program; None when there is none."""
    from ..elf import load_object

    document = offloaded(state_dir)
    if document is None:
        return None
    copy = _dir(state_dir) / OBJECT_FILE
    if "card_object_sha256" in document:  # the card's own copy
        try:
            data = copy.read_bytes()
        except OSError as exc:
            raise XdpError(f"{copy}: unreadable NIC state ({exc.strerror}); {REOFFLOAD}") from None
        if hashlib.sha256(data).hexdigest() != document["card_object_sha256"]:
            raise _damaged(copy, "not the object offloaded", REOFFLOAD)
        obj = load_object(copy, data)
        return obj, obj.program(document["program"]), document
    path = document["object"]  # a state written before the card kept a copy
    if not Path(path).exists():
        raise XdpError(f"the offloaded object {path} is gone; offload again")
    if _sha256(path) != document["object_sha256"]:
        raise XdpError(f"{path} changed since it was offloaded; run `xdptool offload` again")
    obj = load_object(path)
    return obj, obj.program(document["program"]), document


def load_offloaded(state_dir: str | Path = STATE_DIR):
    """A replay Target running the offloaded image on nfp-emu from the saved maps (None: nothing offloaded)."""
    from ..runtime.target import Target
    from ..runtime.config import RuntimeConfig

    loaded = load(state_dir)
    if loaded is None:
        return None
    obj, program, document = loaded

    class OffloadedTarget(Target):
        """Makes engines that run on the card's maps, under its lock, and save them back when closed."""

        def make(self, name: str | None = None):
            if name not in (None, "nfp-emu"):
                return super().make(name)
            return _card_engine(self, state_dir, document["contexts"])

    return OffloadedTarget("nfp-emu", obj, program, RuntimeConfig(), load_maps(state_dir), str(maps_path(state_dir)))


def _card_engine(target, state_dir: str | Path, contexts: int):
    """(engine, store) on the card's maps as they are now; the engine holds the card's
    lock until close(), which saves the maps and releases it."""
    from .engine import NfpEngine

    lock = locked(state_dir).acquire()

    class CardEngine(NfpEngine):
        def close(self) -> None:
            try:
                super().close()
            finally:
                lock.release()

    try:
        target.initial_maps = load_maps(state_dir)
        store = target.new_store()
        return CardEngine(target.program, store, target.config, contexts=str(contexts), state_dir=str(state_dir)), store
    except BaseException:
        lock.release()
        raise


def check_image(document: dict, image) -> None:
    """The rebuilt image must be the one offloaded."""
    from .encoding import encode

    words = [format(encode(i), "016x") for i in image.insns]
    if words != document.get("image"):
        raise XdpError("the rebuilt NFP image differs from the offloaded one; run `xdptool offload` again")
