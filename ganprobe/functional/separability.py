"""Per-layer real-vs-fake separability: four protocols, each an accuracy where 0.5 = indistinguishable, 1 = separable.

* ``linear_probe`` (recommended): standardise, logistic regression, mean held-out accuracy over seeded stratified
  k-fold cross-validation, in the full feature space. The scaler is fitted on each training fold only.
* ``knn_loo``: k-NN leave-one-out accuracy in the full feature space (:mod:`ganprobe.functional.knn_loo`).
* ``pca2_svm``: the campus-DCGAN study's protocol, reproduced exactly: PCA to 2 components, RBF SVM with C=1 and
  gamma = 1 / n_features = 0.5, fitted and scored on the same points (*training* accuracy = 1 - the study's error).
* ``pca2_kmeans``: PCA to 2 components, 2-cluster k-means (seeded, 10 restarts as in the study's scikit-learn),
  accuracy under the better of the two cluster-to-label assignments.

Which to trust: the two PCA-2 protocols throw away all but two directions, so they can call a layer
"indistinguishable" when a linear probe separates it easily; and ``pca2_svm`` scores its own training points, so
it is optimistic on small sets. Use ``linear_probe`` (held out) and ``knn_loo`` to decide; keep the PCA-2 numbers
to compare with the study. PCA uses the exact (full) SVD so results are deterministic.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from torch import Tensor

from ganprobe.defaults import SEPARABILITY_PROTOCOLS
from ganprobe.errors import InputError
from ganprobe.functional.knn_loo import knn_loo_accuracy
from ganprobe.functional.neighbours import check_features
from ganprobe.utils.distributed import ProcessGroup

PROTOCOLS = SEPARABILITY_PROTOCOLS


def _pooled(real: Tensor, fake: Tensor) -> tuple[np.ndarray, np.ndarray]:
    check_features(real, "real", min_rows=2)
    check_features(fake, "fake", min_rows=2)
    if real.shape[1] != fake.shape[1]:
        raise InputError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    x = np.concatenate([real.detach().double().cpu().numpy(), fake.detach().double().cpu().numpy()])
    y = np.concatenate([np.zeros(real.shape[0], dtype=np.int64), np.ones(fake.shape[0], dtype=np.int64)])
    return x, y


def _pca2(x: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA  # scikit-learn loads on first use: it costs seconds at import

    if x.shape[1] < 2:
        raise InputError(f"PCA to 2 components needs features of width >= 2, got {x.shape[1]}")
    return PCA(n_components=2, svd_solver="full").fit_transform(x)


def linear_probe_accuracy(real: Tensor, fake: Tensor, folds: int = 5, seed: int = 0, c: float = 1.0) -> float:
    """Held-out accuracy of a standardised logistic-regression probe under seeded stratified k-fold CV.

    Args:
        real, fake: ``(N, D)`` features (at least ``folds`` samples of each).
        folds: number of cross-validation folds.
        seed: shuffling seed of the folds.
        c: inverse L2 regularisation strength of the logistic regression.

    Returns:
        The mean of the per-fold test accuracies, in ``[0, 1]``.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    x, y = _pooled(real, fake)
    if folds < 2:
        raise InputError(f"folds: must be >= 2, got {folds}")
    smallest = int(min(real.shape[0], fake.shape[0]))
    if smallest < folds:
        raise InputError(f"linear_probe with {folds} folds needs >= {folds} real and fake samples, got {smallest}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    for train, test in splitter.split(x, y):
        scaler = StandardScaler().fit(x[train])
        model = LogisticRegression(C=c, max_iter=2000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(scaler.transform(x[train]), y[train])
        scores.append(model.score(scaler.transform(x[test]), y[test]))
    return float(np.mean(scores))


def pca2_svm_accuracy(real: Tensor, fake: Tensor) -> float:
    """The study's protocol: PCA-2, RBF SVM (C=1, gamma=0.5), *training* accuracy on the same points."""
    return _svm_accuracy(*_projected(real, fake))


def _projected(real: Tensor, fake: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Both sets' points on their first two principal components, and their labels (fake = 1)."""
    x, y = _pooled(real, fake)
    return _pca2(x), y


def _svm_accuracy(points: np.ndarray, y: np.ndarray) -> float:
    from sklearn.svm import SVC

    return float(SVC(C=1.0, kernel="rbf", gamma=0.5).fit(points, y).score(points, y))


def pca2_kmeans_accuracy(real: Tensor, fake: Tensor, seed: int = 0) -> float:
    """PCA-2 then 2-cluster k-means (``n_init=10``, seeded); accuracy under the better label assignment."""
    return _kmeans_accuracy(*_projected(real, fake), seed)


def _kmeans_accuracy(points: np.ndarray, y: np.ndarray, seed: int) -> float:
    from sklearn.cluster import KMeans

    clusters = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(points)
    agreement = float(np.mean(clusters == y))
    return max(agreement, 1.0 - agreement)


def separability(
    real: Tensor,
    fake: Tensor,
    protocols: Sequence[str] = PROTOCOLS,
    folds: int = 5,
    seed: int = 0,
    k: int = 1,
    process_group: ProcessGroup | None = None,
) -> dict[str, float]:
    """All requested protocols on one layer's features: ``{protocol: accuracy}``.

    ``process_group`` (every rank passing the same features) shards the ``knn_loo`` protocol's neighbour search over
    the ranks (see :func:`~ganprobe.functional.knn_loo.knn_loo_accuracy`); the scikit-learn protocols run on every
    rank. The result is the same either way.
    """
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise InputError(f"protocols: unknown {unknown}; choose from {list(PROTOCOLS)}")
    projected = functools.cache(lambda: _projected(real, fake))  # one PCA for both PCA-2 protocols
    runners = {
        "linear_probe": lambda: linear_probe_accuracy(real, fake, folds=folds, seed=seed),
        "knn_loo": lambda: float(knn_loo_accuracy(real, fake, k=k, process_group=process_group)),
        "pca2_svm": lambda: _svm_accuracy(*projected()),
        "pca2_kmeans": lambda: _kmeans_accuracy(*projected(), seed),
    }
    return {protocol: runners[protocol]() for protocol in protocols}


def layer_separability(
    real: Mapping[str, Tensor],
    fake: Mapping[str, Tensor],
    protocols: Sequence[str] = PROTOCOLS,
    folds: int = 5,
    seed: int = 0,
    k: int = 1,
    process_group: ProcessGroup | None = None,
) -> dict[str, dict[str, float]]:
    """Separability of every layer: ``{layer: {protocol: accuracy}}`` in the order of ``real``'s layers.

    Args:
        real, fake: ``{layer: (N, D_layer)}`` features with the same layers.
        protocols: any of :data:`PROTOCOLS`.
        folds, seed: cross-validation folds and the seed of folds and k-means.
        k: neighbours of the ``knn_loo`` protocol.
        process_group: shard the ``knn_loo`` searches over a ``torch.distributed`` group (see :func:`separability`).
    """
    if set(real) != set(fake):
        raise InputError(f"real and fake features have different layers: {sorted(real)} vs {sorted(fake)}")
    results = {}
    for layer in real:
        try:
            results[layer] = separability(real[layer], fake[layer], protocols, folds, seed, k, process_group)
        except InputError as exc:
            raise InputError(f"layer {layer!r}: {exc}") from None
    return results


def first_separable_layer(
    results: Mapping[str, Mapping[str, float]], threshold: float = 0.75, protocol: str = "linear_probe"
) -> str | None:
    """The first layer (in order) whose ``protocol`` accuracy is at least ``threshold``, or ``None``.

    This answers the study's question "at which block do fakes become obvious?".
    """
    for layer, scores in results.items():
        if protocol not in scores:
            raise InputError(f"protocol {protocol!r} was not computed for layer {layer!r}")
        if float(scores[protocol]) >= threshold:
            return layer
    return None
