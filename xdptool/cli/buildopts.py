"""-I, -D and --cflags: how a command that takes a `.c` OBJ builds it (as `build` does).

Every command taking an object takes its source too; these options reach clang
through toolchain.build_cached, whose cache key includes them.
"""

from __future__ import annotations

import click


def build_options(command):
    """Add -I DIR, -D NAME[=VAL] and --cflags FLAGS (each repeatable) as `includes`,
    `defines` and `cflags` parameters."""
    for decorator in reversed((
        click.option("-I", "includes", multiple=True, metavar="DIR", help="Include directory for a .c OBJ (clang -I)."),
        click.option("-D", "defines", multiple=True, metavar="NAME[=VAL]", help="Macro for a .c OBJ (clang -D)."),
        click.option("--cflags", multiple=True, metavar="FLAGS",
                     help='More clang flags for a .c OBJ, split as a shell would: --cflags "-mcpu=v3 -include stdbool.h".'),
    )):
        command = decorator(command)
    return command


def build_args(includes, defines, cflags) -> dict:
    """The keyword arguments of toolchain.build_cached from the options' values (the
    toolchain module only imported for --cflags: its imports cost every command's start-up)."""
    if cflags:
        from ..toolchain import split_cflags

        cflags = split_cflags(cflags)
    return {"includes": tuple(includes), "defines": tuple(defines), "cflags": tuple(cflags)}


def runtime_option(command):
    """--runtime FILE.json as `runtime_path`: the runtime config (runtime/config.py RUNTIME_KEYS)."""
    return click.option(
        "--runtime", "runtime_path", type=click.Path(dir_okay=False), metavar="FILE.json",
        help="The run's environment for vm and jit (JSON): ncpus, cpu, numa_node, the clock, prandom_seed, "
             "mtu and device_mtus (bpf_check_mtu), fib_table (bpf_fib_lookup's routes), may_goto_budget, "
             "max_insns; see the README's \"Runtime config\".")(command)
