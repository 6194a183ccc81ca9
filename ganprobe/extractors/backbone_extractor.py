"""The one extractor class every backbone declaration builds.

:class:`BackboneExtractor` turns a :class:`Backbone` declaration plus the run options (weights file, seed, pipeline,
layout, precision, compilation) into a :class:`~ganprobe.extractors.base.FeatureExtractor`. The declarations
(:class:`Backbone`, :class:`Lazy`) are plain data in the torch-free :mod:`ganprobe.extractors.declaration`,
re-exported here; the built-in ones live in :mod:`ganprobe.extractors.builtin`.
"""

from __future__ import annotations

import os

import torch

from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.declaration import Backbone, Lazy, WeightsFinder, WeightsLoader

__all__ = ["Backbone", "BackboneExtractor", "Lazy", "WeightsFinder", "WeightsLoader"]


class BackboneExtractor(FeatureExtractor):
    """A :class:`FeatureExtractor` built from a :class:`Backbone` declaration.

    Args:
        backbone: the declaration.
        weights_path: an explicit weights file; otherwise :mod:`ganprobe.extractors.weights` searches for it.
        verify_checksum: check the file's SHA-256 against the pinned digest.
        pretrained: ``False`` gives seeded random weights (the ``random-<name>`` extractors; nothing is loaded).
        seed: the seed of the random initialisation (the caller's RNG state is left untouched).
        pipeline: the input pipeline by name (``None``: the backbone's default); see ``Backbone.pipelines``.
        channels_last: run in the channels-last memory layout (on by default; features equal to round-off).
        autocast: ``None`` (float32) or ``"bfloat16"`` / ``"float16"``; see the base class.
        compile: compile the backbone piecewise; see the base class.
        backend: ``"auto"`` (default: ONNX Runtime on the CPU where ``ganprobe[onnxruntime]`` is installed, else
            eager PyTorch), ``"torch"`` or ``"onnxruntime"``; see the base class.

    Attributes:
        backbone: the declaration it was built from.
        pipeline: the name of the input pipeline in use (also in ``preprocessing.describe()``).
        pretrained: whether the published weights were loaded.
        weights_verified: pretrained, checked, and the declaration pins the file's checksum.
    """

    def __init__(
        self,
        backbone: Backbone,
        weights_path: str | os.PathLike[str] | None = None,
        verify_checksum: bool = True,
        pretrained: bool = True,
        seed: int = 0,
        pipeline: str | None = None,
        channels_last: bool = True,
        autocast: str | None = None,
        compile: bool = False,
        backend: str = "auto",
    ) -> None:
        pipeline_name, preprocessing = backbone.pipeline(pipeline)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = backbone.build()
        if pretrained:
            if backbone.weights is None:
                raise InputError(f"{backbone.name}: no published weights are declared; use random-{backbone.name}")
            weights = backbone.weights(model, weights_path, verify_checksum)
            name = backbone.name
        else:
            name, weights = f"random-{backbone.name}", f"random-init-seed-{seed}"
        super().__init__(
            name=name,
            model=model,
            taps=backbone.taps,
            preprocessing=preprocessing,
            default_layer=backbone.default_layer,
            block_layers=backbone.block_layers,
            logits_layer=backbone.logits_layer,
            weights_sha256=weights,
            channels_last=channels_last,
            autocast=autocast,
            compile=compile,
            backend=backend,
        )
        self.backbone = backbone
        self.pipeline = pipeline_name
        self.pretrained = bool(pretrained)
        self.weights_verified = self.pretrained and bool(verify_checksum)

    @property
    def published_reference(self) -> str | None:
        """Which implementation's numbers this extractor's features reproduce, or ``None``.

        Set only for pretrained weights whose file was checked against its pinned checksum (``weights_verified``)
        and a pipeline the declaration names as a reference (e.g. ``"TensorFlow FID (TTUR) / torch-fidelity"``
        for ``inception-fid`` with ``pipeline="tf"``, ``"clean-fid mode='clean'"`` with ``pipeline="clean"``).
        """
        if not self.weights_verified:
            return None
        return self.backbone.published_reference.get(self.pipeline)
