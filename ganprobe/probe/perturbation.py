"""Gradient-based perturbations that flip a discriminator's (or classifier's) decision, with accuracy before/after.

After the CIFAR-10 discriminator study (``docs/studies.md`` §3): take real images, follow the sign of the gradient
of the loss towards the wrong answer, and see the accuracy collapse although the images barely change. One signed
step of size ``epsilon`` is FGSM; several projected steps are PGD (Madry et al. 2018), both bounded in L-infinity.

Discriminator convention: ``discriminator(images)`` returns one score per image, shape ``(N,)`` or ``(N, 1)``:
a logit (``output="logit"``, positive means "real") or a probability of "real" (``output="probability"``, above
0.5 means "real"). A tuple output (e.g. an AC-GAN's ``(critic, class_logits)``) needs ``head=`` to pick one. With
``labels=`` the chosen output is a classifier's ``(N, C)`` logits instead, and accuracy is top-1 on those labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganprobe.errors import InputError
from ganprobe.probe.activations import eval_mode, module_device

TARGETS = ("fake", "real")
OUTPUTS = ("logit", "probability")
_RANGE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class PerturbationResult:
    """The outcome of :func:`adversarial_perturbation`.

    Attributes:
        images: the original images.
        perturbed: the perturbed images, within ``epsilon`` of ``images`` in L-infinity and inside the value range.
        logits_before: the discriminator's scores on ``images`` (``(N,)`` logits, or ``(N, C)`` with labels).
        logits_after: the same on ``perturbed``.
        accuracy_before: fraction of ``images`` the discriminator gets right (real images called real for
            ``target="fake"``, fakes called fake for ``target="real"``, top-1 class with labels).
        accuracy_after: the same on ``perturbed``.
        epsilon: the L-infinity budget, in the units of the images.
        steps: gradient steps taken.
        target: ``"fake"``, ``"real"`` or ``"class"`` (labels given).
    """

    images: Tensor
    perturbed: Tensor
    logits_before: Tensor
    logits_after: Tensor
    accuracy_before: float
    accuracy_after: float
    epsilon: float
    steps: int
    target: str

    def describe(self) -> str:
        """One line, e.g. ``"D accuracy on real images 0.98 -> 0.03 (L-inf eps=0.1, 10 steps)"``."""
        what = {"fake": "real images", "real": "fake images", "class": "labelled images"}[self.target]
        return (
            f"D accuracy on {what} {self.accuracy_before:.2f} -> {self.accuracy_after:.2f} "
            f"(L-inf eps={self.epsilon:g}, {self.steps} steps)"
        )


def discriminator_scores(
    discriminator: nn.Module, images: Tensor, output: str = "logit", head: int | None = None, classes: bool = False
) -> Tensor:
    """Call ``discriminator`` and return logits: ``(N,)`` real/fake logits, or ``(N, C)`` when ``classes``.

    Probabilities (``output="probability"``) are turned into logits, so ``> 0`` always means "real".
    """
    scores = discriminator(images)
    if isinstance(scores, (tuple, list)):
        if head is None:
            raise InputError(f"head: the discriminator returns {len(scores)} outputs; pass head=<index> to pick one")
        scores = scores[head]
    elif head is not None and head != 0:
        raise InputError(f"head: the discriminator returns one tensor, so head must be None or 0, got {head}")
    if not isinstance(scores, Tensor) or scores.ndim == 0 or scores.shape[0] != images.shape[0]:
        raise InputError("discriminator: expected one score (or row of class logits) per image")
    if classes:
        if scores.ndim != 2:
            raise InputError(f"labels: the classifier output must be (N, C) logits, got {tuple(scores.shape)}")
        return scores
    if scores.numel() != images.shape[0]:
        raise InputError(
            f"discriminator: expected one real/fake score per image, got shape {tuple(scores.shape)}; "
            "for a class head pass labels=..., for a tuple output pass head=..."
        )
    scores = scores.reshape(-1)
    if output == "probability":
        scores = torch.logit(scores.clamp(1e-6, 1 - 1e-6))
    return scores


def _check_images(images: Tensor, value_range: tuple[float, float]) -> None:
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.ndim < 2 or len(images) == 0:
        raise InputError("images: expected a non-empty floating-point batch (N, ...) in the discriminator's range")
    low, high = value_range
    if not low < high:
        raise InputError(f"value_range: expected (low, high) with low < high, got {value_range}")
    lo, hi = torch.aminmax(images.detach())
    if float(lo) < low - _RANGE_TOLERANCE or float(hi) > high + _RANGE_TOLERANCE:  # one sync, catches [0,1] vs [-1,1]
        raise InputError(
            f"images: values in [{float(lo):.3g}, {float(hi):.3g}] lie outside value_range {value_range}; pass the "
            "discriminator's input range as value_range"
        )


def adversarial_perturbation(
    discriminator: nn.Module,
    images: Tensor,
    epsilon: float,
    steps: int = 10,
    step_size: float | None = None,
    target: str = "fake",
    *,
    output: str = "logit",
    labels: Tensor | None = None,
    target_labels: Tensor | None = None,
    head: int | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    device: torch.device | str | None = None,
) -> PerturbationResult:
    """Perturb ``images`` within an L-infinity ball of radius ``epsilon`` so the discriminator gets them wrong.

    Each step moves every pixel by ``step_size`` along the sign of the gradient of the binary cross-entropy towards
    the wrong answer (``target``), then projects back into ``[images - epsilon, images + epsilon]`` and
    ``value_range``. The discriminator runs in eval mode; its modes and parameter gradients are left untouched.

    Args:
        discriminator: maps images to a real/fake score per image (see the module docstring for the convention).
        images: real images for ``target="fake"``, generated ones for ``target="real"``, in ``value_range``.
        epsilon: the L-infinity budget in image units (``0.1`` in ``[-1, 1]`` is 5% of the range, about 13 of 255
            grey levels).
        steps: gradient steps (``1`` with ``step_size=epsilon`` is FGSM).
        step_size: per-step change; default ``2.5 * epsilon / steps`` (Madry et al.).
        target: the decision to push towards: ``"fake"`` (make real images look fake) or ``"real"``.
        output: ``"logit"`` or ``"probability"``, what the discriminator returns.
        labels: true classes ``(N,)`` to attack a classifier head ``(N, C)`` instead (``target`` is then ignored).
        target_labels: with ``labels``, push towards these classes; default: away from ``labels`` (untargeted).
        head: index of the output to use when the discriminator returns a tuple.
        value_range: the discriminator's input range; perturbed images are clamped to it.
        device: where to run; default: the discriminator's device.

    Returns:
        A :class:`PerturbationResult`; ``accuracy_after < accuracy_before`` when the attack works.
    """
    if target not in TARGETS:
        raise InputError(f"target: expected one of {TARGETS}, got {target!r}")
    if output not in OUTPUTS:
        raise InputError(f"output: expected one of {OUTPUTS}, got {output!r}")
    if not epsilon > 0:
        raise InputError(f"epsilon: expected a positive L-infinity budget, got {epsilon!r}")
    if not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps: expected a positive integer, got {steps!r}")
    _check_images(images, value_range)
    step = 2.5 * epsilon / steps if step_size is None else float(step_size)
    if not step > 0:
        raise InputError(f"step_size: expected a positive number, got {step_size!r}")
    place = torch.device(device) if device is not None else module_device(discriminator)
    original = images.detach().to(place)
    classes = labels is not None
    if classes:
        labels = labels.to(place)
        if labels.shape != (len(original),):
            raise InputError(f"labels: expected shape ({len(original)},), got {tuple(labels.shape)}")
        if target_labels is not None:
            target_labels = target_labels.to(place)
    elif target_labels is not None:
        raise InputError("target_labels: only meaningful together with labels=")

    def scores_of(batch: Tensor) -> Tensor:
        return discriminator_scores(discriminator, batch, output, head, classes)

    def loss_to_descend(scores: Tensor) -> Tensor:
        if classes:
            if target_labels is not None:
                return F.cross_entropy(scores, target_labels, reduction="sum")
            return -F.cross_entropy(scores, labels, reduction="sum")
        wanted = 0.0 if target == "fake" else 1.0
        return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, wanted), reduction="sum")

    def correct(scores: Tensor) -> float:
        if classes:
            hits = scores.argmax(dim=1) == labels
        else:
            hits = scores > 0 if target == "fake" else scores < 0
        return float(hits.float().mean())

    low, high = value_range
    with eval_mode(discriminator):
        with torch.no_grad():
            before = scores_of(original).detach()
        perturbed = original.clone()
        with torch.enable_grad():
            for _ in range(steps):
                perturbed.requires_grad_(True)
                (grad,) = torch.autograd.grad(loss_to_descend(scores_of(perturbed)), [perturbed])
                with torch.no_grad():
                    perturbed = perturbed - step * grad.sign()
                    perturbed = torch.minimum(torch.maximum(perturbed, original - epsilon), original + epsilon)
                    perturbed = perturbed.clamp(low, high)
        perturbed = perturbed.detach()
        with torch.no_grad():
            after = scores_of(perturbed).detach()
    return PerturbationResult(
        images=original,
        perturbed=perturbed,
        logits_before=before,
        logits_after=after,
        accuracy_before=correct(before),
        accuracy_after=correct(after),
        epsilon=float(epsilon),
        steps=steps,
        target="class" if classes else target,
    )
