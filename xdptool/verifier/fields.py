"""Special fields of a map value: what the kernel's btf_record lists (btf_parse_fields).

A map created with BTF whose value type holds a `struct bpf_spin_lock`, a `struct
bpf_timer`, a kptr ... has those fields recorded; the verifier then refuses any load,
store or helper access that touches one ("bpf_spin_lock cannot be accessed directly
by load/store", check_map_access), and bpf_spin_lock/unlock need the lock's exact
offset.  The fields are found by name in the value's BTF: a struct member (also inside
nested structs and arrays), or a global variable of a .data/.bss section (the value of
a global-data map is its DATASEC).  A map without BTF has no record (None): the
kernel then says the map "has to have BTF".
"""


from typing import NamedTuple

from ..elf.btf import Kind

# struct name -> the name btf_field_type_name gives the field (Linux 6.18)
SPECIAL_STRUCTS = {
    "bpf_spin_lock": "bpf_spin_lock", "bpf_res_spin_lock": "bpf_res_spin_lock", "bpf_timer": "bpf_timer",
    "bpf_wq": "bpf_wq", "bpf_task_work": "bpf_task_work", "bpf_list_head": "bpf_list_head",
    "bpf_list_node": "bpf_list_node", "bpf_rb_root": "bpf_rb_root", "bpf_rb_node": "bpf_rb_node",
    "bpf_refcount": "bpf_refcount",
}
# a pointer member tagged __kptr / __kptr_untrusted / __percpu_kptr / __uptr
POINTER_TAGS = {"kptr": "kptr", "kptr_untrusted": "kptr", "percpu_kptr": "kptr", "uptr": "uptr"}
_MAX_DEPTH = 8  # nested structs the search goes into


class Field(NamedTuple):
    offset: int
    size: int
    name: str  # as the kernel's messages name it

    @property
    def is_kptr(self) -> bool:
        return self.name in ("kptr", "uptr")


_CACHE: dict[int, tuple] = {}  # id(mapdef) -> (mapdef, record): the map is kept alive with its record


def record_of(mapdef, btf) -> tuple[Field, ...] | None:
    """The special fields of the map's value, by offset; None for a map without BTF."""
    cached = _CACHE.get(id(mapdef))
    if cached is not None and cached[0] is mapdef:
        return cached[1]
    record = None
    if btf is not None and mapdef.btf_value_type_id:
        found: list[Field] = []
        _search(btf, mapdef.btf_value_type_id, 0, found, 0)
        record = tuple(sorted(found, key=lambda f: f.offset))
    _CACHE[id(mapdef)] = (mapdef, record)
    return record


def spin_lock_of(record: tuple[Field, ...] | None) -> Field | None:
    return next((f for f in record or () if f.name == "bpf_spin_lock"), None)


def _pointer_tag(btf, type_id: int) -> str | None:
    """The kptr/uptr tag of a pointer member (PTR -> TYPE_TAG ... -> its pointee)."""
    t = btf.type(type_id)
    while t.kind in (Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
        t = btf.type(t.type)
    if t.kind is not Kind.PTR:
        return None
    t = btf.type(t.type) if t.type else None
    while t is not None and t.kind in (Kind.TYPE_TAG, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
        if t.kind is Kind.TYPE_TAG and t.name in POINTER_TAGS:
            return POINTER_TAGS[t.name]
        t = btf.type(t.type) if t.type else None
    return None


def _search(btf, type_id: int, base: int, found: list[Field], depth: int) -> None:
    tag = _pointer_tag(btf, type_id)
    if tag is not None:
        found.append(Field(base, 8, tag))
        return
    t = btf.resolve(type_id)
    if t.kind in (Kind.STRUCT, Kind.UNION):
        if t.name in SPECIAL_STRUCTS:
            found.append(Field(base, t.size, SPECIAL_STRUCTS[t.name]))
            return
        if depth < _MAX_DEPTH:
            for member in t.members:
                _search(btf, member.type, base + member.bit_offset // 8, found, depth + 1)
    elif t.kind is Kind.ARRAY and t.array is not None and depth < _MAX_DEPTH:
        elem, _, count = t.array
        size = btf.sizeof(elem)
        before = len(found)
        _search(btf, elem, base, found, depth + 1)
        if len(found) > before and size:
            first = found[before:]
            for i in range(1, count):
                found.extend(Field(f.offset + i * size, f.size, f.name) for f in first)
    elif t.kind is Kind.DATASEC:
        for member in t.members:  # (datasec members: a VAR and its byte offset)
            var = btf.type(member.type)
            if var.kind is Kind.VAR:
                _search(btf, var.type, base + member.bit_offset, found, depth + 1)
