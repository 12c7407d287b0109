"""Whether a replay runs on the emulated card, and the card's options checked before anything runs.

Apart from replay/card.py so that a replay on a host engine does not import the card's
datapath and control-message modules (tens of milliseconds of a replay's start-up).
"""

from __future__ import annotations

from ..errors import XdpError


def is_card(target) -> bool:
    return getattr(target, "name", None) == "nfp-emu"


def check_card_options(target, queues: int, per_queue: bool, out_dir: str | None, events_path: str | None,
                       compare: str | None, sum_shared: bool) -> int:
    """The card's options before anything runs: the number of host queues for a replay on the card
    (0: not the card), or a one-line error."""
    card = is_card(target)
    if (per_queue or events_path) and not card:
        raise XdpError("--per-queue and --events are the card's datapath: replay on nfp-emu (no OBJ, or --target nfp-emu)")
    if per_queue and not out_dir:
        raise XdpError("--per-queue writes rxq_N.pcap into --out-dir; give --out-dir")
    if card and compare and (per_queue or events_path):
        raise XdpError("--compare reports differences only; it does not take --per-queue or --events")
    if card and sum_shared:
        raise XdpError("--sum-shared-maps is for host queues in worker processes; the card has one copy of every map")
    return queues if card else 0
