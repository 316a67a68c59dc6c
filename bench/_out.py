"""Where the benchmarks put their figures: ``bench/out/<name>.json`` (and a PNG plot where one helps).

A module, not a benchmark (``make bench`` skips names starting with ``_``). ``bench/out/`` is ignored by
git: the figures of one run belong in the README's Performance section, with their date and machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def spread(values: list[float]) -> dict[str, float]:
    """Median, p10 and p90 of ``values``: what every interleaved figure reports."""
    return {
        "median": statistics.median(values),
        "p10": percentile(values, 0.10),
        "p90": percentile(values, 0.90),
    }


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}


def write(name: str, figures: dict[str, Any]) -> Path:
    """``bench/out/<name>.json``: the figures, when and where they were taken."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    document = {"benchmark": name, "taken": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(), **figures}  # fmt: skip
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"figures: {path.relative_to(OUT.parent.parent)}")
    return path
