"""MI-FER on Oulu-CASIA (6 classes), 10-fold subject-independent: ``oulu_casia.py:fold=K``.

Sequences run onset → apex (last frame): apex constraint on.
"""

from configs.mi_fer import common

LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
N_FOLDS = 10


def get_config(arg=None):
    return common.lab_fold_config("oulu_casia", LABELS, arg, total_steps=8_000, n_folds=N_FOLDS)
