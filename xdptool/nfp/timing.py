"""How fast would the card run it?  Cycles per packet and throughput from executor counts.

Per packet, the executor counts what the thread issued and what it waited for
(executor.RunStats).  Issue cycles: one per instruction (ALU, shift, ld_field,
immed, nop: 1 cycle, nfp-facts "Costs"), plus a taken-branch penalty less the
defer slots the branch filled, plus each firmware routine's own instructions
and the datapath's per-packet work around the program.  Wait cycles: each
memory command's latency by target (CTM for the packet, EMEM for map values)
and each routine's EMEM round trips; a context swap hides them behind other
threads.  With T threads per ME (nfp-facts):

    ME rate   = f / max(issue, (issue + wait) / T)
    card rate = min(line rate, MEs x ME rate)

The latencies are the middle of the second-hand ranges in nfp-facts.md; the
branch penalty and the datapath's own cost are not public: ours [inv].
"""

from __future__ import annotations

from dataclasses import dataclass

from . import abi, firmware

CLOCK_HZ = 800e6
MES = 50
LATENCY = {"ctm": 75, "emem": 200, "cls": 35}  # cycles per memory command [2nd]
BRANCH_PENALTY = 3  # cycles lost by a taken branch without defer slots [inv]
DATAPATH_ISSUE = 60  # firmware rx + tx/drop work per packet, outside the program [inv]
DATAPATH_WAIT = LATENCY["ctm"]  # its one CTM round trip (packet metadata) [inv]
LINE_RATES_MPPS = {"10GbE": 14.88, "25GbE": 37.20, "40GbE": 59.52, "100GbE": 148.81}  # 64-byte frames


@dataclass
class PacketCost:
    issue: float
    wait: float

    @property
    def latency(self) -> float:
        return self.issue + self.wait


def packet_cost(stats) -> PacketCost:
    issue = stats.insns + max(0, BRANCH_PENALTY * stats.taken - stats.defer_filled) + DATAPATH_ISSUE
    wait = sum(LATENCY.get(target, LATENCY["emem"]) * n for target, n in stats.mem.items()) + DATAPATH_WAIT
    for name, calls in stats.fw.items():
        routine = abi.ROUTINES.get(name) or firmware.ROUTINES[name]
        issue += routine.cost * calls
        wait += routine.emem_trips * LATENCY["emem"] * calls
    return PacketCost(issue, wait)


def throughput(costs: list[PacketCost], contexts: int, packets: int | None = None) -> dict:
    """Mean cycles per packet and the rates they allow (Mpps)."""
    if not costs:
        return {}
    issue = sum(c.issue for c in costs) / len(costs)
    wait = sum(c.wait for c in costs) / len(costs)
    bound = max(issue, (issue + wait) / contexts)
    me_mpps = CLOCK_HZ / bound / 1e6
    card_mpps = MES * me_mpps
    return {
        "packets": packets if packets is not None else len(costs),
        "issue_cycles": round(issue, 1),
        "wait_cycles": round(wait, 1),
        "cycles_per_packet": round(bound, 1),
        "latency_us": round((issue + wait) / CLOCK_HZ * 1e6, 3),
        "contexts": contexts,
        "me_mpps": round(me_mpps, 2),
        "card_mpps": round(card_mpps, 1),
        "line_rate": {name: {"mpps": rate, "reached": card_mpps >= rate, "share": round(min(1.0, card_mpps / rate), 3)}
                      for name, rate in LINE_RATES_MPPS.items()},
    }
