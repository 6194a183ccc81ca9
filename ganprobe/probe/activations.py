"""Record what a generator's or discriminator's layers compute, by forward hooks on named submodules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ganprobe.errors import InputError

_MAX_NAMES_LISTED = 40


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` (and every submodule) in eval mode, then restore each submodule's own previous mode.

    Probing must not update BatchNorm statistics or apply dropout, and must leave a model that is still training
    exactly as it was (some submodules of a training model may deliberately be in eval mode).
    """
    modes = [(child, child.training) for child in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for child, mode in modes:
            child.training = mode


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer (CPU for a module without any)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def check_layers(module: nn.Module, layers: Sequence[str], argument: str = "layers") -> dict[str, nn.Module]:
    """Return ``{name: submodule}`` for ``layers``; raise :class:`InputError` listing the valid names otherwise."""
    if not isinstance(module, nn.Module):
        raise InputError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    if isinstance(layers, str):
        layers = [layers]
    if not layers:
        raise InputError(f"{argument}: name at least one submodule (as in module.named_modules())")
    known = dict(module.named_modules())
    unknown = [layer for layer in layers if layer not in known]
    if unknown:
        names = [name for name in known if name]
        shown = ", ".join(names[:_MAX_NAMES_LISTED]) + (" ..." if len(names) > _MAX_NAMES_LISTED else "")
        raise InputError(
            f"{argument}: {unknown} are not submodules of {type(module).__name__}; available: {shown or '(none)'}"
        )
    return {layer: known[layer] for layer in layers}


def first_tensor(output: object, layer: str) -> Tensor:
    """A hooked module's output as one tensor (the first element of a tuple/list output)."""
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    if not isinstance(output, Tensor):
        raise InputError(f"layer {layer!r} returned {type(output).__name__}, not a tensor; tap one of its submodules")
    return output


def _batches(inputs: Tensor | Iterable[Tensor], batch_size: int) -> Iterator[Tensor]:
    if isinstance(inputs, Tensor):
        if inputs.ndim == 0 or inputs.shape[0] == 0:
            raise InputError(f"inputs: expected a non-empty batch (N, ...), got shape {tuple(inputs.shape)}")
        yield from inputs.split(batch_size)
        return
    for index, batch in enumerate(inputs):
        if not isinstance(batch, Tensor):
            raise InputError(f"inputs[{index}]: expected a tensor batch, got {type(batch).__name__}")
        yield batch


def record_activations(
    module: nn.Module,
    inputs: Tensor | Iterable[Tensor],
    layers: Sequence[str],
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> dict[str, Tensor]:
    """Run ``module`` over ``inputs`` and keep the output of each named layer, flattened per sample.

    The module runs in eval mode (no BatchNorm update, no dropout) under ``torch.no_grad()``; afterwards every
    submodule is back in its previous mode and no parameter gradient has changed.

    Args:
        module: a generator, discriminator or classifier, called as ``module(batch)``.
        inputs: one tensor ``(N, ...)`` (split into ``batch_size`` chunks), or an iterable of batches. For a
            generator these are latent vectors; for a discriminator, images in its input range.
        layers: dotted submodule names as in ``module.named_modules()`` (``""`` is the module's own output).
        batch_size: chunk size when ``inputs`` is one tensor.
        device: where batches are sent; default: the device of the module's parameters (the module is not moved).

    Returns:
        ``{layer: (N, D) float32 tensor on the CPU}``: each sample's activations flattened to ``D`` values, rows in
        input order.

    Raises:
        InputError: an unknown layer (the message lists the available names), a layer never reached by the forward
            pass or reached more than once per batch, or empty inputs.
    """
    if isinstance(layers, str):
        layers = [layers]
    submodules = check_layers(module, layers)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: expected a positive integer, got {batch_size!r}")
    target = torch.device(device) if device is not None else module_device(module)
    captured: dict[str, list[Tensor]] = {layer: [] for layer in submodules}

    def make_hook(layer: str):  # noqa: ANN202 - a forward-hook closure
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            tensor = first_tensor(output, layer).detach()
            captured[layer].append(tensor.reshape(tensor.shape[0], -1).float().cpu())

        return hook

    handles = [submodule.register_forward_hook(make_hook(layer)) for layer, submodule in submodules.items()]
    batches = 0
    try:
        with eval_mode(module), torch.no_grad():
            for batch in _batches(inputs, batch_size):
                module(batch.to(target))
                batches += 1
                for layer, parts in captured.items():
                    if len(parts) != batches:
                        how = "never" if len(parts) < batches else "more than once"
                        raise InputError(f"layers: {layer!r} is {how} called in a forward pass; tap another layer")
    finally:
        for handle in handles:
            handle.remove()
    if batches == 0:
        raise InputError("inputs: no batches to record")
    return {layer: torch.cat(parts) for layer, parts in captured.items()}
