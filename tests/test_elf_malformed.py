"""Bad input: every malformed object is an ObjectFormatError with one line naming the file.

Objects are corrupted with a tiny section-header reader written here (independent
of the loader), and a hypothesis test mutates real objects at random.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_elf_loader import compiled
from xdptool.elf import load_object
from xdptool.errors import ObjectFormatError, XdpError

SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr


def section_headers(data: bytes) -> dict[str, tuple[int, tuple]]:
    """name -> (file offset of the header, header fields)."""
    shoff = struct.unpack_from("<Q", data, 40)[0]
    shnum, shstrndx = struct.unpack_from("<HH", data, 60)
    headers = [SHDR.unpack_from(data, shoff + i * 64) for i in range(shnum)]
    strtab = headers[shstrndx]
    names = data[strtab[4] : strtab[4] + strtab[5]]
    result = {}
    for i, h in enumerate(headers):
        name = names[h[0] : names.index(b"\0", h[0])].decode()
        result.setdefault(name, (shoff + i * 64, h))
    return result


def patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def rejects(data: bytes, match: str, name: str = "bad.o") -> str:
    with pytest.raises(ObjectFormatError, match=match) as info:
        load_object(name, data)
    message = str(info.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    return message


@pytest.fixture(scope="module")
def good() -> bytes:
    return compiled("multi").read_bytes()


def test_not_an_elf():
    rejects(b"int main() { return 0; }\n", "not an ELF file")
    rejects(b"", "not an ELF file")


def test_missing_file(tmp_path):
    with pytest.raises(ObjectFormatError, match="cannot read"):
        load_object(tmp_path / "absent.o")


@pytest.mark.parametrize("fraction", [0.0005, 0.01, 0.2, 0.5, 0.9, 0.999])
def test_truncated(good, fraction):
    rejects(good[: max(5, int(len(good) * fraction))], "truncated ELF")


def test_other_machine(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / "x.c"
    src.write_text("int f(int x) { return x + 1; }\n")
    subprocess.run(["gcc", "-c", str(src), "-o", str(tmp_path / "x.o")], check=True)
    rejects((tmp_path / "x.o").read_bytes(), r"not an eBPF object \(machine x86-64\)")


def test_32bit_elf(good):
    rejects(good[:4] + b"\x01" + good[5:], "32-bit")


def first_relocation(data: bytes) -> int:
    """File offset of the first entry of .relxdp."""
    return section_headers(data)[".relxdp"][1][4]


def test_relocation_bad_symbol_index(good):
    offset = first_relocation(good)
    info = struct.unpack_from("<Q", good, offset + 8)[0]
    rejects(patched(good, offset + 8, "<Q", (9999 << 32) | (info & 0xFFFFFFFF)), "bad symbol index 9999")


def test_relocation_offset_outside_section(good):
    rejects(patched(good, first_relocation(good), "<Q", 0x100000), "offset 1048576 outside xdp")


def test_relocation_unknown_type(good):
    offset = first_relocation(good)
    info = struct.unpack_from("<Q", good, offset + 8)[0]
    rejects(patched(good, offset + 8, "<Q", (info & ~0xFFFFFFFF) | 77), "unknown relocation type 77")


def test_relocation_into_second_half_of_ld_imm64(good):
    offset = first_relocation(good)
    r_offset = struct.unpack_from("<Q", good, offset)[0]
    rejects(patched(good, offset, "<Q", r_offset + 8), "second half of an ld_imm64")


def btf_type_section(data: bytes) -> int:
    """File offset of the first btf_type in .BTF (hdr_len follows the magic)."""
    btf = section_headers(data)[".BTF"][1][4]
    hdr_len, type_off = struct.unpack_from("<II", data, btf + 4)
    return btf + hdr_len + type_off


def test_btf_bad_type_id(good):
    # type [1] of multi.o is a PTR: point it far past the last type
    rejects(patched(good, btf_type_section(good) + 8, "<I", 50000), r"BTF: type \[1\] PTR refers to type id 50000")


def test_btf_bad_string_offset(good):
    rejects(patched(good, btf_type_section(good) + 12, "<I", 0x7FFFFF), "BTF string offset 8388607 out of range")


def test_odd_code_section_size(good):
    header_offset, header = section_headers(good)["xdp"]
    rejects(patched(good, header_offset + 32, "<Q", header[5] - 3), "code section xdp: size .* not a multiple of 8")


def test_ld_imm64_cut_in_half(good):
    header_offset, header = section_headers(good)["xdp/devmap"]
    # tail_target's first ld_imm64 is at slot 4 (see llvm-objdump): keep its first half only
    assert good[header[4] + 32] == 0x18
    rejects(patched(good, header_offset + 32, "<Q", 40), "ld_imm64 at slot 4 is missing its second half")


def test_section_past_end_of_file(good):
    header_offset, header = section_headers(good)[".BTF"]
    rejects(patched(good, header_offset + 32, "<Q", 1 << 40), r"truncated ELF \(section .BTF")


# -- fuzzing ---------------------------------------------------------------------------

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("splice"), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.tuples(st.just("word"), st.integers(0, 10**6), st.sampled_from([0, 1, 0xFF, 0x7FFFFFFF, 0xFFFFFFFF])),
)


def regions(data: bytes) -> list[tuple[int, int]]:
    """(start, length) of the parts the loader reads: headers, code, symbols, relocations, BTF, maps."""
    headers = section_headers(data)
    shoff = struct.unpack_from("<Q", data, 40)[0]
    parts = [(0, 64), (shoff, len(data) - shoff)]
    for name, (_, h) in headers.items():
        if name and not name.startswith((".debug", ".rel.debug")) and h[1] != 8 and h[5]:  # 8: SHT_NOBITS
            parts.append((h[4], h[5]))
    return parts


def mutate(data: bytes, mutations, region_choice: int) -> bytes:
    out = bytearray(data)
    parts = regions(data)
    start, length = parts[region_choice % len(parts)]
    for kind, a, b in mutations:
        if not out:
            break
        a = (start + a % length) % len(out)
        if kind == "flip":
            out[a] ^= b
        elif kind == "cut":
            del out[a:]
        elif kind == "splice":
            b %= len(out)
            out[a : a + 16] = out[b : b + 16]
        else:
            out[a : a + 4] = b.to_bytes(4, "little")
    return bytes(out)


@settings(max_examples=int(os.environ.get("XDPTOOL_FUZZ_EXAMPLES", 400)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["multi", "legacy", "btf_kinds"]), st.integers(0, 100), st.lists(mutation, min_size=1, max_size=4))
def test_mutated_objects_load_or_fail_cleanly(fixture, region, mutations):
    data = mutate(compiled(fixture).read_bytes(), mutations, region)
    try:
        obj = load_object("fuzz.o", data)
    except XdpError as e:
        assert "\n" not in str(e)
    else:
        assert obj.path == "fuzz.o"


def test_huge_nobits_section_is_refused_without_allocating():
    data = compiled("calls").read_bytes()
    header_offset, header = section_headers(data)[".bss"]
    assert header[1] == 8  # SHT_NOBITS
    rejects(patched(data, header_offset + 32, "<Q", 1 << 40), r"section .bss: size 1099511627776 exceeds 64 MiB")
