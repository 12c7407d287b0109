"""The layer contract: a package imports only from its own layer and the layers below.

Read from the folder names, lowest first (README, "Architecture"):

    errors                      the project's error types
    files, jsontext, diagnostic, pools
                                safe file writes; bounded JSON; a message located at an insn and C line; reused arrays
    ebpf, toolchain, packet_expr, codegen
                                the ISA; clang; packet expressions; a target-independent register allocator
    platform                    what the kernel and the NFP driver define, as data
    elf, packets                the object model and its loader; packets from expressions
    verifier                    static analysis
    runtime                     concrete semantics and engines (the jit leaves out checks the verifier proved)
    kernel, nfp                 engines with a world of their own (bpf(2), the card)
    replay                      captures through an engine
    testing                     spec files, the pytest plugin
    cli                         the command line, a thin shell

Every import counts, including those inside functions (lazy imports are how the
CLI stays fast, not a way around the layers); only imports under
`if TYPE_CHECKING:` are left out, as they name a type without depending on it.  Packages on one layer may not
import each other either; the verifier never reaches into the runtime (the runtime asks it for proofs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xdptool"

LAYERS: list[set[str]] = [
    {"errors", "__init__", "record"},
    {"files", "jsontext", "diagnostic", "pools"},
    {"ebpf", "toolchain", "packet_expr", "codegen"},
    {"platform"},
    {"elf", "packets"},
    {"verifier"},
    {"runtime"},
    {"kernel", "nfp"},
    {"replay"},
    {"testing"},
    {"cli"},
]
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def _top(module: str) -> str:
    """xdptool.runtime.jit.engine -> runtime; xdptool -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _submodule(package: str, name: str) -> str:
    """`from PACKAGE import NAME`: the submodule NAME if there is one, else PACKAGE itself."""
    folder = PACKAGE.parent.joinpath(*package.split("."), name)
    return f"{package}.{name}" if folder.is_dir() or folder.with_suffix(".py").is_file() else package


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every xdptool import in the file, at any depth."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] if node.module else [_submodule(target, a.name) for a in node.names]
            found += [(node.lineno, name) for name in names if name.split(".")[0] == "xdptool"]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "xdptool"]
    return found


def _violations() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _top(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for line, target in _imports(path):
            dest = _top(target)
            if dest == source:
                continue
            if dest not in LAYER_OF or source not in LAYER_OF:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {source} or {dest} has no layer")
            elif LAYER_OF[dest] >= LAYER_OF[source]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {source} imports {target} (layer {LAYER_OF[dest]} >= {LAYER_OF[source]})")
    return bad


def test_every_package_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert tops - set(LAYER_OF) == set()


def test_no_import_reaches_up_or_sideways():
    assert _violations() == []


@pytest.mark.parametrize("folder, source, expected", [
    ("replay", "from ..cli.objects import load", "cli"),
    ("runtime/jit", "from ...nfp import state", "nfp"),
    ("runtime/jit", "from .. import vm", "runtime"),
    ("replay", "import xdptool.nfp.state", "nfp"),
    ("replay", "from .. import toolchain", "toolchain"),
])
def test_the_import_reader_resolves_relative_and_lazy_imports(folder, source, expected):
    """The contract is only as good as its reader: imports inside functions and relative ones count."""
    probe = PACKAGE / folder / "_layer_probe_tmp.py"
    probe.write_text("def f():\n    " + source.replace("\n", "\n    ").rstrip() + "\n")
    try:
        assert [_top(t) for _, t in _imports(probe)] == [expected]
    finally:
        probe.unlink()
