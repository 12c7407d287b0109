"""`xdptool inspect`: what an object holds — programs, maps, global data, BTF."""

from __future__ import annotations

import click
from rich.table import Table

from .buildopts import build_args, build_options
from .console import json_option, out, print_json
from ..runtime.target import load_object_or_source as load


def describe(obj) -> dict:
    """The JSON document of `inspect --json` (also used by tests and `test`)."""
    from ..elf.values import MapValues

    return {
        "path": obj.path,
        "license": obj.license,
        "programs": [
            {
                "name": p.name,
                "section": p.section,
                "type": p.type_name,
                "prog_type": p.type.name.lower(),
                "insn_count": p.slot_count,
                "subprograms": [s.name for s in p.subprograms[1:]],
                "license": p.license,
                "maps": p.referenced_maps(),
            }
            for p in obj.programs
        ],
        "maps": [
            {
                "name": m.name,
                "type": m.type_name,
                "key_size": m.key_size,
                "value_size": m.value_size,
                "max_entries": m.max_entries,
                "flags": m.flags,
                "pinning": m.pinning,
                "inner": m.inner.type_name if m.inner else None,
                "global_data": m.is_global_data,
            }
            for m in obj.maps.values()
        ],
        "global_data": [
            {"name": m.name, "size": m.value_size, "readonly": m.readonly,
             "values": MapValues(obj).value(m.name, m.initial)}  # the initial contents, through BTF
            for m in obj.maps.values()
            if m.is_global_data
        ],
        "btf": btf_summary(obj),
    }


def btf_summary(obj) -> dict | None:
    if obj.btf is None:
        return None
    summary = {"types": len(obj.btf.types) - 1}
    if obj.btf_ext is not None:
        summary["func_info"] = sum(len(v) for v in obj.btf_ext.func_info.values())
        summary["line_info"] = sum(len(v) for v in obj.btf_ext.line_info.values())
    return summary


@click.command("inspect")
@click.argument("obj", type=click.Path(dir_okay=False))
@build_options
@json_option()
def command(obj, includes, defines, cflags, as_json):
    """Show the programs, maps, global data and BTF of OBJ."""
    from ..elf.values import render

    info = describe(load(obj, build_args(includes, defines, cflags)))
    if as_json:
        print_json(info)
        return
    programs = Table(title=f"{obj}: programs (license {info['license'] or 'none'})", title_justify="left")
    for column in ("name", "section", "type", "insns", "subprograms", "maps"):
        programs.add_column(column)
    for p in info["programs"]:
        programs.add_row(
            p["name"], p["section"], p["type"], str(p["insn_count"]),
            ", ".join(p["subprograms"]) or "-", ", ".join(p["maps"]) or "-",
        )
    out.print(programs)
    maps = Table(title="maps", title_justify="left")
    for column in ("name", "type", "key", "value", "max entries", "flags"):
        maps.add_column(column)
    for m in info["maps"]:
        kind = m["type"] + (f" of {m['inner']}" if m["inner"] else "")
        if m["global_data"]:
            kind += " (global data)"
        maps.add_row(m["name"], kind, str(m["key_size"]), str(m["value_size"]), str(m["max_entries"]), hex(m["flags"]))
    out.print(maps)
    for data in info["global_data"]:
        shown = render(data["values"]) if data["values"] is not None else "(no BTF)"
        out.print(f"{data['name']} initial values: {shown}", markup=False)
    if info["btf"]:
        out.print("BTF: " + ", ".join(f"{k} {v}" for k, v in info["btf"].items()), markup=False)
    else:
        out.print("BTF: none", markup=False)
