"""Where the benchmarks put their figures: ``bench/out/<name>.json`` (and a PNG plot where one helps).

A module, not a benchmark (``make bench`` skips names starting with ``_``). ``bench/out/`` is ignored by
git: the figures of one run belong in the README's Performance section, with their date and machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Mapping
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


def save_plot(figure: Any, name: str) -> Path:
    """``bench/out/<name>.png`` from a matplotlib figure."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    print(f"plot: {path.relative_to(OUT.parent.parent)}")
    return path


def pyplot() -> Any:
    """matplotlib.pyplot, drawing to files only."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def bars(name: str, title: str, unit: str, values: Mapping[str, float]) -> Path:
    """A horizontal bar per figure, each labelled with its value: a figure beside its baseline."""
    figure, axis = pyplot().subplots(figsize=(8, 0.45 * len(values) + 1.4))
    labels = list(values)
    axis.barh(labels, [values[label] for label in labels], color="tab:blue")
    axis.invert_yaxis()
    for row, label in enumerate(labels):
        axis.text(values[label], row, f" {values[label]:.3g}", va="center", fontsize=8)
    axis.set_xlabel(unit)
    axis.set_title(title)
    axis.grid(axis="x", alpha=0.3)
    return save_plot(figure, name)


def distributions(name: str, title: str, series: Mapping[str, list[float]], unit: str = "ms") -> Path:
    """Cumulative distributions of ``series`` (one step line each, log time axis)."""
    figure, axis = pyplot().subplots(figsize=(9, 5))
    for label, values in series.items():
        ordered = sorted(values)
        axis.step(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], where="post", label=label)
    axis.set_xscale("log")
    axis.set_xlabel(unit)
    axis.set_ylabel("fraction")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    return save_plot(figure, name)
