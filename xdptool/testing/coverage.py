"""Instruction and C-line coverage of programs under test, from the reference VM.

The VM counts executions per instruction slot; a C line is covered when any of
its instructions ran, and a conditional jump's two ways (taken / fall-through)
are lcov branches, so CI can show which branch of the XDP program no test reached.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..runtime.contract import XdpContext


@dataclass
class ProgramCoverage:
    program: object
    hits: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # pc -> executions
    taken: dict[int, set[bool]] = field(default_factory=lambda: defaultdict(set))  # jump pc -> ways seen

    @property
    def total_insns(self) -> int:
        return len(self.program.insns)

    @property
    def covered_insns(self) -> int:
        return sum(1 for insn in self.program.insns if self.hits.get(insn.pc))

    def lines(self) -> dict[tuple[str, int], int]:
        """(file, line) -> hits of the line's most executed instruction."""
        found: dict[tuple[str, int], int] = {}
        for insn in self.program.insns:
            if insn.line is None:
                continue
            key = (insn.line.file, insn.line.line)
            found[key] = max(found.get(key, 0), self.hits.get(insn.pc, 0))
        return found

    def branches(self) -> list[tuple[str, int, int, int, bool, int]]:
        """(file, line, pc, way, taken?, hits) for every conditional jump."""
        rows = []
        for insn in self.program.insns:
            if insn.is_branch and insn.op != 0 and insn.line is not None:
                ran = self.hits.get(insn.pc, 0)
                for way in (0, 1):
                    rows.append((insn.line.file, insn.line.line, insn.pc, way, bool(way) in self.taken[insn.pc], ran))
        return rows


class CoverageCollector:
    """Runs every case again on the VM with tracing of executed slots."""

    def __init__(self):
        self.programs: dict[str, ProgramCoverage] = {}

    def engine_for(self, spec, obj, program):
        from ..runtime.maps import MapStore
        from ..runtime.vm import VmEngine
        from .runner import map_state_doc

        key = f"{spec.program.name}:{program.name}"
        cover = self.programs.setdefault(key, ProgramCoverage(program))
        collector = self

        class _Run:
            def __init__(self):
                self.reset()

            def reset(self):
                self.maps = MapStore(obj.maps)
                self.maps.load(map_state_doc(spec.maps))
                self.vm = VmEngine(program, self.maps, coverage=True)

            def run(self, case):
                if case.fresh_maps:
                    self.reset()
                self.vm.run(case.packet, XdpContext(**case.ctx))
                collector.absorb(cover, self.vm)

        return _Run()

    @staticmethod
    def absorb(cover: ProgramCoverage, vm) -> None:
        for pc, count in vm.coverage.items():
            cover.hits[pc] += count
        for pc, ways in getattr(vm, "branch_coverage", {}).items():
            cover.taken[pc].update(ways)
        vm.coverage.clear()
        if hasattr(vm, "branch_coverage"):
            vm.branch_coverage.clear()

    def summary(self) -> list[dict]:
        rows = []
        for key, cover in self.programs.items():
            lines = cover.lines()
            rows.append(
                {
                    "program": key,
                    "insns": cover.total_insns,
                    "insns_covered": cover.covered_insns,
                    "lines": len(lines),
                    "lines_covered": sum(1 for hits in lines.values() if hits),
                    "branches": len(cover.branches()),
                    "branches_covered": sum(1 for b in cover.branches() if b[4]),
                }
            )
        return rows

    def lcov(self) -> str:
        """The lcov tracefile format (geninfo(1)): SF, DA, BRDA, LF/LH, BRF/BRH."""
        per_file: dict[str, dict[int, int]] = defaultdict(dict)
        branches: dict[str, list] = defaultdict(list)
        for cover in self.programs.values():
            for (file, line), hits in cover.lines().items():
                per_file[file][line] = per_file[file].get(line, 0) + hits
            for file, line, pc, way, taken, ran in cover.branches():
                branches[file].append((line, pc, way, taken, ran))
        out = ["TN:xdptool"]
        for file in sorted(per_file):
            out.append(f"SF:{Path(file)}")
            for line, pc, way, taken, ran in branches.get(file, []):
                count = "-" if not ran else ("1" if taken else "0")
                out.append(f"BRDA:{line},{pc},{way},{count}")
            rows = branches.get(file, [])
            out.append(f"BRF:{len(rows)}")
            out.append(f"BRH:{sum(1 for r in rows if r[3])}")
            for line in sorted(per_file[file]):
                out.append(f"DA:{line},{per_file[file][line]}")
            out.append(f"LF:{len(per_file[file])}")
            out.append(f"LH:{sum(1 for h in per_file[file].values() if h)}")
            out.append("end_of_record")
        return "\n".join(out) + "\n"
