"""The decoded-image baseline on SynthFace: per-frame ResNet-18 on RGB frames, temporal mean, linear head.

Same trunk, optimizer and schedule as ``configs/mi_fer/synthface.py``, so the two differ only in what
the network sees. Trained from in-memory decoded frames (``ArrayIterator``; see
``benchmarks/bench_inference.py --accuracy``). ``synthface.py:tiny`` is the CPU-sized variant.
"""

import ml_collections

from configs.common import parse_arg
from configs.mi_fer import common
from data_pipelines.synthface.facs import EXPRESSIONS


def get_config(arg=None):
    args = parse_arg(arg, tiny=False)
    mi = common.base_config("synthface", EXPRESSIONS)
    c = ml_collections.ConfigDict()
    c.method = "rgb_baseline"
    for key in ("seed", "num_classes", "class_names", "log_every", "keep_ckpts", "best_metric", "best_mode",
                "progress_bar", "tensorboard"):
        c[key] = mi[key]
    c.total_steps, c.eval_every, c.ckpt_every = 5_000, 500, 500
    c.progress_keys = ("loss/ce", "accuracy")
    c.model = ml_collections.ConfigDict(dict(encoder=mi.model.encoder, width=mi.model.width, stem=mi.model.stem,
                                             dtype=mi.model.dtype))
    c.optim = mi.optim
    c.input = ml_collections.ConfigDict(dict(dataset="synthface_frames", batch_size=64, eval_batch_size=64,
                                             frames=3, size=112))
    if args.tiny:
        common.apply_tiny(mi)
        c.total_steps, c.log_every, c.eval_every, c.ckpt_every = mi.total_steps, 10, 100, 100
        c.model.encoder, c.model.width = mi.model.encoder, mi.model.width
        c.optim = mi.optim
        c.input.size, c.input.frames, c.input.batch_size, c.input.eval_batch_size = 32, 2, 16, 16
    return c
