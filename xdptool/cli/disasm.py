"""`xdptool disasm`: the llvm-objdump text of an object, or of one linked program."""

from __future__ import annotations

import click

from ..ebpf import disasm
from .buildopts import build_args, build_options
from .console import json_option, print_json
from ..runtime.target import load_object_or_source as load


def _insn_json(line) -> dict:
    insn = line.insn
    doc = {"pc": insn.pc, "text": disasm.format_insn(insn), "raw": insn.encode().hex()}
    if insn.line is not None:
        doc.update(file=insn.line.file, line=insn.line.line, source=insn.line.source)
    return doc


@click.command("disasm")
@click.argument("obj", type=click.Path(dir_okay=False))
@click.option("-p", "--prog", "selector", help="Only this program (linked with its subprograms).")
@click.option("--source", is_flag=True, help="Interleave the C source lines.")
@click.option("--raw", is_flag=True, help="Show the instruction bytes, as plain llvm-objdump -d.")
@build_options
@json_option()
def command(obj, selector, source, raw, includes, defines, cflags, as_json):
    """Disassemble OBJ; identical to `llvm-objdump -d --no-show-raw-insn` by default."""
    loaded = load(obj, build_args(includes, defines, cflags))
    if as_json:
        if selector:
            prog = loaded.program(selector)
            doc = {"program": prog.name, "insns": [_insn_json(l) for l in disasm.program_lines(prog) if l.insn]}
        else:
            doc = {
                "sections": [
                    {"name": s.name, "insns": [_insn_json(l) for l in disasm.section_lines(s) if l.insn]}
                    for s in loaded.code_sections
                ]
            }
        print_json(doc)
        return
    if selector:
        prog = loaded.program(selector)
        text = "\n".join(l.text for l in disasm.program_lines(prog, raw=raw, source=source))
        click.echo(f"program {prog.name} (section {prog.section}):{text}")
        return
    click.echo(disasm.disassemble(loaded, raw=raw, source=source), nl=False)
