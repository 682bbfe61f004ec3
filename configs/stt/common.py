"""The STT config every dataset file starts from, and its variant words.

``get_config(arg)`` of each dataset file takes comma-separated words and ``key=value`` pairs
(``configs/common.parse_arg``, big_vision style), e.g. ``dfew.py:tiny,fold=2``:

* ``tiny``     - CPU size: tiny tokeniser (one block a stage, width 16, ImageNet stem: 2×2 tokens a frame)
  on 32 px, 4 segments × 2 frames, width 64, 2 blocks, 4 heads, batch 16, 300 steps;
* ``random``   - in-memory random arrays instead of the dataset (smoke runs);
* ``fold=K``   - fold K of a k-fold protocol (DFEW: official fold K+1 is the test side);
* ``ce``       - plain softmax CE (``compact.weight = 0``), the ablation of the compact loss;
* ``compressed`` - the same transformer over compressed-domain tokens (I-frame + K residuals);
* ``baseline`` - the frame-averaged ResNet (``rgb_baseline``) on the same frames, trunk and optimizer;
* ``bf16``     - bfloat16 compute, float32 parameters and optimizer;
* ``face=DIR`` - start the per-frame trunk from a face-recognition encoder (an identity encoder directory
  as ``fer-jax demo`` / MI-FER's builds write it: ``DIR/params``, ``tiny`` arch, width 16), the stand-in
  for the paper's MS-Celeb-1M ResNet-18; STT loads its stem and layer1..3, the baseline the whole trunk;
* ``seed=N``, ``steps=N``, ``data_dir=D``.

``model`` and ``compact`` are ``fer_jax/methods/stt/settings.py``'s defaults (``configs.common.section``):
that file is their one home.
"""

from __future__ import annotations

import os

import ml_collections

from configs.common import parse_arg, section
from fer_jax.methods.stt.settings import CompactSettings, ModelSettings

VARIANTS = dict(tiny=False, random=False, fold=(None, int), ce=False, compressed=False, baseline=False,
                bf16=False, seed=0, steps=(None, int), data_dir=(None, str), face=(None, str))


def base_config(dataset: str, class_names: tuple[str, ...], *, train_clips: int) -> ml_collections.ConfigDict:
    """Paper-size STT (docs/methods.md §2): ResNet-18 to layer3 on 112² frames, 8 segments × 2 frames, width 512,
    4 blocks, 8 heads; SGD 0.01 / momentum 0.9 / wd 1e-4, batch 32, 100 epochs of ``train_clips``,
    lr × 0.1 every 40 epochs."""
    steps_per_epoch = -(-train_clips // 32)
    c = ml_collections.ConfigDict()
    c.method = "stt"
    c.seed = 0
    c.num_classes = len(class_names)
    c.class_names = class_names
    c.total_steps = 100 * steps_per_epoch
    c.log_every = 50
    c.eval_every = 10 * steps_per_epoch
    c.ckpt_every = 5 * steps_per_epoch
    c.keep_ckpts = 2
    c.best_metric = "val/uar"
    c.best_mode = "max"
    c.progress_bar = True
    c.tensorboard = True
    c.progress_keys = ("loss/ce", "loss/compact", "accuracy")
    c.model = section(ModelSettings)  # the paper-size network: settings.py's defaults
    c.compact = section(CompactSettings)
    c.optim = ml_collections.ConfigDict(dict(
        name="sgd", lr=0.01, momentum=0.9, weight_decay=1e-4, schedule="step", step_every=40 * steps_per_epoch,
        step_factor=0.1, warmup_steps=0, grad_clip=0.0))
    c.input = ml_collections.ConfigDict(dict(
        dataset=dataset, data_dir=ml_collections.FieldReference(None, field_type=str), identity_backbone="dlib",
        split_train="train", split_val="val", batch_size=32, eval_batch_size=32, size=112,
        segments=8, frames_per_segment=2, shuffle_buffer=1_000, augment=True, augment_shift=0,
        random=dict(num_train=256, num_val=64, num_identities=16, identity_dim=16, signal=0.5)))
    return c


def apply_tiny(c: ml_collections.ConfigDict) -> None:
    """CPU size (2 cores): everything small, AdamW (SGD from scratch at this size barely moves in the
    steps a CPU run affords)."""
    c.total_steps, c.log_every, c.eval_every, c.ckpt_every = 300, 10, 100, 100
    c.model.update(backbone="tiny", backbone_width=16, stem="imagenet", width=64, depth=2, heads=4, mlp_ratio=4)
    c.optim = ml_collections.ConfigDict(dict(name="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine",
                                             warmup_steps=30, grad_clip=1.0))
    c.input.update(size=32, segments=4, frames_per_segment=2, batch_size=16, eval_batch_size=16,
                   shuffle_buffer=256)
    c.input.random.update(num_train=64, num_val=32)


def baseline(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The frame-averaged ResNet (``rgb_baseline``) with STT's tokeniser arch/width/stem as its whole trunk
    (all four stages), the same frames (``input.frames`` = T), optimizer and schedule."""
    b = ml_collections.ConfigDict()
    b.method = "rgb_baseline"
    for key in ("seed", "num_classes", "class_names", "total_steps", "log_every", "eval_every", "ckpt_every",
                "keep_ckpts", "best_metric", "best_mode", "progress_bar", "tensorboard"):
        b[key] = c[key]
    b.progress_keys = ("loss/ce", "accuracy")
    b.model = ml_collections.ConfigDict(dict(encoder=c.model.backbone, width=c.model.backbone_width,
                                             stem=c.model.stem, dtype=c.model.dtype))
    b.optim = c.optim
    b.input = ml_collections.ConfigDict(c.input.to_dict())
    b.input.frames = c.input.segments * c.input.frames_per_segment
    if "evals" in c:
        b.evals = c.evals
    return b


def finish(c: ml_collections.ConfigDict, args: ml_collections.ConfigDict, *,
           n_folds: int | None = None) -> ml_collections.ConfigDict:
    """Apply the variant words of ``args`` (module docstring)."""
    if args.tiny:
        apply_tiny(c)
    if args.steps is not None:
        c.total_steps = int(args.steps)
        c.eval_every = c.ckpt_every = max(1, min(c.eval_every, int(args.steps)))
    c.seed = int(args.seed)
    if args.ce:
        c.compact.weight = 0.0
    if args.compressed:
        c.model.tokens = "compressed"
    if args.bf16:
        c.model.dtype = "bfloat16"
    if args.data_dir:
        c.input.data_dir = args.data_dir
    if args.random:
        c.input.dataset = "random"
    if args.fold is not None:
        if n_folds is None:
            raise ValueError(f"dataset {c.input.dataset!r} has fixed splits; fold=K does not apply")
        if not 0 <= int(args.fold) < n_folds:
            raise ValueError(f"fold={args.fold} outside 0..{n_folds - 1}")
        c.input.fold = int(args.fold)
        c.input.split_train, c.input.split_val = f"train@fold{args.fold}", f"test@fold{args.fold}"
        c.best_metric = ""  # val is the fold's test side: report the last checkpoint (config_check)
    out = baseline(c) if args.baseline else c
    if args.face:
        face_init(out, args.face)
    return out


def face_init(c: ml_collections.ConfigDict, encoder_dir: str) -> None:
    """``init_from`` the trunk of a face-recognition encoder (the paper starts its ResNet-18 from MS-Celeb-1M
    face recognition; ours is the Flax identity encoder pre-trained on SynthFace's reserved identities, so
    no identity of the FER splits is seen). STT's tokeniser has stages 1..3 only; the baseline all four."""
    stages = 4 if c.method == "rgb_baseline" else 3
    parts = ("stem", "stem_norm", *(f"stages/{i}" for i in range(stages)))
    c.init_from = {"face": dict(source=os.path.join(encoder_dir, "params"),
                                load={f"net/trunk/{p}": f"trunk/{p}" for p in parts})}


def get(arg: str | None):
    """The variant values of ``arg`` (:data:`VARIANTS`)."""
    return parse_arg(arg, **VARIANTS)
