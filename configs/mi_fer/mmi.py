"""MI-FER on MMI (6 classes), 10-fold subject-independent: ``mmi.py:fold=K``.

MMI sequences go onset → apex → offset; the builder records the apex index where annotated and
marks the rest ``has_apex = 0``, so the apex constraint is on but only applies where known.
"""

from configs.mi_fer import common

LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
N_FOLDS = 10


def get_config(arg=None):
    return common.lab_fold_config("mmi", LABELS, arg, total_steps=6_000, n_folds=N_FOLDS)
