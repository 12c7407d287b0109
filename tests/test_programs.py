"""The bundled example programs (programs/*.c) and their captures.

Static checks: every program compiles with clang exactly as documented, carries a
header comment that states its maps, verdicts and NFP offload status, and its NFP
claim agrees with the instructions clang produced (llvm-objdump as the oracle).
Captures: scapy reads them, they are byte-identical to what gen_captures.py writes
now, and the expected-verdict table in its docstring is current.
Kernel (marker `kernel`): every object passes the kernel verifier through bpftool,
the maps.json initial states fit the maps the kernel created, offloadable programs
use only HASH/ARRAY maps within the NFP's size limits, and every capture packet of
>= 14 bytes gets the expected verdict (and output bytes, where listed) from
BPF_PROG_TEST_RUN via `bpftool prog run`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "programs"
SOURCES = sorted(PROGRAMS.glob("*.c"))
NAMES = [src.stem for src in SOURCES]
REQUIRED = {
    "drop_all", "ethertype_filter", "ip_parse", "port_blocklist", "proto_counters", "mac_swap",
    "port_rewrite", "encap", "decap", "truncate", "l4_lb", "bounded_loop", "bpf2bpf_call",
    "redirect_devmap",
}  # fmt: skip
CLANG_FLAGS = ["-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu"]
VERDICTS = {"ABORTED": 0, "DROP": 1, "PASS": 2, "TX": 3, "REDIRECT": 4}
BPFTOOL = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.path.exists("/usr/sbin/bpftool") else None)
KERNEL_MIN_FRAME = 14  # BPF_PROG_TEST_RUN refuses shorter XDP input

# NFP offload rules (Linux drivers/net/ethernet/netronome/nfp/bpf/verifier.c, offload.c):
# helpers map_lookup/update/delete (1, 2, 3), get_prandom_u32 (7), perf_event_output
# (25), xdp_adjust_head (44), xdp_adjust_tail (65); HASH/ARRAY maps, key <= 56 B,
# value <= 56 B, key + value <= 64 B, no map flags; no MOD, no to-little-endian, no
# sign extension, no signed or non-constant divisor. (Map writes and multiplier
# ranges need the verifier's knowledge; the NFP profile of xdptool's verifier owns those.)
NFP_HELPERS = {1, 2, 3, 7, 25, 44, 65}
NFP_MAP_TYPES = {"hash", "array"}
NFP_REFUSED_MNEMONICS = re.compile(r"%=|\ble(16|32|64)\b|\bbswap|s/=|/= [rw]\d|\(s(8|16|32)\)")
GLOBAL_DATA_SECTIONS = re.compile(r"^\s*\d+\s+\.(rodata|data|bss)\b", re.M)


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_captures", PROGRAMS / "gen_captures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def header_comment(name: str) -> str:
    text = (PROGRAMS / f"{name}.c").read_text()
    match = re.match(r"/\*(.*?)\*/", text, re.S)
    return match.group(1) if match else ""


def nfp_claim(name: str) -> str:
    """'yes' or 'no' from the header's 'NFP offload:' line."""
    match = re.search(r"NFP offload:\s*(yes|no)\b", header_comment(name))
    return match.group(1) if match else ""


def maps_state(name: str) -> dict:
    path = PROGRAMS / f"{name}.maps.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture(scope="session")
def objects(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """name -> (object path, clang result) for every program, built with the documented command."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (make setup installs it)")
    out = tmp_path_factory.mktemp("programs")

    def build(name):
        obj = out / f"{name}.o"
        cmd = ["clang", *CLANG_FLAGS, "-c", str(PROGRAMS / f"{name}.c"), "-o", str(obj)]
        return name, (obj, subprocess.run(cmd, capture_output=True, text=True))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(build, NAMES))


def built(objects, name) -> Path:
    obj, result = objects[name]
    assert result.returncode == 0, f"clang failed for {name}.c:\n{result.stderr}"
    return obj


def objdump(obj: Path, *flags: str) -> str:
    if shutil.which("llvm-objdump") is None:
        pytest.skip("llvm-objdump is not installed")
    return subprocess.run(["llvm-objdump", *flags, str(obj)], capture_output=True, text=True, check=True).stdout


# ---- sources -------------------------------------------------------------------------


def test_required_programs_exist():
    assert REQUIRED <= set(NAMES), f"missing: {sorted(REQUIRED - set(NAMES))}"
    assert len(NAMES) >= 13


def test_readme_lists_every_program_with_its_nfp_status():
    rows = dict(re.findall(r"^\| (\w+) \|.*\| (yes|no) \|$", (PROGRAMS / "README.md").read_text(), re.M))
    assert rows == {name: nfp_claim(name) for name in NAMES}


def test_enough_programs_are_nfp_offloadable():
    assert sum(nfp_claim(name) == "yes" for name in NAMES) >= 8


@pytest.mark.parametrize("name", NAMES)
def test_compiles_with_clang(objects, name):
    obj = built(objects, name)
    assert obj.stat().st_size > 0
    assert objects[name][1].stderr == "", f"clang warnings for {name}.c:\n{objects[name][1].stderr}"


@pytest.mark.parametrize("name", NAMES)
def test_header_comment_documents_the_program(name):
    comment = header_comment(name)
    assert comment.lstrip().startswith(f"{name}.c — "), "header must open with '<name>.c — what it does'"
    for field in ("Maps:", "Verdicts:", "NFP offload:"):
        assert field in comment, f"{name}.c header lacks {field!r}"
    assert nfp_claim(name), "NFP offload: must say yes or no"
    text = (PROGRAMS / f"{name}.c").read_text()
    assert 'SEC("xdp")' in text and 'SEC("license") = "GPL"' in text


@pytest.mark.parametrize("name", NAMES)
def test_nfp_claim_matches_the_instructions(objects, name):
    """An offloadable program uses only NFP helpers and opcodes and no global data."""
    obj = built(objects, name)
    listing = objdump(obj, "-d")
    # helper calls have src_reg 0: raw bytes "85 00 00 00 <imm le32>"
    helpers = {int.from_bytes(bytes.fromhex(m.group(1)), "little")
               for m in re.finditer(r"\s85 00 00 00 ((?:[0-9a-f]{2} ?){4})", listing)}  # fmt: skip
    refused_ops = [m.group(0) for m in NFP_REFUSED_MNEMONICS.finditer(listing)]
    global_data = GLOBAL_DATA_SECTIONS.findall(objdump(obj, "-h"))
    offloadable = helpers <= NFP_HELPERS and not refused_ops and not global_data
    if nfp_claim(name) == "yes":
        assert offloadable, f"helpers {sorted(helpers)}, refused ops {refused_ops}, global data {global_data}"
    else:
        assert re.search(r"NFP offload:\s*no\s+—\s+\S", header_comment(name)), "a 'no' must give the reason"


def test_bounded_loop_keeps_a_backward_jump(objects):
    listing = objdump(built(objects, "bounded_loop"), "-d")
    assert re.search(r"goto -\d+", listing), "the loop was unrolled: no backward jump left"


def test_bpf2bpf_call_has_two_levels_of_calls(objects):
    listing = objdump(built(objects, "bpf2bpf_call"), "-d")
    functions = re.findall(r"^[0-9a-f]+ <(\w+)>:", listing, re.M)
    text_functions = [f for f in functions if not f.startswith("LBB")]
    pseudo_calls = re.findall(r"\s85 10 ", listing)
    assert {"handle_ipv4", "handle_tcp", "tcp_flags_verdict"} <= set(text_functions)
    assert len(pseudo_calls) >= 3
    body = listing.split("<handle_ipv4>:")[1].split(">:")[0]
    assert re.search(r"\s85 10 ", body), "handle_ipv4 must itself call (second level)"


def test_truncate_limit_is_in_rodata(objects):
    obj = built(objects, "truncate")
    symbols = objdump(obj, "-t")
    assert re.search(r"\.rodata\s+\S+\s+max_len$", symbols, re.M)


# ---- captures --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_capture_is_readable_by_scapy(name):
    from scapy.utils import PcapReader

    with PcapReader(str(PROGRAMS / f"{name}.pcap")) as reader:
        assert reader.linktype == gen.LINKTYPE_ETHERNET
        packets = list(reader)
    assert 10 <= len(packets) <= 60
    assert [bytes(p) for p in packets] == [c.data for c in gen.cases(name)]


@pytest.mark.parametrize("name", NAMES)
def test_capture_is_current(name):
    """The committed pcap is what the generator writes now (it is deterministic)."""
    assert (PROGRAMS / f"{name}.pcap").read_bytes() == gen.pcap_bytes([c.data for c in gen.cases(name)])


def test_every_program_has_a_capture_and_no_capture_lacks_a_program():
    assert set(gen.CAPTURES) == set(NAMES)


def test_expected_verdict_table_is_current():
    assert gen.render_table() in gen.__doc__


def test_expected_json_is_current():
    assert json.loads((PROGRAMS / "expected.json").read_text()) == gen.expected_document()


@pytest.mark.parametrize("name", NAMES)
def test_captures_cover_runts_and_verdicts_are_valid(name):
    cases = gen.cases(name)
    assert {c.verdict for c in cases} <= set(VERDICTS)
    assert any(len(c.data) < KERNEL_MIN_FRAME for c in cases), "every capture includes a runt"
    assert len({c.data for c in cases}) == len(cases), "duplicate packets"


def test_zero_checksum_edge_case_really_sums_to_zero():
    """The port_rewrite packet built to make the rewritten UDP checksum 0 does so."""
    from scapy.layers.l2 import Ether

    case = next(c for c in gen.cases("port_rewrite") if "computes to 0" in c.what)
    assert Ether(case.out)["UDP"].chksum == 0xFFFF


@pytest.mark.parametrize("name", sorted(n for n in NAMES if maps_state(n)))
def test_maps_json_format(name):
    for map_name, entries in maps_state(name).items():
        assert re.search(rf"\b{map_name}\s+SEC\(\"\.maps\"\)", (PROGRAMS / f"{name}.c").read_text())
        for entry in entries:
            assert set(entry) == {"key", "value"}
            bytes.fromhex(entry["key"]), bytes.fromhex(entry["value"])


# ---- reference VM (xdptool's own engine: it also runs the runts the kernel refuses) -----

# Instructions no capture can reach: truncate's bpf_xdp_adjust_tail failure branch
# (max_len 128 is above the kernel's 14-byte floor, so the helper cannot fail).
UNREACHABLE_INSNS = {"truncate": 1}


@pytest.mark.parametrize("name", NAMES)
def test_capture_on_the_vm_gets_expected_results_and_runs_every_instruction(objects, name):
    """Every packet gets its expected verdict and output on the reference VM, and the
    capture as a whole executes every instruction of the program (all branches)."""
    vm_module = pytest.importorskip("xdptool.runtime.vm")
    from xdptool.elf import load_object
    from xdptool.runtime.maps import MapStore

    obj = load_object(built(objects, name))
    (program,) = obj.programs
    maps = MapStore.for_object(obj)
    maps.load(maps_state(name))
    vm = vm_module.VmEngine(program, maps, coverage=True)
    mismatches = []
    for case in gen.cases(name):
        result = vm.run(case.data)
        if result.verdict != f"XDP_{case.verdict}":
            mismatches.append(f"{case.what}: expected {case.verdict}, vm {result.verdict} {result.fault or ''}")
        elif case.out is not None and result.packet != case.out:
            mismatches.append(f"{case.what}: output differs")
    assert not mismatches, "\n".join(mismatches)
    missed = [insn.pc for insn in program.insns if not vm.coverage.get(insn.pc)]
    assert len(missed) == UNREACHABLE_INSNS.get(name, 0), f"instructions never run: {missed}"


# ---- kernel ---------------------------------------------------------------------------


def bpftool(*args: str, json_out: bool = False) -> subprocess.CompletedProcess:
    cmd = [BPFTOOL, *(["-j"] if json_out else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True)


def skip_if_refused(result: subprocess.CompletedProcess, what: str) -> None:
    text = (result.stdout + result.stderr).lower()
    if "operation not permitted" in text or "permission denied" in text:
        pytest.skip(f"the kernel refused {what}: permission denied (needs root / CAP_BPF)")


class LoadedProgram:
    """A program pinned under /sys/fs/bpf by `bpftool prog loadall`, maps pinned beside it."""

    def __init__(self, obj: Path, name: str):
        tag = f"xdptool_pt_{name}_{os.getpid()}"
        self.dir, self.map_dir = Path("/sys/fs/bpf") / tag, Path("/sys/fs/bpf") / f"{tag}_maps"
        self.cleanup()
        result = bpftool("prog", "loadall", str(obj), str(self.dir), "type", "xdp", "pinmaps", str(self.map_dir))
        if result.returncode != 0:
            self.cleanup()
            skip_if_refused(result, f"loading {name}")
            pytest.fail(f"kernel verifier rejected {name}:\n{result.stderr[-4000:]}")
        (self.prog,) = self.dir.iterdir()

    def cleanup(self) -> None:
        for path in (self.dir, self.map_dir):
            if path.exists():
                shutil.rmtree(path)

    def map_info(self, map_name: str) -> dict:
        result = bpftool("map", "show", "pinned", str(self.map_dir / map_name), json_out=True)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def fill_maps(self, state: dict) -> None:
        for map_name, entries in state.items():
            for entry in entries:
                key, value = (list(bytes.fromhex(entry[f]).hex(" ").split()) for f in ("key", "value"))
                result = bpftool("map", "update", "pinned", str(self.map_dir / map_name),
                                 "key", "hex", *key, "value", "hex", *value)  # fmt: skip
                assert result.returncode == 0, f"{map_name} {entry}: {result.stderr}"

    def run_all(self, frames: list[bytes], workdir: Path) -> list[tuple[int, bytes]]:
        """BPF_PROG_TEST_RUN of every frame in one bpftool batch: (retval, data_out) each."""
        lines = []
        for i, data in enumerate(frames):
            (workdir / f"in{i}").write_bytes(data)
            lines.append(f"prog run pinned {self.prog} data_in {workdir}/in{i} data_out {workdir}/out{i}")
        (workdir / "batch").write_text("\n".join(lines) + "\n")
        result = bpftool("batch", "file", str(workdir / "batch"), json_out=True)
        assert result.returncode == 0, result.stderr
        outputs = json.loads(result.stdout)
        return [(o["output"]["retval"], (workdir / f"out{i}").read_bytes()) for i, o in enumerate(outputs)]


@pytest.fixture
def loaded(objects, request):
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed (make setup installs it)")
    name = request.param
    program = LoadedProgram(built(objects, name), name)
    try:
        yield name, program
    finally:
        program.cleanup()


@pytest.mark.kernel
@pytest.mark.parametrize("loaded", NAMES, indirect=True)
def test_kernel_accepts_program_and_initial_maps(loaded):
    name, program = loaded
    state = maps_state(name)
    for map_name, entries in state.items():
        info = program.map_info(map_name)
        for entry in entries:
            assert len(bytes.fromhex(entry["key"])) == info["bytes_key"], f"{map_name} key size"
            assert len(bytes.fromhex(entry["value"])) == info["bytes_value"], f"{map_name} value size"
    program.fill_maps(state)


@pytest.mark.kernel
@pytest.mark.parametrize("loaded", sorted(n for n in NAMES if nfp_claim(n) == "yes"), indirect=True)
def test_kernel_maps_of_offloadable_programs_fit_the_nfp(loaded):
    _, program = loaded
    for pinned in program.map_dir.iterdir() if program.map_dir.exists() else ():
        info = program.map_info(pinned.name)
        assert info["type"] in NFP_MAP_TYPES, f"{pinned.name}: {info['type']}"
        assert info["bytes_key"] <= 56 and info["bytes_value"] <= 56
        assert info["bytes_key"] + info["bytes_value"] <= 64
        assert info.get("flags", 0) == 0


@pytest.mark.kernel
@pytest.mark.parametrize("loaded", NAMES, indirect=True)
def test_kernel_verdicts_match_the_capture_table(loaded, tmp_path):
    name, program = loaded
    program.fill_maps(maps_state(name))
    cases = [c for c in gen.cases(name) if len(c.data) >= KERNEL_MIN_FRAME]
    results = program.run_all([c.data for c in cases], tmp_path)
    mismatches = []
    for case, (retval, out) in zip(cases, results, strict=True):
        if retval != VERDICTS[case.verdict]:
            mismatches.append(f"{case.what}: expected {case.verdict}, kernel returned {retval}")
        elif case.out is not None and out != case.out:
            mismatches.append(f"{case.what}: output differs\n  expected {case.out.hex()}\n  kernel   {out.hex()}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.kernel
@pytest.mark.parametrize("loaded", ["port_blocklist"], indirect=True)
def test_kernel_port_blocklist_counts_drops_per_port(loaded, tmp_path):
    """The drops map counts exactly the blocked packets of the capture, per port
    (rows 0, 13, 14, 17, 21 for port 53; 2, 12, 18 for 445; 4, 5, 22 for 23; 6 for 11211)."""
    _, program = loaded
    program.fill_maps(maps_state("port_blocklist"))
    frames = [c.data for c in gen.cases("port_blocklist") if len(c.data) >= KERNEL_MIN_FRAME]
    program.run_all(frames, tmp_path)
    dump = bpftool("map", "dump", "pinned", str(program.map_dir / "drops"), json_out=True)
    assert dump.returncode == 0, dump.stderr
    as_bytes = lambda hex_list: bytes(int(b, 16) for b in hex_list)  # noqa: E731
    counts = {int.from_bytes(as_bytes(e["key"]), "big"): int.from_bytes(as_bytes(e["value"]), "little")
              for e in json.loads(dump.stdout)}  # fmt: skip
    assert counts == {53: 5, 445: 3, 23: 3, 11211: 1}
