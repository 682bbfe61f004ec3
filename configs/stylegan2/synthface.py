"""StyleGAN2 (IFER's decoder) trained on SynthFace stills: the apex frames of a SynthFace build.

``synthface.py`` is IFER's setting (256 px, config-F widths, batch 16; rosinality's regularisers);
variants (``configs/common.py:parse_arg`` syntax):

* ``tiny``   - CPU-sized: 32 px, widths 32, W of 64, 2 mapping layers, batch 8, EMA half-life 500 images
  (the README's run);
* ``random`` - in-memory random images instead of a build (smoke runs);
* ``size=N``, ``steps=N``, ``batch=N``, ``seed=N``, ``data_dir=PATH``.

The data: ``fer-jax build synthface --size 256 ...`` (any power-of-two ``size``); the method reads
``apex_frame`` (``gan.image_key``; ``image`` for a still-image build). Without a build, the stills can be
rendered in memory and trained from an ``ArrayIterator``: ``python benchmarks/stylegan2/stills_run.py``.
"""

import ml_collections

from configs.common import parse_arg

METHOD = "fer_jax.methods.stylegan2.method:StyleGAN2"  # the import path works whether or not it is registered


def get_config(arg=None):
    args = parse_arg(arg, tiny=False, random=False, size=(None, int), steps=(None, int), batch=(None, int),
                     seed=0, data_dir=(None, str))
    c = ml_collections.ConfigDict()
    c.method = METHOD
    c.seed = args.seed
    c.total_steps = 200_000
    c.log_every = 100
    c.eval_every = 0
    c.ckpt_every = 5_000
    c.keep_ckpts = 3
    c.progress_bar = True
    c.tensorboard = True
    c.progress_keys = ("loss/d", "loss/g", "loss/r1", "loss/path")

    c.model = ml_collections.ConfigDict(dict(size=256, style_dim=512, n_mlp=8, channel_multiplier=2.0,
                                             channel_max=512, lr_mlp=0.01))
    c.gan = ml_collections.ConfigDict(dict(
        image_key="apex_frame", flip=True, lr=0.002, beta1=0.0, beta2=0.99,
        r1=10.0, d_reg_every=16,  # lazy R1 on real images
        path_regularize=2.0, g_reg_every=4, path_batch_shrink=2, path_decay=0.01,  # lazy path length
        mixing=0.9, ema_kimg=10.0))
    c.input = ml_collections.ConfigDict(dict(
        dataset="synthface", data_dir=ml_collections.FieldReference(args.data_dir, field_type=str),
        split_train="train", split_val="", size=256, batch_size=16, shuffle_buffer=1_000,
        random=dict(num_train=64, num_val=8, num_identities=16)))

    if args.tiny:
        c.total_steps, c.log_every, c.ckpt_every = 3_000, 50, 500
        c.model.update(size=32, style_dim=64, n_mlp=2, channel_multiplier=0.0625, channel_max=32)
        c.input.update(size=32, batch_size=8)
        c.gan.ema_kimg = 0.5  # half-life 62 steps at batch 8: a ~1000-step run's EMA must not stay at init
    if args.random:
        c.input.dataset = "random"
    if args.size is not None:
        c.model.size = c.input.size = args.size
    if args.steps is not None:
        c.total_steps = args.steps
    if args.batch is not None:
        c.input.batch_size = args.batch
    return c
