"""The emulated NIC's state directory: the offloaded program, its image, its maps.

Layout (default `.xdptool/` in the working directory):

    nfp/offload.json   what was offloaded: object path and SHA-256, program,
                       contexts, figures, the image as 64-bit words (hex)
    nfp/listing.s      the image as assembly
    nfp/maps.json      map contents, as MapStore.dump() writes them

Like a real card, the maps persist: `xdptool replay CAPTURE` (no --prog) runs
the offloaded program on nfp-emu from these maps and saves them back when it
closes the engine; `xdptool maps reset` returns them to the object's initial
contents.  The image is rebuilt from the object on load (deterministic) and
checked against the saved words, so a changed object is caught.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import XdpError

STATE_DIR = ".xdptool"
SUBDIR = "nfp"


def _dir(state_dir: str | Path) -> Path:
    return Path(state_dir) / SUBDIR


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise XdpError(f"{path}: unreadable NIC state ({exc})") from None


def _write_json(path: Path, document: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")
    except OSError as exc:
        raise XdpError(f"{path}: cannot write NIC state: {exc.strerror}") from None


def save_offload(state_dir: str | Path, object_path: str, report, listing: str, maps_state: dict) -> None:
    from .encoding import encode

    image = report.image
    document = {
        "object": str(Path(object_path).resolve()),
        "object_sha256": _sha256(object_path),
        "program": report.program,
        "contexts": image.contexts,
        "report": report.as_json(),
        "image": [format(encode(i), "016x") for i in image.insns],
    }
    _write_json(_dir(state_dir) / "offload.json", document)
    (_dir(state_dir) / "listing.s").write_text(listing)
    save_maps(state_dir, maps_state)


def save_maps(state_dir: str | Path, maps_state: dict) -> None:
    _write_json(_dir(state_dir) / "maps.json", maps_state)


def load_maps(state_dir: str | Path) -> dict | None:
    return _read_json(_dir(state_dir) / "maps.json")


def offloaded(state_dir: str | Path) -> dict | None:
    """The offload.json document, or None when nothing is offloaded."""
    return _read_json(_dir(state_dir) / "offload.json")


def load(state_dir: str | Path):
    """(object, program, document) of the offloaded program; None when there is none."""
    from ..elf import load_object

    document = offloaded(state_dir)
    if document is None:
        return None
    path = document.get("object")
    if not path or not Path(path).exists():
        raise XdpError(f"the offloaded object {path} is gone; offload again")
    if _sha256(path) != document.get("object_sha256"):
        raise XdpError(f"{path} changed since it was offloaded; run `xdptool offload` again")
    obj = load_object(path)
    return obj, obj.program(document["program"]), document


def load_offloaded(state_dir: str | Path = STATE_DIR):
    """A replay Target running the offloaded image on nfp-emu from the saved maps (None: nothing offloaded)."""
    from ..replay.session import Target
    from ..runtime.config import RuntimeConfig

    loaded = load(state_dir)
    if loaded is None:
        return None
    obj, program, document = loaded

    class OffloadedTarget(Target):
        """Makes engines that save the card's maps back when closed."""

        def make(self, name: str | None = None):
            if name not in (None, "nfp-emu"):
                return super().make(name)
            from .engine import NfpEngine

            store = self.new_store()
            engine = NfpEngine(self.program, store, self.config, contexts=str(document["contexts"]),
                               state_dir=str(state_dir))
            return engine, store

    maps_path = str(_dir(state_dir) / "maps.json")
    return OffloadedTarget("nfp-emu", obj, program, RuntimeConfig(), load_maps(state_dir), maps_path)


def check_image(document: dict, image) -> None:
    """The rebuilt image must be the one offloaded."""
    from .encoding import encode

    words = [format(encode(i), "016x") for i in image.insns]
    if words != document.get("image"):
        raise XdpError("the rebuilt NFP image differs from the offloaded one; run `xdptool offload` again")
