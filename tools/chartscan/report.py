"""Read checkov's JSON report of the chart renders and print what failed; exit 1 on any failure.

Used by scripts/chart-scan.sh. The renders are named ``<chart>--<scenario>.yaml``; ``--accept
chart:scenario=CKV_A,CKV_B`` lets those checks fail in that one scenario (the script says why each is
there). Every other failed check, and any file checkov could not parse, fails the scan.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import PurePosixPath
from typing import Any


def _scenario(file_path: str) -> str:
    chart, _, scenario = PurePosixPath(file_path).stem.partition("--")
    return f"{chart}:{scenario}"


def _accepted(pairs: list[str]) -> dict[str, set[str]]:
    accepted: dict[str, set[str]] = {}
    for pair in pairs:
        scenario, _, checks = pair.partition("=")
        accepted.setdefault(scenario, set()).update(c for c in checks.split(",") if c)
    return accepted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", help="checkov's JSON output (-o json)")
    parser.add_argument("--accept", action="append", default=[], metavar="CHART:SCENARIO=CHECKS")
    parser.add_argument("--seconds", type=int, default=0, help="elapsed time, for the summary line")
    args = parser.parse_args()

    with open(args.report, encoding="utf-8") as handle:
        report: dict[str, Any] = json.load(handle)
    summary = report["summary"]
    accepted = _accepted(args.accept)
    failures: list[dict[str, Any]] = report.get("results", {}).get("failed_checks", [])
    kept = [f for f in failures if f["check_id"] not in accepted.get(_scenario(f["file_path"]), set())]
    for failure in kept:
        first, last = failure["file_line_range"]
        print(f"FAILED {failure['check_id']} {failure['check_name']}")
        print(f"  {failure['resource']} in {_scenario(failure['file_path'])} (lines {first}-{last})")
    print(
        f"chart-scan: {summary['resource_count']} resources, {summary['passed']} checks passed, "
        f"{len(kept)} failed, {len(failures) - len(kept)} accepted in single scenarios, "
        f"{summary['parsing_errors']} parsing errors ({args.seconds}s)"
    )
    return 1 if kept or summary["parsing_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
