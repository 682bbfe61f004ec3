"""Backbones shared by every fer-jax method (NNX)."""

from fer_jax.models.resnet import ARCHS, BasicBlock, ResNet, make_resnet

__all__ = ["ARCHS", "BasicBlock", "ResNet", "make_resnet"]
