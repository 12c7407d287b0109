"""The card model (nfp/card.py) against the published figures and hand-computed stage rates.

Published: XDP_DROP offloaded to an Agilio CX 2x10GbE runs at the 10 GbE line rate,
14.88 Mpps of 64-byte frames (SOSCON 2019, DanielTimLee/soscon19_xdp); no NFP-4000
CX port carries more than 59.52 Mpps of 64-byte frames (40 GbE).  The other
expectations are computed here by hand from the constants' values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli
from xdptool.nfp import abi, card, firmware
from xdptool.nfp.executor import RunStats

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"


@pytest.fixture(scope="module")
def objects(built_examples):
    return built_examples


def offload_json(objects, name, *args, tmp_path):
    result = CliRunner().invoke(cli, ["offload", str(objects[name]), "--target", "nfp-emu",
                                      "--state", str(tmp_path), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_line_rates_of_64_byte_frames():
    assert card.wire_bytes(60) == 84  # a 60-byte capture is a 64-byte frame: 84 bytes on the wire
    assert card.wire_bytes(20) == 84  # runts are padded to the minimum frame
    assert card.wire_bytes(1514) == 1538
    rates = {name: round(card.line_rate_mpps(c), 2) for name, c in card.CARDS.items()}
    assert rates == {"agilio-cx-2x10": 14.88, "agilio-cx-2x25": 37.2, "agilio-cx-1x40": 59.52}


def test_drop_all_runs_at_the_published_10g_line_rate(objects, tmp_path):
    estimate = offload_json(objects, "drop_all", "--card", "agilio-cx-2x10", tmp_path=tmp_path)["estimate"]
    assert estimate["mpps"] == estimate["line_rate_mpps"] == 14.88
    assert estimate["bottleneck"] == "line_rate" and estimate["threads"] == 4
    assert estimate["cycles_per_packet"] > 0 and set(estimate["verdicts"]) == {"XDP_DROP"}
    assert "64-byte frames" in estimate["traffic"]  # the stated default traffic


@pytest.mark.parametrize("name", sorted(card.CARDS))
def test_no_port_carries_more_than_40g_line_rate(name, objects, tmp_path):
    for program in ("drop_all", "mac_swap", "port_blocklist"):
        estimate = offload_json(objects, program, "--card", name, tmp_path=tmp_path)["estimate"]
        assert estimate["ports_loaded"] == 1 and estimate["mpps"] <= estimate["line_rate_mpps"] <= 59.52


def test_pass_traffic_is_bound_by_pcie_where_the_link_is_short(objects, tmp_path):
    # port_blocklist with empty maps passes every default frame: 68 B (frame + prepend) to the host
    # = 68 + 24 (one TLP) + 8 + 24 (descriptor) + 24 / 4 (freelist fetch) = 130 B on the link,
    # whose 62.96 Gb/s less 5 % DLLPs carry 7.4765e9 B/s: 57.51 Mpps, under 40 GbE's 59.52
    forty = offload_json(objects, "port_blocklist", "--card", "agilio-cx-1x40", tmp_path=tmp_path)["estimate"]
    assert set(forty["verdicts"]) == {"XDP_PASS"}
    assert forty["bottleneck"] == "pcie" and forty["mpps"] == round(62.96e9 / 8 * 0.95 / 130 / 1e6, 2) == 57.51
    ten = offload_json(objects, "port_blocklist", "--card", "agilio-cx-2x10", tmp_path=tmp_path)["estimate"]
    assert ten["bottleneck"] == "line_rate" and ten["all_ports"]["bottleneck"] == "line_rate"
    both_25 = offload_json(objects, "port_blocklist", "--card", "agilio-cx-2x25", tmp_path=tmp_path)["estimate"]
    assert both_25["bottleneck"] == "line_rate" and both_25["all_ports"] == {
        "ports": 2, "mpps": 57.51, "bottleneck": "pcie", "line_rate_mpps": 74.4}


def test_the_what_if_runs_its_own_contexts(objects, tmp_path):
    estimate = offload_json(objects, "mac_swap", "--allocator", "xdptool", tmp_path=tmp_path)["estimate"]
    assert estimate["threads"] == 8 and set(estimate["verdicts"]) == {"XDP_TX"}


def test_a_wrong_card_lists_the_profiles(objects, tmp_path):
    result = CliRunner().invoke(cli, ["offload", str(objects["drop_all"]), "--card", "agilio-cx-9x9",
                                      "--state", str(tmp_path)])
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: unknown card 'agilio-cx-9x9'") and "Traceback" not in result.output
    for name in card.CARDS:
        assert name in line


def stats(insns=10, **mem) -> RunStats:
    return RunStats(insns=insns, mem=mem)


def test_me_issue_and_memory_latency_bottlenecks():
    # DROP: issue = insns + rx 40 + drop 10; wait = the rx CTM read 75 + commands x latency
    busy = card.Traffic("hand-made")
    busy.add(stats(insns=4000), "XDP_DROP", 60, 60)
    doc = card.estimate(busy, "agilio-cx-2x10")
    assert doc["bottleneck"] == "me_issue" and doc["cycles_per_packet"] == 4050
    assert doc["mpps"] == round(50 * 800e6 / 4050 / 1e6, 2)
    waiting = card.Traffic("hand-made")
    waiting.add(stats(insns=10, emem=80), "XDP_DROP", 60, 60)
    doc = card.estimate(waiting, "agilio-cx-2x10")
    issue, wait = 10 + 40 + 10, 75 + 80 * 200
    assert doc["bottleneck"] == "me_latency" and doc["cycles_per_packet"] == (issue + wait) / 4
    assert doc["mpps"] == round(50 * 800e6 / ((issue + wait) / 4) / 1e6, 2)
    # eight threads hide twice the latency: the same traffic is back under the line rate
    assert card.estimate(waiting, "agilio-cx-2x10", threads=8)["bottleneck"] == "line_rate"


def test_tx_of_grown_packets_is_bound_by_the_egress_port():
    traffic = card.Traffic("encapsulated")
    traffic.add(stats(), "XDP_TX", 60, 200)  # 84 B in, 224 B out on the same port
    doc = card.estimate(traffic, "agilio-cx-2x10")
    assert doc["bottleneck"] == "egress" and doc["mpps"] == round(10e9 / 8 / 224 / 1e6, 2)


def test_verdict_classes_are_estimated_apart():
    traffic = card.Traffic("mixed")
    for _ in range(3):
        traffic.add(stats(), "XDP_DROP", 60, 60)
    traffic.add(stats(insns=40), "XDP_PASS", 60, 60)
    doc = card.estimate(traffic, "agilio-cx-1x40")
    assert doc["verdicts"]["XDP_DROP"]["share"] == 0.75 and doc["verdicts"]["XDP_PASS"]["packets"] == 1
    # PASS alone: 40 + 40 + 60 issue, 75 + 150 wait
    assert doc["verdicts"]["XDP_PASS"]["issue_cycles"] == 140 and doc["verdicts"]["XDP_PASS"]["wait_cycles"] == 225
    assert doc["verdicts"]["XDP_PASS"]["bottleneck"] == "pcie"  # 57.51 < 59.52 when all traffic passes
    assert doc["bottleneck"] == "line_rate"  # a quarter passing leaves PCIe room


def test_every_constant_has_a_source_and_every_routine_a_cost():
    for row in card.constants_table():
        assert row["source"] and row["unit"], row
    estimated = {row["name"] for row in card.constants_table() if row["estimate"]}
    assert "rx_issue" in estimated and "clock_hz" not in estimated and "pcie_bps" not in estimated
    names = set(abi.ROUTINES) | {n for n in firmware.ROUTINES if n != "exit"}
    for name in names:
        assert card.routine_cost(name)[0] > 0, name
    assert card.routine_cost("map_lookup")[1] == 3  # nfp-facts: ~3 EMEM round trips


def test_taken_branches_stall_less_their_defer_slots():
    from xdptool.nfp.assembler import assemble
    from xdptool.nfp.executor import Executor
    from xdptool.nfp.image import Image, link
    from xdptool.runtime.maps import MapStore

    # three taken branches: no defer slot (3 cycles lost), one filled slot (2), three (0);
    # the branch to the exit routine loses its 3 too
    text = ("immed[gprA_1, 1]\n br[a]\n nop\na:\n br[b], defer[1]\n nop\n nop\nb:\n"
            "alu[--, gprA_1, -, 1]\n beq[c], defer[3]\n nop\n nop\n nop\n nop\nc:\n"
            "immed[gprA_0, 1]\n immed[gprB_0, 0]\n br[fw.exit]\n")
    insns, labels = assemble(text)
    link(insns, labels, firmware.SYMBOLS)
    _, run_stats = Executor(Image(insns, labels, 8, 0, 0, []), MapStore({})).run(bytes(60))
    assert run_stats.taken == 4 and run_stats.defer_filled == 4 and run_stats.stall == 3 + 2 + 0 + 3


def test_replay_on_the_card_reports_the_executors_cycles_per_verdict(objects, tmp_path):
    from xdptool.elf import load_object
    from xdptool.nfp.executor import Executor
    from xdptool.nfp.offload import offload
    from xdptool.replay.pcap import read_capture
    from xdptool.runtime.maps import MapStore

    runner = CliRunner()
    state = tmp_path / "card"
    assert runner.invoke(cli, ["offload", str(objects["port_blocklist"]), "--state", str(state)]).exit_code == 0
    assert runner.invoke(cli, ["maps", "set", "--state", str(state), "blocklist", "0035", "01"]).exit_code == 0
    result = runner.invoke(cli, ["replay", str(PROGRAMS / "port_blocklist.pcap"), "--state", str(state),
                                 "--card", "agilio-cx-1x40", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    estimate = summary["estimate"]
    assert estimate["card"] == "agilio-cx-1x40" and "port_blocklist.pcap" in estimate["traffic"]
    # the same packets on a fresh executor, the same map entry: instructions per verdict by hand
    program = load_object(str(objects["port_blocklist"])).program()
    image = offload(program, estimate=False).image
    store = MapStore.for_object(program.object)
    store["blocklist"].update(bytes.fromhex("0035"), bytes.fromhex("01"), 0)
    executor = Executor(image, store)
    capture = read_capture(str(PROGRAMS / "port_blocklist.pcap"))
    insns, wires = {}, []
    for index in range(len(capture)):
        packet = bytes(capture.data(index))
        if len(packet) < 14:
            continue  # refused as a runt, as the replay does
        run, run_stats = executor.run(packet, thread=index % 4)
        insns.setdefault(run.verdict, []).append(run_stats.insns)
        wires.append(max(len(packet) + 4, 64) + 20)
    for verdict, counts in insns.items():
        row = estimate["verdicts"][verdict]
        assert row["packets"] == len(counts) == summary["verdicts"][verdict]
        assert row["instructions"] == round(sum(counts) / len(counts), 2)
    assert estimate["line_rate_mpps"] == round(40e9 / 8 / (sum(wires) / len(wires)) / 1e6, 2)
    assert 0 < estimate["mpps"] <= estimate["line_rate_mpps"]


def test_host_queues_share_the_cards_rate(objects, tmp_path):
    """replay --target nfp-emu --queues N: the card's rate does not depend on N (every worker thread
    serves every queue), each queue gets the card's rate times its share of the packets, and
    together they stay within the PCIe stage; a 1x40GbE card passing everything is PCIe-bound."""
    from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap

    capture = tmp_path / "flows.pcap"
    frames = [Ether() / IP(src=f"10.0.{i // 250}.{i % 250}", dst="10.9.0.1") / (UDP if i % 2 else TCP)(sport=1024 + i,
                                                                                                      dport=80)
              for i in range(600)]
    wrpcap(str(capture), [f / Raw(bytes(60 - len(f))) for f in frames])  # 64-byte frames on the wire

    def summary(queues):
        result = CliRunner().invoke(cli, ["replay", str(objects["port_blocklist"]),
                                          str(capture), "--target", "nfp-emu", "--queues", str(queues),
                                          "--card", "agilio-cx-1x40", "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["summary"]

    one, four = summary(1), summary(4)
    assert one["verdicts"]["XDP_PASS"] == 600
    assert one["estimate"]["mpps"] == four["estimate"]["mpps"] and four["estimate"]["bottleneck"] == "pcie"
    queues = four["estimate"]["host_queues"]
    assert queues["count"] == 4 and queues["pcie_mpps"] == four["estimate"]["stages"]["pcie"]
    delivered = four["card"]["queues"]
    for q, row in queues["queues"].items():
        assert row["packets"] == delivered[q]["pkts"] > 0
        assert row["mpps"] == round(four["estimate"]["mpps"] * delivered[q]["pkts"] / 600, 2)
    assert abs(sum(r["mpps"] for r in queues["queues"].values()) - queues["pcie_mpps"]) < 0.05


def test_replay_card_is_for_nfp_emu_only(objects):
    result = CliRunner().invoke(cli, ["replay", str(objects["drop_all"]), str(PROGRAMS / "drop_all.pcap"),
                                      "--card", "agilio-cx-2x10"])
    assert result.exit_code == 2 and "--target nfp-emu" in result.stderr
