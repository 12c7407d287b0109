"""`xdptool test`: run XDP test specs on one or more engines, for people and for CI."""

from __future__ import annotations

from contextlib import contextmanager

import click

from ..runtime.engines import TARGETS
from .buildopts import build_args, build_options
from .console import json_option, out, print_json, styled


def resolve_targets(option: str | None, spec_target: str | None) -> list[str]:
    from ..testing.runner import available_targets

    chosen = option or spec_target or "jit"
    return available_targets() if chosen == "all" else [chosen]


@click.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--target", type=click.Choice([*TARGETS, "all"]), help="Engine (default: the spec's, else jit); all = every available engine, which must agree.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), help="Write a JUnit XML report.")
@json_option()
@click.option("-k", "keyword", metavar="EXPR", help="Only cases whose spec file or name match (and/or/not).")
@click.option("--coverage", is_flag=True, help="Instruction and C-line coverage from the reference VM.")
@click.option("--lcov", "lcov_file", type=click.Path(dir_okay=False), help="lcov file for --coverage (default: xdptool.lcov).")
@click.option("--force", is_flag=True, help="Let --junit/--lcov replace files of another kind, or links (never a spec or program).")
@build_options
def command(paths, target, junit_file, as_json, keyword, coverage, lcov_file, force, includes, defines, cflags):
    """Run the test specs in PATHS (files, or directories of *.toml)."""
    from ..testing.coverage import CoverageCollector
    from ..testing.junit import junit_xml
    from ..testing.runner import run_spec
    from ..testing.spec import find_specs, load_spec

    specs = [load_spec(p) for p in find_specs(list(paths))]  # a bad spec stops here: exit 2
    collector = CoverageCollector() if coverage else None
    results = []
    with report_files(specs, junit_file, (lcov_file or "xdptool.lcov") if coverage else None, force) as reports:
        for spec in specs:
            spec_results = run_spec(spec, resolve_targets(target, spec.target), keyword, collector,
                                    build_args(includes, defines, cflags))
            for r in spec_results:
                if not as_json:
                    show(r)
            results.extend(spec_results)
        if "junit" in reports:
            reports["junit"].write(junit_xml(results))
        cover_rows = None
        if collector is not None:
            cover_rows = collector.summary()
            reports["lcov"].write(collector.lcov())
    passed = sum(1 for r in results if r.passed)
    failed = sum(1 for r in results if r.failures)
    skipped = sum(1 for r in results if r.skipped)
    if as_json:
        print_json(
            {
                "passed": passed,
                "failed": failed,
                "skipped": skipped,
                "cases": [
                    {
                        "spec": str(r.spec.path),
                        "case": r.case.name,
                        "target": r.target,
                        "passed": r.passed,
                        "skipped": r.skipped,
                        "failures": r.failures,
                        "verdict": r.result.verdict if r.result else None,
                    }
                    for r in results
                ],
                "coverage": cover_rows,
            }
        )
    else:
        if cover_rows is not None:
            for row in cover_rows:
                out.print(
                    f"coverage {row['program']}: insns {row['insns_covered']}/{row['insns']}, "
                    f"lines {row['lines_covered']}/{row['lines']}, branches {row['branches_covered']}/{row['branches']}",
                    markup=False,
                )
        line = f"{passed} passed, {failed} failed"
        out.print(line + (f", {skipped} skipped" if skipped else ""), markup=False)
    raise SystemExit(1 if failed else 0)


@contextmanager
def report_files(specs, junit_file: str | None, lcov_file: str | None, force: bool):
    """{"junit" | "lcov": AtomicFile}, checked (xdptool.files) and opened before any test
    runs, so a bad or unwritable path is exit 2 at once; published when the block ends
    normally, discarded (the old reports kept) when the run breaks off."""
    from ..files import AtomicFile, check_output

    inputs = [p for spec in specs for p in (spec.path, spec.program)]
    wanted = {kind: path for kind, path in (("junit", junit_file), ("lcov", lcov_file)) if path}
    for kind, path in wanted.items():
        check_output(path, kind, inputs, force, [p for k, p in wanted.items() if k != kind])
    reports: dict = {}
    try:
        for kind, path in wanted.items():
            reports[kind] = AtomicFile(path, "w")
        yield reports
    except BaseException:
        for staged in reports.values():
            staged.discard()
        raise
    for staged in reports.values():
        staged.commit()


def show(r) -> None:
    where = f" {r.spec.path.name}::{r.case.name} [{r.target}]"
    if r.skipped:
        out.print(styled(("SKIP", "yellow"), f"{where} ({r.skipped})"))
        return
    mark = ("PASS", "green") if r.passed else ("FAIL", "red")
    verdict = r.result.verdict if r.result else "-"
    out.print(styled(mark, f"{where} -> {verdict}"))
    for failure in r.failures:
        out.print(f"     {failure}")
