"""k-nearest-neighbour leave-one-out two-sample accuracy (Lopez-Paz & Oquab 2017; Xu et al. 2018).

Pool ``real`` (label 0) and ``fake`` (label 1), classify every sample by the majority label of its ``k`` nearest
*other* samples, and report the fraction classified correctly. With equally many real and fake samples, 0.5 means
the two sets are indistinguishable in this feature space; 1.0 means every sample's neighbours share its label
(fully separated); well below 0.5 happens when fakes sit on top of reals (memorisation).

Under ``torch.distributed`` pass ``process_group=`` (every rank holding the same ``real`` and ``fake``): each rank
searches the neighbours of its shard of the pooled rows and scores its share of the label permutations, and the
results are gathered, so every rank returns exactly the single-process result with about ``1 / world_size`` of
the work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES, check_features, knn
from ganprobe.utils.distributed import ProcessGroup, all_reduce_sum, rank_and_world_size

# Label permutations are scored this many at a time (memory ~ batch * N * k bytes).
_PERMUTATION_BATCH = 64


@dataclass(frozen=True)
class KNNLOOResult:
    """Everything the k-NN leave-one-out test measures.

    Attributes:
        accuracy: fraction of all samples classified correctly (0.5 = indistinguishable when balanced).
        real_accuracy: fraction of real samples whose neighbours vote "real" (low: reals sit among fakes, i.e.
            the generator covers them; high: some real modes have no fakes nearby -> mode dropping).
        fake_accuracy: fraction of fake samples whose neighbours vote "fake" (high: fakes lie off the real
            manifold -> poor fidelity).
        balanced_accuracy: mean of the two, whose chance level is 0.5 whatever the set sizes.
        p_value: permutation-test p-value of "real and fake come from one distribution" (one-sided: the
            probability of an accuracy at least this high when labels are shuffled); ``nan`` if not computed.
        num_real, num_fake, k: the inputs' sizes and the number of neighbours.
    """

    accuracy: float
    real_accuracy: float
    fake_accuracy: float
    balanced_accuracy: float
    p_value: float
    num_real: int
    num_fake: int
    k: int


def _check_inputs(real: Tensor, fake: Tensor, k: int) -> None:
    check_features(real, "real", min_rows=1)
    check_features(fake, "fake", min_rows=1)
    if real.shape[1] != fake.shape[1]:
        raise InputError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
        raise InputError(f"k: must be a positive odd integer (so the two-class vote cannot tie), got {k!r}")
    if real.shape[0] + fake.shape[0] - 1 < k:
        raise InputError(f"k={k} needs at least {k + 1} samples in total, got {real.shape[0] + fake.shape[0]}")


def knn_loo_neighbours(
    real: Tensor,
    fake: Tensor,
    k: int = 1,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    rows: tuple[int, int] | None = None,
    process_group: ProcessGroup | None = None,
) -> tuple[Tensor, Tensor]:
    """Labels and leave-one-out neighbours of the pooled ``[real, fake]`` samples.

    Args:
        real, fake: ``(N_r, D)`` and ``(N_f, D)`` features; k, block_bytes: see :func:`knn_loo_accuracy`.
        rows: search only pooled rows ``[start, stop)`` (one shard); see :func:`~ganprobe.functional.neighbours.knn`.
        process_group: shard the search over a ``torch.distributed`` group and gather all rows (see ``knn``).

    Returns:
        ``(labels, neighbour_indices)``: labels ``(N,)`` int64 (0 real, 1 fake) of all pooled samples, and
        ``(R, k)`` int64 indices into the pooled set for the searched rows (``R = N`` unless ``rows`` is given).
    """
    _check_inputs(real, fake, k)
    points = torch.cat([real, fake.to(real.device, real.dtype)])
    labels = torch.cat([torch.zeros(real.shape[0], dtype=torch.long), torch.ones(fake.shape[0], dtype=torch.long)]).to(
        points.device
    )
    _, neighbours = knn(points, points, k, True, block_bytes, rows=rows, process_group=process_group)
    return labels, neighbours


def _correct(labels: Tensor, neighbours: Tensor) -> Tensor:
    """Majority vote of the neighbours' labels; ``labels`` may carry leading batch dims of permutations."""
    k = neighbours.shape[1]
    fake_votes = labels[..., neighbours].sum(dim=-1)  # (..., N)
    return (fake_votes * 2 > k).long() == labels


def knn_loo_accuracy(
    real: Tensor,
    fake: Tensor,
    k: int = 1,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: ProcessGroup | None = None,
) -> Tensor:
    """k-NN leave-one-out accuracy of real-vs-fake classification over the pooled samples.

    Args:
        real: ``(N_r, D)`` features of real images.
        fake: ``(N_f, D)`` features of generated images.
        k: odd number of neighbours (majority vote).
        block_bytes: memory budget of one block of the distance matrix.
        process_group: a ``torch.distributed`` group to shard the search over (every rank passes the same
            features and gets the same result); ``None`` computes everything in this process.

    Returns:
        A scalar float64 tensor in ``[0, 1]``: 0.5 = indistinguishable (equal set sizes), 1.0 = fully separated.

    Example:
        >>> import torch
        >>> real, fake = torch.randn(50, 8), torch.randn(50, 8) + 10
        >>> float(knn_loo_accuracy(real, fake))
        1.0
    """
    labels, neighbours = knn_loo_neighbours(real, fake, k, block_bytes, process_group=process_group)
    return loo_accuracy(labels, neighbours)


def knn_loo_details(
    real: Tensor,
    fake: Tensor,
    k: int = 1,
    num_permutations: int = 1000,
    seed: int = 0,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: ProcessGroup | None = None,
) -> KNNLOOResult:
    """k-NN leave-one-out accuracy with per-class accuracies and a permutation-test p-value.

    Under a label permutation every point keeps its neighbours (distances do not depend on labels), so each of the
    ``num_permutations`` shuffles costs only a gather and a vote, not a new search.

    Args:
        real, fake, k, block_bytes, process_group: as in :func:`knn_loo_accuracy`; with a group, the permutation
            batches are also split over the ranks (the same shuffles as in one process, so the same p-value).
        num_permutations: label shuffles for the p-value (0 skips it; the p-value is then ``nan``).
        seed: seed of the shuffles.

    Returns:
        A :class:`KNNLOOResult`. The p-value is ``(1 + #{shuffled accuracy >= observed}) / (1 + num_permutations)``.
    """
    if num_permutations < 0:
        raise InputError(f"num_permutations: must be >= 0, got {num_permutations}")
    labels, neighbours = knn_loo_neighbours(real, fake, k, block_bytes, process_group=process_group)
    return knn_loo_result(labels, neighbours, real.shape[0], num_permutations, seed, process_group)


def loo_accuracy(labels: Tensor, neighbours: Tensor) -> Tensor:
    """The leave-one-out accuracy (scalar float64) of the vote of ``neighbours`` (from :func:`knn_loo_neighbours`)."""
    return _correct(labels, neighbours).double().mean()


def knn_loo_result(
    labels: Tensor,
    neighbours: Tensor,
    n_real: int,
    num_permutations: int = 1000,
    seed: int = 0,
    process_group: ProcessGroup | None = None,
) -> KNNLOOResult:
    """:func:`knn_loo_details` from a neighbour search already made (``knn_loo_neighbours``), so a report and
    ``compute()`` share one search.

    Args:
        labels, neighbours: :func:`knn_loo_neighbours`' result over all pooled rows (the real rows first).
        n_real: how many of the pooled rows are real.
        num_permutations, seed, process_group: as in :func:`knn_loo_details`.
    """
    if num_permutations < 0:
        raise InputError(f"num_permutations: must be >= 0, got {num_permutations}")
    correct = _correct(labels, neighbours).double()
    accuracy = correct.mean()
    real_accuracy = correct[:n_real].mean()
    fake_accuracy = correct[n_real:].mean()
    p_value = float("nan")
    if num_permutations:
        rank, world_size = rank_and_world_size(process_group) if process_group is not None else (0, 1)
        generator = torch.Generator().manual_seed(seed)
        exceed = torch.zeros((), dtype=torch.long, device=labels.device)
        for batch_index, start in enumerate(range(0, num_permutations, _PERMUTATION_BATCH)):
            batch = min(_PERMUTATION_BATCH, num_permutations - start)
            # Every rank draws every batch (cheap) so the generator stream matches one process; each rank scores
            # only its own batches (the argsort and the vote are the cost).
            noise = torch.rand(batch, labels.shape[0], generator=generator)
            if batch_index % world_size != rank:
                continue
            shuffled = labels[noise.argsort(dim=1).to(labels.device)]
            shuffled_accuracy = _correct(shuffled, neighbours).double().mean(dim=1)
            exceed += (shuffled_accuracy >= accuracy - 1e-12).sum()
        if world_size > 1:
            exceed = all_reduce_sum(exceed, process_group)
        p_value = (1 + int(exceed)) / (1 + num_permutations)
    return KNNLOOResult(
        accuracy=float(accuracy),
        real_accuracy=float(real_accuracy),
        fake_accuracy=float(fake_accuracy),
        balanced_accuracy=float((real_accuracy + fake_accuracy) / 2),
        p_value=p_value,
        num_real=n_real,
        num_fake=labels.shape[0] - n_real,
        k=neighbours.shape[1],
    )
