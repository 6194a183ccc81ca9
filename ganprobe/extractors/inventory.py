"""What each registered extractor offers on this machine: its layers, and whether its weights are here.

A built-in extractor is described from its declaration (:mod:`ganprobe.extractors.builtin`): its layers are the
declared taps, and its weights file is looked for and checked by the declaration's torch-free finder, so
``ganprobe extractors`` imports no torch. Only an extractor registered by a user (a factory ganprobe cannot see
into) is built to be described.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganprobe.errors import GanprobeError, WeightsError
from ganprobe.extractors.builtin import BACKBONES
from ganprobe.extractors.declaration import Backbone
from ganprobe.extractors.registry import ExtractorEntry, available_extractors, extractor_entry, get_extractor
from ganprobe.extractors.weights import look_only

RANDOM_WEIGHTS = "random (none needed)"


@dataclass(frozen=True)
class ExtractorInfo:
    """One row of ``ganprobe extractors``.

    Attributes:
        name: the registry name.
        description: the registry's one-line description.
        layers: every tappable layer, in network order (empty when the model could not be built).
        default_layer: the layer scores use by default.
        block_layers: the layers ``LayerSeparability`` compares by default.
        weights: ``"yes (sha256 1234abcd...)"``, ``"random (none needed)"``, ``"missing"`` or ``"unavailable"``.
        available: whether the extractor can be built here without a download.
        advice: for missing weights, the error's one line on how to supply the file offline (else empty).
        advice_error: the error that advice comes from (``None`` when there is none), for front ends to render
            in their own words (:func:`ganprobe.front_end_names.render`).
    """

    name: str
    description: str
    layers: tuple[str, ...]
    default_layer: str | None
    block_layers: tuple[str, ...]
    weights: str
    available: bool
    advice: str = ""
    advice_error: GanprobeError | None = None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _digest_status(digest: str) -> str:
    return RANDOM_WEIGHTS if not digest or digest.startswith("random") else f"yes (sha256 {digest[:12]}...)"


def _weights_status(backbone: Backbone, pretrained: bool) -> tuple[str, str, GanprobeError | None]:
    """``(weights column, advice, the error it comes from)`` of a declared backbone, without building it or
    downloading anything."""
    missing = backbone.unavailable() if backbone.unavailable is not None else ""
    if missing:
        return "missing", missing, None
    if not pretrained:
        return RANDOM_WEIGHTS, "", None
    if backbone.find_weights is None:
        return "unavailable", f"no published weights are declared; use random-{backbone.name}", None
    with look_only():
        try:
            _, digest = backbone.find_weights(None, True)
        except WeightsError as exc:
            return "missing", _first_line(exc), exc
        except GanprobeError as exc:
            return "unavailable", str(exc), exc
    return _digest_status(digest), "", None


def _describe_declared(entry: ExtractorEntry, backbone: Backbone) -> ExtractorInfo:
    weights, advice, error = _weights_status(backbone, entry.pretrained)
    return ExtractorInfo(
        entry.name,
        entry.description,
        tuple(backbone.taps),
        backbone.default_layer,
        tuple(backbone.block_layers),
        weights,
        not advice,
        advice,
        error,
    )


def _describe_built(entry: ExtractorEntry) -> ExtractorInfo:
    """Build a user-registered extractor (no download) to read its layers and weights; torch is imported."""
    with look_only():
        try:
            extractor = get_extractor(entry.name)
        except WeightsError as exc:
            layers: tuple[str, ...] = ()
            default, blocks = None, ()
            if f"random-{entry.name}" in available_extractors():  # its random twin has the same layers
                shape = get_extractor(f"random-{entry.name}")
                layers, default, blocks = tuple(shape.layers), shape.default_layer, tuple(shape.block_layers)
            return ExtractorInfo(
                entry.name, entry.description, layers, default, blocks, "missing", False, _first_line(exc), exc
            )
        except GanprobeError as exc:
            return ExtractorInfo(entry.name, entry.description, (), None, (), "unavailable", False, str(exc), exc)
    return ExtractorInfo(
        entry.name,
        entry.description,
        tuple(extractor.layers),
        extractor.default_layer,
        tuple(extractor.block_layers),
        _digest_status(str(extractor.weights_sha256 or "")),
        True,
    )


def describe_extractor(name: str) -> ExtractorInfo:
    """Report the layers of ``name`` and whether its weights are here, without any download.

    A built-in extractor is read from its declaration (no torch); a missing or corrupt weights file is reported
    with the error's advice on supplying it offline. An extractor registered by a user is built.

    Raises:
        UnknownExtractorError: no extractor is registered under ``name``.
    """
    entry = extractor_entry(name)
    if entry.backbone is not None and entry.backbone in BACKBONES:
        return _describe_declared(entry, BACKBONES[entry.backbone])
    return _describe_built(entry)
