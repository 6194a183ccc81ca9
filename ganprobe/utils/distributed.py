"""Row sharding over ``torch.distributed`` processes: who computes which rows, and gathering the rows back.

The k-NN metrics (KNN-LOO accuracy, precision/recall, density/coverage) hold every feature row on every rank once
torchmetrics has synced their states. Instead of each rank repeating the whole search, rank ``r`` of ``W`` computes
the contiguous shard :func:`shard_range` ``(N, r, W)`` of the query rows against all points, and the per-row
results are all-gathered back in global row order (:func:`gather_rows`), so every rank returns the same exact
result as one process would. Shards differ by at most one row; with more ranks than rows some shards are empty.

Collectives go through ``torch.distributed`` with padding to the largest shard, so they work with gloo (CPU) and
nccl (GPU tensors) alike; shard sizes follow from ``N`` and ``W``, so no sizes are exchanged (no host sync).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ganprobe.errors import GanprobeError, InputError, UsageError, error_from_report, problem_report

# torch.distributed's process-group type; ``None`` below always means "not sharded", never "the default group".
ProcessGroup = Any


def is_distributed() -> bool:
    """Whether ``torch.distributed`` is available and a default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def rank_and_world_size(process_group: ProcessGroup | None = None) -> tuple[int, int]:
    """This process's rank in ``process_group`` (default: the world) and the group's size; ``(0, 1)`` outside DDP."""
    if not is_distributed():
        return 0, 1
    group = process_group if process_group is not None else dist.group.WORLD
    return dist.get_rank(group), dist.get_world_size(group)


def shard_sizes(num_rows: int, world_size: int) -> list[int]:
    """Rows per rank when ``num_rows`` rows are split into ``world_size`` contiguous shards (the first
    ``num_rows % world_size`` ranks get one more row; ranks beyond ``num_rows`` get none)."""
    if num_rows < 0 or world_size < 1:
        raise InputError(f"shard_sizes: needs num_rows >= 0 and world_size >= 1, got {num_rows} and {world_size}")
    base, extra = divmod(num_rows, world_size)
    return [base + (rank < extra) for rank in range(world_size)]


def shard_range(num_rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """The rows ``[start, stop)`` that ``rank`` of ``world_size`` computes; shards tile ``[0, num_rows)`` in order.

    Example:
        >>> [shard_range(5, rank, 3) for rank in range(3)]
        [(0, 2), (2, 4), (4, 5)]
    """
    if not 0 <= rank < world_size:
        raise InputError(f"rank: must be in [0, {world_size}), got {rank}")
    sizes = shard_sizes(num_rows, world_size)
    start = sum(sizes[:rank])
    return start, start + sizes[rank]


def check_rows(rows: tuple[int, int] | None, num_rows: int) -> tuple[int, int]:
    """Validate an optional ``rows=(start, stop)`` argument against ``num_rows`` rows; ``None`` means all rows."""
    if rows is None:
        return 0, num_rows
    if (
        not isinstance(rows, (tuple, list))
        or len(rows) != 2
        or not all(isinstance(value, int) and not isinstance(value, bool) for value in rows)
        or not 0 <= rows[0] <= rows[1] <= num_rows
    ):
        raise InputError(f"rows: expected (start, stop) with 0 <= start <= stop <= {num_rows}, got {rows!r}")
    return int(rows[0]), int(rows[1])


def _wire(tensor: Tensor) -> Tensor:
    # gloo has no bool collectives; uint8 carries the same bits.
    return tensor.to(torch.uint8) if tensor.dtype == torch.bool else tensor


def gather_rows(local: Tensor, sizes: list[int], process_group: ProcessGroup | None = None) -> Tensor:
    """All-gather each rank's rows and concatenate them in rank order (every rank gets the same tensor).

    Args:
        local: this rank's ``(sizes[rank], ...)`` rows; trailing dimensions, dtype and device agree across ranks.
        sizes: rows held by each rank (e.g. :func:`shard_sizes`), known to every rank, so nothing else is exchanged.
        process_group: the group (default: the world).

    Returns:
        ``(sum(sizes), ...)``: rank 0's rows, then rank 1's, ...
    """
    group = process_group if process_group is not None else dist.group.WORLD
    rank = dist.get_rank(group)
    if len(sizes) != dist.get_world_size(group) or local.shape[0] != sizes[rank]:
        raise InputError(f"gather_rows: rank {rank} holds {local.shape[0]} rows, sizes say {sizes}")
    wire = _wire(local)
    largest = max(max(sizes), 1)
    padded = wire.new_zeros((largest, *wire.shape[1:]))
    padded[: wire.shape[0]] = wire
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded, group=group)
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)]).to(local.dtype)


def all_gather_variable(local: Tensor, process_group: ProcessGroup | None = None) -> Tensor:
    """All-gather tensors whose first dimension differs between ranks, concatenated in rank order.

    Exchanges the row counts first (one tiny collective and a host sync), then calls :func:`gather_rows`.
    Outside DDP it returns ``local`` unchanged.
    """
    if not is_distributed():
        return local
    group = process_group if process_group is not None else dist.group.WORLD
    count = torch.tensor([local.shape[0]], dtype=torch.long, device=local.device)
    counts = [torch.empty_like(count) for _ in range(dist.get_world_size(group))]
    dist.all_gather(counts, count, group=group)
    return gather_rows(local, [int(value) for value in torch.cat(counts).tolist()], group)


def all_reduce_any(local: Tensor, process_group: ProcessGroup | None = None) -> Tensor:
    """Element-wise logical OR of a bool tensor over the ranks (every rank gets the result)."""
    group = process_group if process_group is not None else dist.group.WORLD
    wire = local.to(torch.uint8)
    dist.all_reduce(wire, op=dist.ReduceOp.MAX, group=group)
    return wire.bool()


def all_reduce_sum(local: Tensor, process_group: ProcessGroup | None = None) -> Tensor:
    """Element-wise sum over the ranks (exact for integer tensors); returns a new tensor."""
    group = process_group if process_group is not None else dist.group.WORLD
    total = local.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
    return total


def metric_process_group(metric: Any) -> ProcessGroup | None:
    """The group to shard a torchmetrics metric's computation over, or ``None`` to compute locally.

    Sharding is only valid while every rank holds all rows: while the metric's states are synced (inside
    ``compute()`` under DDP), or when the metric is marked ``replicated`` (every rank was fed every row, as the
    :class:`~ganprobe.run.evaluator.Evaluator` does under a process group; its states are then never synced).
    Unsynced and not replicated (``sync_on_compute=False``) each rank computes on its own rows alone.
    """
    if not is_distributed():
        return None
    if not getattr(metric, "_is_synced", False) and not getattr(metric, "replicated", False):
        return None
    group = metric.process_group if metric.process_group is not None else dist.group.WORLD
    return group if dist.get_world_size(group) > 1 else None


def all_gather_json(value: Any, device: torch.device | str = "cpu", process_group: ProcessGroup | None = None) -> list:
    """Every rank's JSON-serialisable ``value``, in rank order (sent as UTF-8 bytes: nothing is unpickled).

    ``device``: where the byte tensors live (a CUDA device for NCCL groups, the CPU for gloo).
    """
    data = torch.tensor(list(json.dumps(value).encode()), dtype=torch.uint8, device=device)
    gathered = all_gather_variable(data, process_group)
    sizes = all_gather_variable(torch.tensor([data.numel()], dtype=torch.long, device=device), process_group)
    values, offset = [], 0
    for size in sizes.tolist():
        values.append(json.loads(bytes(gathered[offset : offset + size].cpu().tolist()).decode()))
        offset += size
    return values


def collective_device(process_group: ProcessGroup | None = None) -> torch.device:
    """The device collectives of ``process_group`` need their tensors on: this rank's CUDA device for NCCL, else
    the CPU."""
    group = process_group if process_group is not None else dist.group.WORLD
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def start_from_environment(device: str | None) -> tuple[bool, str | None]:
    """Join the process group ``torchrun`` describes in the environment, if any: ``(started, device)``.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) and with no process group yet, initialise the default
    group (NCCL for a CUDA ``device``, else gloo) and return ``True`` with the device this rank uses: a bare
    ``"cuda"`` becomes ``"cuda:<LOCAL_RANK>"``. Otherwise ``(False, device)`` unchanged.

    Raises:
        InputError: ``WORLD_SIZE``, ``RANK`` or ``LOCAL_RANK`` is not an integer.
    """
    if is_distributed() or not dist.is_available():
        return False, device
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise InputError("WORLD_SIZE and LOCAL_RANK (set by torchrun) must be integers") from None
    if world_size <= 1:
        return False, device
    cuda = device is not None and str(device).startswith("cuda")
    if cuda and str(device) == "cuda":
        device = f"cuda:{local_rank}"
    if cuda:
        torch.cuda.set_device(torch.device(str(device)))
    dist.init_process_group("nccl" if cuda else "gloo")
    return True, device


def raise_first_problem(problem: list[Any] | None, process_group: ProcessGroup | None = None) -> None:
    """Meet the other ranks and raise, on every rank, the first rank's problem (``[error class name, message]`` or
    ``None`` when this rank met none), so that no rank goes on to wait for one that stopped."""
    reports = all_gather_json(problem, collective_device(process_group), process_group)
    for report in reports:
        if report is not None:
            raise error_from_report(report, InputError)


@contextlib.contextmanager
def errors_together(process_group: ProcessGroup | None = None) -> Iterator[None]:
    """Run a block on every rank and meet after it: an input error (:class:`~ganprobe.errors.GanprobeError` or an
    ``OSError``) on any rank is raised on every rank, the lowest rank's first. Outside DDP the block runs as is.

    Example (every rank lists its folder; a rank that cannot makes every rank stop with its message)::

        with errors_together():
            listing = list_folder(folder)
    """
    if not is_distributed():
        yield
        return
    problem = None
    try:
        yield
    except (GanprobeError, OSError) as exc:
        problem = problem_report(exc) if isinstance(exc, GanprobeError) else ["InputError", str(exc)]
    raise_first_problem(problem, process_group)


def check_same_everywhere(
    settings: Mapping[str, Any], what: str = "every process", process_group: ProcessGroup | None = None
) -> None:
    """Check that every rank holds the same JSON-serialisable ``settings`` (``{name: value}``, compared in order).

    One digest per rank is exchanged; only when they differ are the settings themselves gathered, to name the first
    that differs.

    Raises:
        UsageError: on every rank: ``<name>: differs between the processes (rank 0: ..., rank 1: ...); <what>``.
    """
    if not is_distributed():
        return
    device = collective_device(process_group)
    digest = hashlib.sha256(json.dumps(list(settings.items())).encode()).hexdigest()
    if len(set(all_gather_json(digest, device, process_group))) == 1:
        return
    views = all_gather_json(list(settings.items()), device, process_group)
    names = list(dict.fromkeys(name for view in views for name, _ in view))
    tables = [dict(view) for view in views]
    for name in names:
        values = [table.get(name) for table in tables]
        if any(value != values[0] for value in values):
            shown = ", ".join(f"rank {rank}: {json.dumps(value)}" for rank, value in enumerate(values))
            raise UsageError(f"{name}: differs between the processes ({shown}); {what}")


def _state_shape(value: Any) -> list[Any] | None:
    """``[shape, dtype]`` of a state (a list state: its rows' trailing shape), ``None`` when it holds nothing."""
    if isinstance(value, list):
        return [list(value[0].shape[1:]), str(value[0].dtype).removeprefix("torch.")] if value else None
    if isinstance(value, Tensor):
        return [list(value.shape), str(value.dtype).removeprefix("torch.")] if value.numel() else None
    return None


def fill_empty_states(metric: Any, process_group: ProcessGroup | None = None) -> None:
    """Give a torchmetrics ``metric``'s empty states (no rows on this rank) the shape and dtype of the first rank
    holding rows: a zero-row block for a list state, zeros for a tensor state (a lazily sized sum). One small
    collective; every rank calls it before syncing, so that a rank fed no rows of a set gathers like the others."""
    if not is_distributed():
        return
    mine = {name: _state_shape(getattr(metric, name)) for name in metric._reductions}
    views = all_gather_json(mine, collective_device(process_group), process_group)
    for name, shape in mine.items():
        found = next((view[name] for view in views if view.get(name) is not None), None)
        if shape is not None or found is None:
            continue
        size, dtype = found[0], getattr(torch, found[1])
        value = getattr(metric, name)
        if isinstance(value, list):  # gathered with the others' rows; zero rows add nothing to the concatenation
            setattr(metric, name, [torch.zeros((0, *size), dtype=dtype, device=metric.device)])
        else:  # a lazily sized sum (FID): zeros add nothing
            setattr(metric, name, torch.zeros(size, dtype=dtype, device=metric.device))
