"""The MI-FER config every dataset file starts from, and the ``arg`` variant syntax they share.

``get_config(arg)`` takes comma-separated variant words and ``key=value`` pairs, e.g.
``synthface.py:tiny``, ``ckplus.py:fold=3``, ``ckplus.py:tiny,fold=3``, ``synthface.py:random``:

* ``tiny``   - the demo/test size: tiny encoder, 32 px, few hundred steps, small batches;
* ``random`` - in-memory random arrays instead of the dataset (smoke runs; no data needed);
* ``fold=K`` - fold K of a subject-independent k-fold protocol (train = the other folds);
* ``baseline`` - λ = 0 (no MI minimisation), the comparison run of the identity audit.

Everything else is an ordinary field, overridable on the command line (``--config.mi.weight=0.1``).
The sections' values here equal the settings dataclasses' defaults (``fer_jax/methods/mi_fer/settings.py``,
``fer_jax/train/optim.py``; a test keeps them equal): they are stated so the experiment reads top to bottom.
"""

from __future__ import annotations

from typing import Any

import ml_collections

# The variant words and keys of the dataset configs (name -> default, or (default, type) where the
# default is None).
VARIANTS = dict(tiny=False, random=False, baseline=False, fold=(None, int))
_TRUE, _FALSE = ("", "1", "true", "yes"), ("0", "false", "no")


def parse_arg(arg: str | None, **spec: Any) -> ml_collections.ConfigDict:
    """``"tiny,fold=3"`` -> typed values by ``spec`` (big_vision's ``configs/common.py:parse_arg``).

    ``spec``: name -> default (its type converts the value) or ``(default, type)``; without ``spec``,
    :data:`VARIANTS`. A bare word sets a boolean to True; unknown names are an error. Every name of
    ``spec`` is in the result, at its default unless given.
    """
    spec = spec or VARIANTS
    out = {}
    for name, default in spec.items():
        out[name] = default[0] if isinstance(default, tuple) else default
    for part in filter(None, (p.strip() for p in (arg or "").split(","))):
        key, sep, value = part.partition("=")
        if key not in spec:
            words = ", ".join(k if _kind(spec[k]) is bool else f"{k}=..." for k in spec)
            raise ValueError(f"unknown config variant {key!r}; known: {words}")
        kind = _kind(spec[key])
        if kind is bool:
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError(f"config variant {key}={value!r}: not a boolean")
            out[key] = value.lower() in _TRUE
        elif not sep:
            raise ValueError(f"config variant {key!r} needs a value: {key}=...")
        else:
            out[key] = kind(value)
    return ml_collections.ConfigDict(out)


def _kind(default: Any) -> type:
    return default[1] if isinstance(default, tuple) else type(default)


def base_config(dataset: str, class_names: tuple[str, ...]) -> ml_collections.ConfigDict:
    """Full-size MI-FER: ResNet-18 on 112 px residuals, 3 segments, dlib identity (128-D)."""
    c = ml_collections.ConfigDict()
    c.method = "mi_fer"
    c.seed = 0
    c.num_classes = len(class_names)
    c.class_names = class_names
    c.total_steps = 20_000
    c.log_every = 50
    c.eval_every = 1_000
    c.ckpt_every = 1_000
    c.keep_ckpts = 3
    c.best_metric = "val/uar"
    c.best_mode = "max"
    c.progress_bar = True
    c.tensorboard = True
    c.progress_keys = ("loss/ce", "loss/estimator", "mi/club", "accuracy")

    c.model = ml_collections.ConfigDict(dict(
        encoder="resnet18", width=64, use_mv=True, mv_encoder="tiny", mv_width=16, feature_dim=128,
        stem="imagenet", dtype="float32"))
    c.mi = ml_collections.ConfigDict(dict(
        weight=0.1, start_step=1_000, warmup_steps=2_000, estimator="club", estimator_steps=2,
        # The encoder's penalty: CLUB under a closed-form critic (leave-one-out, fitted on this batch +
        # the last refit_memory rows). The trained estimator still plays phase 1 and reports mi/club;
        # penalty="club" (penalise under the trained critic, the paper's game) made identity *more*
        # readable on the toy and in the demo: fer_jax/methods/mi_fer/README.md.
        penalty="refit", refit_ridge=1.0, refit_memory=128, clip_negative=True, critic_input="raw",
        hidden=256, identity_dim=128, identity_norm="sphere", logvar_bound=5.0,
        optim=dict(name="adamw", lr=1e-3, weight_decay=0.0, schedule="constant", warmup_steps=0,
                   grad_clip=0.0)))
    c.apex = ml_collections.ConfigDict(dict(enabled=False, weight=0.5, agreement_weight=1.0))
    c.optim = ml_collections.ConfigDict(dict(
        name="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine", warmup_steps=500, grad_clip=1.0))
    c.input = ml_collections.ConfigDict(dict(
        dataset=dataset, data_dir=ml_collections.FieldReference(None, field_type=str),
        identity_backbone="dlib", split_train="train", split_val="val", batch_size=64,
        eval_batch_size=64, segments=3, segment_mode="tsn", size=112, gop=12, mode="accumulate",
        shuffle_buffer=1_000, augment=True, cache=False,
        random=dict(num_train=256, num_val=64, num_identities=16, identity_dim=128, signal=0.5)))
    return c


def apply_tiny(c: ml_collections.ConfigDict) -> None:
    """Small enough for CPU tests and the demo: tiny encoder on 32 px, a few hundred steps."""
    c.total_steps = 300
    c.log_every = 10
    c.eval_every = 100
    c.ckpt_every = 100
    c.model.encoder = "tiny"
    c.model.width = 8
    c.model.mv_width = 8
    c.model.use_mv = False
    c.model.feature_dim = 32
    c.mi.hidden = 64
    c.mi.start_step = 50
    c.mi.warmup_steps = 100
    c.optim.warmup_steps = 20
    c.input.size = 32
    c.input.segments = 2
    c.input.batch_size = 16
    c.input.eval_batch_size = 16
    c.input.shuffle_buffer = 256
    c.input.random.num_train = 64
    c.input.random.num_val = 32


def lab_fold_config(dataset: str, class_names: tuple[str, ...], arg: str | None, *, total_steps: int,
                    n_folds: int = 10) -> ml_collections.ConfigDict:
    """The lab onset datasets (CK+, Oulu-CASIA, MMI): k-fold by subject (fold 0 unless ``fold=K``),
    apex constraint on, batch 32, eval and checkpoint every 500 steps."""
    args = parse_arg(arg)
    if args.fold is None:
        args.fold = 0
    c = base_config(dataset, class_names)
    c.apex.enabled = True
    c.total_steps = total_steps
    c.eval_every = 500
    c.ckpt_every = 500
    c.input.batch_size = 32
    c.input.eval_batch_size = 32
    return finish(c, args, n_folds=n_folds)


def finish(c: ml_collections.ConfigDict, args: ml_collections.ConfigDict, *,
           n_folds: int | None = None) -> ml_collections.ConfigDict:
    """Apply the variant words and ``fold=K`` of ``args`` (:data:`VARIANTS`; see module docstring)."""
    if args.tiny:
        apply_tiny(c)
    if args.baseline:
        c.mi.weight = 0.0
    if args.random:
        c.input.dataset = "random"
    if args.fold is not None:
        if n_folds is None:
            raise ValueError(f"dataset {c.input.dataset!r} has fixed splits; fold=K does not apply")
        fold = int(args.fold)
        if not 0 <= fold < n_folds:
            raise ValueError(f"fold={fold} outside 0..{n_folds - 1}")
        c.input.fold = fold
        c.input.split_train, c.input.split_val = f"train@fold{fold}", f"test@fold{fold}"
    if c.input.dataset == "random":  # the generated embedding must match what the estimator expects
        c.input.random.identity_dim = c.mi.identity_dim
    return c
