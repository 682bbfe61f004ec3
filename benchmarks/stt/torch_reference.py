"""PyTorch reference of fer-jax's STT train step (``fer_jax/methods/stt``), for ``benchmarks/stt/bench_train_step.py``.

Written from the description, not from fer-jax's code, with the same shapes and FLOPs: a GroupNorm
ResNet (groups = gcd(min(32, C/4), C), zero-initialised last norm of each block, 7×7/2 stem + 3×3/2
max-pool) cut after layer3 as the per-frame tokeniser, a linear token embedding, learnable spatial and
temporal position embeddings and a CLS token, ``depth`` blocks of [spatial attention (CLS prepended,
averaged back over frames) -> temporal attention -> MLP] with pre-LayerNorm, attention through
``F.scaled_dot_product_attention`` (the fused flash / memory-efficient kernels on a GPU), final LayerNorm,
linear head. Loss: CE + λ · intra/inter with EMA class centres (``compact`` in fer-jax). One SGD step
(momentum 0.9, weight decay 1e-4) per call. ``compile=True`` wraps forward + loss in ``torch.compile``;
``bf16=True`` runs them under ``torch.autocast(bfloat16)`` (float32 master weights, as fer-jax's bf16).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _gn(ch: int, zero: bool = False) -> nn.GroupNorm:
    g = nn.GroupNorm(math.gcd(min(32, max(1, ch // 4)), ch), ch)
    if zero:
        nn.init.zeros_(g.weight)
    return g


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.n1 = _gn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.n2 = _gn(cout, zero=True)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _gn(cout))

    def forward(self, x):
        y = self.n2(self.conv2(F.relu(self.n1(self.conv1(x)))))
        return F.relu(y + (x if self.proj is None else self.proj(x)))


class Tokeniser(nn.Module):
    """ResNet-18 (``blocks`` per stage) up to layer3: [N, 3, S, S] -> [N, 4·width, S/16, S/16]."""

    def __init__(self, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), _gn(width), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, ch = [], width
        for i, n in enumerate(blocks):
            out = width * 2**i
            for j in range(n):
                layers.append(Block(ch if j == 0 else out, out, 1 if i == 0 or j else 2))
            ch = out
        self.layers = nn.Sequential(*layers)
        self.out_dim = ch

    def forward(self, x):
        return self.layers(self.stem(x))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        n, length, d = x.shape
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v)
        return self.drop(self.out(o.transpose(1, 2).reshape(n, length, d)))


class FactorisedBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.ns, self.space = nn.LayerNorm(dim), Attention(dim, heads, dropout)
        self.nt, self.time = nn.LayerNorm(dim), Attention(dim, heads, dropout)
        self.nm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim),
                                 nn.Dropout(dropout))

    def forward(self, cls, x):
        b, t, n, d = x.shape
        seq = torch.cat([cls[:, None, None].expand(b, t, 1, d), x], dim=2).reshape(b * t, n + 1, d)
        seq = self.space(self.ns(seq)).view(b, t, n + 1, d)
        cls = cls + seq[:, :, 0].mean(1)
        x = x + seq[:, :, 1:]
        per_pos = x.transpose(1, 2).reshape(b * n, t, d)
        x = x + self.time(self.nt(per_pos)).view(b, n, t, d).transpose(1, 2)
        return cls + self.mlp(self.nm(cls)), x + self.mlp(self.nm(x))


class TorchSTT(nn.Module):
    """frames [B, T, 3, S, S] -> (logits [B, C], features [B, D])."""

    def __init__(self, num_classes: int = 7, frames: int = 16, size: int = 112, width: int = 512, depth: int = 4,
                 heads: int = 8, mlp_ratio: int = 4, backbone_width: int = 64, dropout: float = 0.1):
        super().__init__()
        self.trunk = Tokeniser(backbone_width)
        side = -(-size // 16)
        self.embed = nn.Linear(self.trunk.out_dim, width)
        self.pos_space = nn.Parameter(torch.randn(side * side, width) * 0.02)
        self.pos_time = nn.Parameter(torch.randn(frames, width) * 0.02)
        self.cls = nn.Parameter(torch.randn(width) * 0.02)
        self.blocks = nn.ModuleList(FactorisedBlock(width, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, frames):
        b, t = frames.shape[:2]
        maps = self.trunk(frames.flatten(0, 1))  # [B*T, C, h, w]
        tokens = maps.flatten(2).transpose(1, 2).reshape(b, t, -1, maps.shape[1])
        x = self.embed(tokens) + self.pos_time[:, None] + self.pos_space[None]
        cls = self.cls.expand(b, -1)
        for block in self.blocks:
            cls, x = block(cls, x)
        feats = self.norm(cls)
        return self.head(feats), feats


def compact_loss(logits, feats, labels, centres, seen, weight: float, momentum: float = 0.9, eps: float = 1e-6):
    """CE + weight · intra / (inter + eps) with this step's EMA centres (returns loss, new centres, seen)."""
    feats, logits = feats.float(), logits.float()
    onehot = F.one_hot(labels, centres.shape[0]).float()
    count = onehot.sum(0)
    present = count > 0
    mean = onehot.T @ feats / count.clamp(min=1)[:, None]
    blended = torch.where(seen[:, None] > 0, momentum * centres + (1 - momentum) * mean, mean)
    new = torch.where(present[:, None], blended, centres)
    covered = torch.maximum(seen, present.float())
    intra = ((feats - new[labels]) ** 2).sum(-1).mean()
    pair = covered[:, None] * covered[None] * (1 - torch.eye(len(covered), device=covered.device))
    inter = (pair * torch.cdist(new, new) ** 2).sum() / pair.sum().clamp(min=1)
    ratio = torch.where(pair.sum() > 0, intra / (inter + eps), torch.zeros_like(intra))
    return F.cross_entropy(logits, labels) + weight * ratio, new.detach(), covered


class TorchSttStep:
    """One train step of :class:`TorchSTT` with the compact loss and SGD (see the module docstring)."""

    def __init__(self, num_classes: int = 7, frames: int = 16, size: int = 112, *, device: str = "cpu",
                 compile: bool = False, bf16: bool = False, weight: float = 0.5, **model_kw):
        self.model = TorchSTT(num_classes, frames, size, **model_kw).to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        self.centres = torch.zeros(num_classes, self.model.norm.normalized_shape[0], device=device)
        self.seen = torch.zeros(num_classes, device=device)
        self.device, self.bf16, self.weight = device, bf16, weight

        def loss_fn(frames, labels, centres, seen):
            with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                logits, feats = self.model(frames)
            return compact_loss(logits, feats, labels, centres, seen, weight)

        self.loss_fn = torch.compile(loss_fn) if compile else loss_fn

    def step(self, frames: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss, self.centres, self.seen = self.loss_fn(frames, labels, self.centres, self.seen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()
