"""The IFER configs every dataset file starts from, and their variant words.

Two stages, two configs (``docs/methods.md`` §4):

* **inversion** (``inversion_config``): the ASIT encoder (GC ViT-Base, 256 px, drop-path 0.2, map2style with
  window attention) against the frozen StyleGAN2 decoder that ``decoder=PATH`` names (a ``stylegan2``
  workdir or a ``fer-jax convert-stylegan2`` directory; its ``g_ema`` is loaded into ``decoder``), with the
  identity encoder ``identity=PATH`` (``fer_jax.identity.pretrain`` on SynthFace's identity pool); the
  released trainer's settings (``training/coach.py``, ``options/train_options.py``): Ranger (RAdam +
  Lookahead) lr 1e-4 for encoder and discriminator, no clipping, batch 5, 500 000 steps, the alignment
  with random-z generations;
* **fer** (``fer_config``): the encoder of ``inversion=WORKDIR`` + the feature-modulation head with the
  released ``configs/ifer.yml``: AdamW 1e-4, weight decay 0.05, batch 128, 310 epochs of cosine schedule
  after 20 warm-up epochs (``train_images`` gives the epoch), gradient clip 5, label smoothing 0.1, cutmix
  1.0 (mixup off), colour jitter 0.4, flips and shifts (``input.augment``).

Variant words (``configs/common.py:parse_arg`` syntax), e.g. ``rafdb.py:tiny,inversion=/runs/inv``:

* ``tiny``   - CPU-sized: 32 px decoder of ``configs/stylegan2/synthface.py:tiny`` (W of 64, 2 mapping
  layers, widths 32), the ``cpu`` GC ViT, batch 8, and the settings the README's table was measured with,
  not the release's: no drop-path, pSp's conv map2style, AdamW (inversion lr 1e-3, clip 1); its FER stage:
  AdamW 3e-4, 1500 steps with 50 warm-up (chosen on validation identities, README), clip 1, mixup 0.8 /
  cutmix 1.0, no colour jitter, no flips or shifts;
* ``align=xhat`` - the inversion's alignment with the decoder features of x̂ (softmax temperature 0.1),
  the choice before the release was read (README rows marked x̂); default: random-z generations, as released;
* ``random`` - in-memory random images (smoke runs); the inversion stage then runs against a random decoder
  and a random identity network unless ``decoder=`` / ``identity=`` are given;
* ``linear`` - the FER stage's ablation (a): a linear head on the mean code;
* ``scratch`` - the FER stage's ablation (b): the same network trained from scratch (no ``init_from``);
* ``frozen`` - the FER stage trains the head only (the encoder stays as the inversion left it);
* ``decoder=PATH``, ``identity=PATH``, ``inversion=WORKDIR``, ``steps=N``, ``seed=N``, ``data_dir=PATH``.

The sections' values that equal the settings dataclasses' defaults (``fer_jax/methods/ifer/settings.py``)
are stated so the experiment reads top to bottom.
"""

from __future__ import annotations

import ml_collections

from configs.common import parse_arg
from data_pipelines.common.folds import is_test_split
from data_pipelines.synthface.facs import EXPRESSIONS

VARIANTS = dict(tiny=False, random=False, linear=False, scratch=False, frozen=False, decoder=(None, str),
                identity=(None, str), inversion=(None, str), steps=(None, int), seed=0, data_dir=(None, str),
                align=("random_z", str))
ALIGN = {"random_z": dict(align_target="random_z", align_temperature=1.0),  # the release's
         "xhat": dict(align_target="reconstruction", align_temperature=0.1)}
EPOCHS, WARMUP_EPOCHS, FER_BATCH = 310, 20, 128  # configs/ifer.yml of the release
TINY_DECODER = dict(size=32, style_dim=64, n_mlp=2, channel_multiplier=0.0625, channel_max=32, lr_mlp=0.01)


def args_of(arg: str | None) -> ml_collections.ConfigDict:
    return parse_arg(arg, **VARIANTS)


def _base(args: ml_collections.ConfigDict, stage: str, dataset: str, image_key: str) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.method = "ifer"
    c.seed = args.seed
    c.log_every = 50
    c.keep_ckpts = 2
    c.progress_bar = True
    c.tensorboard = True
    c.ifer = ml_collections.ConfigDict(dict(stage=stage, image_key=image_key))
    c.decoder = ml_collections.ConfigDict(dict(size=256, style_dim=512, n_mlp=8, channel_multiplier=2.0,
                                               channel_max=512, lr_mlp=0.01))
    c.model = ml_collections.ConfigDict(dict(  # dim .. stem_stride: 0 / () = the preset's value
        preset="base", dim=0, depths=(), heads=(), windows=(), mlp_ratio=0.0, stem_stride=0, fpn_dim=512,
        head="modulation", head_width=0, drop_path=0.2, map2style="attention"))
    c.input = ml_collections.ConfigDict(dict(
        dataset=dataset, data_dir=ml_collections.FieldReference(args.data_dir, field_type=str),
        identity_backbone="dlib", split_train="train", split_val="val", size=256, batch_size=8,
        eval_batch_size=8, shuffle_buffer=1_000, random=dict(num_train=64, num_val=16, num_identities=16)))
    if args.tiny:
        c.log_every = 10
        c.decoder.update(TINY_DECODER)
        c.model.update(preset="cpu", fpn_dim=64, drop_path=0.0, map2style="conv")
        c.input.update(size=32, batch_size=8, eval_batch_size=8)
    if args.random:
        c.input.dataset = "random"
    return c


def inversion_config(arg: str | None, dataset: str = "synthface", image_key: str = "apex_frame"
                     ) -> ml_collections.ConfigDict:
    """Stage 1: the encoder inverts the frozen decoder (losses with the paper's weights)."""
    args = args_of(arg)
    c = _base(args, "inversion", dataset, image_key)
    c.total_steps, c.eval_every, c.ckpt_every = 500_000, 5_000, 5_000
    c.input.update(batch_size=5, eval_batch_size=5)
    c.progress_keys = ("loss/l2", "loss/lpips", "loss/identity", "loss/adv", "loss/disc")
    c.best_metric, c.best_mode = "val/recon_mse", "min"
    if args.align not in ALIGN:
        raise ValueError(f"align={args.align}: one of {sorted(ALIGN)}")
    c.inversion = ml_collections.ConfigDict(dict(
        l2=1.0, lpips=0.8, identity=0.1, adversarial=1e-4, alignment=0.01,
        identity_encoder=args.identity or "", random_decoder=False, lpips_min_size=64, **ALIGN[args.align],
        disc_embed=128, key_momentum=0.999, latent_avg_samples=4096))
    c.optim = ml_collections.ConfigDict(dict(name="ranger", lr=1e-4, weight_decay=0.0, schedule="constant",
                                             warmup_steps=0, grad_clip=0.0))
    c.disc_optim = ml_collections.ConfigDict(dict(name="ranger", lr=1e-4, weight_decay=0.0, schedule="constant",
                                                  warmup_steps=0, grad_clip=0.0))
    c.evals = ml_collections.ConfigDict({"val": dict(evaluators=("reconstruction",))})
    if args.decoder:
        c.init_from = ml_collections.ConfigDict({"decoder": dict(source=args.decoder, checkpoint="latest",
                                                                 load={"decoder": "g_ema"})})
    if args.tiny:
        c.total_steps, c.eval_every, c.ckpt_every = 2_000, 500, 500
        c.input.update(batch_size=8, eval_batch_size=8)
        for opt in (c.optim, c.disc_optim):
            opt.update(name="adamw", lr=1e-3, grad_clip=1.0)
    if args.random:
        c.inversion.random_decoder = not args.decoder
        c.inversion.identity_encoder = args.identity or "random"
        c.best_metric = ""
    return _finish(c, args)


def fer_config(arg: str | None, dataset: str, class_names: tuple[str, ...] = EXPRESSIONS, image_key: str = "image",
               split_val: str = "val", train_images: int = 0) -> ml_collections.ConfigDict:
    """Stage 2: encoder + FER head on labelled faces; ``inversion=WORKDIR`` loads the encoder. ``train_images``:
    the training split's size, which turns the released epochs into steps (0: 20 000 steps, 1 000 warm-up)."""
    args = args_of(arg)
    c = _base(args, "fer", dataset, image_key)
    c.num_classes, c.class_names = len(class_names), tuple(class_names)
    c.progress_keys = ("loss/ce",)
    # no checkpoint chosen on a test side (SFEW's and AffectNet's official validation sets are the reported
    # test sets): the last one is reported (fer_jax/train/config_check.py)
    c.best_metric = "" if is_test_split(dataset, split_val) else "val/war"
    c.best_mode = "max"
    c.input.split_val = split_val
    c.model.head = "linear" if args.linear else "modulation"
    c.fer = ml_collections.ConfigDict(dict(finetune=not args.frozen, label_smoothing=0.1, color_jitter=0.4,
                                           mixup=0.0, cutmix=1.0, mix_prob=1.0, switch_prob=0.5))
    per_epoch = -(-train_images // FER_BATCH) if train_images else 0
    c.total_steps = EPOCHS * per_epoch if per_epoch else 20_000
    c.eval_every = c.ckpt_every = 10 * per_epoch if per_epoch else 1_000
    c.input.update(batch_size=FER_BATCH, eval_batch_size=FER_BATCH, augment=True)
    c.optim = ml_collections.ConfigDict(dict(name="adamw", lr=1e-4, weight_decay=0.05, schedule="cosine",
                                             warmup_steps=WARMUP_EPOCHS * per_epoch if per_epoch else 1_000,
                                             grad_clip=5.0))
    if args.inversion and not args.scratch:
        c.init_from = ml_collections.ConfigDict({"inversion": dict(source=args.inversion, checkpoint="latest",
                                                                   load={"net/encoder": "encoder"})})
    elif not args.scratch and not args.random:
        raise ValueError("the fer stage starts from an inversion run: inversion=WORKDIR (or scratch, ablation b)")
    if args.tiny:
        # lr 3e-4: at 1e-3 the modulation head's fine-tuning stays at ln 7 (the linear head's does not); lr and
        # steps chosen on validation identities over {1e-4, 3e-4} x {600, 1500}, the same for all three heads; README
        c.total_steps, c.eval_every, c.ckpt_every = 1500, 500, 500
        c.optim.update(lr=3e-4, warmup_steps=50, grad_clip=1.0)
        c.fer.update(color_jitter=0.0, mixup=0.8)
        c.input.update(batch_size=8, eval_batch_size=8, augment=False)
    if args.random:
        c.input.random.num_identities = 8
    return _finish(c, args)


def _finish(c: ml_collections.ConfigDict, args: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    if args.steps is not None:
        c.total_steps = args.steps
    return c
