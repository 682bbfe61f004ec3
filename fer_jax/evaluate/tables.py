"""Cross-validation tables: per-fold scalar metrics, their mean and sd, as ``cv.json`` and ``cv.md``.

A fold's row is ``evaluators.flat_scalars`` of its evaluation report (``war``, ``uar``,
``recall/<class>`` for classification; ``icc_mean``, ``icc/<target>``, ``mae/...``, ``pcc/...`` for
regression). Choices: the sd is the sample sd over folds (ddof = 1; none with a single fold); a
metric that is NaN in some folds (e.g. the recall of a class absent from a test fold) is averaged
over the folds where it is defined, and ``n`` says over how many.

``cv.md`` shows one table of the ungrouped metrics and one table per group (``recall``, ``icc``,
``mae``, ...), each with a row per fold and a ``mean ± sd`` row, so 12 AUs stay readable.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from data_pipelines.atomic import atomic_write, atomic_write_json
from fer_jax.evaluate.evaluators import flat_scalars


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``rows``: [{"fold", "metrics": {name: value}}, ...] -> rows + ``mean``, ``sd``, ``n`` per metric."""
    names = sorted({k for r in rows for k in r["metrics"]})
    mean, sd, n = {}, {}, {}
    for name in names:
        values = np.array([r["metrics"].get(name, np.nan) for r in rows], np.float64)
        values = values[np.isfinite(values)]
        n[name] = int(len(values))
        mean[name] = float(values.mean()) if len(values) else None
        sd[name] = float(values.std(ddof=1)) if len(values) > 1 else None
    return {"folds": [dict(r) for r in rows], "mean": mean, "sd": sd, "n": n}


def fold_row(fold: int, report: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The row of one fold from its evaluation report (``extra``: e.g. ``step``, ``split``; the
    report's ``step`` is the checkpoint's, not a metric)."""
    return {"fold": int(fold), **extra, "metrics": flat_scalars({k: v for k, v in report.items() if k != "step"})}


def _fmt(value: Any, name: str) -> str:
    """4 decimals; counts (``num_*``, ``n_*``) as integers, their sd with 1 decimal; missing as –."""
    if value is None or not math.isfinite(value):
        return "–"
    count = name.split("/")[-1].startswith(("num_", "n_")) or name.startswith(("num_", "n_"))
    return (f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}") if count else f"{value:.4f}"


def markdown(summary: Mapping[str, Any], title: str = "Cross-validation") -> str:
    """The tables of ``cv.md`` (see module docstring)."""
    names = sorted(summary["mean"])
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.split("/")[0] if "/" in name else "", []).append(name)
    lines = [f"# {title}", "", f"{len(summary['folds'])} folds; mean ± sample sd over folds.", ""]
    for group, members in sorted(groups.items()):
        cols = [m.split("/", 1)[1] if group else m for m in members]
        if group:
            lines += [f"## {group}", ""]
        lines.append("| fold | " + " | ".join(cols) + " |")
        lines.append("|---" * (len(cols) + 1) + "|")
        for row in summary["folds"]:
            lines.append(f"| {row['fold']} | " + " | ".join(_fmt(row["metrics"].get(m), m) for m in members) + " |")
        cells = []
        for m in members:
            mu, sd = summary["mean"][m], summary["sd"][m]
            cells.append(_fmt(mu, m) + ("" if sd is None else f" ± {_fmt(sd, m)}"))
        lines += ["| mean | " + " | ".join(cells) + " |", ""]
    return "\n".join(lines)


def write(workdir: str, rows: Sequence[Mapping[str, Any]], **header: Any) -> dict[str, Any]:
    """Write ``workdir/cv.json`` (``header`` + ``summarize(rows)``) and ``workdir/cv.md``; returns the json."""
    out = {**header, **summarize(rows)}
    atomic_write_json(os.path.join(workdir, "cv.json"), out)
    atomic_write(os.path.join(workdir, "cv.md"), markdown(out, header.get("title", "Cross-validation")) + "\n")
    return out
