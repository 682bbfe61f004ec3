"""MI-FER on MMI (6 classes), 10-fold subject-independent: ``mmi.py:fold=K``.

MMI sequences go onset → apex → offset; the builder records the apex index where annotated and
marks the rest ``has_apex = 0``, so the apex constraint is on but only applies where known.
"""

from configs.mi_fer import common

LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
N_FOLDS = 10


def get_config(arg=None):
    args = common.parse_arg(arg)
    args.setdefault("fold", "0")
    c = common.base_config("mmi", LABELS)
    c.apex.enabled = True
    c.total_steps = 6_000
    c.eval_every = 500
    c.ckpt_every = 500
    c.input.batch_size = 32
    c.input.eval_batch_size = 32
    return common.finish(c, args, n_folds=N_FOLDS)
