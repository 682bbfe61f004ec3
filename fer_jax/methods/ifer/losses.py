"""IFER's loss terms that are not one line: the distribution alignment, the inversion discriminator's
least-squares game, and mixup/cutmix with label smoothing for the FER stage.

Choices where the paper and the released code are silent, and why:

* **Alignment** (``alignment``): per scale, both feature sets are flattened and L2-normalised, the
  within-batch cosine similarities (diagonal excluded, as released: a row's similarity to itself is always
  1 and would dominate the softmax) are divided by a temperature (``inversion.align_temperature``: 1, the
  release's plain softmax, by default; 0.1 sharpens the nearly uniform softmax of cosines in [−1, 1]) and
  turned into row-wise softmax distributions; the loss is KL(P_generator ‖ P_encoder), summed over a row,
  averaged over rows and scales (the release averages over elements too, i.e. divides by B − 1 more, and
  draws 3 random (scale, row) anchors among the batch's first 2 rows: here every row and scale, a
  lower-variance estimate of the same divergence). The generator's side is the target
  (``stop_gradient``): the encoder is asked to arrange the batch as the decoder does, not the other way.
  Which generator features (random-z generations, as released, or x̂) is the caller's choice
  (``method.py``).
* **Least squares on cosines** (``disc_loss``, ``adversarial_loss``): as the paper writes them; the
  adversarial term's gradient reaches the encoder through x̂ (the released code computed it without
  gradient, making the term inert).
* **Colour jitter** (``color_jitter``): the released FER recipe's ``color_jitter: 0.4`` (timm: brightness,
  contrast and saturation factors each ~ U[1 − s, 1 + s] per image, no hue), in a fixed order (timm
  shuffles it) on images in [−1, 1], inside the step so the draw is ``step_key``'s.
* **Mixup / cutmix** (``mix_batch``): timm's batch mode: one λ ~ Beta(α, α) per batch, the partner of row i
  is row B − 1 − i, cutmix's λ is corrected to the box's actual area; the key comes from
  ``step_key(seed, step, "mix")``, so it is the same draw on any mesh and after a resume.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _flat_unit(x: jax.Array) -> jax.Array:
    x = x.reshape(x.shape[0], -1).astype(jnp.float32)
    return x / (jnp.linalg.norm(x, axis=-1, keepdims=True) + 1e-8)


def alignment(encoder_feats: list[jax.Array], generator_feats: list[jax.Array], temperature: float) -> jax.Array:
    """Mean over scales of KL(softmax(S_g / τ) ‖ softmax(S_e / τ)) of within-batch cosine similarities
    (module docstring); 0 for a batch of one."""
    b = encoder_feats[0].shape[0]
    if b < 2:
        return jnp.zeros((), jnp.float32)
    off = ~jnp.eye(b, dtype=bool)
    total = jnp.zeros((), jnp.float32)
    for fe, fg in zip(encoder_feats, generator_feats):
        e, g = _flat_unit(fe), jax.lax.stop_gradient(_flat_unit(fg))
        log_pe = jax.nn.log_softmax(jnp.where(off, e @ e.T / temperature, -jnp.inf), axis=-1)
        log_pg = jax.nn.log_softmax(jnp.where(off, g @ g.T / temperature, -jnp.inf), axis=-1)
        kl = jnp.where(off, jnp.exp(log_pg) * (log_pg - log_pe), 0.0)
        total = total + jnp.mean(jnp.sum(kl, axis=-1))
    return total / len(encoder_feats)


def disc_loss(d_real: jax.Array, d_fake: jax.Array) -> jax.Array:
    """L_D = (D(x, x) − 1)² + (D(x̂, x) + 1)², averaged over the batch."""
    return jnp.mean((d_real - 1.0) ** 2) + jnp.mean((d_fake + 1.0) ** 2)


def adversarial_loss(d_fake: jax.Array) -> jax.Array:
    """L_adv = (D(x̂, x) − 1)²: the encoder's side, differentiated through x̂."""
    return jnp.mean((d_fake - 1.0) ** 2)


def color_jitter(key: jax.Array, images: jax.Array, strength: float) -> jax.Array:
    """Per image: brightness, contrast, saturation each scaled by a factor ~ U[1 − s, 1 + s] (module docstring);
    images [B, H, W, 3] in [−1, 1], clipped back to it."""
    if strength <= 0:
        return images
    b = images.shape[0]
    f = jax.random.uniform(key, (3, b, 1, 1, 1), minval=1.0 - strength, maxval=1.0 + strength)
    x = (images + 1.0) / 2.0
    x = jnp.clip(x * f[0], 0.0, 1.0)
    gray = jnp.sum(x * jnp.array([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
    x = jnp.clip(jnp.mean(gray, axis=(1, 2, 3), keepdims=True) * (1 - f[1]) + x * f[1], 0.0, 1.0)
    gray = jnp.sum(x * jnp.array([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
    x = jnp.clip(gray * (1 - f[2]) + x * f[2], 0.0, 1.0)
    return x * 2.0 - 1.0


def smooth_labels(labels: jax.Array, num_classes: int, smoothing: float) -> jax.Array:
    return jax.nn.one_hot(labels, num_classes) * (1.0 - smoothing) + smoothing / num_classes


def _cut_box(key: jax.Array, lam: jax.Array, h: int, w: int) -> tuple[jax.Array, jax.Array]:
    """A random box of area ≈ (1 − λ)·H·W (clipped at the border): its [H, W] mask and λ of the kept area."""
    ky, kx = jax.random.split(key)
    ratio = jnp.sqrt(1.0 - lam)
    ch, cw = (h * ratio).astype(jnp.int32), (w * ratio).astype(jnp.int32)
    cy, cx = jax.random.randint(ky, (), 0, h), jax.random.randint(kx, (), 0, w)
    y0, y1 = jnp.clip(cy - ch // 2, 0, h), jnp.clip(cy + ch // 2, 0, h)
    x0, x1 = jnp.clip(cx - cw // 2, 0, w), jnp.clip(cx + cw // 2, 0, w)
    yy, xx = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    box = (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
    return box, 1.0 - jnp.mean(box.astype(jnp.float32))


def mix_batch(key: jax.Array, images: jax.Array, targets: jax.Array, *, mixup: float, cutmix: float,
              mix_prob: float, switch_prob: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(images, soft targets, λ) after mixup or cutmix with the reversed batch (module docstring)."""
    if mixup <= 0 and cutmix <= 0:
        return images, targets, jnp.ones((), jnp.float32)
    k_apply, k_switch, k_mix, k_cut, k_box = jax.random.split(key, 5)
    apply = jax.random.uniform(k_apply) < mix_prob
    use_cut = (jax.random.uniform(k_switch) < switch_prob) if (mixup > 0 and cutmix > 0) else jnp.asarray(cutmix > 0)
    lam_mix = jax.random.beta(k_mix, mixup, mixup) if mixup > 0 else jnp.ones(())
    lam_cut = jax.random.beta(k_cut, cutmix, cutmix) if cutmix > 0 else jnp.ones(())
    partner, partner_t = images[::-1], targets[::-1]
    box, lam_box = _cut_box(k_box, lam_cut, images.shape[1], images.shape[2])
    cut = jnp.where(box[None, :, :, None], partner, images)
    blend = lam_mix * images + (1.0 - lam_mix) * partner
    lam = jnp.where(apply, jnp.where(use_cut, lam_box, lam_mix), 1.0)
    mixed = jnp.where(apply, jnp.where(use_cut, cut, blend), images)
    return mixed, lam * targets + (1.0 - lam) * partner_t, lam
