"""Synthesise inputs that a network responds to most: a class/unit output, or a layer's (or channel's) activation.

After the CIFAR-10 discriminator study (``docs/studies.md`` §3): gradient ascent on the input, starting from an
average image (pass ``start=real.mean(0, keepdim=True)``) or from seeded noise, maximising one output unit or the
mean activation of a chosen layer. Small L2 and total-variation penalties keep the image smooth (Simonyan et al.
2014; Mahendran & Vedaldi 2015); pixels are clamped to the network's input range after every step. The raw
(pre-softmax) output is maximised, so the image cannot win by suppressing the other classes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ganprobe.errors import InputError
from ganprobe.probe.activations import check_layers, eval_mode, first_tensor, module_device

L2_WEIGHT = 1e-3
TV_WEIGHT = 1e-3


class _LayerReached(Exception):
    """Raised by a hook once the wanted layer ran, so the rest of the network is not computed."""


def total_variation(images: Tensor) -> Tensor:
    """Mean absolute difference between vertically and horizontally adjacent pixels (0 for flat inputs)."""
    if images.ndim < 4:
        return images.new_zeros(())
    return (images[..., 1:, :] - images[..., :-1, :]).abs().mean() + (
        images[..., :, 1:] - images[..., :, :-1]
    ).abs().mean()


def _initial(
    shape: tuple[int, ...], start: Tensor | None, seed: int, value_range: tuple[float, float], device: torch.device
) -> Tensor:
    low, high = value_range
    if not low < high:
        raise InputError(f"value_range: expected (low, high) with low < high, got {value_range}")
    if not shape or any(not isinstance(size, int) or size < 1 for size in shape):
        raise InputError(
            f"shape: expected positive integer sizes including the batch, e.g. (1, 1, 28, 28), got {shape}"
        )
    if start is not None:
        if not isinstance(start, Tensor) or not start.is_floating_point():
            raise InputError("start: expected a floating-point tensor in value_range")
        try:
            return start.detach().to(device, torch.float32).expand(shape).clone().clamp(low, high)
        except RuntimeError:
            raise InputError(f"start: shape {tuple(start.shape)} cannot be broadcast to shape {shape}") from None
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(shape, generator=generator) * 0.1 * (high - low) / 2 + (low + high) / 2
    return noise.clamp(low, high).to(device)


def _ascend(
    module: nn.Module,
    objective: Callable[[Tensor], Tensor],
    shape: tuple[int, ...],
    steps: int,
    lr: float,
    seed: int,
    start: Tensor | None,
    l2_weight: float,
    tv_weight: float,
    value_range: tuple[float, float],
    device: torch.device | str | None,
) -> Tensor:
    if not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps: expected a positive integer, got {steps!r}")
    if not lr > 0:
        raise InputError(f"lr: expected a positive learning rate, got {lr!r}")
    place = torch.device(device) if device is not None else module_device(module)
    image = _initial(tuple(shape), start, seed, value_range, place).requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=lr)
    low, high = value_range
    with eval_mode(module), torch.enable_grad():
        for _ in range(steps):
            gain = objective(image) - l2_weight * image.pow(2).mean() - tv_weight * total_variation(image)
            # autograd.grad, not backward(): the network's parameter gradients must stay untouched.
            (grad,) = torch.autograd.grad(-gain, [image])
            image.grad = grad
            optimizer.step()
            with torch.no_grad():
                image.clamp_(low, high)
    return image.detach()


def _unit(outputs: object, index: int, head: int | None) -> Tensor:
    if isinstance(outputs, (tuple, list)):
        if head is None:
            raise InputError(f"head: the module returns {len(outputs)} outputs; pass head=<index> to pick one")
        outputs = outputs[head]
    if not isinstance(outputs, Tensor) or outputs.ndim == 0:
        raise InputError("module: expected a tensor output with a batch dimension")
    flat = outputs.reshape(outputs.shape[0], -1) if outputs.ndim <= 2 else outputs.flatten(2).mean(dim=2)
    if not 0 <= index < flat.shape[1]:
        raise InputError(f"index: the module has {flat.shape[1]} output units, got index {index}")
    return flat[:, index]


def maximize_output(
    module: nn.Module,
    index: int,
    shape: tuple[int, ...],
    steps: int = 200,
    lr: float = 0.05,
    seed: int = 0,
    *,
    start: Tensor | None = None,
    l2_weight: float = L2_WEIGHT,
    tv_weight: float = TV_WEIGHT,
    value_range: tuple[float, float] = (-1.0, 1.0),
    head: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Find an input that maximises output unit ``index`` (a class logit, or a discriminator's "real" logit).

    Objective (maximised with Adam on the pixels): ``mean_n out[n, index] - l2_weight * mean(x^2) -
    tv_weight * TV(x)``; pixels clamped to ``value_range`` after each step. Channel maps ``(N, C, H, W)`` outputs
    are averaged over positions first.

    Args:
        module: a classifier or discriminator; runs in eval mode, its modes and parameter gradients are unchanged.
        index: the output unit (class) to maximise; ``0`` for a single real/fake logit.
        shape: the input shape including the batch, e.g. ``(1, 1, 28, 28)`` (a batch is several restarts).
        steps: Adam steps.
        lr: Adam learning rate, in image units.
        seed: seed of the noise start when ``start`` is not given.
        start: the starting image(s), broadcast to ``shape`` (the study started from the average real image).
        l2_weight, tv_weight: weights of the L2 and total-variation penalties (TV only for 4-D inputs).
        value_range: the module's input range.
        head: which output to use when the module returns a tuple.
        device: where to run; default: the module's device.

    Returns:
        The synthesised inputs, ``shape``, detached, in ``value_range``.
    """
    return _ascend(
        module,
        lambda image: _unit(module(image), index, head).mean(),
        shape,
        steps,
        lr,
        seed,
        start,
        l2_weight,
        tv_weight,
        value_range,
        device,
    )


def layer_activation(module: nn.Module, layer: str, inputs: Tensor, channel: int | None = None) -> Tensor:
    """Per-sample mean activation of ``layer`` (or of one ``channel`` of it) for ``inputs``: shape ``(N,)``.

    Differentiable with respect to ``inputs``; the forward pass stops once ``layer`` has run. The caller chooses
    the mode (use :func:`~ganprobe.probe.activations.eval_mode`).
    """
    submodule = check_layers(module, [layer], "layer")[layer]
    captured: list[Tensor] = []

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        captured.append(first_tensor(output, layer))
        raise _LayerReached

    handle = submodule.register_forward_hook(hook)
    try:
        module(inputs)
    except _LayerReached:
        pass
    finally:
        handle.remove()
    if not captured:
        raise InputError(f"layer: {layer!r} is never called in the forward pass; tap another layer")
    activation = captured[0]
    if channel is not None:
        if activation.ndim < 2 or not 0 <= channel < activation.shape[1]:
            raise InputError(f"channel: layer {layer!r} has output shape {tuple(activation.shape)}, got {channel}")
        activation = activation[:, channel]
    return activation.reshape(activation.shape[0], -1).mean(dim=1)


def maximize_layer(
    module: nn.Module,
    layer: str,
    shape: tuple[int, ...],
    channel: int | None = None,
    steps: int = 200,
    lr: float = 0.05,
    seed: int = 0,
    *,
    start: Tensor | None = None,
    l2_weight: float = L2_WEIGHT,
    tv_weight: float = TV_WEIGHT,
    value_range: tuple[float, float] = (-1.0, 1.0),
    device: torch.device | str | None = None,
) -> Tensor:
    """Find an input that maximises the mean activation of ``layer`` (or of one of its channels).

    Same optimisation as :func:`maximize_output` with :func:`layer_activation` as the objective.

    Args:
        module: the network; ``layer`` is a dotted name from ``module.named_modules()``.
        layer: the submodule whose output is maximised.
        shape: the input shape including the batch, e.g. ``(1, 1, 28, 28)``.
        channel: maximise only this channel (dimension 1) of the layer's output; ``None`` maximises all.
        steps, lr, seed, start, l2_weight, tv_weight, value_range, device: as in :func:`maximize_output`.

    Returns:
        The synthesised inputs, ``shape``, detached, in ``value_range``.

    Raises:
        InputError: an unknown layer (the message lists the available names) or channel.
    """
    check_layers(module, [layer], "layer")
    return _ascend(
        module,
        lambda image: layer_activation(module, layer, image, channel).mean(),
        shape,
        steps,
        lr,
        seed,
        start,
        l2_weight,
        tv_weight,
        value_range,
        device,
    )
