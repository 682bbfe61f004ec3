"""The toy method on random arrays as a k-fold protocol: ``toy_fold_config.py:fold=K`` trains on
``train@foldK`` and validates on ``test@foldK`` (the random dataset draws each split from its name)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train"))

import toy_config  # noqa: E402


def get_config(arg=None):
    words = dict(w.partition("=")[::2] for w in (arg or "").split(",") if w)
    unknown = set(words) - {"fold"}
    if unknown:
        raise ValueError(f"unknown config argument(s) {sorted(unknown)}")
    fold = int(words.get("fold", 0))
    c = toy_config.get_config()
    c.total_steps, c.eval_every, c.ckpt_every = 6, 3, 3
    c.input.split_train, c.input.split_val = f"train@fold{fold}", f"test@fold{fold}"
    c.best_metric = ""  # val is the fold's test side: no checkpoint is chosen on it
    return c
