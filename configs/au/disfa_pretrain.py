"""Stage 1 on DISFA: InfoNCE on the training folds' left-camera video, labels unread (``fold=K`` required).

Stage 1 has nothing to evaluate, so it runs per fold with ``fer-jax train`` (``fer-jax cv`` evaluates
each fold):  ``for k in 0 1 2; do fer-jax train --config=configs/au/disfa_pretrain.py:fold=$k
--workdir=runs/disfa_pre/fold_$k; done``; then ``disfa_finetune.py:pretrain=runs/disfa_pre/fold_{fold}``
reads them (the layout ``fer-jax cv`` writes for stage 2). The builder cuts each recording into
48-frame clips; a window is a whole clip.
"""

from configs.au import common


def get_config(arg=None):
    return common.pretrain_config("disfa", arg, window=48, folds=True)
