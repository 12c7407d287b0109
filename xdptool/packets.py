"""Packets from scapy expressions, and scapy's view of packet bytes.

Users write packets the way scapy users do (`Ether()/IP(dst='10.0.0.1')/UDP()`);
packet_expr parses and evaluates such text over an allow-list (layer classes and
literals, never `eval`), so a spec file or a command-line option cannot run code.
scapy is imported lazily: it costs over half a second.
"""

from __future__ import annotations

from .packet_expr import PacketError, evaluate, one_line, shorten

__all__ = ["PacketError", "dissect", "field_differences", "layer_fields", "scapy_bytes", "scapy_packet"]


def scapy_packet(expression: str):
    """A scapy packet (or bytes) from expression text; PacketError for anything else."""
    value = evaluate(expression)
    if isinstance(value, (bytes, bytearray)):
        return value
    if not hasattr(value, "build"):
        raise PacketError(f"packet expression {shorten(expression)!r} gave {type(value).__name__}, not a packet")
    return value


def scapy_bytes(expression: str) -> bytes:
    value = scapy_packet(expression)
    try:
        return bytes(value)
    except Exception as exc:  # scapy refusing a field value only when it builds the packet
        raise PacketError(f"bad packet expression {shorten(expression)!r}: {one_line(exc)}") from None


def dissect(data: bytes):
    """scapy's Ethernet dissection of raw bytes (for reports)."""
    from scapy.layers.l2 import Ether

    return Ether(bytes(data))


def field_differences(expected: bytes, actual: bytes) -> list[str]:
    """Field-by-field differences between two packets, as scapy dissects them."""
    lines = []
    try:
        exp_layers, act_layers = layer_fields(dissect(expected)), layer_fields(dissect(actual))
    except Exception:  # noqa: BLE001 - scapy cannot dissect every byte string (a 1-byte packet): compare bytes
        exp_layers = act_layers = {}
    for key in list(dict.fromkeys([*exp_layers, *act_layers])):
        a, b = exp_layers.get(key, "<absent>"), act_layers.get(key, "<absent>")
        if a != b:
            lines.append(f"{key}: expected {a}, got {b}")
    if not lines and expected != actual:
        offset = next((i for i, (x, y) in enumerate(zip(expected, actual)) if x != y), min(len(expected), len(actual)))
        lines.append(f"bytes differ from offset {offset} (lengths {len(expected)} and {len(actual)})")
    return lines


def layer_fields(packet) -> dict[str, str]:
    found: dict[str, str] = {}
    layer = packet
    depth = 0
    while layer is not None and depth < 16:
        name = layer.name if not any(k.startswith(layer.name + ".") for k in found) else f"{layer.name}#{depth}"
        for f in layer.fields_desc:
            found[f"{name}.{f.name}"] = repr(layer.getfieldval(f.name))
        layer = layer.payload if layer.payload and layer.payload.__class__.__name__ != "NoPayload" else None
        depth += 1
    return found
