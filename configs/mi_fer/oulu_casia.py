"""MI-FER on Oulu-CASIA (6 classes), 10-fold subject-independent: ``oulu_casia.py:fold=K``.

Sequences run onset → apex (last frame): apex constraint on.
"""

from configs.mi_fer import common

LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
N_FOLDS = 10


def get_config(arg=None):
    args = common.parse_arg(arg)
    args.setdefault("fold", "0")
    c = common.base_config("oulu_casia", LABELS)
    c.apex.enabled = True
    c.total_steps = 8_000
    c.eval_every = 500
    c.ckpt_every = 500
    c.input.batch_size = 32
    c.input.eval_batch_size = 32
    return common.finish(c, args, n_folds=N_FOLDS)
