"""The frame-averaged ResNet baseline on SynthFace-wild: ``configs/stt/synthface_wild.py`` with its
``baseline`` word (same frames, trunk arch/width/stem, optimizer and schedule as STT's), so the two
differ only in the temporal model. Takes the STT config's variant words (``tiny``, ``seed=N``, ...)."""

from configs.stt import synthface_wild


def get_config(arg=None):
    words = [w for w in (arg or "").split(",") if w.strip()]
    return synthface_wild.get_config(",".join(words + ["baseline"]))
