"""Stage 1 on BP4D (FERA 2015): InfoNCE on the training folds' frames, labels unread (``fold=K``)."""

from configs.au import common


def get_config(arg=None):
    return common.pretrain_config("bp4d", arg, window=48, folds=True)
