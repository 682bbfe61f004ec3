"""MI-FER on CK+ (7 classes: codes 1..7 of Emotion/*.txt), 10-fold subject-independent.

``ckplus.py:fold=3`` trains on folds ≠ 3 and validates on fold 3 (``train@fold3`` / ``test@fold3``).
CK+ sequences run from neutral onset to the apex, which is the last frame: apex constraint on.
"""

from configs.mi_fer import common

LABELS = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
N_FOLDS = 10


def get_config(arg=None):
    return common.lab_fold_config("ckplus", LABELS, arg, total_steps=6_000, n_folds=N_FOLDS)
