"""The AU-intensity configs: stage 1 (``*_pretrain.py``, method ``au_contrastive``) and stage 2
(``*_finetune.py``, method ``au_intensity``), linked by ``init_from``; two configs, two workdirs.

Variant words and keys (comma-separated, ``configs/common.parse_arg`` syntax):

* ``tiny``        - CPU/test size: tiny CNN at 32 px, 8-frame windows, batch 8, a few steps;
* ``random``      - in-memory random arrays instead of the dataset (smoke runs);
* ``fold=K``      - fold K of the 3-fold subject-independent protocol (DISFA; BP4D's ``--protocol folds``
  build, its default being FERA 2015's partition): train = the other folds, evaluation on fold K.
  Stage 1 pre-trains on the training side only, so a fold's test subjects are never seen, even unlabeled;
* ``pretrain=DIR`` (finetune) - the stage-1 workdir whose ``net/backbone`` initialises this run;
  ``{fold}`` in DIR is replaced by the fold (``pretrain=runs/disfa_pre/fold_{fold}`` matches the
  layout ``fer-jax cv`` writes);
* ``scratch``     (finetune) - no ``init_from``: the from-scratch baseline (one of the two is required,
  so a forgotten ``pretrain=`` is an error, not a silent baseline);
* ``fraction=F``  (finetune) - labelled fraction of frames (default 0.02), ``labels_seed=N`` its seed;
* ``seed=N``, ``steps=N``, ``data_dir=DIR``.

Section values equal the settings dataclasses' defaults unless stated (``fer_jax/methods/au/settings.py``).
"""

from __future__ import annotations

import ml_collections

from configs.common import parse_arg

PRETRAIN_VARIANTS = dict(tiny=False, random=False, fold=(None, int), seed=0, steps=(None, int),
                         data_dir=(None, str))
FINETUNE_VARIANTS = dict(PRETRAIN_VARIANTS, pretrain=(None, str), scratch=False, fraction=0.02, labels_seed=0)
N_FOLDS = 3
# The AU protocols (data order of each builder's au_intensity; a test keeps them equal to the builders'
# AUS, which are not imported here because the builders import TensorFlow).
DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)  # DISFA and SynthFace
BP4D_AUS = (6, 10, 12, 14, 17)  # FERA 2015 intensity subset


def au_names(aus: tuple[int, ...]) -> tuple[str, ...]:
    """OpenFace's names without the ``_r`` suffix: ``AU01`` ... (also the evaluator's target names)."""
    return tuple(f"AU{k:02d}" for k in aus)


def _base(method: str, dataset: str, window: int) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.method = method
    c.seed = 0
    c.total_steps = 20_000
    c.log_every = 50
    c.eval_every = 1_000
    c.ckpt_every = 1_000
    c.keep_ckpts = 2
    c.progress_bar = True
    c.tensorboard = True
    # Full size: ResNet-18 per frame at 112 px, GRU(256) over 32- or 48-frame windows.
    c.model = ml_collections.ConfigDict(dict(
        encoder="resnet18", width=64, stem="imagenet", feature_dim=256, temporal="gru", hidden=256,
        tcn_kernel=3, tcn_layers=2, proj_dim=128, dtype="float32"))
    c.optim = ml_collections.ConfigDict(dict(
        name="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine", warmup_steps=500, grad_clip=1.0))
    c.input = ml_collections.ConfigDict(dict(
        dataset=dataset, data_dir=ml_collections.FieldReference(None, field_type=str), identity_backbone="dlib",
        split_train="train", split_val="val", window=window, size=112, batch_size=32, eval_batch_size=32,
        shuffle_buffer=1_000, augment=False, cache=False,
        random=dict(num_train=64, num_val=32, num_identities=8, identity_dim=16, signal=0.5)))
    return c


def pretrain_config(dataset: str, arg: str | None, *, window: int, folds: bool | str) -> ml_collections.ConfigDict:
    """Stage 1: InfoNCE on the training split's frames, no labels read, no evaluation."""
    args = parse_arg(arg, **PRETRAIN_VARIANTS)
    c = _base("au_contrastive", dataset, window)
    c.input.split_val = ""  # nothing to evaluate: stage 1 is judged by stage 2
    c.eval_every = 0
    c.best_metric = ""
    c.contrastive = ml_collections.ConfigDict(dict(
        view_frames=16, max_shift=4, temperature=0.1, flip=True, brightness=0.2, contrast=0.3, translate=0.1,
        grayscale=0.2, noise=0.02))
    if args.tiny:
        _tiny(c)
        c.contrastive.view_frames, c.contrastive.max_shift = 4, 2
    return _finish(c, args, folds)


def finetune_config(dataset: str, aus: tuple[int, ...], arg: str | None, *, window: int,
                    folds: bool | str) -> ml_collections.ConfigDict:
    """Stage 2: the per-frame regressor from ``fraction`` of the labels, initialised from stage 1."""
    args = parse_arg(arg, **FINETUNE_VARIANTS)
    c = _base("au_intensity", dataset, window)
    c.target_names = au_names(aus)
    c.total_steps = 5_000
    c.eval_every = 500
    c.ckpt_every = 500
    c.best_metric = "val/icc_mean"
    c.best_mode = "max"
    c.labels = ml_collections.ConfigDict(dict(fraction=float(args.fraction), seed=int(args.labels_seed)))
    c.regressor = ml_collections.ConfigDict(dict(loss="mse", freeze_cnn=False))
    if args.tiny:
        _tiny(c)
    if bool(args.scratch) == bool(args.pretrain):
        raise ValueError("finetune configs need exactly one of pretrain=<stage-1 workdir> or scratch")
    c = _finish(c, args, folds)
    if args.pretrain:
        if "{fold}" in args.pretrain and args.fold is None:
            raise ValueError(f"pretrain={args.pretrain} names {{fold}} but no fold=K is given")
        source = args.pretrain.replace("{fold}", str(args.fold))
        c.init_from = {"pretrain": dict(source=source, checkpoint="latest",
                                        load={"net/backbone": "net/backbone"})}
    return c


def _tiny(c: ml_collections.ConfigDict) -> None:
    c.total_steps = 20
    c.log_every = 5
    c.eval_every = 10 if c.eval_every else 0
    c.ckpt_every = 10
    c.progress_bar = False
    c.tensorboard = False
    c.model.update(dict(encoder="tiny", width=8, stem="small", feature_dim=32, hidden=32, proj_dim=32))
    c.optim.warmup_steps = 2
    c.input.update(dict(size=32, window=8, batch_size=8, eval_batch_size=8, shuffle_buffer=64))


def _finish(c: ml_collections.ConfigDict, args: ml_collections.ConfigDict, folds: bool | str
            ) -> ml_collections.ConfigDict:
    """``folds``: True = a fold protocol (``fold=K`` required), ``"optional"`` = fixed splits by default,
    ``fold=K`` for the dataset's fold build (BP4D), False = fixed splits only."""
    c.seed = int(args.seed)
    if args.steps is not None:
        c.total_steps = int(args.steps)
    if args.data_dir:
        c.input.data_dir = args.data_dir
    if args.random:
        c.input.dataset = "random"
    if args.fold is not None:
        if not folds:
            raise ValueError(f"dataset {c.input.dataset!r} has fixed splits; fold=K does not apply")
        if not 0 <= args.fold < N_FOLDS:
            raise ValueError(f"fold={args.fold} outside 0..{N_FOLDS - 1}")
        c.input.fold = int(args.fold)
        c.input.split_train = f"train@fold{args.fold}"
        c.input.split_val = f"test@fold{args.fold}" if c.input.split_val else ""
        c.best_metric = ""  # val is the fold's test side: report the last checkpoint (config_check)
    elif folds is True and not args.random:
        raise ValueError("this protocol is 3-fold subject-independent: give fold=K (K = 0, 1, 2)")
    return c
