"""Classification metrics of the FER benchmarks: WAR, UAR, per-class recall, confusion matrix.

WAR (weighted average recall) is plain accuracy; UAR (unweighted average recall) is the mean of the
per-class recalls, the headline of imbalanced in-the-wild sets (DFEW, AFEW). Choice: a class with no
example in the evaluated split has an undefined recall; it is reported as ``nan`` and left out of
UAR rather than counted as 0 (which would punish a model for the split, not for its predictions).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """[C, C] counts, rows = true class, columns = predicted class."""
    labels, preds = np.asarray(labels, np.int64).ravel(), np.asarray(preds, np.int64).ravel()
    if labels.shape != preds.shape:
        raise ValueError(f"labels {labels.shape} and predictions {preds.shape} differ in length")
    for name, arr in (("label", labels), ("prediction", preds)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{name} outside 0..{num_classes - 1}: [{arr.min()}, {arr.max()}]")
    return np.bincount(labels * num_classes + preds, minlength=num_classes**2).reshape(num_classes, num_classes)


def classification_report(labels: np.ndarray, preds: np.ndarray, num_classes: int,
                          class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """``war``, ``uar``, ``per_class_recall`` {name: recall or nan}, ``confusion`` (list of lists)."""
    names = [str(n) for n in (class_names or range(num_classes))]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes")
    cm = confusion_matrix(labels, preds, num_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, np.diag(cm) / support, np.nan)
    total = cm.sum()
    return {
        "war": float(np.trace(cm) / total) if total else float("nan"),
        "uar": float(np.nanmean(recall)) if np.any(support > 0) else float("nan"),
        "per_class_recall": {n: float(r) for n, r in zip(names, recall)},
        "confusion": cm.tolist(),
    }
