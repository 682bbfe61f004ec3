"""``predict``'s side outputs: ``--csv`` (one row per timeline entry, for spreadsheets and pandas) and
``--plot`` (one timeline PNG per record), both written atomically (temp name, then rename).

CSV rows: ``input, track_id, status, index, start_s, end_s, prediction`` then one column per output name
(class probabilities or regression values). A timeline entry is a frame for per-frame models
(``--model minixception``), a GOP for compressed-domain models and a frame window for clip models; a record
without a timeline (an image, a failed or no-face input) gives one row with ``index`` empty.
"""

from __future__ import annotations

import csv
import io
import os
import re
from typing import Any

COLUMNS = ("input", "track_id", "status", "index", "start_s", "end_s", "prediction")


def _values(entry: dict[str, Any]) -> dict[str, Any]:
    return entry.get("probabilities") or entry.get("values") or {}


def csv_text(records: list[dict[str, Any]], names: tuple[str, ...]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS + tuple(names))
    for rec in records:
        head = [rec["input"], rec.get("track_id", "")]
        timeline = rec.get("timeline") or []
        if not timeline:
            vals = _values(rec)
            w.writerow(head + [rec["status"], "", "", "", rec.get("prediction", "")] + [vals.get(n, "") for n in names])
            continue
        for i, e in enumerate(timeline):
            index = e.get("frame", e.get("gop", e.get("window", i)))
            vals = _values(e)
            w.writerow(head + [e.get("status", "ok"), index, e["start_s"], e["end_s"], e.get("prediction", "")]
                       + [vals.get(n, "") for n in names])
    return buf.getvalue()


def plot_name(record: dict[str, Any]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.splitext(os.path.basename(record["input"]))[0])
    return stem + (f"_track{record['track_id']}" if "track_id" in record else "") + ".png"


def timeline_png(record: dict[str, Any], names: tuple[str, ...]) -> bytes:
    """A probability-over-time plot of one record (no-face entries shaded grey) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    timeline = record["timeline"]
    mid = np.array([(e["start_s"] + e["end_s"]) / 2 for e in timeline])
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100)
    for n in names:
        ax.plot(mid, [_values(e).get(n, np.nan) for e in timeline], label=n, lw=1.2)
    for e in timeline:
        if e.get("status") == "no_face":
            ax.axvspan(e["start_s"], e["end_s"], color="0.85", lw=0)
    track = f" - face track {record['track_id']}" if "track_id" in record else ""
    ax.set(xlabel="time (s)", ylabel="probability" if "probabilities" in record else "value", ylim=(0, 1.02)
           if "probabilities" in record else None, title=os.path.basename(record["input"]) + track)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_plots(records: list[dict[str, Any]], names: tuple[str, ...], folder: str) -> list[str]:
    """One PNG per record with a timeline; returns the paths written."""
    from data_pipelines.atomic import atomic_write

    os.makedirs(folder, exist_ok=True)
    paths = []
    for rec in records:
        if rec.get("status") == "ok" and rec.get("timeline"):
            path = os.path.join(folder, plot_name(rec))
            atomic_write(path, timeline_png(rec, names))
            paths.append(path)
    return paths
