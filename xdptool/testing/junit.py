"""JUnit XML for CI systems: one testsuite per spec file, one testcase per case and target."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import groupby
from pathlib import Path

from .runner import CaseResult


def junit_xml(results: list[CaseResult]) -> str:
    root = ET.Element("testsuites", name="xdptool")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for spec_path, group in groupby(results, key=lambda r: str(r.spec.path)):
        items = list(group)
        suite = ET.SubElement(root, "testsuite", name=spec_path)
        counts = {
            "tests": len(items),
            "failures": sum(1 for r in items if r.failures),
            "skipped": sum(1 for r in items if r.skipped),
        }
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
        for r in items:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=Path(spec_path).stem,
                name=f"{r.case.name}[{r.target}]",
                file=spec_path,
                line=str(r.case.line),
                time=f"{r.duration:.6f}",
            )
            if r.skipped:
                ET.SubElement(case, "skipped", message=r.skipped)
            elif r.failures:
                failure = ET.SubElement(case, "failure", message=r.failures[0])
                failure.text = "\n".join(r.failures)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
