"""ELF objects: compiled examples with bytes flipped, set, cut or copied, aimed at one
region at a time (ELF header, section header table, one section's contents, code),
then everything a user can do with an object: load, inspect, disassemble, verify,
run on the vm and the JIT, and the same through the CLI.  Only XdpError may escape.
"""

from __future__ import annotations

import struct

from .fuzz_support import fuzz, only_our_errors
from hypothesis import given
from hypothesis import strategies as st

from hostile_inputs import PROGRAMS, SHDR, UDP_PACKET, assert_handled, cli_run, code_sections, sections

EXAMPLES = sorted(p.stem for p in PROGRAMS.glob("*.c"))
# The verifier on a mutated loop can take seconds; these examples keep it to milliseconds.
QUICK_TO_VERIFY = ["drop_all", "ethertype_filter", "global_data", "ip_parse", "mac_swap", "port_blocklist",
                   "redirect_devmap", "truncate"]
MUTATION = st.tuples(st.sampled_from(["flip", "byte", "word", "cut", "copy"]), st.integers(0, 1 << 20),
                     st.integers(0, (1 << 32) - 1))


def regions(data: bytes) -> list[tuple[int, int]]:
    """(start, length) of the parts worth aiming at: headers, each section, the section table."""
    found = [(0, 64), (0, len(data))]
    try:
        table = sections(data)
    except (struct.error, ValueError, IndexError):
        return found
    found.append((table[0].header, len(table) * SHDR.size))
    found += [(s.header, SHDR.size) for s in table]
    found += [(s.offset, s.size) for s in table if s.size and s.offset + s.size <= len(data) and s.type != 8]
    return found


def mutate(data: bytes, region: int, mutations) -> bytes:
    start, length = regions(data)[region % len(regions(data))]
    out = bytearray(data)
    for kind, where, value in mutations:
        if not out:
            break
        at = (start + where % max(length, 1)) % len(out)
        if kind == "flip":
            out[at] ^= 1 << value % 8
        elif kind == "byte":
            out[at] = value & 0xFF
        elif kind == "word":
            out[at : at + 4] = value.to_bytes(4, "little")
        elif kind == "cut":
            del out[at:]
        else:
            source = value % len(out)
            out[at : at + 16] = out[source : source + 16]
    return bytes(out)


def use_object(data: bytes, verify: bool) -> None:
    """What the commands do with an object, in process (no CLI), each step on its own."""
    from xdptool.cli.inspect import describe
    from xdptool.ebpf.disasm import disassemble
    from xdptool.elf import load_object
    from xdptool.runtime.config import RuntimeConfig
    from xdptool.runtime.engines import make_engine

    obj = None
    with only_our_errors("elf objects"):
        obj = load_object("fuzz.o", data)
    if obj is None:
        return
    with only_our_errors("elf inspect+disasm"):
        describe(obj)
        disassemble(obj, raw=True, source=True)
    for program in obj.programs[:2]:
        if verify:
            from xdptool.verifier import analyze

            with only_our_errors("elf verify"):
                analyze(program, "linux", collect_facts=False)
        with only_our_errors("elf run vm"):
            make_engine("vm", program, config=RuntimeConfig(max_insns=20_000)).run(UDP_PACKET)


@fuzz(4)
@given(st.sampled_from(EXAMPLES), st.integers(0, 1000), st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_objects_load_inspect_disassemble_and_run(objects, name, region, mutations):
    use_object(mutate(objects[name], region, mutations), verify=False)


@fuzz(1)
@given(st.sampled_from(QUICK_TO_VERIFY), st.integers(0, 1000), st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_objects_verify(objects, name, region, mutations):
    use_object(mutate(objects[name], region, mutations), verify=True)


@fuzz(1)
@given(st.sampled_from(EXAMPLES), st.data())
def test_mutated_code_runs_on_vm_and_jit_or_is_refused(objects, name, data):
    """Instruction bytes only (opcode, registers, offset, immediate), then both engines."""
    from xdptool.elf import load_object
    from xdptool.runtime.config import RuntimeConfig
    from xdptool.runtime.engines import make_engine

    blob = bytearray(objects[name])
    code = code_sections(bytes(blob))
    target = data.draw(st.sampled_from(code))
    for _ in range(data.draw(st.integers(1, 3))):
        slot = data.draw(st.integers(0, target.size // 8 - 1))
        field = data.draw(st.integers(0, 7))
        blob[target.offset + 8 * slot + field] = data.draw(st.integers(0, 255))
    obj = None
    with only_our_errors("code mutants"):
        obj = load_object("fuzz.o", bytes(blob))
    for engine in ("vm", "jit") if obj is not None else ():
        for program in obj.programs[:1]:
            with only_our_errors(f"code mutants {engine}"):
                make_engine(engine, program, config=RuntimeConfig(max_insns=20_000)).run(UDP_PACKET)


@fuzz(0.5)
@given(st.sampled_from(EXAMPLES), st.integers(0, 1000), st.lists(MUTATION, min_size=1, max_size=4),
       st.sampled_from([("inspect",), ("inspect", "--json"), ("disasm", "--source"), ("disasm", "--raw"),
                        ("verify",), ("run", "--target", "vm", "--packet", UDP_PACKET.hex())]))
def test_mutated_objects_through_the_cli(objects, fuzz_dir, name, region, mutations, command):
    """Exit 0, 1 or 2 and never a traceback, whatever the object."""
    if command[0] == "verify" and name not in QUICK_TO_VERIFY:
        name = "port_blocklist"
    path = fuzz_dir / "cli.o"
    path.write_bytes(mutate(objects[name], region, mutations))
    with only_our_errors("elf cli"):
        assert_handled(cli_run(command[0], path, *command[1:]))
