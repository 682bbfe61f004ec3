"""The MI-FER config every dataset file starts from.

``get_config(arg)`` takes comma-separated variant words and ``key=value`` pairs (``configs/common.py:
parse_arg``), e.g. ``synthface.py:tiny``, ``ckplus.py:fold=3``, ``ckplus.py:tiny,fold=3``, ``synthface.py:random``:

* ``tiny``   - the demo/test size: tiny encoder, 32 px, few hundred steps, small batches;
* ``random`` - in-memory random arrays instead of the dataset (smoke runs; no data needed);
* ``fold=K`` - fold K of a subject-independent k-fold protocol (train = the other folds);
* ``baseline`` - λ = 0 (no MI minimisation), the comparison run of the identity audit.

Everything else is an ordinary field, overridable on the command line (``--config.mi.weight=0.1``).
Each section is written from its settings dataclass (``configs/common.py:section``): the defaults live
there, once, and this file states only what the experiment changes.
"""

from __future__ import annotations

import ml_collections

from configs.common import parse_arg, section
from data_pipelines.settings import InputSettings, RandomSettings
from fer_jax.core.settings import TrainSettings
from fer_jax.methods.mi_fer.settings import ApexSettings, MiSettings, ModelSettings
from fer_jax.train.optim import OptimSettings


def base_config(dataset: str, class_names: tuple[str, ...]) -> ml_collections.ConfigDict:
    """Full-size MI-FER: ResNet-18 on 112 px residuals + motion vectors, 3 segments, dlib identity (128-D)."""
    c = section(TrainSettings, method="mi_fer", num_classes=len(class_names), class_names=class_names,
                total_steps=20_000, log_every=50, eval_every=1_000, ckpt_every=1_000, best_metric="val/uar",
                progress_keys=("loss/ce", "loss/estimator", "mi/club", "accuracy"))
    # The full-size model, the min-min game and their optimizers are the dataclasses' defaults
    # (fer_jax/methods/mi_fer/settings.py: ResNet-18 + tiny MV stream, 128-D z_exp; CLUB estimator, the
    # encoder penalised by the refit critic, λ = 0.1 ramped in from step 1000; fer_jax/train/optim.py:
    # AdamW 1e-3, cosine, 500 warm-up steps). Why each was chosen: fer_jax/methods/mi_fer/README.md.
    c.model = section(ModelSettings)
    c.mi = section(MiSettings)
    c.apex = section(ApexSettings)  # off; the lab onset datasets (lab_fold_config) turn it on
    c.optim = section(OptimSettings)
    c.input = section(
        InputSettings, dataset=dataset, data_dir=ml_collections.FieldReference(None, field_type=str),
        eval_batch_size=64, augment=True,
        random=section(RandomSettings, num_train=256, num_val=64, num_identities=16, identity_dim=128))
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
    """Apply the variant words and ``fold=K`` of ``args`` (``configs/common.py:VARIANTS``; see module docstring)."""
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
        c.best_metric = ""  # val is the fold's test side: report the last checkpoint (config_check)
    if c.input.dataset == "random":  # the generated embedding must match what the estimator expects
        c.input.random.identity_dim = c.mi.identity_dim
    return c
