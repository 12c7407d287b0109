"""The receive-side flow walk shared by every RSS hash in LLVM IR: which bytes of a
frame a NIC's RSS hashes (Ethernet with one 802.1Q/802.1ad tag; IPv4 or IPv6 addresses;
TCP/UDP ports of unfragmented packets), written once and instantiated with a hash step.

platform/rss.hash_input says the same in Python and is what the tests hold both
instantiations to: the host's Toeplitz (replay/kernels.py) and the card's CRC-32
(nfp/datapath.py).  A step is `i32 @STEP(ptr %table, ptr %bytes, i64 %count,
i64 %position, i32 %running)`: it folds `count` bytes standing at `position` of the
hash input into `running` (Toeplitz needs the position, CRC-32 ignores it).
"""

from __future__ import annotations

from .ir_text import index_loop

BE16_IR = r"""
declare i16 @llvm.bswap.i16(i16)

define internal i32 @be16(ptr %p) alwaysinline {
  %v = load i16, ptr %p, align 1
  %s = call i16 @llvm.bswap.i16(i16 %v)
  %z = zext i16 %s to i32
  ret i32 %z
}
"""

_WALK = r"""
; the hash of a frame's flow (addresses, then ports), or -1 when it has no IP header
define internal i64 @{name}(ptr %pkt, i64 %len, ptr %table, i32 %seed) {{
entry:
  %short = icmp ult i64 %len, 14
  br i1 %short, label %none, label %eth
eth:
  %etp = getelementptr i8, ptr %pkt, i64 12
  %et0 = call i32 @be16(ptr %etp)
  %q1 = icmp eq i32 %et0, 33024
  %q2 = icmp eq i32 %et0, 34984
  %tagged = or i1 %q1, %q2
  br i1 %tagged, label %vlan, label %l3
vlan:
  %vshort = icmp ult i64 %len, 18
  br i1 %vshort, label %none, label %vlan_ok
vlan_ok:
  %etp2 = getelementptr i8, ptr %pkt, i64 16
  %et1 = call i32 @be16(ptr %etp2)
  br label %l3
l3:
  %et = phi i32 [ %et0, %eth ], [ %et1, %vlan_ok ]
  %l3off = phi i64 [ 14, %eth ], [ 18, %vlan_ok ]
  %is4 = icmp eq i32 %et, 2048
  br i1 %is4, label %v4, label %not4
not4:
  %is6 = icmp eq i32 %et, 34525
  br i1 %is6, label %v6, label %none
v4:
  %need4 = add i64 %l3off, 20
  %short4 = icmp ult i64 %len, %need4
  br i1 %short4, label %none, label %v4hdr
v4hdr:
  %ip = getelementptr i8, ptr %pkt, i64 %l3off
  %vihl = load i8, ptr %ip, align 1
  %ver = lshr i8 %vihl, 4
  %isv4 = icmp eq i8 %ver, 4
  %ihl8 = and i8 %vihl, 15
  %ihl = zext i8 %ihl8 to i64
  %ihlb = mul i64 %ihl, 4
  %ihl_ok = icmp uge i64 %ihlb, 20
  %v4ok = and i1 %isv4, %ihl_ok
  br i1 %v4ok, label %v4addr, label %none
v4addr:
  %a4 = getelementptr i8, ptr %ip, i64 12
  %h4 = call i32 @{step}(ptr %table, ptr %a4, i64 8, i64 0, i32 %seed)
  %pp = getelementptr i8, ptr %ip, i64 9
  %proto = load i8, ptr %pp, align 1
  %fragp = getelementptr i8, ptr %ip, i64 6
  %frag = call i32 @be16(ptr %fragp)
  %fragbits = and i32 %frag, 16383
  %whole = icmp eq i32 %fragbits, 0
  %l4a = add i64 %l3off, %ihlb
  br label %ports_check
v6:
  %need6 = add i64 %l3off, 40
  %short6 = icmp ult i64 %len, %need6
  br i1 %short6, label %none, label %v6hdr
v6hdr:
  %ip6 = getelementptr i8, ptr %pkt, i64 %l3off
  %vb = load i8, ptr %ip6, align 1
  %ver6 = lshr i8 %vb, 4
  %isv6 = icmp eq i8 %ver6, 6
  br i1 %isv6, label %v6addr, label %none
v6addr:
  %a6 = getelementptr i8, ptr %ip6, i64 8
  %h6 = call i32 @{step}(ptr %table, ptr %a6, i64 32, i64 0, i32 %seed)
  %nhp = getelementptr i8, ptr %ip6, i64 6
  %nh = load i8, ptr %nhp, align 1
  %l4b = add i64 %l3off, 40
  br label %ports_check
ports_check:
  %h = phi i32 [ %h4, %v4addr ], [ %h6, %v6addr ]
  %l4proto = phi i8 [ %proto, %v4addr ], [ %nh, %v6addr ]
  %unfragmented = phi i1 [ %whole, %v4addr ], [ true, %v6addr ]
  %alen = phi i64 [ 8, %v4addr ], [ 32, %v6addr ]
  %l4 = phi i64 [ %l4a, %v4addr ], [ %l4b, %v6addr ]
  %tcp = icmp eq i8 %l4proto, 6
  %udp = icmp eq i8 %l4proto, 17
  %has_ports = or i1 %tcp, %udp
  %need_p = add i64 %l4, 4
  %room = icmp ule i64 %need_p, %len
  %c1 = and i1 %has_ports, %unfragmented
  %c2 = and i1 %c1, %room
  br i1 %c2, label %ports, label %addresses
ports:
  %pptr = getelementptr i8, ptr %pkt, i64 %l4
  %hp = call i32 @{step}(ptr %table, ptr %pptr, i64 4, i64 %alen, i32 %h)
  %hp64 = zext i32 %hp to i64
  ret i64 %hp64
addresses:
  %h64 = zext i32 %h to i64
  ret i64 %h64
none:
  ret i64 -1
}}
"""


def step_ir(name: str, comment: str, fold: str) -> str:
    """IR of a hash step `@name`: the byte loop, with `fold` computing %h1 from the running
    %h, the byte %b and its index %k (plus %position, %table)."""
    return index_loop(f"; {comment}\ndefine internal i32 @{name}(ptr %table, ptr %p, i64 %count, i64 %position, "
                      "i32 %h0)", "  %bp = getelementptr i8, ptr %p, i64 %k\n  %b = load i8, ptr %bp, align 1\n" + fold,
                      "ret i32 %h", index="k", count="%count", carried=(("h", "i32", "%h0"),))


def flow_walk_ir(name: str, step: str) -> str:
    """IR of `i64 @name(ptr %pkt, i64 %len, ptr %table, i32 %seed)` hashing with `@step`;
    the module must also hold BE16_IR and the step."""
    return _WALK.format(name=name, step=step)
