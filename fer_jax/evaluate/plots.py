"""PNG figures a person would rather look at than read: confusion matrix, training curves, identity audit,
per-frame bars against a per-frame curve.

matplotlib with the Agg backend (no display needed); every figure is written to a temp name and then
renamed, so a reader never sees half a PNG.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from data_pipelines.atomic import atomic_path


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt, plt.figure(*args, **kwargs)


def _save(plt, fig, path: str) -> str:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def confusion_png(confusion: Sequence[Sequence[int]], class_names: Sequence[str], path: str) -> str:
    """Row-normalised confusion matrix (recall per true class), with counts in the cells."""
    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    plt, fig = _figure(figsize=(1.0 + 0.7 * len(class_names), 0.8 + 0.6 * len(class_names)))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="recall")
    return _save(plt, fig, path)


def curves_png(history: dict[str, list[tuple[int, float]]], path: str) -> str:
    """One panel per metric name (the part after the run name), one line per run."""
    panels: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for key, series in history.items():
        run, _, metric = key.rpartition(" ")
        panels.setdefault(metric, {})[run or metric] = series
    n = max(len(panels), 1)
    plt, fig = _figure(figsize=(4.2 * n, 3.2))
    for i, (metric, runs) in enumerate(sorted(panels.items())):
        ax = fig.add_subplot(1, n, i + 1)
        for run, series in runs.items():
            if series:
                steps, values = zip(*series)
                ax.plot(steps, values, label=run, marker="." if len(series) < 20 else None)
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def audit_png(results_by_run: dict[str, dict[str, Any]], path: str) -> str:
    """Identity-probe accuracy (linear and MLP) per run, against chance."""
    runs = list(results_by_run)
    plt, fig = _figure(figsize=(2.0 + 1.6 * len(runs), 3.4))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(runs))
    for offset, key, label in ((-0.18, "linear_acc", "linear probe"), (0.18, "mlp_acc", "MLP probe")):
        vals = [results_by_run[r][key] for r in runs]
        err = [results_by_run[r].get(f"{key}_sd", 0.0) for r in runs]  # spread over the audit's splits
        bars = ax.bar(x + offset, vals, width=0.34, yerr=err, capsize=3, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    chance = max(results_by_run[r]["chance"] for r in runs)
    ax.axhline(chance, color="k", linestyle="--", linewidth=1, label=f"chance ({chance:.2f})")
    ax.set_xticks(x, runs)
    top = max([chance] + [results_by_run[r][k] + results_by_run[r].get(f"{k}_sd", 0.0)
                          for r in runs for k in ("linear_acc", "mlp_acc")])
    ax.set_ylim(0, min(1.05, 1.3 * top + 0.02))  # room for the labels and legend, not a mostly empty axis
    ax.set_ylabel("identity accuracy on unseen identities")
    ax.set_title("identity audit (lower = less identity in z_exp)")
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def frames_png(panels: Sequence[dict[str, Any]], path: str, *, bars: str, curve: str, cols: int = 3) -> str:
    """One panel per clip: ``bars`` per frame (blue, with a dotted uniform level 1/T) and ``curve`` per frame
    (red, right axis, dashed at half its peak). A panel is ``{"bars", "curve", "frames", "title"}``
    (``frames``: the tick labels, the clip's frame numbers)."""
    rows = max(1, -(-len(panels) // cols))
    plt, fig = _figure(figsize=(4.0 * cols, 2.8 * rows))
    for k, p in enumerate(panels):
        ax = fig.add_subplot(rows, cols, k + 1)
        b, c = np.asarray(p["bars"], np.float64), np.asarray(p["curve"], np.float64)
        x = np.arange(len(b))
        ax.bar(x, b, color="tab:blue", alpha=0.7)
        ax.axhline(1.0 / len(b), color="tab:blue", linestyle=":", linewidth=1)
        ax.set_xticks(x, [str(t) for t in p["frames"]], fontsize=7)
        ax.set_xlabel("frame of the clip")
        ax.set_ylabel(bars, color="tab:blue")
        twin = ax.twinx()
        twin.plot(x, c, color="tab:red", marker="o", markersize=3)
        twin.axhline(0.5 * c.max(), color="tab:red", linestyle="--", linewidth=0.8)
        twin.set_ylabel(curve, color="tab:red")
        twin.set_ylim(bottom=0)
        ax.set_title(p["title"], fontsize=9)
    return _save(plt, fig, path)
