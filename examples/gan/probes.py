"""After training: look inside the discriminator with ``ganprobe.probe`` (the studies of docs/studies.md §3 and §5).

Writes under ``OUT/probe/``:

* ``layer_embeddings.png``: PCA-50 then t-SNE of each tapped discriminator layer, real and generated images together,
  coloured by class when labels are known (MNIST: true digits for reals, the ``lenet-mnist`` classifier's predicted
  digits for fakes; ACGAN: true and conditioning classes);
* ``perturbation.png``: a small L-infinity gradient-sign attack on held real images, with the discriminator's accuracy
  before and after (ACGAN: on its class head, towards wrong classes; others: real images pushed to "fake");
* ``maximised.png``: inputs synthesised by gradient ascent from the average real image to maximise each class
  output (ACGAN) or the "real" logit, captioned with the class and the logit reached;
* ``maximised_features.png`` (with ``feature_layers``): the same for single channels of chosen layers, one row per
  layer (the CIFAR-10 study's layers 4 and 8).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from gan.outputs import save_labelled_grid
from ganprobe.probe import (
    adversarial_perturbation,
    layer_activation,
    maximize_layer,
    maximize_output,
    plot_layer_embeddings,
    plot_perturbation,
    record_activations,
)


def _score(discriminator: nn.Module, image: Tensor, index: int, head: int | None) -> float:
    with torch.no_grad():
        scores = discriminator(image)
    scores = scores[head] if head is not None else scores
    return float(scores.reshape(scores.shape[0], -1)[0, index])


def maximise_outputs(
    discriminator: nn.Module,
    start: Tensor,
    out: Path,
    num_classes: int = 0,
    class_names: Sequence[str] = (),
    steps: int = 100,
    seed: int = 0,
    who: str = "D",
) -> dict[str, float]:
    """Gradient ascent from the average image ``start`` (``(1, C, H, W)``) on each class logit (``num_classes > 0``,
    head 1) or on the real/fake logit; writes ``maximised.png`` with the start, every result and its logit.

    Returns:
        ``{"maximised_logit_<class>": logit reached}`` (``maximised_logit_real`` for a real/fake discriminator).
    """
    head = 1 if num_classes else None
    targets = [(i, class_names[i] if i < len(class_names) else str(i)) for i in range(num_classes)] or [(0, "real")]
    images, captions, scores = [start.cpu()], ["average image\n(start)"], {}
    for index, name in targets:
        shape = tuple(start.shape)
        image = maximize_output(discriminator, index, shape, steps=steps, seed=seed, start=start, head=head)
        value = _score(discriminator, image, index, head)
        scores[f"maximised_logit_{name}"] = value
        images.append(image.cpu())
        captions.append(f"{name}\nlogit {value:+.1f}")
    what = "each class logit" if num_classes else "the 'real' logit"
    title = f"{who}: inputs maximising {what} ({steps} Adam steps from the average real image)"
    save_labelled_grid(torch.cat(images), captions, out / "maximised.png", title, ncol=min(len(images), 11))
    return scores


def maximise_features(
    discriminator: nn.Module,
    start: Tensor,
    layers: Sequence[str],
    out: Path,
    channels: int = 8,
    steps: int = 100,
    seed: int = 0,
    who: str = "D",
) -> Path:
    """Gradient ascent from ``start`` on the first ``channels`` channels of each layer (the study's 3c: layers 4
    and 8); writes ``maximised_features.png``, one row per layer, each image captioned with its mean activation."""
    images, captions = [], []
    for layer in layers:
        for channel in range(channels):
            image = maximize_layer(discriminator, layer, tuple(start.shape), channel, steps, seed=seed, start=start)
            with torch.no_grad():
                value = float(layer_activation(discriminator, layer, image, channel)[0])
            images.append(image.cpu())
            captions.append(f"channel {channel}\nmean {value:.2f}")
    title = f"{who}: inputs maximising single channels, one row per layer ({steps} steps from the average image)"
    return save_labelled_grid(
        torch.cat(images), captions, out / "maximised_features.png", title, ncol=channels, row_labels=list(layers)
    )


def embed_generator(
    generator: nn.Module,
    noise: Tensor,
    layers: Sequence[str],
    out: Path,
    labels: Tensor | None = None,
    seed: int = 0,
    classifier: str = "classifier",
) -> Path:
    """PCA-50 + t-SNE of the generator's ``layers`` for ``noise``, coloured by ``labels`` (e.g. a classifier's
    predicted digit for each generated image); writes ``generator_embeddings.png``."""
    from ganprobe.probe import plot_layer_embeddings

    activations = record_activations(generator, noise, layers)
    colour = f"{classifier}-predicted class" if labels is not None else "one colour"
    return plot_layer_embeddings(
        None,
        activations,
        out / "generator_embeddings.png",
        labels=None if labels is None else {"fake": labels},
        seed=seed,
        title=f"G's layers: PCA(50) + t-SNE, coloured by {colour}",
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
    class_names: Sequence[str] = (),
    feature_layers: Sequence[str] = (),
    feature_channels: int = 8,
    who: str = "D",
    attack_steps: int = 10,
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
        attack_steps: signed-gradient steps of the attack; ``1`` is one step of size ``epsilon`` (FGSM, the CIFAR-10
            study's "small signed step").
        ascent_steps: gradient-ascent steps per synthesised image (every one starts from the average real image,
            as in the study).
        seed: seed of t-SNE.
        class_names: names of the class head's outputs, for the captions.
        feature_layers: layers whose first ``feature_channels`` channels are maximised (``maximised_features.png``).
        feature_channels: channels per feature layer.
        who: the discriminator's name in figure titles.

    Returns:
        ``{"attack_accuracy_before": ..., "attack_accuracy_after": ..., "maximised_logit_<class>": ...}``.
    """
    out.mkdir(parents=True, exist_ok=True)
    activations_real = record_activations(discriminator, real, layers)
    activations_fake = None if fake is None else record_activations(discriminator, fake, layers)
    colour = "class (reals: true, fakes: predicted or conditioned)" if labels else "real vs fake"
    plot_layer_embeddings(
        activations_real,
        activations_fake,
        out / "layer_embeddings.png",
        labels=labels,
        seed=seed,
        title=f"{who}'s layers: PCA(50) + t-SNE, coloured by {colour}",
    )
    conditional = real_labels is not None and num_classes > 0
    step = epsilon if attack_steps == 1 else None
    if conditional:
        attack = adversarial_perturbation(discriminator, real, epsilon, attack_steps, step, labels=real_labels, head=1)
    else:
        attack = adversarial_perturbation(discriminator, real, epsilon, attack_steps, step, target="fake")
    plot_perturbation(attack, out / "perturbation.png")
    start = real.mean(dim=0, keepdim=True)  # the study's start: the average real image
    scores = maximise_outputs(
        discriminator, start, out, num_classes if conditional else 0, class_names, ascent_steps, seed, who
    )
    if feature_layers:
        maximise_features(discriminator, start, feature_layers, out, feature_channels, ascent_steps, seed, who)
    print(f"probe: {attack.describe()}; plots in {out}")
    return {"attack_accuracy_before": attack.accuracy_before, "attack_accuracy_after": attack.accuracy_after, **scores}
