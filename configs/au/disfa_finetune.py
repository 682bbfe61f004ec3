"""Stage 2 on DISFA: 12 AUs (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26) from 2% of the frames' labels,
3-fold subject-independent (``fold=K``), ICC(3,1) / MAE / PCC per AU on the test fold.

``fer-jax cv --config=configs/au/disfa_finetune.py:pretrain=runs/disfa_pre/fold_{fold} --folds=3
--workdir=runs/disfa_ft`` -> ``runs/disfa_ft/cv.md``; ``:scratch`` instead of ``pretrain=`` is the baseline.
"""

from configs.au import common


def get_config(arg=None):
    return common.finetune_config("disfa", common.DISFA_AUS, arg, window=48, folds=True)
