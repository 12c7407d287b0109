"""Writes the capture of every example program: programs/<name>.pcap, plus
programs/expected.json: per capture, per packet, its description, its verdict and,
where the output is specified (programs that rewrite, grow or cut packets), the
expected output frame as hex ("out").

Run from anywhere: .venv/bin/python programs/gen_captures.py  (--table prints the
table below). Deterministic: fixed addresses, ports, payloads, timestamps
(1700000000 s + 1 ms per packet); no randomness. Classic pcap, linktype Ethernet.

Each capture walks every branch of its program, malformed frames included. Expected
verdicts follow the program's header comment (the specification), not its code;
expected output bytes are computed independently with scapy (checksums recomputed
from scratch). Verdicts assume the maps are loaded from programs/<name>.maps.json,
the ingress ifindex is 1 and the packets arrive within one second. Frames shorter
than 14 bytes cannot go through the kernel's BPF_PROG_TEST_RUN (it refuses them).

Expected verdicts (tests/test_programs.py checks that this table is current):

drop_all.pcap
    0  DROP      IPv4/UDP 10.0.0.1:40000 -> 10.0.0.2:53
    1  DROP      IPv4/TCP SYN -> :80
    2  DROP      IPv6/UDP -> :53
    3  DROP      ARP request
    4  DROP      802.1Q IPv4/ICMP echo
    5  DROP      LLDP
    6  DROP      1514-byte IPv4/UDP
    7  DROP      Ethernet header only (14 bytes)
    8  DROP      runt, 13 bytes
    9  DROP      runt, 1 byte

ethertype_filter.pcap
    0  PASS      IPv4/UDP -> :53
    1  PASS      IPv4/TCP SYN -> :80
    2  PASS      IPv6/TCP SYN -> :443
    3  PASS      IPv6/ICMPv6 echo
    4  PASS      ARP request
    5  PASS      ARP reply
    6  PASS      IPv4 with IHL 4 (no L3 checks here)
    7  PASS      ethertype IPv4, nothing after the Ethernet header
    8  DROP      802.1Q IPv4/UDP
    9  DROP      802.1ad+802.1Q IPv4/UDP
   10  DROP      LLDP (0x88cc)
   11  DROP      802.3 length field + LLC
   12  DROP      MPLS unicast (0x8847)
   13  DROP      PPPoE session (0x8864)
   14  DROP      IPX (0x8137)
   15  DROP      ethertype 0x0000
   16  DROP      runt, 13 bytes
   17  DROP      runt, 6 bytes

ip_parse.pcap
    0  PASS      IPv4/UDP
    1  PASS      IPv4/TCP SYN
    2  PASS      IPv4/ICMP echo
    3  PASS      IPv4/GRE (47)
    4  PASS      IPv4 with options (IHL 6)/UDP
    5  PASS      IPv4 non-first fragment
    6  PASS      IPv6/UDP
    7  PASS      IPv6/ICMPv6 echo
    8  PASS      IPv6 hop-by-hop/UDP (counted as 0)
    9  PASS      802.1Q IPv4/UDP
   10  PASS      802.1ad+802.1Q IPv4/TCP
   11  PASS      802.1Q IPv6/UDP
   12  PASS      three VLAN tags (not IP)
   13  PASS      ARP request (not IP)
   14  PASS      LLDP (not IP)
   15  DROP      runt, 13 bytes
   16  DROP      802.1Q tag cut after 2 bytes
   17  DROP      IPv4 header cut after 10 bytes
   18  DROP      IPv4 IHL 4
   19  DROP      IPv4 ethertype, version 6
   20  DROP      IPv4 IHL 15, options beyond the frame
   21  DROP      IPv4 tot_len 10 < header length
   22  DROP      IPv6 header cut after 30 bytes
   23  DROP      IPv6 ethertype, version 4
   24  DROP      runt, 10 bytes
   25  DROP      802.1ad tag, inner 802.1Q tag cut
   26  DROP      802.1Q, IPv4 header cut after 12 bytes
   27  DROP      IPv4 IHL 0

port_blocklist.pcap  (blocklist: 23 UDP+TCP, 53 UDP, 445 TCP, 11211 UDP, 8080 mask 0)
    0  DROP      IPv4/UDP -> :53 (UDP-blocked)
    1  PASS      IPv4/TCP -> :53 (only UDP blocked)
    2  DROP      IPv4/TCP -> :445 (TCP-blocked)
    3  PASS      IPv4/UDP -> :445 (only TCP blocked)
    4  DROP      IPv4/UDP -> :23 (both blocked)
    5  DROP      IPv4/TCP -> :23 (both blocked)
    6  DROP      IPv4/UDP -> :11211
    7  PASS      IPv4/TCP -> :8080 (mask 0)
    8  PASS      IPv4/UDP -> :8080 (mask 0)
    9  PASS      IPv4/UDP -> :80 (not listed)
   10  PASS      IPv4/TCP -> :80 (not listed)
   11  PASS      IPv4/UDP 53 -> 4000 (source port is not checked)
   12  DROP      IPv4/TCP with options (doff 7) -> :445
   13  DROP      IPv4 with options (IHL 6)/UDP -> :53
   14  DROP      IPv4 first fragment (MF)/UDP -> :53
   15  PASS      IPv4 non-first fragment, protocol UDP
   16  PASS      IPv4/ICMP echo
   17  DROP      IPv6/UDP -> :53
   18  DROP      IPv6/TCP -> :445
   19  PASS      IPv6/TCP -> :443
   20  PASS      IPv6 hop-by-hop/UDP -> :53 (extension headers not walked)
   21  DROP      802.1Q IPv4/UDP -> :53
   22  DROP      802.1ad+802.1Q IPv6/TCP -> :23
   23  PASS      three VLAN tags IPv4/UDP -> :53 (not IP)
   24  PASS      ARP request
   25  PASS      LLDP
   26  DROP      runt, 13 bytes
   27  DROP      802.1Q tag cut after 2 bytes
   28  DROP      IPv4 header cut after 10 bytes
   29  DROP      IPv4 IHL 4
   30  DROP      IPv4 ethertype, version 6
   31  DROP      IPv4 IHL 15, options beyond the frame
   32  DROP      IPv4 tot_len 10 < header length
   33  DROP      IPv6 header cut after 30 bytes
   34  DROP      IPv6 ethertype, version 4
   35  DROP      IPv4/UDP header cut after 4 bytes
   36  DROP      IPv4/TCP header cut after 10 bytes
   37  DROP      IPv4/TCP data offset 4
   38  DROP      IPv4/TCP data offset 15, options cut
   39  DROP      IPv6/UDP header cut after 6 bytes

proto_counters.pcap
    0  PASS      IPv4/TCP SYN
    1  PASS      IPv4/UDP
    2  PASS      IPv4/ICMP echo
    3  PASS      IPv6/UDP
    4  PASS      IPv6/ICMPv6 echo
    5  PASS      ARP request
    6  PASS      LLDP
    7  PASS      802.1Q IPv4/UDP
    8  PASS      three VLAN tags
    9  PASS      1514-byte IPv4/UDP
   10  PASS      runt, 13 bytes
   11  PASS      802.1Q tag cut after 2 bytes
   12  PASS      IPv4 header cut after 10 bytes
   13  PASS      IPv4 IHL 4
   14  PASS      IPv4 ethertype, version 6
   15  PASS      IPv4 IHL 15, options beyond the frame
   16  PASS      IPv4 tot_len 10 < header length
   17  PASS      IPv6 header cut after 30 bytes
   18  PASS      IPv6 ethertype, version 4

mac_swap.pcap
    0  TX        IPv4/UDP
    1  TX        IPv4/TCP SYN
    2  TX        IPv6/UDP
    3  TX        ARP request to broadcast
    4  TX        802.1Q IPv4/UDP
    5  TX        IPv6/TCP SYN
    6  TX        LLDP
    7  TX        1514-byte IPv4/UDP
    8  TX        Ethernet header only (14 bytes)
    9  DROP      runt, 13 bytes
   10  DROP      runt, 1 byte

port_rewrite.pcap  (rewrites: 5353 -> 53; 9999 -> 8080 and 10.0.0.2 -> 10.0.0.3)
    0  PASS      IPv4/UDP -> :5353, rewritten to :53
    1  PASS      IPv4/UDP -> :5353, checksum 0, rewritten to :53, stays 0
    2  PASS      IPv4/UDP -> :9999, rewritten to 10.0.0.3:8080
    3  PASS      IPv4/UDP -> :9999, checksum 0, rewritten to 10.0.0.3:8080
    4  PASS      IPv4/UDP -> :5353, new checksum computes to 0, sent as 0xffff
    5  PASS      IPv4 with options (IHL 6)/UDP -> :9999, rewritten
    6  PASS      802.1Q IPv4/UDP -> :5353, rewritten
    7  PASS      802.1ad+802.1Q IPv4/UDP -> :9999, rewritten
    8  PASS      IPv4 first fragment (MF)/UDP -> :5353, rewritten
    9  PASS      IPv4/UDP -> :53 (not listed), unchanged
   10  PASS      IPv4/TCP -> :5353 (TCP), unchanged
   11  PASS      IPv6/UDP -> :5353 (IPv6), unchanged
   12  PASS      IPv4 non-first fragment, protocol UDP, unchanged
   13  PASS      ARP request, unchanged
   14  DROP      runt, 13 bytes
   15  DROP      802.1Q tag cut after 2 bytes
   16  DROP      IPv4 header cut after 10 bytes
   17  DROP      IPv4 IHL 4
   18  DROP      IPv4 ethertype, version 6
   19  DROP      IPv4 IHL 15, options beyond the frame
   20  DROP      IPv4 tot_len 10 < header length
   21  DROP      IPv6 header cut after 30 bytes
   22  DROP      IPv6 ethertype, version 4
   23  DROP      IPv4/UDP header cut after 4 bytes

encap.pcap  (tunnel 192.0.2.1 -> 198.51.100.1)
    0  TX        IPv4/UDP, encapsulated
    1  TX        IPv4/TCP SYN with TOS 0x10, encapsulated
    2  TX        IPv4/ICMP echo, encapsulated
    3  TX        IPv4 with options (IHL 6)/UDP, encapsulated
    4  TX        1514-byte IPv4/UDP, encapsulated
    5  PASS      IPv6/UDP
    6  PASS      ARP request
    7  PASS      802.1Q IPv4/UDP
    8  DROP      runt, 13 bytes
    9  DROP      IPv4 header cut after 10 bytes
   10  DROP      IPv4 IHL 4
   11  DROP      IPv4 tot_len 10 < header length

decap.pcap
    0  PASS      IP-in-IP, inner IPv4/UDP, decapsulated
    1  PASS      6in4, inner IPv6/TCP, decapsulated
    2  PASS      IP-in-IP, outer options (IHL 6), decapsulated
    3  PASS      IP-in-IP, inner IPv4/ICMP, decapsulated
    4  PASS      plain IPv4/UDP, unchanged
    5  PASS      IPv4/GRE, unchanged
    6  PASS      IPv6/UDP, unchanged
    7  PASS      ARP request, unchanged
    8  PASS      IP-in-IP non-first fragment, unchanged
    9  DROP      runt, 13 bytes
   10  DROP      outer IPv4 header cut after 10 bytes
   11  DROP      outer IPv4 IHL 4
   12  DROP      IP-in-IP, inner IPv4 header cut after 10 bytes
   13  DROP      6in4, inner IPv6 header cut after 30 bytes
   14  DROP      IP-in-IP, inner header is IPv6
   15  DROP      6in4, inner header is IPv4

truncate.pcap  (max_len 128)
    0  PASS      14 bytes
    1  PASS      42 bytes
    2  PASS      60 bytes
    3  PASS      127 bytes
    4  PASS      128 bytes
    5  PASS      129 bytes, cut to 128
    6  PASS      130 bytes, cut to 128
    7  PASS      200 bytes, cut to 128
    8  PASS      256 bytes, cut to 128
    9  PASS      1000 bytes, cut to 128
   10  PASS      1514 bytes, cut to 128
   11  PASS      runt, 10 bytes

l4_lb.pcap  (VIP 10.0.0.100; backends 0-2 at 10.1.0.1-3, backend 3 missing)
    0  TX        IPv4/TCP -> VIP:80, backend 0
    1  TX        IPv4/TCP -> VIP:80, backend 1
    2  TX        IPv4/TCP -> VIP:80, backend 2
    3  DROP      IPv4/TCP -> VIP:80, backend 3 (missing)
    4  TX        IPv4/UDP -> VIP:53, backend 0
    5  TX        IPv4/UDP -> VIP:53, checksum 0, backend 1, stays 0
    6  TX        802.1Q IPv4/TCP -> VIP:443, backend 2
    7  TX        802.1ad+802.1Q IPv4/TCP -> VIP:443, backend 0
    8  PASS      IPv4/ICMP echo -> VIP
    9  PASS      IPv4/TCP -> 10.0.0.2 (not the VIP)
   10  PASS      IPv4 first fragment (MF)/UDP -> VIP
   11  PASS      IPv4 non-first fragment -> VIP
   12  PASS      IPv6/TCP
   13  PASS      ARP request
   14  DROP      runt, 13 bytes
   15  DROP      802.1Q tag cut after 2 bytes
   16  DROP      IPv4 header cut after 10 bytes
   17  DROP      IPv4 IHL 4
   18  DROP      IPv4 ethertype, version 6
   19  DROP      IPv4 IHL 15, options beyond the frame
   20  DROP      IPv4 tot_len 10 < header length
   21  DROP      IPv6 header cut after 30 bytes
   22  DROP      IPv6 ethertype, version 4
   23  DROP      IPv4 IHL 4 -> VIP
   24  DROP      IPv4/TCP -> VIP, header cut after 10 bytes
   25  DROP      IPv4/UDP -> VIP, header cut after 4 bytes

bounded_loop.pcap
    0  PASS      IPv6/UDP
    1  PASS      IPv6/TCP SYN
    2  PASS      IPv6 hop-by-hop/UDP
    3  PASS      IPv6 hop-by-hop, dest-opts, routing type 2/TCP
    4  DROP      IPv6 routing type 0
    5  DROP      IPv6 hop-by-hop, routing type 0/UDP
    6  PASS      IPv6 segment routing (type 4)/UDP
    7  PASS      IPv6 first fragment/UDP
    8  PASS      IPv6 non-first fragment
    9  PASS      IPv6 AH/TCP
   10  PASS      IPv6 8 dest-opts headers/UDP
   11  DROP      IPv6 9 dest-opts headers/UDP
   12  DROP      IPv6 dest-opts header cut (needs 24 bytes, 8 present)
   13  DROP      IPv6 extension header cut after 1 byte
   14  DROP      IPv6 fragment header cut after 4 bytes
   15  DROP      IPv6 routing header cut after 2 bytes
   16  PASS      IPv6 no next header (59)
   17  PASS      802.1Q IPv6 hop-by-hop/UDP
   18  DROP      802.1ad+802.1Q IPv6 routing type 0
   19  PASS      IPv4/UDP
   20  PASS      ARP request
   21  DROP      IPv6 header cut after 30 bytes
   22  DROP      runt, 13 bytes

bpf2bpf_call.pcap
    0  PASS      IPv4/TCP SYN
    1  PASS      IPv4/TCP SYN+ACK
    2  PASS      IPv4/TCP ACK
    3  PASS      IPv4/TCP FIN+ACK
    4  PASS      IPv4/TCP RST
    5  PASS      IPv4/TCP PSH+ACK with options
    6  DROP      IPv4/TCP no flags (NULL scan)
    7  DROP      IPv4/TCP SYN+FIN
    8  DROP      IPv4/TCP SYN+RST
    9  DROP      IPv4/TCP FIN+PSH+URG (Xmas scan)
   10  DROP      IPv4/TCP FIN without ACK
   11  PASS      IPv6/TCP SYN
   12  DROP      IPv6/TCP no flags
   13  PASS      IPv6/UDP
   14  PASS      IPv4/UDP
   15  PASS      IPv4/ICMP echo
   16  PASS      ARP request
   17  PASS      802.1Q IPv4/TCP no flags (VLANs not parsed)
   18  PASS      IPv4 non-first fragment, protocol TCP
   19  DROP      runt, 13 bytes
   20  DROP      IPv4 header cut after 10 bytes
   21  DROP      IPv4 IHL 4
   22  DROP      IPv4 ethertype, version 6
   23  DROP      IPv4 IHL 15, options beyond the frame
   24  DROP      IPv4 tot_len 10 < header length
   25  DROP      IPv6 header cut after 30 bytes
   26  DROP      IPv6 ethertype, version 4
   27  DROP      IPv4/TCP header cut after 10 bytes
   28  DROP      IPv4/TCP data offset 4
   29  DROP      IPv4/TCP data offset 15, options cut

redirect_devmap.pcap  (tx_ports: 1 -> 1; ingress ifindex 1)
    0  REDIRECT  IPv4/UDP
    1  REDIRECT  IPv4/TCP SYN
    2  REDIRECT  IPv6/UDP
    3  REDIRECT  IPv6/ICMPv6 echo
    4  REDIRECT  IPv6/TCP SYN
    5  REDIRECT  IPv4 IHL 4 (no L3 checks here)
    6  PASS      ARP request
    7  PASS      802.1Q IPv4/UDP
    8  PASS      802.1ad+802.1Q IPv6/UDP
    9  PASS      LLDP
   10  DROP      runt, 13 bytes
   11  DROP      runt, 1 byte

syn_ratelimit.pcap  (5 SYNs per source per second)
    0  PASS      SYN 1 from 10.0.0.9
    1  PASS      SYN 2 from 10.0.0.9
    2  PASS      SYN 3 from 10.0.0.9
    3  PASS      SYN 4 from 10.0.0.9
    4  PASS      SYN 5 from 10.0.0.9
    5  DROP      SYN 6 from 10.0.0.9 (over the limit)
    6  DROP      SYN 7 from 10.0.0.9 (over the limit)
    7  PASS      SYN 1 from 10.0.0.10
    8  PASS      802.1Q SYN 2 from 10.0.0.10
    9  PASS      802.1ad+802.1Q SYN 3 from 10.0.0.10
   10  PASS      SYN+ACK from 10.0.0.9
   11  PASS      ACK from 10.0.0.9
   12  PASS      IPv6/TCP SYN
   13  PASS      IPv4/UDP
   14  PASS      ARP request
   15  PASS      IPv4 non-first fragment, protocol TCP
   16  DROP      runt, 13 bytes
   17  DROP      802.1Q tag cut after 2 bytes
   18  DROP      IPv4 header cut after 10 bytes
   19  DROP      IPv4 IHL 4
   20  DROP      IPv4 ethertype, version 6
   21  DROP      IPv4 IHL 15, options beyond the frame
   22  DROP      IPv4 tot_len 10 < header length
   23  DROP      IPv6 header cut after 30 bytes
   24  DROP      IPv6 ethertype, version 4
   25  DROP      IPv4/TCP header cut after 10 bytes

global_data.pcap  (mtu_limit 1000)
    0  PASS      60 bytes
    1  PASS      100 bytes
    2  PASS      500 bytes
    3  PASS      999 bytes
    4  PASS      1000 bytes
    5  DROP      1001 bytes
    6  DROP      1200 bytes
    7  DROP      1514 bytes
    8  PASS      Ethernet header only (14 bytes)
    9  PASS      runt, 10 bytes

payload_scan.pcap  (signature de ad be ef in the first 259 UDP payload bytes)
    0  DROP      IPv4/UDP, signature at payload offset 0
    1  DROP      IPv4/UDP, signature at payload offset 100
    2  DROP      IPv4/UDP, signature at payload offset 255 (last scanned)
    3  PASS      IPv4/UDP, signature at payload offset 256 (not scanned)
    4  PASS      IPv4/UDP, no signature
    5  PASS      IPv4/UDP, near misses de ad be 00, de ad 00, de 00
    6  DROP      802.1ad+802.1Q IPv6/UDP, signature at payload offset 1
    7  PASS      IPv4/UDP, signature cut by the end of the frame
    8  PASS      IPv4/UDP, empty payload
    9  DROP      IPv6/UDP, signature at payload offset 8
   10  DROP      802.1Q IPv4/UDP, signature at payload offset 3
   11  PASS      IPv4/TCP, signature in the payload (TCP not scanned)
   12  PASS      IPv4 non-first fragment with the signature
   13  PASS      ARP request
   14  DROP      IPv4/UDP header cut after 4 bytes
   15  DROP      runt, 13 bytes
   16  DROP      802.1Q tag cut after 2 bytes
   17  DROP      IPv4 header cut after 10 bytes
   18  DROP      IPv4 IHL 4
   19  DROP      IPv4 ethertype, version 6
   20  DROP      IPv4 IHL 15, options beyond the frame
   21  DROP      IPv4 tot_len 10 < header length
   22  DROP      IPv6 header cut after 30 bytes
   23  DROP      IPv6 ethertype, version 4
"""
import json
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    IPv6ExtHdrSegmentRouting,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

PROGRAMS_DIR = Path(__file__).resolve().parent
BASE_TIME = 1_700_000_000
LINKTYPE_ETHERNET = 1

MAC_A, MAC_B, MAC_BCAST = "02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"
IP_A, IP_B = "10.0.0.1", "10.0.0.2"
IP6_A, IP6_B = "2001:db8::1", "2001:db8::2"
PAYLOAD = b"xdptool example payload"


@dataclass(frozen=True)
class Case:
    """One packet of a capture: what it is, its bytes, what the program must do."""

    what: str
    data: bytes
    verdict: str  # ABORTED, DROP, PASS, TX, REDIRECT
    out: bytes | None = None  # expected output frame where the program rewrites it


# ---- packet kit -------------------------------------------------------------------


def frame(l3, vlans=(), src=MAC_A, dst=MAC_B):
    """Ethernet frame around l3; two or more VLAN ids make the outer tag 802.1ad."""
    pkt = Ether(src=src, dst=dst)
    for depth, vid in enumerate(vlans):
        pkt = pkt / (Dot1AD(vlan=vid) if depth == 0 and len(vlans) > 1 else Dot1Q(vlan=vid))
    return pkt / l3


def ip4(src=IP_A, dst=IP_B, **kw):
    return IP(src=src, dst=dst, ttl=64, id=1, **kw)


def ip6(src=IP6_A, dst=IP6_B, **kw):
    return IPv6(src=src, dst=dst, hlim=64, **kw)


def udp(dport, sport=40000, payload=PAYLOAD, **kw):
    return UDP(sport=sport, dport=dport, **kw) / Raw(payload)


def tcp(dport, sport=40000, flags="S", payload=b"", **kw):
    layer = TCP(sport=sport, dport=dport, flags=flags, seq=1000, ack=0, window=8192, **kw)
    return layer / Raw(payload) if payload else layer


def arp_request():
    return Ether(src=MAC_A, dst=MAC_BCAST) / ARP(
        op=1, hwsrc=MAC_A, psrc=IP_A, hwdst="00:00:00:00:00:00", pdst=IP_B
    )


def arp_reply():
    return Ether(src=MAC_B, dst=MAC_A) / ARP(op=2, hwsrc=MAC_B, psrc=IP_B, hwdst=MAC_A, pdst=IP_A)


def raw_ethertype(ethertype, body=bytes(46)):
    return bytes(Ether(src=MAC_A, dst=MAC_B, type=ethertype)) + body


def lldp():
    return raw_ethertype(0x88CC, bytes.fromhex("0207040200000000010403020001060200780000") + bytes(26))


def runt(n):
    return bytes(frame(ip4() / udp(53)))[:n]


def cut(pkt, layer_offset, n):
    """The frame cut n bytes into the layer that starts at layer_offset."""
    return bytes(pkt)[: layer_offset + n]


def sized_udp(total_len):
    """An IPv4/UDP frame of exactly total_len bytes (>= 42)."""
    return bytes(frame(ip4() / udp(9, payload=(bytes(range(256)) * 8)[: total_len - 42])))


def three_vlans(l3):
    return Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=100) / Dot1Q(vlan=200) / Dot1Q(vlan=300) / l3


def later_fragment(proto, payload=b"\x00\x35\x00\x35" + bytes(20), dst=IP_B):
    return frame(ip4(dst=dst, frag=185, proto=proto) / Raw(payload))


def first_fragment_udp(dport, dst=IP_B):
    return frame(ip4(dst=dst, flags="MF") / udp(dport))


def cut_vlan():
    return bytes(Ether(src=MAC_A, dst=MAC_B, type=0x8100)) + b"\x00\x64"


ETH = 14  # offset of the layer after an untagged Ethernet header
IHL4 = frame(ip4(ihl=4) / udp(53))
TOT_LEN_10 = frame(ip4(len=10) / udp(53))
CUT_IP4 = cut(frame(ip4() / udp(53)), ETH, 10)
CUT_IP6 = cut(frame(ip6() / udp(53)), ETH, 30)


def malformed_l3(vlans=True):
    """(what, frame) for every check of parsing.h's parse_to_l4 that drops a frame:
    programs built on it give each of these their "malformed" verdict."""
    return [
        ("runt, 13 bytes", runt(13)),
        *([("802.1Q tag cut after 2 bytes", cut_vlan())] if vlans else []),
        ("IPv4 header cut after 10 bytes", CUT_IP4),
        ("IPv4 IHL 4", bytes(IHL4)),
        ("IPv4 ethertype, version 6", bytes(frame(ip4(version=6) / udp(53)))),
        ("IPv4 IHL 15, options beyond the frame", bytes(frame(ip4(ihl=15) / udp(53, payload=b"")))),
        ("IPv4 tot_len 10 < header length", bytes(TOT_LEN_10)),
        ("IPv6 header cut after 30 bytes", CUT_IP6),
        ("IPv6 ethertype, version 4", bytes(frame(ip6(version=4) / udp(53)))),
    ]


def malformed_cases(verdict="DROP", vlans=True):
    return [Case(what, data, verdict) for what, data in malformed_l3(vlans)]


# ---- expected outputs (independent of the C code: scapy recomputes checksums) -----


def recompute(pkt, keep_zero_udp=False):
    """Bytes of pkt with IPv4, TCP and UDP checksums recomputed (0 UDP kept if asked)."""
    pkt = pkt.copy()
    if IP in pkt:
        del pkt[IP].chksum
    if TCP in pkt:
        del pkt[TCP].chksum
    if UDP in pkt and not (keep_zero_udp and pkt[UDP].chksum == 0):
        del pkt[UDP].chksum
    return bytes(pkt)


def swapped_macs(data):
    return data[6:12] + data[0:6] + data[12:]


# ---- captures ----------------------------------------------------------------------


def drop_all():
    return [
        Case("IPv4/UDP 10.0.0.1:40000 -> 10.0.0.2:53", bytes(frame(ip4() / udp(53))), "DROP"),
        Case("IPv4/TCP SYN -> :80", bytes(frame(ip4() / tcp(80))), "DROP"),
        Case("IPv6/UDP -> :53", bytes(frame(ip6() / udp(53))), "DROP"),
        Case("ARP request", bytes(arp_request()), "DROP"),
        Case("802.1Q IPv4/ICMP echo", bytes(frame(ip4() / ICMP(), vlans=(10,))), "DROP"),
        Case("LLDP", lldp(), "DROP"),
        Case("1514-byte IPv4/UDP", sized_udp(1514), "DROP"),
        Case("Ethernet header only (14 bytes)", bytes(Ether(src=MAC_A, dst=MAC_B, type=0x0800)), "DROP"),
        Case("runt, 13 bytes", runt(13), "DROP"),
        Case("runt, 1 byte", runt(1), "DROP"),
    ]


def ethertype_filter():
    return [
        Case("IPv4/UDP -> :53", bytes(frame(ip4() / udp(53))), "PASS"),
        Case("IPv4/TCP SYN -> :80", bytes(frame(ip4() / tcp(80))), "PASS"),
        Case("IPv6/TCP SYN -> :443", bytes(frame(ip6() / tcp(443))), "PASS"),
        Case("IPv6/ICMPv6 echo", bytes(frame(ip6() / ICMPv6EchoRequest(id=1, seq=1))), "PASS"),
        Case("ARP request", bytes(arp_request()), "PASS"),
        Case("ARP reply", bytes(arp_reply()), "PASS"),
        Case("IPv4 with IHL 4 (no L3 checks here)", bytes(IHL4), "PASS"),
        Case("ethertype IPv4, nothing after the Ethernet header", raw_ethertype(0x0800, b""), "PASS"),
        Case("802.1Q IPv4/UDP", bytes(frame(ip4() / udp(53), vlans=(10,))), "DROP"),
        Case("802.1ad+802.1Q IPv4/UDP", bytes(frame(ip4() / udp(53), vlans=(100, 200))), "DROP"),
        Case("LLDP (0x88cc)", lldp(), "DROP"),
        Case("802.3 length field + LLC", raw_ethertype(46, bytes.fromhex("424203") + bytes(43)), "DROP"),
        Case("MPLS unicast (0x8847)", raw_ethertype(0x8847), "DROP"),
        Case("PPPoE session (0x8864)", raw_ethertype(0x8864), "DROP"),
        Case("IPX (0x8137)", raw_ethertype(0x8137), "DROP"),
        Case("ethertype 0x0000", raw_ethertype(0x0000), "DROP"),
        Case("runt, 13 bytes", runt(13), "DROP"),
        Case("runt, 6 bytes", runt(6), "DROP"),
    ]


def ip_parse():
    return [
        Case("IPv4/UDP", bytes(frame(ip4() / udp(53))), "PASS"),
        Case("IPv4/TCP SYN", bytes(frame(ip4() / tcp(80))), "PASS"),
        Case("IPv4/ICMP echo", bytes(frame(ip4() / ICMP())), "PASS"),
        Case("IPv4/GRE (47)", bytes(frame(ip4(proto=47) / Raw(bytes(4)))), "PASS"),
        Case("IPv4 with options (IHL 6)/UDP", bytes(frame(ip4(options=IPOption_Router_Alert()) / udp(53))), "PASS"),
        Case("IPv4 non-first fragment", bytes(later_fragment(17)), "PASS"),
        Case("IPv6/UDP", bytes(frame(ip6() / udp(53))), "PASS"),
        Case("IPv6/ICMPv6 echo", bytes(frame(ip6() / ICMPv6EchoRequest(id=1, seq=1))), "PASS"),
        Case("IPv6 hop-by-hop/UDP (counted as 0)", bytes(frame(ip6() / IPv6ExtHdrHopByHop() / udp(53))), "PASS"),
        Case("802.1Q IPv4/UDP", bytes(frame(ip4() / udp(53), vlans=(10,))), "PASS"),
        Case("802.1ad+802.1Q IPv4/TCP", bytes(frame(ip4() / tcp(80), vlans=(100, 200))), "PASS"),
        Case("802.1Q IPv6/UDP", bytes(frame(ip6() / udp(53), vlans=(10,))), "PASS"),
        Case("three VLAN tags (not IP)", bytes(three_vlans(ip4() / udp(53))), "PASS"),
        Case("ARP request (not IP)", bytes(arp_request()), "PASS"),
        Case("LLDP (not IP)", lldp(), "PASS"),
        *malformed_cases(),
        Case("runt, 10 bytes", runt(10), "DROP"),
        Case(
            "802.1ad tag, inner 802.1Q tag cut",
            bytes(Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=100, type=0x8100)) + b"\x00\xc8",
            "DROP",
        ),
        Case("802.1Q, IPv4 header cut after 12 bytes", cut(frame(ip4() / udp(53), vlans=(10,)), ETH + 4, 12), "DROP"),
        Case("IPv4 IHL 0", bytes(frame(ip4(ihl=0) / udp(53))), "DROP"),
    ]


def port_blocklist():
    allowed, blocked = "PASS", "DROP"
    return [
        Case("IPv4/UDP -> :53 (UDP-blocked)", bytes(frame(ip4() / udp(53))), blocked),
        Case("IPv4/TCP -> :53 (only UDP blocked)", bytes(frame(ip4() / tcp(53))), allowed),
        Case("IPv4/TCP -> :445 (TCP-blocked)", bytes(frame(ip4() / tcp(445))), blocked),
        Case("IPv4/UDP -> :445 (only TCP blocked)", bytes(frame(ip4() / udp(445))), allowed),
        Case("IPv4/UDP -> :23 (both blocked)", bytes(frame(ip4() / udp(23))), blocked),
        Case("IPv4/TCP -> :23 (both blocked)", bytes(frame(ip4() / tcp(23))), blocked),
        Case("IPv4/UDP -> :11211", bytes(frame(ip4() / udp(11211))), blocked),
        Case("IPv4/TCP -> :8080 (mask 0)", bytes(frame(ip4() / tcp(8080))), allowed),
        Case("IPv4/UDP -> :8080 (mask 0)", bytes(frame(ip4() / udp(8080))), allowed),
        Case("IPv4/UDP -> :80 (not listed)", bytes(frame(ip4() / udp(80))), allowed),
        Case("IPv4/TCP -> :80 (not listed)", bytes(frame(ip4() / tcp(80))), allowed),
        Case("IPv4/UDP 53 -> 4000 (source port is not checked)", bytes(frame(ip4() / udp(4000, sport=53))), allowed),
        Case(
            "IPv4/TCP with options (doff 7) -> :445",
            bytes(frame(ip4() / tcp(445, options=[("MSS", 1460), ("WScale", 7), ("NOP", None)]))),
            blocked,
        ),
        Case("IPv4 with options (IHL 6)/UDP -> :53", bytes(frame(ip4(options=IPOption_Router_Alert()) / udp(53))), blocked),
        Case("IPv4 first fragment (MF)/UDP -> :53", bytes(first_fragment_udp(53)), blocked),
        Case("IPv4 non-first fragment, protocol UDP", bytes(later_fragment(17)), allowed),
        Case("IPv4/ICMP echo", bytes(frame(ip4() / ICMP())), allowed),
        Case("IPv6/UDP -> :53", bytes(frame(ip6() / udp(53))), blocked),
        Case("IPv6/TCP -> :445", bytes(frame(ip6() / tcp(445))), blocked),
        Case("IPv6/TCP -> :443", bytes(frame(ip6() / tcp(443))), allowed),
        Case(
            "IPv6 hop-by-hop/UDP -> :53 (extension headers not walked)",
            bytes(frame(ip6() / IPv6ExtHdrHopByHop() / udp(53))),
            allowed,
        ),
        Case("802.1Q IPv4/UDP -> :53", bytes(frame(ip4() / udp(53), vlans=(10,))), blocked),
        Case("802.1ad+802.1Q IPv6/TCP -> :23", bytes(frame(ip6() / tcp(23), vlans=(100, 200))), blocked),
        Case("three VLAN tags IPv4/UDP -> :53 (not IP)", bytes(three_vlans(ip4() / udp(53))), allowed),
        Case("ARP request", bytes(arp_request()), allowed),
        Case("LLDP", lldp(), allowed),
        *malformed_cases(),
        Case("IPv4/UDP header cut after 4 bytes", cut(frame(ip4() / udp(53)), ETH + 20, 4), "DROP"),
        Case("IPv4/TCP header cut after 10 bytes", cut(frame(ip4() / tcp(445)), ETH + 20, 10), "DROP"),
        Case("IPv4/TCP data offset 4", bytes(frame(ip4() / tcp(80, dataofs=4))), "DROP"),
        Case("IPv4/TCP data offset 15, options cut", bytes(frame(ip4() / tcp(80, dataofs=15))), "DROP"),
        Case("IPv6/UDP header cut after 6 bytes", cut(frame(ip6() / udp(53)), ETH + 40, 6), "DROP"),
    ]


def proto_counters():
    return [
        Case("IPv4/TCP SYN", bytes(frame(ip4() / tcp(80))), "PASS"),
        Case("IPv4/UDP", bytes(frame(ip4() / udp(53))), "PASS"),
        Case("IPv4/ICMP echo", bytes(frame(ip4() / ICMP())), "PASS"),
        Case("IPv6/UDP", bytes(frame(ip6() / udp(53))), "PASS"),
        Case("IPv6/ICMPv6 echo", bytes(frame(ip6() / ICMPv6EchoRequest(id=1, seq=1))), "PASS"),
        Case("ARP request", bytes(arp_request()), "PASS"),
        Case("LLDP", lldp(), "PASS"),
        Case("802.1Q IPv4/UDP", bytes(frame(ip4() / udp(53), vlans=(10,))), "PASS"),
        Case("three VLAN tags", bytes(three_vlans(ip4() / udp(53))), "PASS"),
        Case("1514-byte IPv4/UDP", sized_udp(1514), "PASS"),
        *malformed_cases("PASS"),
    ]


def mac_swap():
    def tx(what, data):
        return Case(what, data, "TX", swapped_macs(data))

    return [
        tx("IPv4/UDP", bytes(frame(ip4() / udp(53)))),
        tx("IPv4/TCP SYN", bytes(frame(ip4() / tcp(80)))),
        tx("IPv6/UDP", bytes(frame(ip6() / udp(53)))),
        tx("ARP request to broadcast", bytes(arp_request())),
        tx("802.1Q IPv4/UDP", bytes(frame(ip4() / udp(53), vlans=(10,)))),
        tx("IPv6/TCP SYN", bytes(frame(ip6() / tcp(443)))),
        tx("LLDP", lldp()),
        tx("1514-byte IPv4/UDP", sized_udp(1514)),
        tx("Ethernet header only (14 bytes)", bytes(Ether(src=MAC_A, dst=MAC_B, type=0x0800))),
        Case("runt, 13 bytes", runt(13), "DROP"),
        Case("runt, 1 byte", runt(1), "DROP"),
    ]


REWRITES = {5353: (53, None), 9999: (8080, "10.0.0.3")}  # port_rewrite.maps.json


def rewritten(pkt, keep_zero_udp=False):
    """pkt after port_rewrite's documented rewrite (REWRITES), checksums recomputed."""
    pkt = pkt.copy()
    new_port, new_dst = REWRITES[pkt[UDP].dport]
    pkt[UDP].dport = new_port
    if new_dst:
        pkt[IP].dst = new_dst
    return recompute(pkt, keep_zero_udp)


def udp_sum_to_zero_after_rewrite():
    """An IPv4/UDP packet to :5353 whose checksum after the rewrite to :53 computes to 0.

    The first payload word w is chosen so that the one's-complement sum of the
    rewritten datagram is 0xffff: with w = 0 the checksum is c = ~S, and adding the
    word c makes the sum S + ~S = 0xffff (RFC 1071), so the checksum is 0 and UDP
    sends 0xffff (RFC 768)."""
    probe = frame(ip4() / UDP(sport=40000, dport=53) / Raw(b"\x00\x00" + PAYLOAD))
    c = Ether(bytes(probe))[UDP].chksum
    return frame(ip4() / UDP(sport=40000, dport=5353) / Raw(struct.pack("!H", c) + PAYLOAD))


def port_rewrite():
    def rw(what, pkt, zero=False):
        if zero:
            pkt = pkt.copy()
            pkt[UDP].chksum = 0
        return Case(what, bytes(pkt), "PASS", rewritten(pkt, keep_zero_udp=zero))

    def same(what, pkt):
        return Case(what, bytes(pkt), "PASS", bytes(pkt))

    return [
        rw("IPv4/UDP -> :5353, rewritten to :53", frame(ip4() / udp(5353))),
        rw("IPv4/UDP -> :5353, checksum 0, rewritten to :53, stays 0", frame(ip4() / udp(5353)), zero=True),
        rw("IPv4/UDP -> :9999, rewritten to 10.0.0.3:8080", frame(ip4() / udp(9999))),
        rw("IPv4/UDP -> :9999, checksum 0, rewritten to 10.0.0.3:8080", frame(ip4() / udp(9999)), zero=True),
        rw("IPv4/UDP -> :5353, new checksum computes to 0, sent as 0xffff", udp_sum_to_zero_after_rewrite()),
        rw("IPv4 with options (IHL 6)/UDP -> :9999, rewritten", frame(ip4(options=IPOption_Router_Alert()) / udp(9999))),
        rw("802.1Q IPv4/UDP -> :5353, rewritten", frame(ip4() / udp(5353), vlans=(10,))),
        rw("802.1ad+802.1Q IPv4/UDP -> :9999, rewritten", frame(ip4() / udp(9999), vlans=(100, 200))),
        rw("IPv4 first fragment (MF)/UDP -> :5353, rewritten", first_fragment_udp(5353)),
        same("IPv4/UDP -> :53 (not listed), unchanged", frame(ip4() / udp(53))),
        same("IPv4/TCP -> :5353 (TCP), unchanged", frame(ip4() / tcp(5353))),
        same("IPv6/UDP -> :5353 (IPv6), unchanged", frame(ip6() / udp(5353))),
        same("IPv4 non-first fragment, protocol UDP, unchanged", later_fragment(17, b"\x9c\x40\x14\xe9" + bytes(20))),
        same("ARP request, unchanged", arp_request()),
        *malformed_cases(),
        Case("IPv4/UDP header cut after 4 bytes", cut(frame(ip4() / udp(5353)), ETH + 20, 4), "DROP"),
    ]


TUNNEL_SRC, TUNNEL_DST = "192.0.2.1", "198.51.100.1"  # encap.maps.json


def encapsulated(data):
    """The frame after encap: Ethernet header kept, outer IPv4 (IP-in-IP) inserted."""
    inner = IP(data[ETH:])
    outer = IP(
        version=4, ihl=5, tos=inner.tos, len=inner.len + 20, id=0, flags="DF", frag=0,
        ttl=64, proto=socket.IPPROTO_IPIP, src=TUNNEL_SRC, dst=TUNNEL_DST,
    )
    return data[:ETH] + bytes(outer) + data[ETH:]


def encap():
    def tx(what, pkt):
        data = bytes(pkt)
        return Case(what, data, "TX", encapsulated(data))

    return [
        tx("IPv4/UDP, encapsulated", frame(ip4() / udp(53))),
        tx("IPv4/TCP SYN with TOS 0x10, encapsulated", frame(ip4(tos=0x10) / tcp(80))),
        tx("IPv4/ICMP echo, encapsulated", frame(ip4() / ICMP())),
        tx("IPv4 with options (IHL 6)/UDP, encapsulated", frame(ip4(options=IPOption_Router_Alert()) / udp(53))),
        tx("1514-byte IPv4/UDP, encapsulated", sized_udp(1514)),
        Case("IPv6/UDP", bytes(frame(ip6() / udp(53))), "PASS", bytes(frame(ip6() / udp(53)))),
        Case("ARP request", bytes(arp_request()), "PASS", bytes(arp_request())),
        Case("802.1Q IPv4/UDP", bytes(frame(ip4() / udp(53), vlans=(10,))), "PASS"),
        Case("runt, 13 bytes", runt(13), "DROP"),
        Case("IPv4 header cut after 10 bytes", CUT_IP4, "DROP"),
        Case("IPv4 IHL 4", bytes(IHL4), "DROP"),
        Case("IPv4 tot_len 10 < header length", bytes(TOT_LEN_10), "DROP"),
    ]


def tunnel(inner, proto, **outer_kw):
    return frame(IP(src=TUNNEL_SRC, dst=TUNNEL_DST, ttl=64, id=7, proto=proto, **outer_kw) / inner)


def decap():
    inner4 = ip4() / udp(53)
    inner6 = ip6() / tcp(443)
    icmp4 = ip4() / ICMP()

    def decapsulated(what, inner, proto, **outer_kw):
        ethertype = 0x86DD if proto == 41 else 0x0800
        out = bytes(Ether(src=MAC_A, dst=MAC_B, type=ethertype)) + bytes(inner)
        return Case(what, bytes(tunnel(inner, proto, **outer_kw)), "PASS", out)

    def same(what, data):
        return Case(what, bytes(data), "PASS", bytes(data))

    return [
        decapsulated("IP-in-IP, inner IPv4/UDP, decapsulated", inner4, 4),
        decapsulated("6in4, inner IPv6/TCP, decapsulated", inner6, 41),
        decapsulated("IP-in-IP, outer options (IHL 6), decapsulated", inner4, 4, options=IPOption_Router_Alert()),
        decapsulated("IP-in-IP, inner IPv4/ICMP, decapsulated", icmp4, 4),
        same("plain IPv4/UDP, unchanged", frame(ip4() / udp(53))),
        same("IPv4/GRE, unchanged", frame(ip4(proto=47) / Raw(bytes(4)))),
        same("IPv6/UDP, unchanged", frame(ip6() / udp(53))),
        same("ARP request, unchanged", arp_request()),
        same("IP-in-IP non-first fragment, unchanged", later_fragment(4, bytes(inner4)[20:44])),
        Case("runt, 13 bytes", runt(13), "DROP"),
        Case("outer IPv4 header cut after 10 bytes", cut(tunnel(inner4, 4), ETH, 10), "DROP"),
        Case("outer IPv4 IHL 4", bytes(tunnel(inner4, 4, ihl=4)), "DROP"),
        Case("IP-in-IP, inner IPv4 header cut after 10 bytes", cut(tunnel(inner4, 4), ETH + 20, 10), "DROP"),
        Case("6in4, inner IPv6 header cut after 30 bytes", cut(tunnel(inner6, 41), ETH + 20, 30), "DROP"),
        Case("IP-in-IP, inner header is IPv6", bytes(tunnel(inner6, 4)), "DROP"),
        Case("6in4, inner header is IPv4", bytes(tunnel(ip4() / udp(53, payload=bytes(40)), 41)), "DROP"),
    ]


TRUNCATE_LEN = 128  # truncate.c max_len


def truncate():
    def case(length):
        data = sized_udp(length) if length >= 42 else bytes(Ether(src=MAC_A, dst=MAC_B, type=0x0800))
        if length > TRUNCATE_LEN:
            return Case(f"{length} bytes, cut to {TRUNCATE_LEN}", data, "PASS", data[:TRUNCATE_LEN])
        return Case(f"{length} bytes", data, "PASS", data)

    return [case(n) for n in (14, 42, 60, 127, 128, 129, 130, 200, 256, 1000, 1514)] + [
        Case("runt, 10 bytes", runt(10), "PASS", runt(10))
    ]


LB_VIP = "10.0.0.100"
LB_BACKENDS = [("10.1.0.1", "02:00:00:00:01:01"), ("10.1.0.2", "02:00:00:00:01:02"), ("10.1.0.3", "02:00:00:00:01:03"), None]


def lb_index(src, dst, sport, dport, proto):
    """l4_lb.c's documented hash, on network-order words read little-endian."""
    addr = lambda a: int.from_bytes(socket.inet_aton(a), "little")  # noqa: E731
    port = lambda p: int.from_bytes(p.to_bytes(2, "big"), "little")  # noqa: E731
    h = addr(src) ^ addr(dst) ^ (port(sport) | port(dport) << 16) ^ proto
    h ^= h >> 16
    h ^= h >> 8
    return h & 3


def lb_sport(index, dport, proto, start=40000):
    """The first source port from start whose flow from IP_A hashes to index."""
    return next(p for p in range(start, 65536) if lb_index(IP_A, LB_VIP, p, dport, proto) == index)


def l4_lb():
    def balanced(what, pkt, zero_udp=False):
        l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
        index = lb_index(pkt[IP].src, pkt[IP].dst, l4.sport, l4.dport, pkt[IP].proto)
        if zero_udp:
            pkt = pkt.copy()
            pkt[UDP].chksum = 0
        backend = LB_BACKENDS[index]
        if backend is None:
            return Case(what, bytes(pkt), "DROP")
        out = pkt.copy()
        out[Ether].src, out[Ether].dst = pkt[Ether].dst, backend[1]
        out[IP].dst = backend[0]
        return Case(what, bytes(pkt), "TX", recompute(out, keep_zero_udp=zero_udp))

    def vip_tcp(index, dport=80, vlans=()):
        return frame(ip4(dst=LB_VIP) / tcp(dport, sport=lb_sport(index, dport, 6)), vlans=vlans)

    def vip_udp(index):
        return frame(ip4(dst=LB_VIP) / udp(53, sport=lb_sport(index, 53, 17)))

    return [
        balanced("IPv4/TCP -> VIP:80, backend 0", vip_tcp(0)),
        balanced("IPv4/TCP -> VIP:80, backend 1", vip_tcp(1)),
        balanced("IPv4/TCP -> VIP:80, backend 2", vip_tcp(2)),
        balanced("IPv4/TCP -> VIP:80, backend 3 (missing)", vip_tcp(3)),
        balanced("IPv4/UDP -> VIP:53, backend 0", vip_udp(0)),
        balanced("IPv4/UDP -> VIP:53, checksum 0, backend 1, stays 0", vip_udp(1), zero_udp=True),
        balanced("802.1Q IPv4/TCP -> VIP:443, backend 2", vip_tcp(2, dport=443, vlans=(10,))),
        balanced("802.1ad+802.1Q IPv4/TCP -> VIP:443, backend 0", vip_tcp(0, dport=443, vlans=(100, 200))),
        Case("IPv4/ICMP echo -> VIP", bytes(frame(ip4(dst=LB_VIP) / ICMP())), "PASS"),
        Case("IPv4/TCP -> 10.0.0.2 (not the VIP)", bytes(frame(ip4() / tcp(80))), "PASS"),
        Case("IPv4 first fragment (MF)/UDP -> VIP", bytes(first_fragment_udp(53, dst=LB_VIP)), "PASS"),
        Case("IPv4 non-first fragment -> VIP", bytes(later_fragment(17, dst=LB_VIP)), "PASS"),
        Case("IPv6/TCP", bytes(frame(ip6() / tcp(80))), "PASS"),
        Case("ARP request", bytes(arp_request()), "PASS"),
        *malformed_cases(),
        Case("IPv4 IHL 4 -> VIP", bytes(frame(ip4(dst=LB_VIP, ihl=4) / tcp(80))), "DROP"),
        Case("IPv4/TCP -> VIP, header cut after 10 bytes", cut(vip_tcp(0), ETH + 20, 10), "DROP"),
        Case("IPv4/UDP -> VIP, header cut after 4 bytes", cut(vip_udp(0), ETH + 20, 4), "DROP"),
    ]


def bounded_loop():
    def dstopts(n):
        chain = ip6()
        for _ in range(n):
            chain = chain / IPv6ExtHdrDestOpt()
        return frame(chain / udp(53))

    return [
        Case("IPv6/UDP", bytes(frame(ip6() / udp(53))), "PASS"),
        Case("IPv6/TCP SYN", bytes(frame(ip6() / tcp(80))), "PASS"),
        Case("IPv6 hop-by-hop/UDP", bytes(frame(ip6() / IPv6ExtHdrHopByHop() / udp(53))), "PASS"),
        Case(
            "IPv6 hop-by-hop, dest-opts, routing type 2/TCP",
            bytes(frame(ip6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
                        / IPv6ExtHdrRouting(type=2, addresses=["2001:db8::3"], segleft=1) / tcp(80))),
            "PASS",
        ),
        Case("IPv6 routing type 0", bytes(frame(ip6() / IPv6ExtHdrRouting(addresses=["2001:db8::3"]) / udp(53))), "DROP"),
        Case(
            "IPv6 hop-by-hop, routing type 0/UDP",
            bytes(frame(ip6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=["2001:db8::3"]) / udp(53))),
            "DROP",
        ),
        Case(
            "IPv6 segment routing (type 4)/UDP",
            bytes(frame(ip6() / IPv6ExtHdrSegmentRouting(addresses=["2001:db8::3"]) / udp(53))),
            "PASS",
        ),
        Case("IPv6 first fragment/UDP", bytes(frame(ip6() / IPv6ExtHdrFragment(offset=0, m=1, id=1) / udp(53))), "PASS"),
        Case(
            "IPv6 non-first fragment",
            bytes(frame(ip6() / IPv6ExtHdrFragment(offset=100, m=0, id=1, nh=17) / Raw(bytes(24)))),
            "PASS",
        ),
        Case("IPv6 AH/TCP", bytes(frame(ip6() / AH(nh=6, spi=1, seq=1, icv=bytes(12)) / tcp(80))), "PASS"),
        Case("IPv6 8 dest-opts headers/UDP", bytes(dstopts(8)), "PASS"),
        Case("IPv6 9 dest-opts headers/UDP", bytes(dstopts(9)), "DROP"),
        Case(
            "IPv6 dest-opts header cut (needs 24 bytes, 8 present)",
            bytes(frame(ip6(nh=60) / Raw(b"\x11\x02" + bytes(6)))),
            "DROP",
        ),
        Case("IPv6 extension header cut after 1 byte", bytes(frame(ip6(nh=0) / Raw(b"\x11"))), "DROP"),
        Case("IPv6 fragment header cut after 4 bytes", bytes(frame(ip6(nh=44) / Raw(b"\x11\x00\x00\x01"))), "DROP"),
        Case("IPv6 routing header cut after 2 bytes", bytes(frame(ip6(nh=43) / Raw(b"\x11\x02"))), "DROP"),
        Case("IPv6 no next header (59)", bytes(frame(ip6(nh=59))), "PASS"),
        Case("802.1Q IPv6 hop-by-hop/UDP", bytes(frame(ip6() / IPv6ExtHdrHopByHop() / udp(53), vlans=(10,))), "PASS"),
        Case(
            "802.1ad+802.1Q IPv6 routing type 0",
            bytes(frame(ip6() / IPv6ExtHdrRouting(addresses=["2001:db8::3"]) / udp(53), vlans=(100, 200))),
            "DROP",
        ),
        Case("IPv4/UDP", bytes(frame(ip4() / udp(53))), "PASS"),
        Case("ARP request", bytes(arp_request()), "PASS"),
        Case("IPv6 header cut after 30 bytes", CUT_IP6, "DROP"),
        Case("runt, 13 bytes", runt(13), "DROP"),
    ]


def bpf2bpf_call():
    def t4(flags, **kw):
        return bytes(frame(ip4() / tcp(80, flags=flags, **kw)))

    return [
        Case("IPv4/TCP SYN", t4("S"), "PASS"),
        Case("IPv4/TCP SYN+ACK", t4("SA"), "PASS"),
        Case("IPv4/TCP ACK", t4("A"), "PASS"),
        Case("IPv4/TCP FIN+ACK", t4("FA"), "PASS"),
        Case("IPv4/TCP RST", t4("R"), "PASS"),
        Case("IPv4/TCP PSH+ACK with options", t4("PA", options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]), "PASS"),
        Case("IPv4/TCP no flags (NULL scan)", t4(""), "DROP"),
        Case("IPv4/TCP SYN+FIN", t4("SF"), "DROP"),
        Case("IPv4/TCP SYN+RST", t4("SR"), "DROP"),
        Case("IPv4/TCP FIN+PSH+URG (Xmas scan)", t4("FPU"), "DROP"),
        Case("IPv4/TCP FIN without ACK", t4("F"), "DROP"),
        Case("IPv6/TCP SYN", bytes(frame(ip6() / tcp(80))), "PASS"),
        Case("IPv6/TCP no flags", bytes(frame(ip6() / tcp(80, flags=""))), "DROP"),
        Case("IPv6/UDP", bytes(frame(ip6() / udp(53))), "PASS"),
        Case("IPv4/UDP", bytes(frame(ip4() / udp(53))), "PASS"),
        Case("IPv4/ICMP echo", bytes(frame(ip4() / ICMP())), "PASS"),
        Case("ARP request", bytes(arp_request()), "PASS"),
        Case("802.1Q IPv4/TCP no flags (VLANs not parsed)", bytes(frame(ip4() / tcp(80, flags=""), vlans=(10,))), "PASS"),
        Case("IPv4 non-first fragment, protocol TCP", bytes(later_fragment(6)), "PASS"),
        *malformed_cases(vlans=False),
        Case("IPv4/TCP header cut after 10 bytes", cut(frame(ip4() / tcp(80)), ETH + 20, 10), "DROP"),
        Case("IPv4/TCP data offset 4", t4("S", dataofs=4), "DROP"),
        Case("IPv4/TCP data offset 15, options cut", t4("S", dataofs=15), "DROP"),
    ]


def redirect_devmap():
    return [
        Case("IPv4/UDP", bytes(frame(ip4() / udp(53))), "REDIRECT"),
        Case("IPv4/TCP SYN", bytes(frame(ip4() / tcp(80))), "REDIRECT"),
        Case("IPv6/UDP", bytes(frame(ip6() / udp(53))), "REDIRECT"),
        Case("IPv6/ICMPv6 echo", bytes(frame(ip6() / ICMPv6EchoRequest(id=1, seq=1))), "REDIRECT"),
        Case("IPv6/TCP SYN", bytes(frame(ip6() / tcp(443))), "REDIRECT"),
        Case("IPv4 IHL 4 (no L3 checks here)", bytes(IHL4), "REDIRECT"),
        Case("ARP request", bytes(arp_request()), "PASS"),
        Case("802.1Q IPv4/UDP", bytes(frame(ip4() / udp(53), vlans=(10,))), "PASS"),
        Case("802.1ad+802.1Q IPv6/UDP", bytes(frame(ip6() / udp(53), vlans=(100, 200))), "PASS"),
        Case("LLDP", lldp(), "PASS"),
        Case("runt, 13 bytes", runt(13), "DROP"),
        Case("runt, 1 byte", runt(1), "DROP"),
    ]


def syn_ratelimit():
    flooder, other = "10.0.0.9", "10.0.0.10"

    def syn(src, n, flags="S"):
        return bytes(frame(ip4(src=src) / tcp(80, sport=50000 + n, flags=flags)))

    over = [Case(f"SYN {n} from {flooder} (over the limit)", syn(flooder, n), "DROP") for n in (6, 7)]
    return [Case(f"SYN {n} from {flooder}", syn(flooder, n), "PASS") for n in range(1, 6)] + over + [
        Case(f"SYN 1 from {other}", syn(other, 1), "PASS"),
        Case(f"802.1Q SYN 2 from {other}", bytes(frame(ip4(src=other) / tcp(80, sport=50100), vlans=(10,))), "PASS"),
        Case(f"802.1ad+802.1Q SYN 3 from {other}", bytes(frame(ip4(src=other) / tcp(80, sport=50101), vlans=(100, 200))), "PASS"),
        Case(f"SYN+ACK from {flooder}", syn(flooder, 8, "SA"), "PASS"),
        Case(f"ACK from {flooder}", syn(flooder, 9, "A"), "PASS"),
        Case("IPv6/TCP SYN", bytes(frame(ip6() / tcp(80))), "PASS"),
        Case("IPv4/UDP", bytes(frame(ip4() / udp(53))), "PASS"),
        Case("ARP request", bytes(arp_request()), "PASS"),
        Case("IPv4 non-first fragment, protocol TCP", bytes(later_fragment(6)), "PASS"),
        *malformed_cases(),
        Case("IPv4/TCP header cut after 10 bytes", cut(frame(ip4() / tcp(80)), ETH + 20, 10), "DROP"),
    ]


MTU_LIMIT = 1000  # global_data.c mtu_limit


def global_data():
    def case(length):
        data = sized_udp(length)
        return Case(f"{length} bytes", data, "DROP" if length > MTU_LIMIT else "PASS")

    return [case(n) for n in (60, 100, 500, 999, 1000, 1001, 1200, 1514)] + [
        Case("Ethernet header only (14 bytes)", bytes(Ether(src=MAC_A, dst=MAC_B, type=0x0800)), "PASS"),
        Case("runt, 10 bytes", runt(10), "PASS"),
    ]


SIGNATURE = bytes.fromhex("deadbeef")


def payload_scan():
    filler = bytes(i % 200 for i in range(300))  # never contains 0xde..0xef runs

    def with_sig(offset, length=300):
        return (filler[:offset] + SIGNATURE + filler)[:length]

    def u4(payload, vlans=()):
        return bytes(frame(ip4() / udp(9, payload=payload), vlans=vlans))

    return [
        Case("IPv4/UDP, signature at payload offset 0", u4(with_sig(0)), "DROP"),
        Case("IPv4/UDP, signature at payload offset 100", u4(with_sig(100)), "DROP"),
        Case("IPv4/UDP, signature at payload offset 255 (last scanned)", u4(with_sig(255)), "DROP"),
        Case("IPv4/UDP, signature at payload offset 256 (not scanned)", u4(with_sig(256)), "PASS"),
        Case("IPv4/UDP, no signature", u4(filler), "PASS"),
        Case("IPv4/UDP, near misses de ad be 00, de ad 00, de 00", u4(b"\xde\xad\xbe\x00\xde\xad\x00\xde\x00" + filler[:40]), "PASS"),
        Case("802.1ad+802.1Q IPv6/UDP, signature at payload offset 1", bytes(frame(ip6() / udp(9, payload=with_sig(1, 32)), vlans=(100, 200))), "DROP"),
        Case("IPv4/UDP, signature cut by the end of the frame", u4(with_sig(40, length=43)), "PASS"),
        Case("IPv4/UDP, empty payload", u4(b""), "PASS"),
        Case("IPv6/UDP, signature at payload offset 8", bytes(frame(ip6() / udp(9, payload=with_sig(8, 64)))), "DROP"),
        Case("802.1Q IPv4/UDP, signature at payload offset 3", u4(with_sig(3, 64), vlans=(10,)), "DROP"),
        Case("IPv4/TCP, signature in the payload (TCP not scanned)", bytes(frame(ip4() / tcp(80, payload=with_sig(0, 64)))), "PASS"),
        Case("IPv4 non-first fragment with the signature", bytes(later_fragment(17, with_sig(8, 64))), "PASS"),
        Case("ARP request", bytes(arp_request()), "PASS"),
        Case("IPv4/UDP header cut after 4 bytes", cut(frame(ip4() / udp(9)), ETH + 20, 4), "DROP"),
        *malformed_cases(),
    ]


CAPTURES = {
    "drop_all": (drop_all, ""),
    "ethertype_filter": (ethertype_filter, ""),
    "ip_parse": (ip_parse, ""),
    "port_blocklist": (port_blocklist, "blocklist: 23 UDP+TCP, 53 UDP, 445 TCP, 11211 UDP, 8080 mask 0"),
    "proto_counters": (proto_counters, ""),
    "mac_swap": (mac_swap, ""),
    "port_rewrite": (port_rewrite, "rewrites: 5353 -> 53; 9999 -> 8080 and 10.0.0.2 -> 10.0.0.3"),
    "encap": (encap, "tunnel 192.0.2.1 -> 198.51.100.1"),
    "decap": (decap, ""),
    "truncate": (truncate, "max_len 128"),
    "l4_lb": (l4_lb, "VIP 10.0.0.100; backends 0-2 at 10.1.0.1-3, backend 3 missing"),
    "bounded_loop": (bounded_loop, ""),
    "bpf2bpf_call": (bpf2bpf_call, ""),
    "redirect_devmap": (redirect_devmap, "tx_ports: 1 -> 1; ingress ifindex 1"),
    "syn_ratelimit": (syn_ratelimit, "5 SYNs per source per second"),
    "global_data": (global_data, "mtu_limit 1000"),
    "payload_scan": (payload_scan, "signature de ad be ef in the first 259 UDP payload bytes"),
}


def cases(name):
    """The packets of one capture, in order."""
    return CAPTURES[name][0]()


def render_table():
    """The expected-verdict table of the module docstring."""
    blocks = []
    for name, (_, note) in CAPTURES.items():
        title = f"{name}.pcap" + (f"  ({note})" if note else "")
        rows = [f"{i:5d}  {c.verdict:<9} {c.what}".rstrip() for i, c in enumerate(cases(name))]
        blocks.append("\n".join([title, *rows]))
    return "\n\n".join(blocks) + "\n"


def pcap_bytes(frames):
    """A classic little-endian pcap (v2.4, microseconds, linktype Ethernet)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    for i, data in enumerate(frames):
        out.append(struct.pack("<IIII", BASE_TIME + i // 1000, (i % 1000) * 1000, len(data), len(data)))
        out.append(data)
    return b"".join(out)


def expected_document():
    """programs/expected.json: per capture, per packet, the verdict and output."""
    doc = {}
    for name in CAPTURES:
        doc[name] = [
            {"what": c.what, "verdict": c.verdict, **({"out": c.out.hex()} if c.out is not None else {})}
            for c in cases(name)
        ]
    return doc


def main(argv):
    if "--table" in argv:
        sys.stdout.write(render_table())
        return 0
    for name in CAPTURES:
        (PROGRAMS_DIR / f"{name}.pcap").write_bytes(pcap_bytes([c.data for c in cases(name)]))
    (PROGRAMS_DIR / "expected.json").write_text(json.dumps(expected_document(), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
