"""One way to build what an evaluation runs on (device, extractor, feature cache), shared by the CLI and the plugin."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ganprobe.errors import UsageError

if TYPE_CHECKING:
    import torch

    from ganprobe.extractors.base import FeatureExtractor
    from ganprobe.features.cache import FeatureCache


def resolve_device(device: str | torch.device | None, option: str = "--device") -> torch.device:
    """``device`` as a ``torch.device`` (``None``: cpu), or a :class:`UsageError` naming ``option``.

    Raises:
        UsageError: an unknown device string, CUDA asked for where it is not available, or the ``meta`` device
            (which holds no data: features cannot be computed on it).
    """
    import torch

    from ganprobe import defaults
    from ganprobe.utils.devices import check_device

    try:
        resolved = torch.device(device if device is not None else defaults.DEVICE)
    except (RuntimeError, TypeError):
        raise UsageError(f"{option}: unknown device {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{option}: {device} requested but CUDA is not available here")
    check_device(resolved, option)  # meta (no data) and other absent accelerators
    return resolved


def build_extractor(
    extractor: str | FeatureExtractor,
    device: str | torch.device | None = None,
    weights: str | os.PathLike[str] | None = None,
    channels_last: bool = True,
    autocast: str | None = None,
    compile: bool = False,
    option: str = "--extractor",
    pipeline: str | None = None,
    backend: str | None = None,
) -> FeatureExtractor:
    """A registered extractor by name (or the given one), with the speed options, moved to ``device``.

    Only options that differ from the defaults are passed to the factory, so a user-registered factory without
    them still works; one that lacks a requested option is a :class:`UsageError` naming it. ``pipeline`` picks the
    ``inception-fid`` input pipeline (``tf``, ``clean``, ``pytorch-fid``; see ``docs/published-numbers.md``).
    ``backend`` (``None``: the extractor's default, ``"auto"`` for the built-ins) is ``"auto"``, ``"torch"`` or
    ``"onnxruntime"``; one that cannot run on ``device`` is an :class:`InputError`.
    """
    from ganprobe.extractors import get_extractor

    target = resolve_device(device)
    if not isinstance(extractor, str):
        return extractor.to(target)
    kwargs: dict[str, Any] = {"weights_path": weights} if weights else {}
    if not channels_last:
        kwargs["channels_last"] = False
    if autocast:
        kwargs["autocast"] = autocast
    if compile:
        kwargs["compile"] = True
    if pipeline:
        kwargs["pipeline"] = pipeline
    if backend:
        kwargs["backend"] = backend
    try:
        model = get_extractor(extractor, **kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        unsupported = str(exc).split(" ")[-1]
        raise UsageError(f"{option} {extractor}: its factory does not accept {unsupported}") from None
    model = model.to(target)
    model.active_backend  # noqa: B018 - an InputError now, where the requested backend cannot run (e.g. on CUDA)
    return model


def build_cache(
    cache_dir: str | os.PathLike[str] | None = None, enabled: bool = True, content_hash: bool = False
) -> FeatureCache:
    """The feature cache (``cache_dir`` ``None``: ``~/.cache/ganprobe``; ``enabled=False``: never read or written;
    ``content_hash=True``: key folders on every file's SHA-256 instead of size and modification time)."""
    from ganprobe.features import FeatureCache

    return FeatureCache(cache_dir, enabled=enabled, content_hash=content_hash)
