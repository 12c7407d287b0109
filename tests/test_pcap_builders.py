"""Byte-level builders for capture files in tests, written from the format drafts.

Independent of xdptool.replay (tests must not build their expectations with the
code under test); shared by test_pcap*.py and test_replay*.py.
"""

from __future__ import annotations

import struct


def classic_header(order="<", nanosecond=False, snaplen=65535, linktype=1, magic=None) -> bytes:
    magic = magic if magic is not None else (0xA1B23C4D if nanosecond else 0xA1B2C3D4)
    return struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def classic_record(data: bytes, sec=0, frac=0, orig=None, order="<", caplen=None) -> bytes:
    caplen = len(data) if caplen is None else caplen
    return struct.pack(order + "IIII", sec, frac, caplen, len(data) if orig is None else orig) + data


def classic(packets, order="<", nanosecond=False, snaplen=65535, linktype=1) -> bytes:
    """packets: iterable of bytes or (data, sec, frac[, orig])."""
    out = [classic_header(order, nanosecond, snaplen, linktype)]
    for item in packets:
        if isinstance(item, (bytes, bytearray)):
            out.append(classic_record(bytes(item), order=order))
        else:
            data, sec, frac, *orig = item
            out.append(classic_record(data, sec, frac, orig[0] if orig else None, order))
    return b"".join(out)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def block(kind: int, body: bytes, order="<") -> bytes:
    body = _pad(body)
    length = 12 + len(body)
    return struct.pack(order + "II", kind, length) + body + struct.pack(order + "I", length)


def options(pairs, order="<") -> bytes:
    if not pairs:
        return b""
    out = b"".join(struct.pack(order + "HH", code, len(value)) + _pad(value) for code, value in pairs)
    return out + struct.pack(order + "HH", 0, 0)


def shb(order="<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def idb(linktype=1, snaplen=0, tsresol=None, name=None, tsoffset=None, order="<") -> bytes:
    opts = []
    if name is not None:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((14, struct.pack(order + "q", tsoffset)))
    return block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + options(opts, order), order)


def epb(iface: int, ts_units: int, data: bytes, orig=None, order="<") -> bytes:
    head = struct.pack(order + "IIIII", iface, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data),
                       len(data) if orig is None else orig)  # fmt: skip
    return block(6, head + _pad(data), order)


def spb(data: bytes, orig=None, order="<") -> bytes:
    return block(3, struct.pack(order + "I", len(data) if orig is None else orig) + _pad(data), order)


def obsolete_packet(iface: int, ts_units: int, data: bytes, order="<") -> bytes:
    head = struct.pack(order + "HHIIII", iface, 0, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data), len(data))
    return block(2, head + _pad(data), order)


def ether_frame(payload: bytes = b"", dst=b"\x02" * 6, src=b"\x04" * 6, ethertype=0x0800) -> bytes:
    return dst + src + struct.pack(">H", ethertype) + payload


# The builders are only trustworthy if an independent reader agrees with them.


def test_classic_builder_matches_scapy(tmp_path):
    from scapy.utils import RawPcapReader

    frames = [ether_frame(bytes([i]) * i) for i in range(1, 6)]
    for order in "<>":
        for nanosecond in (False, True):
            path = tmp_path / f"b{order == '>'}{nanosecond}.pcap"
            path.write_bytes(classic([(f, 7, 9) for f in frames], order=order, nanosecond=nanosecond))
            read = list(RawPcapReader(str(path)))
            assert [data for data, _ in read] == frames
            assert {(meta.sec, meta.usec) for _, meta in read} == {(7, 9)}


def test_pcapng_builder_matches_scapy(tmp_path):
    from scapy.utils import RawPcapNgReader

    frames = [ether_frame(bytes([i]) * (i + 3)) for i in range(4)]
    path = tmp_path / "b.pcapng"
    path.write_bytes(shb() + idb(snaplen=1500, tsresol=9) + b"".join(epb(0, 5 + i, f) for i, f in enumerate(frames)))
    read = list(RawPcapNgReader(str(path)))
    assert [data for data, _ in read] == frames
    assert [(meta.tshigh << 32 | meta.tslow, meta.tsresol) for _, meta in read] == [(5 + i, 10**9) for i in range(4)]
