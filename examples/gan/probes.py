"""After training: look inside the discriminator with ``ganprobe.probe`` (the studies of SEEDS.md §3 and §5).

Writes under ``OUT/probe/``:

* ``layer_embeddings.png``: PCA-50 then t-SNE of each tapped discriminator layer, real and generated images together,
  coloured by class when labels are known (MNIST: true digits for reals, the ``lenet-mnist`` classifier's predicted
  digits for fakes; ACGAN: true and conditioning classes);
* ``perturbation.png``: a small L-infinity gradient-sign attack on held real images, with the discriminator's accuracy
  before and after (ACGAN: on its class head, towards wrong classes; others: real images pushed to "fake");
* ``maximised.png``: inputs synthesised by gradient ascent to maximise each class output (ACGAN) or the "real" logit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from ganprobe.probe import (
    adversarial_perturbation,
    maximize_output,
    plot_layer_embeddings,
    plot_perturbation,
    record_activations,
    save_image_grid,
)


def probe_discriminator(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor | None,
    layers: Sequence[str],
    out: Path,
    labels: dict[str, Tensor] | None = None,
    real_labels: Tensor | None = None,
    num_classes: int = 0,
    epsilon: float = 0.05,
    ascent_steps: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Embed the discriminator's layers, attack it, and synthesise the inputs it likes most.

    Args:
        discriminator: a trained discriminator (``D(x) -> logits`` or ``(logits, class_logits)`` for ACGAN).
        real, fake: images in ``[-1, 1]``, NCHW (a few hundred each is plenty); ``fake=None`` embeds reals only.
        layers: dotted names of the discriminator's layers to embed.
        out: folder for the PNGs.
        labels: ``{"real": (N,), "fake": (M,)}`` class labels to colour the embeddings (``None``: real vs fake).
        real_labels: true classes of ``real`` to attack the class head (ACGAN) instead of the real/fake head.
        num_classes: outputs of the class head (ACGAN), 0 otherwise.
        epsilon: the attack's L-infinity budget in ``[-1, 1]`` units.
        ascent_steps: gradient-ascent steps per synthesised image.
        seed: seed of t-SNE and of the synthesis starts.

    Returns:
        ``{"attack_accuracy_before": ..., "attack_accuracy_after": ...}``.
    """
    out.mkdir(parents=True, exist_ok=True)
    activations_real = record_activations(discriminator, real, layers)
    activations_fake = None if fake is None else record_activations(discriminator, fake, layers)
    plot_layer_embeddings(activations_real, activations_fake, out / "layer_embeddings.png", labels=labels, seed=seed)
    conditional = real_labels is not None and num_classes > 0
    if conditional:
        attack = adversarial_perturbation(discriminator, real, epsilon, labels=real_labels, head=1)
    else:
        attack = adversarial_perturbation(discriminator, real, epsilon, target="fake")
    plot_perturbation(attack, out / "perturbation.png")
    shape = (1, *real.shape[1:])
    if conditional:
        images = [
            maximize_output(discriminator, index, shape, steps=ascent_steps, seed=seed, head=1)
            for index in range(num_classes)
        ]
    else:
        images = [maximize_output(discriminator, 0, shape, steps=ascent_steps, seed=seed + i) for i in range(4)]
    save_image_grid(torch.cat([image.detach().cpu() for image in images]), out / "maximised.png", nrow=len(images))
    print(f"probe: {attack.describe()}; plots in {out}")
    return {"attack_accuracy_before": attack.accuracy_before, "attack_accuracy_after": attack.accuracy_after}
