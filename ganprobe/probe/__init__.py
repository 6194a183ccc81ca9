"""Look inside a generator or discriminator, layer by layer.

* :func:`record_activations`: flattened outputs of any named layers for real or generated inputs;
* :func:`embed_layers` / :func:`plot_layer_embeddings`: PCA then t-SNE per layer, coloured by real/fake or by class
  (e.g. the ``lenet-mnist`` extractor's predicted digits for generated images);
* :func:`adversarial_perturbation` / :func:`plot_perturbation`: an L-infinity gradient-sign attack that flips the
  discriminator's decision, with its accuracy before and after;
* :func:`maximize_output` / :func:`maximize_layer`: synthesise inputs that maximise a class output or a layer;
* :func:`save_image_grid`: write any batch of images as one PNG.

Discriminator convention: ``D(images)`` returns one logit per image (positive = real), or probabilities with
``output="probability"``; images are in ``value_range`` (default ``(-1, 1)``, the tanh GAN convention).

Example:
    >>> import torch
    >>> from torch import nn
    >>> disc = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    >>> acts = record_activations(disc, torch.rand(10, 1, 8, 8) * 2 - 1, ["1", "3"])
    >>> {name: tuple(value.shape) for name, value in acts.items()}
    {'1': (10, 16), '3': (10, 1)}
"""

from ganprobe.probe.activations import eval_mode, record_activations
from ganprobe.probe.embedding import embed_layers, plot_layer_embeddings, subsample_indices
from ganprobe.probe.images import plot_perturbation, save_image_grid
from ganprobe.probe.perturbation import PerturbationResult, adversarial_perturbation, discriminator_scores
from ganprobe.probe.synthesis import layer_activation, maximize_layer, maximize_output

__all__ = [
    "PerturbationResult",
    "adversarial_perturbation",
    "discriminator_scores",
    "embed_layers",
    "eval_mode",
    "layer_activation",
    "maximize_layer",
    "maximize_output",
    "plot_layer_embeddings",
    "plot_perturbation",
    "record_activations",
    "save_image_grid",
    "subsample_indices",
]
