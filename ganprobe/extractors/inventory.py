"""What each registered extractor offers on this machine: its layers, and whether its weights are here."""

from __future__ import annotations

from dataclasses import dataclass

from ganprobe.errors import GanprobeError, WeightsError
from ganprobe.extractors.registry import available_extractors, extractor_entry, get_extractor
from ganprobe.extractors.weights import look_only


@dataclass(frozen=True)
class ExtractorInfo:
    """One row of ``ganprobe extractors``.

    Attributes:
        name: the registry name.
        description: the registry's one-line description.
        layers: every tappable layer, in network order (empty when the model could not be built).
        default_layer: the layer scores use by default.
        block_layers: the layers ``LayerSeparability`` compares by default.
        weights: ``"yes (sha256 1234abcd...)"``, ``"random (none needed)"``, or ``"missing"``.
        available: whether the extractor can be built here without a download.
        advice: for missing weights, the error's one line on how to supply the file offline (else empty).
    """

    name: str
    description: str
    layers: tuple[str, ...]
    default_layer: str | None
    block_layers: tuple[str, ...]
    weights: str
    available: bool
    advice: str = ""


def describe_extractor(name: str) -> ExtractorInfo:
    """Build ``name`` without any download and report its layers and weights status.

    A missing weights file is reported (with the error's advice on supplying it offline), and the layers are then
    read from the ``random-<name>`` variant when one is registered.

    Raises:
        UnknownExtractorError: no extractor is registered under ``name``.
    """
    entry = extractor_entry(name)
    with look_only():
        try:
            extractor = get_extractor(name)
        except WeightsError as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            layers: tuple[str, ...] = ()
            default = None
            blocks: tuple[str, ...] = ()
            if f"random-{name}" in available_extractors():
                shape = get_extractor(f"random-{name}")
                layers, default, blocks = shape.layers, shape.default_layer, shape.block_layers
            return ExtractorInfo(name, entry.description, layers, default, blocks, "missing", False, message)
        except GanprobeError as exc:
            return ExtractorInfo(name, entry.description, (), None, (), "unavailable", False, str(exc))
    digest = extractor.weights_sha256
    random = not digest or digest.startswith("random")
    weights = "random (none needed)" if random else f"yes (sha256 {digest[:12]}...)"
    return ExtractorInfo(
        name, entry.description, extractor.layers, extractor.default_layer, extractor.block_layers, weights, True
    )
