"""Stage 1 on BP4D (FERA 2015): InfoNCE on the training subjects' frames, labels unread. By default FERA 2015's
training partition (``train``: its training subjects less the carved ``val``); ``fold=K``: the training folds
of a ``--protocol folds`` build."""

from configs.au import common


def get_config(arg=None):
    return common.pretrain_config("bp4d", arg, window=48, folds="optional")
