"""Scorers without torchmetrics: the few state methods a scorer calls, for one process (or rows replicated on every
process), so an evaluation imports the metric math and not torchmetrics' every domain.

torchmetrics' package import loads torchvision, ``torch._dynamo``, matplotlib and ``scipy.signal``: seconds that a
small evaluation (a CI gate) would spend before its first number. The :class:`~ganprobe.run.evaluator.Evaluator` runs
each metric as :func:`standalone` of its scorer whenever it needs no state sync; the torchmetrics classes stay what
users hold (``FID()``, ``MetricCollection``, Lightning), and run where states must be synced.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from ganprobe.errors import InputError
from ganprobe.scorers.base import FeatureScorer

ScorerType = TypeVar("ScorerType", bound=type[FeatureScorer])


class PlainStates(nn.Module):
    """The part of torchmetrics' ``Metric`` a scorer uses (``add_state``, ``reset``, ``synced``, ``device``,
    ``to``), for states that are never synced: each state a plain attribute, reset to a copy of its default.

    Args:
        sync_on_compute: accepted (the :class:`~ganprobe.run.evaluator.Evaluator` passes ``False`` for rows every
            process holds) and kept; nothing is ever synced here.
        kwargs: refused with an :class:`~ganprobe.errors.InputError` naming them: a standalone scorer takes no other
            torchmetrics option.
    """

    process_group = None
    dist_sync_fn = None
    _is_synced = False

    def __init__(self, sync_on_compute: bool = True, **kwargs: Any) -> None:
        if kwargs:
            raise InputError(f"{type(self).__name__}: unknown options {sorted(kwargs)}")
        super().__init__()
        self.sync_on_compute = sync_on_compute
        self._defaults: dict[str, Tensor | list[Tensor]] = {}
        self._reductions: dict[str, Any] = {}
        self._device = torch.device("cpu")
        compute = self.compute

        @functools.wraps(compute)
        def compute_warning_once(*args: Any, **kwargs: Any) -> Any:
            with self._sample_warnings_once():
                return compute(*args, **kwargs)

        self.compute = compute_warning_once

    def add_state(self, name: str, default: Tensor | list[Tensor], dist_reduce_fx: Any = None, **_: Any) -> None:
        """Declare a state: an empty list (rows appended per update) or a tensor (a running sum)."""
        if not isinstance(default, (Tensor, list)) or (isinstance(default, list) and default):
            raise InputError(f"state {name!r}: default must be a tensor or an empty list")
        self._defaults[name] = default.detach().clone() if isinstance(default, Tensor) else []
        self._reductions[name] = dist_reduce_fx
        setattr(self, name, self._fresh(name))

    def _fresh(self, name: str) -> Tensor | list[Tensor]:
        default = self._defaults[name]
        return default.clone().to(self._device) if isinstance(default, Tensor) else copy.copy(default)

    def reset(self) -> None:
        """Every state back to its default."""
        for name in self._defaults:
            setattr(self, name, self._fresh(name))

    @contextmanager
    def synced(self) -> Iterator[None]:
        """Nothing to sync: every row is here."""
        yield

    @property
    def device(self) -> torch.device:
        """Where the states live (moved by ``.to()``)."""
        return self._device

    def _apply(self, fn: Callable[[Tensor], Tensor], *args: Any, **kwargs: Any) -> PlainStates:
        """``.to()``/``.cpu()``/``.double()``... move the modules (the extractor) and every state and default."""
        super()._apply(fn, *args, **kwargs)
        self._device = fn(torch.zeros(1, device=self._device)).device
        for name, default in self._defaults.items():
            if isinstance(default, Tensor):
                self._defaults[name] = fn(default)
            value = getattr(self, name)
            setattr(self, name, [fn(part) for part in value] if isinstance(value, list) else fn(value))
        return self


@functools.cache
def standalone(scorer: ScorerType) -> ScorerType:
    """``scorer`` on :class:`PlainStates`: the class the :class:`~ganprobe.run.evaluator.Evaluator` instantiates where
    no
    state needs syncing. Same arguments, values and reports as the torchmetrics metric of the same scorer."""
    return type(scorer.__name__, (scorer, PlainStates), {"__module__": scorer.__module__, "__doc__": scorer.__doc__})
