"""The program a replay runs when none is given: the one `xdptool offload` left on the
emulated card (its state directory), as a runtime Target."""

from __future__ import annotations

from pathlib import Path

from ..errors import XdpError
from ..nfp.state import STATE_DIR, load_offloaded
from ..runtime.target import Target

NO_OFFLOAD = "no program offloaded; run `xdptool offload OBJ --target nfp-emu` or give the object: `xdptool replay OBJ CAPTURE`"


def offloaded_target(state_dir: str = STATE_DIR) -> Target:
    """The program offloaded into `state_dir`, on nfp-emu.  The card's maps persist
    across replays: its engine saves them when the replay closes it."""
    if not Path(state_dir).is_dir():
        raise XdpError(NO_OFFLOAD)
    loaded = load_offloaded(state_dir)
    if loaded is None:
        raise XdpError(NO_OFFLOAD)
    return loaded
