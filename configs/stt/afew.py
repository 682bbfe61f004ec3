"""STT on AFEW 7.0: train on Train_AFEW (773 clips), evaluate on Val_AFEW (the test labels are not
public), 7 classes in the builder's order. Needs ``fer-jax build afew ... --store-frames``."""

from configs.stt import common

LABELS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")  # data_pipelines/afew


def get_config(arg=None):
    c = common.base_config("afew", LABELS, train_clips=773)
    c.best_metric = ""  # Val_AFEW is the reported test side: no checkpoint is chosen on it (config_check)
    return common.finish(c, common.get(arg))
