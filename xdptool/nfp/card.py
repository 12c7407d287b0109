"""The emulated Agilio CX card: how many packets per second it carries, and what limits it.

A packet crosses the card in stages; each stage has a rate and the card carries the
smallest, which names the bottleneck:

    line_rate   ingress: the ports receiving the traffic, at their line rate for the
                traffic's frames (frame + FCS, padded to 64 B, + 20 B preamble and gap)
    me_issue    the worker MEs: each runs `threads` contexts of the datapath firmware and
    me_latency  the program; one ME carries f / max(issue, (issue + wait) / threads)
                packets/s - "me_issue" when the instructions fill the ME, "me_latency"
                when the threads cannot hide the memory waits
    pcie        XDP_PASS packets (and perf events) DMA'd to the host over PCIe Gen3 x8
    egress      XDP_TX packets back out of the port they came in on
    XDP_DROP and XDP_ABORTED end on the card (the buffer freed): they cost ME work only.

Per packet, from the executor's counts of its actual run (executor.RunStats):
issue = instructions + stall cycles of taken branches + the firmware routines' own
instructions + the datapath's receive work + its work for the verdict; wait = each
memory command's latency by target + the routines' EMEM round trips + the datapath's
own waits.  `Traffic` sums these per verdict class (a replay of millions of packets
keeps a handful of numbers), `estimate` turns them into rates on a `CardProfile`.

Every number is a row of CONSTANTS with its source; "estimate" rows are ours (no
public figure) and the README's offload section says how each was chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import XdpError

VERDICTS = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX")  # what the card can do (no redirect)


@dataclass(frozen=True)
class Constant:
    value: float
    unit: str
    source: str
    estimate: bool = False  # no public figure: ours


def _est(value, unit, why):
    return Constant(value, unit, why, True)


CONSTANTS: dict[str, Constant] = {
    # the chip (nfp-facts.md "Chip"; Netronome NFP-4000 product brief)
    "clock_hz": Constant(800e6, "Hz", "NFP-4000 ME clock, Netronome product brief (nfp-facts [doc])"),
    "worker_mes": Constant(50, "MEs", "MEs running the datapath and the offloaded program: 5 islands x 10 "
                                      "(nic-firmware app islands, nfp-facts [src])"),
    "threads": Constant(4, "contexts/ME", "ebpf.h BPF_NUM_THREADS: shipping BPF firmware runs 4 contexts"),
    # memory latencies, cycles from command to signal
    "latency_ctm": _est(75, "cycles", "CTM (packet data): middle of the 50-100 cycles reported second-hand "
                                      "(nfp-facts Costs [2nd])"),
    "latency_emem": _est(200, "cycles", "EMEM behind its SRAM cache (maps): middle of 150-250 (nfp-facts [2nd])"),
    "latency_imem": _est(150, "cycles", "IMEM SRAM (the datapath's rings): low end of 150-250 (nfp-facts [2nd])"),
    "latency_cls": _est(35, "cycles", "cluster local scratch: middle of 20-50 (nfp-facts [2nd])"),
    "branch_stall": _est(3, "cycles", "a taken branch's lost cycles, less its filled defer slots (IXP2800 "
                                      "family: the branch resolves 3 stages in; no NFP figure is public)"),
    # the firmware's work around the program (CoreNIC datapath; not public)
    "rx_issue": _est(40, "cycles", "worker picks up the packet: NBI metadata, packet vector, BPF entry"),
    "rx_ctm_reads": _est(1, "commands", "the packet's first bytes read from CTM to build the vector"),
    "drop_issue": _est(10, "cycles", "XDP_DROP/ABORTED: free the CTM buffer, bump the verdict counter"),
    "tx_issue": _est(25, "cycles", "XDP_TX: packet-ready to the NBI traffic manager, ingress port"),
    "pass_issue": _est(60, "cycles", "XDP_PASS: RSS hash, NFD descriptor, put on the PCIe island's ring"),
    "pass_imem_trips": _est(1, "round trips", "XDP_PASS: the ring put to NFD waits for its IMEM answer"),
    # firmware routines the program calls (abi.py / firmware.py names): issue cycles, EMEM round trips
    "map_lookup_issue": _est(30, "cycles", "hashmap.uc lookup: hash the key, compare, return the address"),
    "map_lookup_trips": Constant(3, "round trips", "~3 EMEM round trips per hash lookup (nfp-facts [src], "
                                                  "hashmap.uc: bucket, entry, key)"),
    "map_update_issue": _est(40, "cycles", "hashmap.uc update: a lookup plus the write"),
    "map_update_trips": _est(4, "round trips", "a lookup's 3 plus the value write"),
    "map_delete_issue": _est(35, "cycles", "hashmap.uc delete: a lookup plus the unlink"),
    "map_delete_trips": _est(3, "round trips", "as a lookup"),
    "perf_event_output_issue": _est(40, "cycles", "copy the record to the host-bound event ring"),
    "perf_event_output_trips": _est(2, "round trips", "ring reservation and the copy"),
    "adjust_head_issue": Constant(14, "cycles", "jit.c: the general adjust_head path (nfp-facts [src])"),
    "adjust_head_fast_issue": Constant(5, "cycles", "jit.c: one constant adjust_head in the guaranteed range"),
    "adjust_tail_issue": _est(8, "cycles", "length check and update of the packet vector"),
    # Ethernet (IEEE 802.3)
    "eth_fcs": Constant(4, "bytes", "IEEE 802.3 frame check sequence (captures leave it out)"),
    "eth_min_frame": Constant(64, "bytes", "IEEE 802.3 minimum frame, FCS included"),
    "eth_overhead": Constant(20, "bytes", "IEEE 802.3 preamble 7 + SFD 1 + inter-frame gap 12"),
    # PCIe Gen3 x8 to the host
    "pcie_bps": Constant(62.96e9, "bit/s", "PCIe Gen3 x8: 8 lanes x 8 GT/s x 128b/130b (pcie-bench, "
                                          "Neugebauer et al., SIGCOMM 2018)"),
    "pcie_dllp_share": _est(0.05, "of the link", "ACK and flow-control DLLPs, SKP ordered sets"),
    "pcie_tlp_overhead": Constant(24, "bytes", "per TLP: 4-DW header (64-bit address), sequence, LCRC, "
                                              "framing (Intel AN 708: 5-7 DW)"),
    "pcie_mps": _est(256, "bytes", "max payload size most servers negotiate"),
    "rx_prepend": _est(8, "bytes", "metadata prepended to a packet for the host (RSS hash and type)"),
    "rx_desc": Constant(8, "bytes", "struct nfp_net_rx_desc (drivers/net/ethernet/netronome/nfp/nfp_net.h)"),
    "rx_desc_per_tlp": _est(1, "descriptors", "NFD writes each RX descriptor back in its own TLP"),
    "fl_desc_batch": _est(4, "descriptors", "freelist descriptors fetched per read request"),
}


def constant(name: str) -> float:
    return CONSTANTS[name].value


ROUTINES = ("map_lookup", "map_update", "map_delete", "perf_event_output", "adjust_head", "adjust_head_fast",
            "adjust_tail")


def routine_cost(name: str) -> tuple[float, float]:
    """(issue cycles, EMEM round trips) of one call of a firmware routine (0 for `exit`)."""
    issue = CONSTANTS.get(f"{name}_issue")
    trips = CONSTANTS.get(f"{name}_trips")
    return (issue.value if issue else 0.0), (trips.value if trips else 0.0)


VERDICT_WORK = {  # verdict -> (issue cycles, IMEM round trips) of the datapath after the program
    "XDP_ABORTED": ("drop_issue", None),
    "XDP_DROP": ("drop_issue", None),
    "XDP_PASS": ("pass_issue", "pass_imem_trips"),
    "XDP_TX": ("tx_issue", None),
}
LATENCY_OF = {"ctm": "latency_ctm", "emem": "latency_emem", "imem": "latency_imem", "cls": "latency_cls"}


# -- card profiles ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardProfile:
    name: str
    title: str
    ports: int
    port_gbps: float
    source: str = "Netronome Agilio CX product brief (NFP-4000, PCIe Gen3 x8)"

    @property
    def port_bps(self) -> float:
        return self.port_gbps * 1e9


CARDS = {c.name: c for c in (
    CardProfile("agilio-cx-2x10", "Agilio CX 2x10GbE", 2, 10),
    CardProfile("agilio-cx-2x25", "Agilio CX 2x25GbE", 2, 25),
    CardProfile("agilio-cx-1x40", "Agilio CX 1x40GbE", 1, 40),
)}
DEFAULT_CARD = "agilio-cx-2x10"


def card_named(name: str | None) -> CardProfile:
    card = CARDS.get(name or DEFAULT_CARD)
    if card is None:
        raise XdpError(f"unknown card {name!r}; profiles: " + ", ".join(
            f"{c.name} ({c.title})" for c in CARDS.values()))
    return card


def wire_bytes(captured: int) -> int:
    """Bytes a frame takes on the wire: the captured bytes + FCS, padded to the minimum frame,
    + preamble and gap (a 60-byte capture is a 64-byte frame, 84 bytes on the wire)."""
    return max(captured + int(constant("eth_fcs")), int(constant("eth_min_frame"))) + int(constant("eth_overhead"))


def pcie_bytes(payload: int) -> float:
    """Bytes on the card-to-host direction of the link for one DMA of `payload` bytes to the host
    with its descriptor write-back and its share of the freelist fetch."""
    mps, tlp = constant("pcie_mps"), constant("pcie_tlp_overhead")
    data = payload + math.ceil(payload / mps) * tlp
    desc = (constant("rx_desc") + tlp) / constant("rx_desc_per_tlp")
    return data + desc + tlp / constant("fl_desc_batch")


def pcie_budget_bytes() -> float:
    """Usable card-to-host bytes per second."""
    return constant("pcie_bps") / 8 * (1 - constant("pcie_dllp_share"))


def line_rate_mpps(card: CardProfile, captured: int = 60, ports: int = 1) -> float:
    """Packets per second `ports` of `card` receive at line rate, frames of `captured` bytes."""
    return ports * card.port_bps / (8 * wire_bytes(captured)) / 1e6


# -- per-packet costs ------------------------------------------------------------------------------
COUNTERS = ("packets", "insns", "stall", "ctm", "emem", "imem", "cls", "fw_issue", "fw_trips",
            "wire_in", "wire_out", "pcie")


@dataclass
class Traffic:
    """Sums of the per-packet counters per verdict class; `description` says what traffic it was."""

    description: str
    classes: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, stats, verdict: str, in_len: int, out_len: int, event_bytes: int = 0) -> None:
        """One run (stats: executor.RunStats)."""
        self.add_counts(verdict, 1, stats.insns, stats.stall, stats.mem, stats.fw, {in_len: 1}, {out_len: 1},
                        event_bytes)

    def add_counts(self, verdict: str, packets: int, insns: int, stall: int, mem: dict, fw: dict,
                   lengths_in: dict[int, int], lengths_out: dict[int, int], event_bytes: int = 0,
                   event_runs: dict[int, int] | None = None) -> None:
        """`packets` runs of one verdict at once: their summed counts, their lengths as
        {bytes: packets} (nfp-emu's native loop keeps these), the perf events' bytes of one run
        (`event_bytes`) or of many as {bytes per run: runs}."""
        if not packets:
            return
        verdict = verdict if verdict in VERDICTS else "XDP_ABORTED"  # the card aborts anything else
        row = {"packets": packets, "insns": insns, "stall": stall, "fw_issue": 0.0, "fw_trips": 0.0,
               "wire_in": sum(n * wire_bytes(size) for size, n in lengths_in.items()), "wire_out": 0, "pcie": 0.0}
        for name, calls in fw.items():
            issue, trips = routine_cost(name)
            row["fw_issue"] += issue * calls
            row["fw_trips"] += trips * calls
        if verdict == "XDP_TX":
            row["wire_out"] = sum(n * wire_bytes(size) for size, n in lengths_out.items())
        elif verdict == "XDP_PASS":
            row["pcie"] = sum(n * pcie_bytes(size + constant("rx_prepend")) for size, n in lengths_out.items())
        if event_bytes:
            row["pcie"] += pcie_bytes(event_bytes)
        for size, runs in (event_runs or {}).items():
            if size:
                row["pcie"] += runs * pcie_bytes(size)
        for target in ("ctm", "emem", "imem", "cls"):
            row[target] = mem.get(target, 0)
        sums = self.classes.setdefault(verdict, dict.fromkeys(COUNTERS, 0.0))
        for key, value in row.items():
            sums[key] += value

    @property
    def packets(self) -> int:
        return int(sum(c["packets"] for c in self.classes.values()))


def _cycles(sums: dict[str, float], verdict: str) -> tuple[float, float]:
    """(issue, wait) cycles summed over a class."""
    n = sums["packets"]
    issue_name, trips_name = VERDICT_WORK[verdict]
    issue = sums["insns"] + sums["stall"] + sums["fw_issue"] + n * (constant("rx_issue") + constant(issue_name))
    wait = sum(sums[t] * constant(LATENCY_OF[t]) for t in LATENCY_OF) + sums["fw_trips"] * constant("latency_emem")
    wait += n * constant("rx_ctm_reads") * constant("latency_ctm")
    if trips_name:
        wait += n * constant(trips_name) * constant("latency_imem")
    return issue, wait


def _rates(classes: dict[str, dict[str, float]], card: CardProfile, threads: int, ports: int) -> dict:
    """Stage rates (Mpps of the whole mix) and the per-packet cycles of the mix in `classes`."""
    n = sum(c["packets"] for c in classes.values())
    issue = wait = wire_in = wire_out = pcie = 0.0
    for verdict, sums in classes.items():
        i, w = _cycles(sums, verdict)
        issue, wait = issue + i, wait + w
        wire_in, wire_out, pcie = wire_in + sums["wire_in"], wire_out + sums["wire_out"], pcie + sums["pcie"]
    issue, wait = issue / n, wait / n
    hidden = (issue + wait) / threads
    per_me = max(issue, hidden)
    port_bytes = ports * card.port_bps / 8
    me_mpps = constant("worker_mes") * constant("clock_hz") / per_me / 1e6
    stages = {
        "line_rate": port_bytes / (wire_in / n) / 1e6,
        ("me_issue" if issue >= hidden else "me_latency"): me_mpps,
        "pcie": pcie_budget_bytes() / (pcie / n) / 1e6 if pcie else None,
        "egress": port_bytes / (wire_out / n) / 1e6 if wire_out else None,
    }
    stages = {k: v for k, v in stages.items() if v is not None}
    bottleneck = min(stages, key=stages.get)
    return {"mpps": stages[bottleneck], "bottleneck": bottleneck, "line_rate_mpps": stages["line_rate"],
            "cycles_per_packet": per_me, "issue_cycles": issue, "wait_cycles": wait, "stages": stages}


BOTTLENECK_TEXT = {
    "line_rate": "the ports' line rate",
    "me_issue": "the worker MEs' instruction issue",
    "me_latency": "memory latency the threads cannot hide",
    "pcie": "PCIe to the host (XDP_PASS)",
    "egress": "the egress port (XDP_TX)",
}


def _rounded(doc: dict) -> dict:
    out = {}
    for key, value in doc.items():
        if isinstance(value, float):
            value = round(value, 2)
        elif isinstance(value, dict):
            value = _rounded(value)
        out[key] = value
    return out


def estimate(traffic: Traffic, card: CardProfile | str | None = None, threads: int | None = None,
             ports: int = 1, host_queues: dict | None = None) -> dict:
    """The card's rate for `traffic` offered on `ports` of its ports (1: as the published tests),
    the bottleneck, and the same per verdict class (that class's packets alone); with the host
    queues the datapath delivered to (Datapath.report()["queues"]), each queue's share of it."""
    card = card if isinstance(card, CardProfile) else card_named(card)
    threads = int(threads or constant("threads"))
    if not traffic.packets:
        return {}
    mix = _rates(traffic.classes, card, threads, ports)
    doc = {
        "mpps": mix["mpps"], "bottleneck": mix["bottleneck"], "line_rate_mpps": mix["line_rate_mpps"],
        "cycles_per_packet": mix["cycles_per_packet"], "threads": threads,
        "bottleneck_text": BOTTLENECK_TEXT[mix["bottleneck"]],
        "card": card.name, "card_title": card.title, "ports_loaded": ports, "traffic": traffic.description,
        "packets": traffic.packets, "mes": int(constant("worker_mes")), "clock_mhz": constant("clock_hz") / 1e6,
        "issue_cycles": mix["issue_cycles"], "wait_cycles": mix["wait_cycles"], "stages": mix["stages"],
        "verdicts": {},
    }
    for verdict in VERDICTS:
        sums = traffic.classes.get(verdict)
        if not sums:
            continue
        alone = _rates({verdict: sums}, card, threads, ports)
        issue, wait = _cycles(sums, verdict)
        n = sums["packets"]
        doc["verdicts"][verdict] = {
            "packets": int(n), "share": n / traffic.packets, "instructions": sums["insns"] / n,
            "issue_cycles": issue / n, "wait_cycles": wait / n, "cycles_per_packet": alone["cycles_per_packet"],
            "mpps": alone["mpps"], "bottleneck": alone["bottleneck"]}
    if ports < card.ports:
        every = _rates(traffic.classes, card, threads, card.ports)
        doc["all_ports"] = {"ports": card.ports, "mpps": every["mpps"], "bottleneck": every["bottleneck"],
                            "line_rate_mpps": every["line_rate_mpps"]}
    if host_queues:
        doc["host_queues"] = queue_rates(host_queues, traffic.packets, mix)
    return _rounded(doc)


def queue_rates(queues: dict, packets: int, mix: dict) -> dict:
    """Each host queue's delivery rate at the card's rate.  The queues do not change the card's rate:
    every worker thread serves every queue (CoreNIC picks the queue after the program, per packet),
    and all of them share one PCIe link, so a queue receives the card's rate times its share of the
    packets, and together they stay within the PCIe stage.  The host's own cost per packet is not
    modelled (the model ends when the packet is in host memory)."""
    rows = {}
    for queue, row in queues.items():
        share = row["pkts"] / packets
        mpps = mix["mpps"] * share
        size = row["bytes"] / row["pkts"] if row["pkts"] else 0.0
        rows[str(queue)] = {"packets": row["pkts"], "share": share, "mpps": mpps,
                            "gbps": mpps * 1e6 * 8 * size / 1e9}
    return {"count": len(rows), "pcie_mpps": mix["stages"].get("pcie"), "card_mpps": mix["mpps"],
            "delivered_mpps": sum(r["mpps"] for r in rows.values()), "queues": rows}


def constants_table() -> list[dict]:
    """The constants as rows (for the README and `--json` readers who want the sources)."""
    return [{"name": name, "value": c.value, "unit": c.unit, "source": c.source, "estimate": c.estimate}
            for name, c in CONSTANTS.items()]
