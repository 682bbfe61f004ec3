"""STT on DFEW: the official 5 folds (``dfew.py:fold=K`` tests on official set K+1), 7 classes in DFEW's
order. ``fer-jax cv --config=configs/stt/dfew.py:fold --folds 5`` writes the paper's table.

Per fold about 9,350 training clips (11,697 single-labelled / 5 × 4): 293 steps an epoch at batch 32.
Needs a build with decoded frames: ``fer-jax build dfew --manual-dir M --data-dir D --store-frames``.
"""

from configs.stt import common

LABELS = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")  # data_pipelines/dfew (0..6)
N_FOLDS = 5


def get_config(arg=None):
    args = common.get(arg)
    if args.fold is None:
        args.fold = 0
    c = common.base_config("dfew", LABELS, train_clips=9_358)
    return common.finish(c, args, n_folds=N_FOLDS)
