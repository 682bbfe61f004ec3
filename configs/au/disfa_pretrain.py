"""Stage 1 on DISFA: InfoNCE on the training folds' left-camera video, labels unread (``fold=K`` required).

``fer-jax cv --config=configs/au/disfa_pretrain.py --folds=3 --workdir=runs/disfa_pre`` writes one
stage-1 workdir per fold (``runs/disfa_pre/fold_K``); ``disfa_finetune.py:pretrain=runs/disfa_pre/fold_{fold}``
reads them. The builder cuts each recording into 48-frame clips; a window is a whole clip.
"""

from configs.au import common


def get_config(arg=None):
    return common.pretrain_config("disfa", arg, window=48, folds=True)
