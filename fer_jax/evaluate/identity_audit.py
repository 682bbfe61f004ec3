"""The identity audit: how much identity can still be read from frozen expression features.

Two probes are trained to predict the subject from z_exp of clips of identities the expression model
never saw in training: a linear softmax classifier and a one-hidden-layer MLP. Held-out accuracy far
above chance means the features carry identity; MI-FER's game should push it towards chance.

Choices, and why:

* **Split**: per identity, half of its clips (rounded down, at least one) train the probe and the
  rest test it, so every identity is seen by the probe and chance is ~1/#identities. Identities with a
  single clip cannot be tested and are left out.
* **Standardised features** (mean/std of the probe's training half): the probes compare feature sets
  of different scales (λ > 0 vs λ = 0) on equal terms.
* **Repeated splits**: with a few clips per identity, which half trains the probe moves its accuracy
  by several points (sd 0.014–0.05 measured on the demo's 84–168 probe-test clips). ``repeats=R`` trains the probes on R
  random halves (seeds ``seed … seed+R-1``) and reports the mean, plus every split's accuracy so two
  runs evaluated on the same clips can be compared split by split (``compare_audits``).
* **chance** = the test share of the most frequent identity (the best constant guess).
* **Per-class breakdown** (``labels`` given): the same probes' accuracy on the probe-test clips of each
  expression class, averaged over the splits (``per_class``), so an uneven removal of identity (one
  expression still giving the subject away) shows. Chance per class is that of the whole test half.
* Full-batch Adam in one ``lax.scan`` with weight decay; a few hundred steps take seconds on a CPU.
  Hand-written because no library we depend on has a probe trainer; the optimizer is optax's.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax


def split_by_identity(identity: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): per identity with ≥ 2 examples, a random half (≥ 1) to each side."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for ident in np.unique(identity):
        idx = rng.permutation(np.flatnonzero(identity == ident))
        if len(idx) < 2:
            continue
        cut = max(len(idx) // 2, 1)
        train.append(idx[:cut])
        test.append(idx[cut:])
    if not train:
        raise ValueError("identity audit needs at least one identity with two or more examples")
    return np.concatenate(train), np.concatenate(test)


def _init(key: jax.Array, dims: list[int]) -> list[dict[str, jax.Array]]:
    keys = jax.random.split(key, len(dims) - 1)
    return [{"w": jax.random.normal(k, (i, o)) * jnp.sqrt(1.0 / i), "b": jnp.zeros(o)}
            for k, i, o in zip(keys, dims[:-1], dims[1:])]


def _apply(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def train_probe(x: np.ndarray, y: np.ndarray, num_classes: int, hidden: int = 0, steps: int = 500,
                lr: float = 1e-2, weight_decay: float = 1e-3, seed: int = 0) -> list[dict[str, jax.Array]]:
    """Softmax probe (``hidden=0``) or one-hidden-layer MLP, full-batch AdamW."""
    return _fit(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32), jax.random.key(seed),
                num_classes=num_classes, hidden=hidden, steps=steps, lr=lr, weight_decay=weight_decay)


@functools.partial(jax.jit, static_argnames=("num_classes", "hidden", "steps", "lr", "weight_decay"))
def _fit(x: jax.Array, y: jax.Array, key: jax.Array, *, num_classes: int, hidden: int, steps: int,
         lr: float, weight_decay: float) -> list[dict[str, jax.Array]]:
    # Jitted once per shape: the audit's repeated splits share it (same clips per identity each time).
    dims = [x.shape[1]] + ([hidden] if hidden else []) + [num_classes]
    params = _init(key, dims)
    tx = optax.adamw(lr, weight_decay=weight_decay)

    def loss_fn(p):
        return optax.softmax_cross_entropy_with_integer_labels(_apply(p, x), y).mean()

    def step(carry, _):
        p, s = carry
        grads = jax.grad(loss_fn)(p)
        updates, s = tx.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params


PROBES = (("linear_acc", 0), ("mlp_acc", None))  # None: the MLP's hidden width (``audit(hidden=)``)


def _one_split(features: np.ndarray, y: np.ndarray, num_classes: int, seed: int, hidden: int,
               steps: int, labels: np.ndarray | None = None) -> dict[str, Any]:
    train, test = split_by_identity(y, seed)
    mean, std = features[train].mean(0), features[train].std(0) + 1e-6
    x = (features - mean) / std
    out: dict[str, Any] = {"n_identities": int(len(np.unique(y[test]))), "n_train": int(len(train)),
                           "n_test": int(len(test)), "chance": float(np.bincount(y[test]).max() / len(test))}
    for name, h in PROBES:
        params = train_probe(x[train], y[train], num_classes, hidden=hidden if h is None else h, steps=steps,
                             seed=seed)
        pred = np.asarray(jnp.argmax(_apply(params, jnp.asarray(x[test])), axis=-1))
        out[name] = float(np.mean(pred == y[test]))
        if labels is not None:  # correct / count per expression class of the probe-test clips
            hit = pred == y[test]
            out[f"{name}_by_class"] = {int(c): (int(hit[labels[test] == c].sum()), int((labels[test] == c).sum()))
                                       for c in np.unique(labels)}
    return out


def audit(features: np.ndarray, identity: np.ndarray, seed: int = 0, hidden: int = 128,
          steps: int = 500, repeats: int = 1, labels: np.ndarray | None = None,
          class_names: tuple[str, ...] | list[str] | None = None) -> dict[str, Any]:
    """Held-out identity accuracy of a linear and an MLP probe on ``features`` [N, D], averaged over
    ``repeats`` random per-identity half splits (``<probe>_splits``: each split's accuracy).

    With ``labels`` [N] (expression class ids), ``per_class`` maps each class (its name from
    ``class_names`` where given, else the id) to ``{linear_acc, mlp_acc, n_test}``: the probes'
    accuracy on that class's probe-test clips, pooled over the splits."""
    features = np.asarray(features, np.float32)
    identity = np.asarray(identity)
    if features.ndim != 2 or len(features) != len(identity):
        raise ValueError(f"features must be [N, D] with one identity each; got {features.shape} and {identity.shape}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    classes, y = np.unique(identity, return_inverse=True)
    if labels is not None:
        labels = np.asarray(labels).astype(np.int64)
        if labels.shape != identity.shape:
            raise ValueError(f"labels must be [N] like identity; got {labels.shape} and {identity.shape}")
    splits = [_one_split(features, y, len(classes), seed + r, hidden, steps, labels) for r in range(repeats)]
    out = {k: splits[0][k] for k in ("n_identities", "n_train", "n_test", "chance")}
    out["repeats"] = repeats
    for name, _ in PROBES:
        accs = [s[name] for s in splits]
        out[name], out[f"{name}_sd"], out[f"{name}_splits"] = float(np.mean(accs)), float(np.std(accs)), accs
    if labels is not None:
        per_class: dict[Any, dict[str, Any]] = {}
        for c in np.unique(labels):
            key = class_names[int(c)] if class_names is not None else int(c)
            row: dict[str, Any] = {}
            for name, _ in PROBES:
                hits = sum(s[f"{name}_by_class"][int(c)][0] for s in splits)
                count = sum(s[f"{name}_by_class"][int(c)][1] for s in splits)
                row[name] = float(hits / count) if count else float("nan")
                row["n_test"] = round(count / repeats)  # mean per split
            per_class[key] = row
        out["per_class"] = per_class
    return out


def compare_audits(treated: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Per probe: each run's accuracy above chance and in how many of the shared splits ``treated`` is
    closer to chance than ``baseline`` (ties count half). Both audits must come from the same clips,
    seed and ``repeats``, so that split r holds the same clips in both."""
    if treated["repeats"] != baseline["repeats"] or treated["n_test"] != baseline["n_test"]:
        raise ValueError("audits from different splits cannot be compared split by split")
    out: dict[str, Any] = {"repeats": treated["repeats"]}
    for name, _ in PROBES:
        t, b = np.asarray(treated[f"{name}_splits"]), np.asarray(baseline[f"{name}_splits"])
        out[f"{name}_above_chance_treated"] = treated[name] - treated["chance"]
        out[f"{name}_above_chance_baseline"] = baseline[name] - baseline["chance"]
        out[f"{name}_splits_closer"] = float(np.sum(t < b) + 0.5 * np.sum(t == b))
    return out
