"""GAN losses of the reference trainers: BCE (vanilla, DCGAN), least squares (LSGAN), WGAN-GP with an auxiliary
classifier (ACGAN). Discriminator outputs are raw scores; every loss returns a scalar tensor (mean over the batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def bce_discriminator_loss(
    real_logits: Tensor, fake_logits: Tensor, real_target: Tensor | float = 1.0, fake_target: Tensor | float = 0.0
) -> Tensor:
    """``BCE(D(x), real_target) + BCE(D(G(z)), fake_target)``, each a batch mean (the MNIST study's sum of two).

    Targets may be per-sample tensors (label smoothing: e.g. real ~ U[0.7, 1.0], fake ~ U[0.0, 0.3]).
    """
    real_target = torch.as_tensor(real_target, dtype=real_logits.dtype, device=real_logits.device)
    fake_target = torch.as_tensor(fake_target, dtype=fake_logits.dtype, device=fake_logits.device)
    return F.binary_cross_entropy_with_logits(
        real_logits, real_target.expand_as(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, fake_target.expand_as(fake_logits))


def bce_generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss ``BCE(D(G(z)), 1)``."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def ls_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """LSGAN (Mao et al. 2017): ``1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]``."""
    return 0.5 * (real_scores - 1).pow(2).mean() + 0.5 * fake_scores.pow(2).mean()


def ls_generator_loss(fake_scores: Tensor) -> Tensor:
    """LSGAN generator loss ``1/2 E[(D(G(z)) - 1)^2]``."""
    return 0.5 * (fake_scores - 1).pow(2).mean()


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017): ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` on random interpolates.

    The interpolation weights come from the global RNG (seed it for determinism). For a critic returning a tuple
    (ACGAN), the first element is the critic score.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(mixed)
    scores = scores[0] if isinstance(scores, tuple) else scores
    (gradient,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (gradient.flatten(1).norm(dim=1) - 1).pow(2).mean()
