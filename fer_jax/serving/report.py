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


def face_box(record: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """A face record's box (x0, y0, x1, y1) in source pixels: the detection's, or the track's median square
    (``Track.summary``'s ``box``)."""
    box = (record.get("face") or {}).get("box")
    return tuple(box) if box else None


def faces_png(image_path: str, records: list[dict[str, Any]]) -> bytes:
    """The photo with each face record's box and label drawn on it, as PNG bytes."""
    from PIL import Image, ImageDraw

    from data_pipelines.common.sources import read_image

    img = Image.fromarray(read_image(image_path))
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(img.size) / 300))
    for rec in records:
        box = face_box(rec)
        if box is None:
            continue
        label = str(rec.get("prediction", ""))
        probs = rec.get("probabilities") or {}
        text = f"{rec.get('track_id', '')}: {label}" + (f" {probs[label]:.2f}" if label in probs else "")
        draw.rectangle(box, outline=(255, 40, 40), width=width)
        left, top, right, bottom = draw.textbbox((box[0], box[1]), text)
        y = max(0, box[1] - (bottom - top) - 2 * width)
        draw.rectangle((box[0], y, box[0] + right - left + 2 * width, y + bottom - top + 2 * width), fill=(255, 40, 40))
        draw.text((box[0] + width, y + width - (top - box[1])), text, fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def write_plots(records: list[dict[str, Any]], names: tuple[str, ...], folder: str) -> list[str]:
    """One PNG per record with a timeline, and per photo with faces ``<stem>_faces.png`` (the boxes and labels
    drawn on it); returns the paths written."""
    from data_pipelines.atomic import atomic_write

    os.makedirs(folder, exist_ok=True)
    paths, photos = [], {}
    for rec in records:
        if rec.get("status") == "ok" and rec.get("timeline"):
            path = os.path.join(folder, plot_name(rec))
            atomic_write(path, timeline_png(rec, names))
            paths.append(path)
        if rec.get("status") == "ok" and rec["input"].lower().endswith(IMAGE_EXTENSIONS) and face_box(rec):
            photos.setdefault(rec["input"], []).append(rec)
    for image_path, recs in photos.items():
        path = os.path.join(folder, plot_name({"input": image_path})[:-4] + "_faces.png")
        atomic_write(path, faces_png(image_path, recs))
        paths.append(path)
    return paths
