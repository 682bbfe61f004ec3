"""MI-FER on CK+ (7 classes: codes 1..7 of Emotion/*.txt), 10-fold subject-independent.

``ckplus.py:fold=3`` trains on folds ≠ 3 and validates on fold 3 (``train@fold3`` / ``test@fold3``).
CK+ sequences run from neutral onset to the apex, which is the last frame: apex constraint on.
"""

from configs.mi_fer import common

LABELS = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
N_FOLDS = 10


def get_config(arg=None):
    args = common.parse_arg(arg)
    args.setdefault("fold", "0")
    c = common.base_config("ckplus", LABELS)
    c.apex.enabled = True
    c.total_steps = 6_000
    c.eval_every = 500
    c.ckpt_every = 500
    c.input.batch_size = 32
    c.input.eval_batch_size = 32
    return common.finish(c, args, n_folds=N_FOLDS)
