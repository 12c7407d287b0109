"""The control-message channel between the host's nfp driver and the card's firmware.

The host never touches the card's maps directly: bpf(2) on an offloaded map reaches
the driver (bpf/offload.c nfp_bpf_map_*), which sends one control message and waits
for the firmware's reply (bpf/cmsg.c nfp_bpf_ctrl_entry_op, ccm.c nfp_ccm_communicate);
the firmware sends perf events the same way, unasked (nfp_bpf_ctrl_msg_rx ->
nfp_bpf_event_output).  This module lays the messages out as fw.h declares them
(big-endian words) and plays both ends:

- `Driver`, the host end: builds requests, checks replies as the driver does (type,
  tag, length, reply code) and returns the driver's errno; what it would print to the
  kernel log is kept in `log`.
- `CardFirmware`, the card end: answers from the card's MapStore as Netronome's
  nic-firmware does (apps/nic/maps/cmsg_map.uc, hashmap.uc): table ids handed out by
  MAP_ALLOC from 1, an array index past max_entries is E2BIG, a full hash map is E2BIG
  (its credits are gone), BPF_NOEXIST on a present key EEXIST, BPF_EXIST on an absent
  one NOENT, GETNEXT of an absent hash key NOENT (the host's hash map would restart
  from the first key), and an error adds one entry to the reply.

Layouts (fw.h; ABI 2: keys and values in fixed 64-byte slots, main.c nfp_bpf_init):

    header      u8 type, u8 ver, be16 tag                              (struct nfp_ccm_hdr)
    map op      header, be32 tid, be32 count, be32 flags, count x (key slot, value slot)
    its reply   header, be32 rc, be32 count, be32 resv, (count + !!rc) x (key slot, value slot)
    alloc       header, be32 key_size, value_size, max_entries, map_type, map_flags; reply: rc, tid
    free        header, be32 tid; reply: rc, count
    event       header, be32 cpu_id, be64 map_ptr, be32 data_size, be32 pkt_size, packet (to 4 bytes), data

Not modelled: the driver's 250 µs cache of GETFIRST/GETNEXT replies (cmsg.c
nfp_bpf_ctrl_op_cache_*: every operation here is one message), and the byte swap of
atomic counters (nfp_map_bpf_byte_swap: the store holds the host's view).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable

from ..platform import nfp_driver as drv
from ..platform.nfp_driver import CcmType, CmsgRc

HEADER = struct.Struct(">BBH")
MAP_OP = struct.Struct(">BBHIII")  # request: tid, count, flags; reply: rc, count, resv
ALLOC_REQUEST = struct.Struct(">BBHIIIII")
ALLOC_REPLY = struct.Struct(">BBHII")  # rc, tid
FREE_REQUEST = struct.Struct(">BBHI")
FREE_REPLY = struct.Struct(">BBHII")  # rc, count
EVENT = struct.Struct(">BBHIQII")
ENTRY = drv.CMSG_KEY_SLOT + drv.CMSG_VALUE_SLOT
ENTRY_OPS = (CcmType.MAP_LOOKUP, CcmType.MAP_UPDATE, CcmType.MAP_DELETE, CcmType.MAP_GETNEXT, CcmType.MAP_GETFIRST)
ERROR_WORD = 0xFFFF0000  # cmsg_map.uc error_map_function: written with the rc into the key slot's last word


def _slot(data: bytes | None, size: int) -> bytes:
    data = data or b""
    return data + bytes(size - len(data))


# -- layouts -----------------------------------------------------------------------------------------------
@dataclass
class MapOp:
    """A map operation request (struct cmsg_req_map_op) or its reply (struct cmsg_reply_map_op)."""

    type: int
    tag: int
    word1: int  # request: tid; reply: rc
    count: int
    word3: int = 0  # request: flags; reply: resv
    entries: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key slot, value slot)
    ver: int = drv.CCM_ABI_VERSION

    def encode(self) -> bytes:
        body = b"".join(_slot(k, drv.CMSG_KEY_SLOT) + _slot(v, drv.CMSG_VALUE_SLOT) for k, v in self.entries)
        return MAP_OP.pack(self.type, self.ver, self.tag, self.word1, self.count, self.word3) + body

    @classmethod
    def decode(cls, message: bytes) -> "MapOp":
        type_, ver, tag, word1, count, word3 = MAP_OP.unpack_from(message)
        body = message[MAP_OP.size:]
        entries = [(body[i:i + drv.CMSG_KEY_SLOT], body[i + drv.CMSG_KEY_SLOT:i + ENTRY])
                   for i in range(0, len(body) - ENTRY + 1, ENTRY)]
        return cls(type_, tag, word1, count, word3, entries, ver)


def request_size(entries: int) -> int:
    """nfp_bpf_cmsg_map_req_size."""
    return MAP_OP.size + ENTRY * entries


reply_size = request_size  # nfp_bpf_cmsg_map_reply_size: the same header length and slots


@dataclass
class Event:
    """struct cmsg_bpf_event: one bpf_perf_event_output from the card."""

    cpu_id: int
    map_id: int
    data: bytes  # the program's record
    packet: bytes  # the packet bytes asked for in flags[51:32]
    ver: int = drv.CCM_ABI_VERSION

    def encode(self) -> bytes:
        padded = _slot(self.packet, -(-len(self.packet) // 4) * 4)
        return EVENT.pack(CcmType.BPF_EVENT, self.ver, 0, self.cpu_id, self.map_id, len(self.data),
                          len(self.packet)) + padded + self.data


# -- the card end ------------------------------------------------------------------------------------------
class CardFirmware:
    """The firmware's control-message handler over the card's maps (nic-firmware cmsg_map.uc)."""

    def __init__(self, tables: list):
        self.unallocated = list(tables)  # the card's map tables, in the order the driver creates them
        self.tables: dict[int, object] = {}
        self.next_tid = 1  # cmsg_alloc_fd_from_bm: the first free id; 0 means failure

    def handle(self, message: bytes) -> bytes:
        kind = HEADER.unpack_from(message)[0]
        handler = {CcmType.MAP_ALLOC: self._alloc, CcmType.MAP_FREE: self._free}.get(kind)
        if handler is not None:
            return handler(message)
        if kind in ENTRY_OPS:
            return self._entry_op(MapOp.decode(message)).encode()
        return MapOp(drv.ccm_reply_type(kind), HEADER.unpack_from(message)[2], CmsgRc.ERR_MAP_PARSE, 0).encode()

    def _alloc(self, message: bytes) -> bytes:
        _, _, tag, key_size, value_size, max_entries, map_type, _flags = ALLOC_REQUEST.unpack(message)
        table = self.unallocated[0] if self.unallocated else None
        shape = (table.key_size, table.value_size, table.max_entries, int(table.type)) if table else None
        if shape != (key_size, value_size, max_entries, map_type):
            return ALLOC_REPLY.pack(drv.ccm_reply_type(CcmType.MAP_ALLOC), drv.CCM_ABI_VERSION, tag,
                                    CmsgRc.ERR_MAP_FD, 0)
        self.unallocated.pop(0)
        tid, self.next_tid = self.next_tid, self.next_tid + 1
        self.tables[tid] = table
        return ALLOC_REPLY.pack(drv.ccm_reply_type(CcmType.MAP_ALLOC), drv.CCM_ABI_VERSION, tag, CmsgRc.SUCCESS, tid)

    def _free(self, message: bytes) -> bytes:
        _, _, tag, tid = FREE_REQUEST.unpack(message)
        table = self.tables.pop(tid, None)
        rc, count = (CmsgRc.ERR_MAP_FD, 0) if table is None else (CmsgRc.SUCCESS, len(list(table.keys())))
        return FREE_REPLY.pack(drv.ccm_reply_type(CcmType.MAP_FREE), drv.CCM_ABI_VERSION, tag, rc, count)

    def _entry_op(self, request: MapOp) -> MapOp:
        reply = MapOp(drv.ccm_reply_type(request.type), request.tag, CmsgRc.SUCCESS, 0)
        table = self.tables.get(request.word1)
        if table is None:  # hashmap_get_fd_attr fails: the header alone
            reply.word1 = CmsgRc.ERR_MAP_FD
            return reply
        key_slot = request.entries[0][0] if request.entries else bytes(drv.CMSG_KEY_SLOT)
        value_slot = request.entries[0][1] if request.entries else bytes(drv.CMSG_VALUE_SLOT)
        key, value = key_slot[:table.key_size], value_slot[:table.value_size]
        op = _OPERATIONS[request.type]
        rc, out_key, out_value = op(table, key, value, request.word3)
        if rc == CmsgRc.SUCCESS:
            reply.count = 1
            reply.entries.append((out_key or key, out_value or b""))
        else:  # one more entry, its key slot's last word 0xffff0000 | rc
            reply.word1 = rc
            reply.entries.append((bytes(drv.CMSG_KEY_SLOT - 4) + struct.pack(">I", ERROR_WORD | rc), b""))
        return reply


def _is_array(table) -> bool:
    from ..platform.maps import MapType

    return table.type == MapType.ARRAY


def _index(key: bytes) -> int:
    return int.from_bytes(key[:4], "little")


def _lookup(table, key, _value, _flags):
    if _is_array(table) and _index(key) >= table.max_entries:
        return CmsgRc.ERR_MAP_E2BIG, None, None  # proc_array_map: max_entries - key not > 0
    found = table.lookup(key)
    return (CmsgRc.ERR_MAP_NOENT, None, None) if found is None else (CmsgRc.SUCCESS, key, found)


_UPDATE_RC = {0: CmsgRc.SUCCESS, -drv.EEXIST: CmsgRc.ERR_MAP_EXIST, -drv.ENOENT: CmsgRc.ERR_MAP_NOENT,
              -drv.E2BIG: CmsgRc.ERR_MAP_E2BIG, -drv.ENOMEM: CmsgRc.ERR_MAP_NOMEM}


def _update(table, key, value, flags):
    """HASHMAP_OP_ADD_ANY / ADD_ONLY (BPF_NOEXIST) / UPDATE (BPF_EXIST); a full table has no
    credits left (E2BIG), an array index past the end is E2BIG too."""
    if _is_array(table) and _index(key) >= table.max_entries:
        return CmsgRc.ERR_MAP_E2BIG, None, None
    err = table.update(key, value, flags & 0xFFFFFFFF)
    return _UPDATE_RC.get(err, CmsgRc.ERR_MAP_ERR), None, None


def _delete(table, key, _value, _flags):
    if _is_array(table):
        return CmsgRc.ERR_MAP_ERR, None, None
    return (CmsgRc.SUCCESS if table.delete(key) == 0 else CmsgRc.ERR_MAP_NOENT), None, None


def _keys(table) -> list[bytes]:
    return list(table.keys())


def _getfirst(table, _key, _value, _flags):
    keys = _keys(table) if not _is_array(table) else ([bytes(4)] if table.max_entries else [])
    return (CmsgRc.SUCCESS, keys[0], None) if keys else (CmsgRc.ERR_MAP_NOENT, None, None)


def _getnext(table, key, _value, _flags):
    if _is_array(table):  # CMSG_TYPE_MAP_ARRAY_GETNEXT: key + 1; past the end starts again at 0
        index = _index(key) + 1
        if index > table.max_entries:
            index = 0
        if index >= table.max_entries:
            return CmsgRc.ERR_MAP_NOENT, None, None
        return CmsgRc.SUCCESS, index.to_bytes(4, "little"), None
    keys = _keys(table)
    if key not in keys:
        return CmsgRc.ERR_MAP_NOENT, None, None
    at = keys.index(key) + 1
    return (CmsgRc.SUCCESS, keys[at], None) if at < len(keys) else (CmsgRc.ERR_MAP_NOENT, None, None)


_OPERATIONS: dict[int, Callable] = {CcmType.MAP_LOOKUP: _lookup, CcmType.MAP_UPDATE: _update,
                                    CcmType.MAP_DELETE: _delete, CcmType.MAP_GETFIRST: _getfirst,
                                    CcmType.MAP_GETNEXT: _getnext}


# -- the host end ------------------------------------------------------------------------------------------
@dataclass
class Result:
    errno: int  # 0 or the driver's negative errno
    key: bytes | None = None
    value: bytes | None = None


class Driver:
    """The nfp driver's side: tags, request layout, reply checks, errno (bpf/cmsg.c, offload.c).

    `send` carries a request to the card and returns its reply (the control vNIC)."""

    def __init__(self, send: Callable[[bytes], bytes]):
        self.send = send
        self.tag = 0
        self.log: list[str] = []  # what the driver would print (cmsg_warn)
        self.tids: dict[str, int] = {}
        self.neutral: dict[int, str] = {}  # perf event arrays stay on the host: map id -> name

    def _warn(self, key: str, **fields) -> int:
        rule = drv.MAP_OP_RULES[key]
        self.log.append(rule.text.format(**fields))
        return -getattr(drv, rule.phase)

    def _communicate(self, message: bytearray, kind: int) -> bytes | int:
        """nfp_ccm_communicate: stamp type, version and tag; the reply must carry both back."""
        tag, self.tag = self.tag, (self.tag + 1) & 0xFFFF
        HEADER.pack_into(message, 0, kind, drv.CCM_ABI_VERSION, tag)
        reply = self.send(bytes(message))
        got_type, _ver, got_tag = HEADER.unpack_from(reply)
        if got_tag != tag:
            return self._warn("reply_tag", tag=got_tag)
        if got_type != drv.ccm_reply_type(kind):
            return self._warn("reply_type", got=got_type, want=drv.ccm_reply_type(kind))
        return reply

    def _rc(self, rc: int) -> int:
        if rc not in drv.RC_ERRNO:
            return self._warn("reply_rc", rc=rc)
        return drv.RC_ERRNO[rc]

    def alloc_map(self, m) -> int:
        """nfp_bpf_ctrl_alloc_map: the table id, or a negative errno."""
        message = bytearray(ALLOC_REQUEST.pack(0, 0, 0, m.key_size, m.value_size, m.max_entries, int(m.type), 0))
        reply = self._communicate(message, CcmType.MAP_ALLOC)
        if isinstance(reply, int):
            return reply
        if len(reply) != ALLOC_REPLY.size:
            return self._warn("reply_short", type=CcmType.MAP_ALLOC, len=len(reply))
        _, _, _, rc, tid = ALLOC_REPLY.unpack(reply)
        err = self._rc(rc)
        if err:
            return err
        self.tids[m.name] = tid
        return tid

    def entry_op(self, name: str, kind: int, key: bytes | None = None, value: bytes | None = None,
                 flags: int = 0) -> Result:
        """nfp_bpf_ctrl_entry_op: one request, its reply checked, the outputs copied out."""
        if flags >> 32:
            return Result(self._warn("flags_64"))
        request = MapOp(kind, 0, self.tids[name], drv.CMSG_ENTRIES_PER_OP, flags,
                        [(key or b"", value or b"")])
        reply = self._communicate(bytearray(request.encode()), kind)
        if isinstance(reply, int):
            return Result(reply)
        if len(reply) < MAP_OP.size:
            return Result(self._warn("reply_short", type=kind, len=len(reply)))
        decoded = MapOp.decode(reply)
        err = self._rc(decoded.word1)
        if err:
            return Result(err)
        if len(reply) != reply_size(decoded.count):
            return Result(self._warn("reply_size", type=kind, len=len(reply), entries=decoded.count))
        return Result(0, *decoded.entries[0]) if decoded.entries else Result(0)

    # bpf/offload.c nfp_bpf_map_ops and the kernel core (kernel/bpf/offload.c) in front of them
    def lookup(self, m, key: bytes) -> Result:
        result = self.entry_op(m.name, CcmType.MAP_LOOKUP, key)
        return Result(result.errno, value=result.value[:m.value_size]) if not result.errno else result

    def update(self, m, key: bytes, value: bytes, flags: int = drv.BPF_ANY) -> Result:
        if flags > drv.BPF_EXIST:
            return Result(-drv.EINVAL)  # bpf_map_offload_update_elem, before the driver
        return self.entry_op(m.name, CcmType.MAP_UPDATE, key, value, flags)

    def delete(self, m, key: bytes) -> Result:
        if _is_array(m):
            return Result(-drv.EINVAL)  # nfp_bpf_map_delete_elem: no message
        return self.entry_op(m.name, CcmType.MAP_DELETE, key)

    def get_next_key(self, m, key: bytes | None) -> Result:
        """nfp_bpf_map_get_next_key: no key is GETFIRST."""
        if key is None:
            result = self.entry_op(m.name, CcmType.MAP_GETFIRST)
        else:
            result = self.entry_op(m.name, CcmType.MAP_GETNEXT, key)
        return Result(result.errno, key=result.key[:m.key_size]) if not result.errno else result

    def event_output(self, message: bytes) -> dict | None:
        """nfp_bpf_event_output: the perf sample a reader gets (record, then packet bytes), or None
        when the driver drops the message (logged)."""
        if len(message) < EVENT.size:
            self._warn("event_short", len=len(message))
            return None
        _type, ver, _tag, cpu_id, map_id, data_size, pkt_size = EVENT.unpack_from(message)
        if pkt_size + data_size > 0x7FFFFFFF or len(message) < EVENT.size + pkt_size + data_size:
            self._warn("event_short", len=len(message))
            return None
        if ver != drv.CCM_ABI_VERSION:
            self._warn("event_version", ver=ver)
            return None
        name = self.neutral.get(map_id)
        if name is None or map_id > 0xFFFFFFFF:
            self._warn("event_map", id=map_id)
            return None
        packet = message[EVENT.size:EVENT.size + pkt_size]
        start = EVENT.size + -(-pkt_size // 4) * 4
        data = message[start:start + data_size]
        return {"map": name, "cpu_id": cpu_id, "size": data_size, "pkt_size": pkt_size, "data": (data + packet).hex()}


def open_channel(store, firmware=None) -> Driver:
    """The driver and the card's firmware over `store`, with every offloadable map created on the card
    (MAP_ALLOC in the object's order, as the kernel creates the maps before loading the program);
    perf event arrays stay on the host (bpf_map_offload_neutral) and only receive events."""
    tables, neutral = [], {}
    for index, name in enumerate(store):
        m = store[name]
        (neutral.__setitem__(index, name) if m.type in drv.OFFLOAD_NEUTRAL else tables.append(m))
    card = CardFirmware(tables)
    driver = Driver(card.handle)
    driver.neutral = neutral
    for m in tables:
        tid = driver.alloc_map(m)
        if tid < 0:
            from ..errors import InternalError

            raise InternalError(f"the emulated card refused to create map {m.name} (errno {-tid})")
    return driver


# what an errno means for a map operation on the card (the firmware's and the driver's reasons)
_REASONS = {
    ("update", -drv.E2BIG, "hash"): "the map is full ({max_entries} entries): the firmware has no credits left",
    ("update", -drv.E2BIG, "array"): "the index is past max_entries ({max_entries})",
    ("lookup", -drv.E2BIG, "array"): "the index is past max_entries ({max_entries}); the firmware answers E2BIG",
    ("update", -drv.EEXIST, None): "the key exists and BPF_NOEXIST was asked",
    ("update", -drv.ENOENT, None): "no such key and BPF_EXIST was asked",
    ("update", -drv.EINVAL, None): "flags above BPF_EXIST (kernel/bpf/offload.c bpf_map_offload_update_elem)",
    ("delete", -drv.EINVAL, "array"): "array elements cannot be deleted (nfp_bpf_map_delete_elem)",
    ("lookup", -drv.ENOENT, None): "no such key",
    ("delete", -drv.ENOENT, None): "no such key",
    ("get_next_key", -drv.ENOENT, None): "no key after it (the card's hash map answers ENOENT for an absent key too)",
}


def refusal_reason(m, op: str, errno: int) -> str:
    kind = "array" if _is_array(m) else "hash"
    reason = _REASONS.get((op, errno, kind)) or _REASONS.get((op, errno, None))
    return f": {reason.format(max_entries=m.max_entries)}" if reason else ""
