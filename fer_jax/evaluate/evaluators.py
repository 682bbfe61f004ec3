"""Evaluators: per-example eval outputs of a whole split -> a metrics report (big_vision style registry).

An evaluator is ``fn(arrays, config, **options) -> dict``. ``arrays`` are the gathered outputs of
``method.eval_step`` plus the batch's ``label``/``identity`` (``runner.collect``; padding rows already
dropped). A method names its default evaluators (``MethodBase.evaluators``); ``config.evals`` may choose
others per named evaluation. Reports are merged into one dict per evaluation, so evaluators must not
share a top-level key. Scalars and dicts of scalars become summary metrics (``runner.scalar_metrics``).

| name | reads | report keys |
|---|---|---|
| ``classification`` | ``logits``, ``label`` | ``war``, ``uar``, ``per_class_recall`` {class: r}, ``confusion`` |
| ``regression`` | ``predictions``, ``targets`` [, ``target_mask``] | ``icc``/``mae``/``pcc`` {target: v}, ``*_mean`` |
| ``embedding`` | ``features``, ``label`` | ``embedding`` {``intra_sq``, ``inter_sq``, ``ratio_sq``} |
| ``identity_audit`` | ``features``, ``identity`` | ``identity_audit`` {``linear_acc``, ``mlp_acc``, ``chance``, ...} |
| ``reconstruction`` | ``recon_mse`` [N] | ``recon_mse``, ``psnr`` |

Degenerate inputs never put a NaN into a report; each evaluator's docstring says what it does instead.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import ml_collections
import numpy as np

from fer_jax.core.settings import ConfigError
from fer_jax.evaluate.metrics import classification_report

Arrays = dict[str, np.ndarray]
Evaluator = Callable[..., dict[str, Any]]

EVALUATORS: dict[str, Evaluator] = {}


def register(name: str) -> Callable[[Evaluator], Evaluator]:
    def wrap(fn: Evaluator) -> Evaluator:
        if name in EVALUATORS:
            raise ValueError(f"evaluator {name!r} registered twice")
        EVALUATORS[name] = fn
        return fn

    return wrap


def get(name: str) -> Evaluator:
    if name not in EVALUATORS:
        raise ConfigError(f"unknown evaluator {name!r}; known: {', '.join(sorted(EVALUATORS))}")
    return EVALUATORS[name]


def check_options(name: str, options: dict[str, Any], where: str) -> None:
    """Unknown option of evaluator ``name`` -> ConfigError (options are its keyword-only arguments)."""
    params = inspect.signature(get(name)).parameters
    known = sorted(p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY)
    for key in sorted(options):
        if key not in known:
            raise ConfigError(f"unknown option {where}.{key} of evaluator {name!r}; "
                              f"known: {', '.join(known) or 'none'}")


def run_all(names: tuple[str, ...] | list[str], arrays: Arrays, config: ml_collections.ConfigDict,
            options: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The merged report of evaluators ``names`` (``options``: evaluator name -> keyword arguments)."""
    report: dict[str, Any] = {}
    for name in names:
        out = get(name)(arrays, config, **dict((options or {}).get(name, {})))
        clash = set(out) & set(report)
        if clash:
            raise ValueError(f"evaluator {name!r} reports keys already reported: {sorted(clash)}")
        report.update(out)
    return report


# Report dicts whose summary name differs from their key (the names runs have always logged).
SUMMARY_NAMES = {"per_class_recall": "recall"}


def _is_scalar(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, (int, float, np.number)) or (isinstance(v, np.ndarray) and v.ndim == 0)


def flat_scalars(report: dict[str, Any]) -> dict[str, float]:
    """A report's summary metrics: ``key`` for each scalar, ``group/sub`` for each dict of scalars
    (one level; ``per_class_recall`` -> ``recall/<class>``). Lists and arrays are left out."""
    out = {}
    for key, value in report.items():
        if _is_scalar(value):
            out[key] = float(value)
        elif isinstance(value, dict):
            group = SUMMARY_NAMES.get(key, key)
            out.update({f"{group}/{sub}": float(v) for sub, v in value.items() if _is_scalar(v)})
    return out


def _need(arrays: Arrays, evaluator: str, *keys: str) -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise KeyError(f"evaluator {evaluator!r} needs eval outputs {missing}; the eval step gave "
                       f"{sorted(arrays)}")


@register("classification")
def classification(arrays: Arrays, config: ml_collections.ConfigDict) -> dict[str, Any]:
    """WAR, UAR, per-class recall and confusion of ``argmax(logits)`` against ``label`` (metrics.py:
    a class absent from the split has recall nan, left out of UAR; an empty split has UAR nan)."""
    _need(arrays, "classification", "logits", "label")
    pred = np.argmax(arrays["logits"], axis=-1)
    names = config.get("class_names")
    return classification_report(arrays["label"], pred, int(config.num_classes),
                                 class_names=list(names) if names else None)


# --- regression (AU intensity): ICC(3,1), MAE, PCC per target -------------------------------------

def icc3(pred: np.ndarray, target: np.ndarray) -> float:
    """ICC(3,1) of two "raters" (prediction, target) over rows: Shrout & Fleiss consistency, single rater.

    Two-way mixed ANOVA of the [n, 2] table: (MS_rows - MS_error) / (MS_rows + (k-1) MS_error), k = 2.
    ``pingouin.intraclass_corr``'s ``ICC3`` (``ICC(C,1)`` since pingouin 0.7; the test's reference)
    needs a pandas long table per target, and no installed numpy/JAX library (scipy, statsmodels,
    scikit-learn) has an ICC, hence these lines.
    Degenerate: fewer than 2 rows -> ValueError; MS_rows + MS_error == 0 (both raters constant) -> 0.0.
    """
    y = np.stack([np.asarray(pred, np.float64).ravel(), np.asarray(target, np.float64).ravel()], axis=1)
    n, k = y.shape
    if n < 2:
        raise ValueError(f"ICC needs at least 2 rows, got {n}")
    grand = y.mean()
    ss_rows = k * np.sum((y.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((y.mean(axis=0) - grand) ** 2)
    ss_err = np.sum((y - grand) ** 2) - ss_rows - ss_cols
    ms_rows, ms_err = ss_rows / (n - 1), max(ss_err, 0.0) / ((n - 1) * (k - 1))
    denom = ms_rows + (k - 1) * ms_err
    return float((ms_rows - ms_err) / denom) if denom > 0 else 0.0


def pcc(pred: np.ndarray, target: np.ndarray) -> float:
    """Pearson correlation; 0.0 when either side is constant (no linear association measurable)."""
    p = np.asarray(pred, np.float64).ravel()
    t = np.asarray(target, np.float64).ravel()
    if len(p) < 2:
        raise ValueError(f"PCC needs at least 2 rows, got {len(p)}")
    p, t = p - p.mean(), t - t.mean()
    denom = np.sqrt(np.sum(p * p) * np.sum(t * t))
    return float(np.clip(np.sum(p * t) / denom, -1.0, 1.0)) if denom > 0 else 0.0


def target_names(config: ml_collections.ConfigDict, count: int) -> list[str]:
    names = config.get("target_names")
    if not names:
        return [str(i) for i in range(count)]
    if len(names) != count:
        raise ValueError(f"config.target_names has {len(names)} names for {count} targets")
    return [str(n) for n in names]


@register("regression")
def regression(arrays: Arrays, config: ml_collections.ConfigDict) -> dict[str, Any]:
    """Per target (last axis): ICC(3,1), MAE and PCC over the labelled rows, and their means.

    ``predictions`` / ``targets``: [N, A] or [N, T, A] (time is flattened into rows). A row of a target
    counts where ``target_mask`` (same shape, when the eval step gives it) is > 0, else where the target
    is >= 0 (the data path codes "not labelled" as -1). Targets named by ``config.target_names``.
    Degenerate: a target with < 2 labelled rows raises ValueError naming it; a constant target or
    prediction gives ICC and PCC 0.0 (``icc``/``pcc`` never hold NaN), listed under ``constant``.
    """
    _need(arrays, "regression", "predictions", "targets")
    pred, target = np.asarray(arrays["predictions"]), np.asarray(arrays["targets"])
    if pred.shape != target.shape or pred.ndim not in (2, 3):
        raise ValueError(f"predictions {pred.shape} and targets {target.shape} must share a shape "
                         "[N, A] or [N, T, A]")
    mask = np.asarray(arrays["target_mask"]) > 0 if "target_mask" in arrays else target >= 0
    if mask.shape != target.shape:
        raise ValueError(f"target_mask {mask.shape} differs from targets {target.shape}")
    count = target.shape[-1]
    pred, target, mask = (a.reshape(-1, count) for a in (pred, target, mask))
    names = target_names(config, count)
    out: dict[str, Any] = {"icc": {}, "mae": {}, "pcc": {}, "num_labelled": {}, "constant": []}
    for j, name in enumerate(names):
        p, t = pred[mask[:, j], j], target[mask[:, j], j]
        if len(t) < 2:
            raise ValueError(f"regression target {name!r} has {len(t)} labelled rows; ICC/PCC need 2")
        out["icc"][name], out["pcc"][name] = icc3(p, t), pcc(p, t)
        out["mae"][name] = float(np.mean(np.abs(p - t)))
        out["num_labelled"][name] = int(len(t))
        if np.ptp(p) == 0 or np.ptp(t) == 0:
            out["constant"].append(name)
    for metric in ("icc", "mae", "pcc"):
        out[f"{metric}_mean"] = float(np.mean(list(out[metric].values())))
    return out


@register("embedding")
def embedding(arrays: Arrays, config: ml_collections.ConfigDict) -> dict[str, Any]:
    """How tightly ``features`` cluster by ``label``, as the compact loss measures it (STT's
    ``compactness``): ``ratio_sq`` = ``intra_sq`` / ``inter_sq`` (lower = better separated).

    ``intra_sq``: mean over examples of the squared Euclidean distance to the centre (mean feature) of
    its own class; ``inter_sq``: mean squared distance over all pairs of distinct class centres (classes
    present in the split). Squared, and named so, because that is the ratio the loss optimises: a
    report of unsquared distances would rank runs by another quantity. The loss uses EMA centres over
    batches, the evaluator the split's exact class means. Fewer than 2 classes present, or all centres
    equal (collapsed features), raise ValueError: the ratio would be undefined.
    """
    _need(arrays, "embedding", "features", "label")
    feats = np.asarray(arrays["features"], np.float64).reshape(len(arrays["features"]), -1)
    labels = np.asarray(arrays["label"])
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"embedding evaluator needs >= 2 classes in the split, got {len(classes)}")
    centres = np.stack([feats[y == c].mean(axis=0) for c in range(len(classes))])
    intra = float(np.mean(np.sum((feats - centres[y]) ** 2, axis=1)))
    i, j = np.triu_indices(len(classes), k=1)
    inter = float(np.mean(np.sum((centres[i] - centres[j]) ** 2, axis=1)))
    if inter == 0:
        raise ValueError("embedding evaluator: all class centres coincide (collapsed features)")
    return {"embedding": {"intra_sq": intra, "inter_sq": inter, "ratio_sq": intra / inter}}


@register("identity_audit")
def identity_audit(arrays: Arrays, config: ml_collections.ConfigDict, *, repeats: int = 1,
                   hidden: int = 128, steps: int = 500) -> dict[str, Any]:
    """Held-out identity accuracy of linear/MLP probes on ``features`` (``identity_audit.audit``;
    seed = ``config.seed``). Raises ValueError when no identity has two examples."""
    from fer_jax.evaluate.identity_audit import audit

    _need(arrays, "identity_audit", "features", "identity")
    feats = np.asarray(arrays["features"]).reshape(len(arrays["features"]), -1)
    return {"identity_audit": audit(feats, arrays["identity"], seed=int(config.get("seed", 0)),
                                    hidden=hidden, steps=steps, repeats=repeats)}


PSNR_MSE_FLOOR = 1e-10  # PSNR is capped at 100 dB: a perfect reconstruction (MSE 0) stays finite


@register("reconstruction")
def reconstruction(arrays: Arrays, config: ml_collections.ConfigDict) -> dict[str, Any]:
    """``recon_mse``: mean of the per-example MSEs (pixels in [0, 1]); ``psnr`` = 10·log10(1 / that mean)
    in dB, i.e. PSNR of the mean MSE (not the mean of per-image PSNRs, which one near-perfect image
    dominates). MSE is floored at 1e-10 (PSNR <= 100 dB)."""
    _need(arrays, "reconstruction", "recon_mse")
    mse = np.asarray(arrays["recon_mse"], np.float64)
    if mse.ndim != 1 or not len(mse):
        raise ValueError(f"recon_mse must be per-example [N] with N >= 1, got shape {mse.shape}")
    mean = float(np.mean(mse))
    report = {"recon_mse": mean, "psnr": float(10 * np.log10(1.0 / max(mean, PSNR_MSE_FLOOR)))}
    if "recon_lpips" in arrays:  # a perceptual distance per example, when the method gives one (IFER)
        report["recon_lpips"] = float(np.mean(np.asarray(arrays["recon_lpips"], np.float64)))
    return report
