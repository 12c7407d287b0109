"""`xdptool build`: restricted C -> eBPF object with clang."""

from __future__ import annotations

import click

from .. import toolchain
from .console import err, fail, json_option, out, print_json


@click.command("build")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Object file (default: next to the source).")
@click.option("-I", "includes", multiple=True, metavar="DIR", help="Add an include directory.")
@click.option("-D", "defines", multiple=True, metavar="NAME[=VAL]", help="Define a macro.")
@click.option("--cflags", multiple=True, metavar="FLAGS",
              help='More clang flags, split as a shell would: --cflags "-mcpu=v3 -include stdbool.h -Wno-unused".')
@click.option("--clang", "clang_path", metavar="PATH", help="clang to use (default: $CLANG or clang).")
@click.option("--force", is_flag=True, help="Let -o replace a file that is not an object, or a link (never the source).")
@json_option()
def command(source, output, includes, defines, cflags, clang_path, force, as_json):
    """Compile SOURCE with clang -O2 -g -target bpf into SOURCE's name with .o beside it
    (or -o).  Other commands given a .c build it into the cache instead (README)."""
    result = toolchain.build(
        source, output, includes=tuple(includes), defines=tuple(defines), clang=clang_path, check=False, force=force,
        cflags=toolchain.split_cflags(cflags),
    )
    if as_json:
        print_json(
            {
                "source": result.source,
                "object": result.output if result.ok else None,
                "ok": result.ok,
                "command": result.command,
                "diagnostics": [vars(d) for d in result.diagnostics],
            }
        )
        raise SystemExit(0 if result.ok else 1)
    if result.stderr.strip():
        err.print(result.stderr.rstrip(), markup=False)
    if not result.ok:
        count = len(result.errors)
        fail(f"{source}: compilation failed ({count} error{'s' if count != 1 else ''})", 1)
    out.print(f"built {result.output}", markup=False)
