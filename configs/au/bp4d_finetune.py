"""Stage 2 on BP4D (FERA 2015 intensity): AUs 6, 10, 12, 14, 17 from 2% of the labels (frames coded 9 are -1,
masked). ``pretrain=DIR`` (``{fold}`` allowed) or ``scratch``.

Protocol: by default FERA 2015's partition (``fer-jax build bp4d``): train on its training subjects, choose
the checkpoint on ``val`` (3 of them, carved by the builder), test once at the end on its development
subjects. ``fold=K``: the 3 subject-independent folds of a ``fer-jax build bp4d --protocol folds`` build
(``fer-jax cv``; the last checkpoint is reported).
"""

from configs.au import common


def get_config(arg=None):
    c = common.finetune_config("bp4d", common.BP4D_AUS, arg, window=48, folds="optional")
    if c.input.dataset != "random" and c.input.get("fold", -1) < 0:  # FERA: the development subjects once, at the end
        c.evals = {"val": dict(split="val"), "test": dict(split="test", every=10**9)}
    return c
