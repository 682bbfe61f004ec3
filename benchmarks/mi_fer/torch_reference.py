"""The MI-FER train step in PyTorch eager mode: the reference that ``benchmarks/bench_train.py`` measures against.

A line-for-line counterpart of ``fer_jax.methods.mi_fer`` (residual-only, no apex branch), written the
way a PyTorch user would: the same GroupNorm ResNet (``fer_jax.models.resnet``: groups
``gcd(min(32, C // 4), C)``, zero-initialised last norm scale per block, 7x7/2 stem + 3x3/2 max-pool),
XLA's "SAME" padding (asymmetric at stride 2, so the same pixels line up), per-segment features averaged
over K and projected to z_exp, a linear classifier, the CLUB estimator
(linear skip + MLP mean, tanh-bounded log-variance, all-pairs negatives from batch moments), and two
AdamW optimizers: ``mi.estimator_steps`` estimator updates on detached z_exp, then one encoder update on
CE + λ·CLUB with global-norm gradient clipping. Layouts are PyTorch's own (NCHW); the input arrives
NHWC as in fer-jax and is permuted once. Only a benchmark extra: ``pip install torch`` (CPU wheel).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

STAGES = {"tiny": (1, 1, 1, 1), "resnet10": (1, 1, 1, 1), "resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Conv(nn.Conv2d):
    """Conv2d with TensorFlow/XLA "SAME" padding (asymmetric for stride 2, as in fer-jax's nnx.Conv)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__(cin, cout, k, stride, padding=k // 2 if stride == 1 else 0, bias=False)

    def forward(self, x):
        if self.stride[0] == 1:
            return super().forward(x)
        (top, bottom), (left, right) = (_same_pads(x.shape[d], self.kernel_size[0], self.stride[0]) for d in (2, 3))
        pads = (left, right, top, bottom)
        return super().forward(F.pad(x, pads) if any(pads) else x)


def _max_pool_same(x, k: int = 3, s: int = 2):
    (top, bottom), (left, right) = (_same_pads(x.shape[d], k, s) for d in (2, 3))
    return F.max_pool2d(F.pad(x, (left, right, top, bottom), value=float("-inf")), k, s)


def _norm(c: int, zero: bool = False) -> nn.GroupNorm:
    n = nn.GroupNorm(math.gcd(min(32, max(1, c // 4)), c), c, eps=1e-6)  # flax GroupNorm's epsilon
    if zero:
        nn.init.zeros_(n.weight)
    return n


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = Conv(cin, cout, 3, stride)
        self.norm1 = _norm(cout)
        self.conv2 = Conv(cout, cout, 3, 1)
        self.norm2 = _norm(cout, zero=True)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(Conv(cin, cout, 1, stride), _norm(cout))

    def forward(self, x):
        y = F.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return F.relu(y + (x if self.proj is None else self.proj(x)))


class ResNet(nn.Module):
    def __init__(self, arch: str = "resnet18", width: int = 64, in_ch: int = 3):
        super().__init__()
        self.stem = Conv(in_ch, width, 7, 2)
        self.stem_norm = _norm(width)
        layers, ch = [], width
        for i, n in enumerate(STAGES[arch]):
            out = width * 2**i
            for j in range(n):
                layers.append(Block(ch if j == 0 else out, out, 1 if i == 0 or j else 2))
            ch = out
        self.blocks = nn.Sequential(*layers)
        self.out_dim = ch

    def forward(self, x):  # NCHW
        x = F.relu(self.stem_norm(self.stem(x)))
        x = _max_pool_same(x)
        return self.blocks(x).mean(dim=(2, 3))


class Net(nn.Module):
    """Residual encoder (ResNet + segment mean + projection) and the linear classifier."""

    def __init__(self, arch: str, width: int, feature_dim: int, num_classes: int):
        super().__init__()
        self.trunk = ResNet(arch, width)
        self.proj = nn.Linear(self.trunk.out_dim, feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, residuals):  # [B, K, S, S, 3]
        b, k = residuals.shape[:2]
        x = residuals.reshape((b * k,) + residuals.shape[2:]).permute(0, 3, 1, 2)  # NHWC memory: channels_last
        z = self.proj(self.trunk(x).reshape(b, k, -1).mean(1))
        return self.head(z), z


class Club(nn.Module):
    def __init__(self, x_dim: int, y_dim: int, hidden: int, bound: float = 5.0):
        super().__init__()
        self.mu_skip = nn.Linear(x_dim, y_dim, bias=False)
        self.mu_hidden, self.mu_out = nn.Linear(x_dim, hidden), nn.Linear(hidden, y_dim)
        self.lv_hidden, self.lv_out = nn.Linear(x_dim, hidden), nn.Linear(hidden, y_dim)
        self.bound = bound

    def forward(self, x):
        mu = self.mu_skip(x) + self.mu_out(F.relu(self.mu_hidden(x)))
        return mu, self.bound * torch.tanh(self.lv_out(F.relu(self.lv_hidden(x))) / self.bound)

    def loss(self, x, y):
        mu, lv = self(x)
        return 0.5 * ((y - mu) ** 2 * torch.exp(-lv) + lv + math.log(2 * math.pi)).sum(-1).mean()

    def estimate(self, x, y):
        mu, lv = self(x)
        inv = torch.exp(-lv)
        pos_sq = (y - mu) ** 2
        positive = -0.5 * (pos_sq * inv + lv).sum(-1)
        n = y.shape[0]
        ym = y.mean(0)
        total_sq = ((y - ym) ** 2).sum(0)[None] + n * (mu - ym) ** 2
        others = (total_sq - pos_sq) / max(n - 1, 1)
        negative = -0.5 * (others * inv + lv).sum(-1)
        return (positive - negative).mean()


class TorchMiFer:
    """Model, estimator and both optimizers; ``step(batch, lam)`` is one MI-FER train step.

    ``fast=True``: bf16 autocast, channels_last activations and weights, fused AdamW; with ``compile=True``
    also ``torch.compile`` of the network and of the CLUB terms: the strongest PyTorch setup a user would
    reach for. Call :meth:`to` before the first step (fused AdamW state lives with the parameters)."""

    def __init__(self, arch="resnet18", width=64, feature_dim=128, num_classes=7, identity_dim=128, hidden=256,
                 estimator_steps=2, lr=1e-3, weight_decay=1e-4, grad_clip=1.0, fast: bool = False,
                 compile: bool = False):
        self.net = Net(arch, width, feature_dim, num_classes)
        self.club = Club(feature_dim, identity_dim, hidden)
        self.lr, self.weight_decay, self.fast, self.compile = lr, weight_decay, fast, compile
        self.estimator_steps, self.grad_clip = estimator_steps, grad_clip
        self._optimizers()
        self.device_type = "cpu"
        self.run_net, self.club_loss, self.club_estimate = self.net, self.club.loss, self.club.estimate

    def _optimizers(self) -> None:
        extra = {"fused": True} if self.fast else {}
        self.enc_opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay, **extra)
        self.est_opt = torch.optim.AdamW(self.club.parameters(), lr=self.lr, weight_decay=0.0, **extra)

    def to(self, device: str) -> "TorchMiFer":
        """Move to ``device``; with ``fast``, also channels_last (+ compile) and optimizers rebuilt there."""
        self.net.to(device)
        self.club.to(device)
        self.device_type = torch.device(device).type
        if self.fast:
            self.net.to(memory_format=torch.channels_last)
            self._optimizers()
        if self.fast and self.compile:
            self.run_net = torch.compile(self.net)
            self.club_loss, self.club_estimate = torch.compile(self.club.loss), torch.compile(self.club.estimate)
        return self

    def _autocast(self):
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.fast)

    def step(self, batch: dict, lam: float) -> dict[str, float]:
        res, z_id, label = batch["residuals"], batch["identity_embedding"], batch["label"]
        with torch.no_grad(), self._autocast():
            _, z = self.run_net(res)
        z = z.float()
        for _ in range(self.estimator_steps):
            self.est_opt.zero_grad(set_to_none=True)
            est_loss = self.club_loss(z, z_id)
            est_loss.backward()
            self.est_opt.step()
        self.enc_opt.zero_grad(set_to_none=True)
        for p in self.club.parameters():
            p.requires_grad_(False)
        with self._autocast():
            logits, z = self.run_net(res)
        ce = F.cross_entropy(logits.float(), label)
        loss = ce + lam * self.club_estimate(z.float(), z_id)
        loss.backward()
        for p in self.club.parameters():
            p.requires_grad_(True)
        if self.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
        self.enc_opt.step()
        return {"loss/estimator": est_loss.detach(), "loss/encoder": loss.detach()}


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
