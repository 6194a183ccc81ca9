r"""Linear probes on extractor features: the Classification Accuracy Score, and a per-sample "how fake" probability.

The probe is L2-regularised logistic regression on standardised features (each feature centred and scaled by the
training set's mean and standard deviation; a constant feature is left unscaled, as scikit-learn's
``StandardScaler`` does), fitted in float64 by full-batch L-BFGS with a strong-Wolfe line search, so it is
deterministic for given inputs (and thread count). It minimises scikit-learn's objective

.. math:: C \sum_i \ell(x_i, y_i) + \tfrac{1}{2} \lVert W \rVert^2

(intercepts not penalised): with three or more classes ``\ell`` is the softmax cross-entropy over one weight column
per class, with two classes the logistic loss of one weight vector, exactly as
``sklearn.linear_model.LogisticRegression(C=C)``, whose optimum it reaches (the loss is strictly convex in ``W``).

**Classification Accuracy Score** (Ravuri & Vinyals 2019, "Classification Accuracy Score for Conditional Generative
Models", NeurIPS): train a classifier on the fakes with the labels they were generated for, test it on held-out
reals. Here the classifier is the probe above, and the same probe trained on the other reals is reported beside
it: CAS close to that real-trained accuracy means the fakes carry the class information of the reals; CAS at the
chance level means their labels do not match their content. The reals are split per class (stratified, seeded).

**How fake is each sample**: a real-vs-fake probe fitted on ``folds - 1`` folds of the pooled samples gives the
probability "fake" of each sample of the held-out fold (every sample is scored by a probe that never saw it). The
held-out accuracy is the protocol of :func:`~ganprobe.functional.separability.linear_probe_accuracy` (stratified
folds, scaler fitted on the training folds, the same ``C``), which reports only the accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.class_distribution import check_labelled_pair, check_labels
from ganprobe.functional.neighbours import check_feature_pair, check_features


@dataclass(frozen=True)
class LinearProbe:
    """A fitted probe: ``predict_proba(x)`` is the class probability of standardised ``x``.

    Attributes:
        mean, scale: ``(D,)`` the training set's feature means and standard deviations (1 where constant).
        weight: ``(D, C)`` float64 (``C = 1`` for a two-class probe: the logit of ``classes[1]``).
        bias: ``(C,)`` float64.
        classes: ``(K,)`` int64, the class index of each probability column.
        iterations: L-BFGS function evaluations used.
    """

    mean: Tensor
    scale: Tensor
    weight: Tensor
    bias: Tensor
    classes: Tensor
    iterations: int

    def predict_proba(self, features: Tensor) -> Tensor:
        """``(N, K)`` float64 class probabilities, columns in the order of :attr:`classes`."""
        scores = ((features.double() - self.mean) / self.scale) @ self.weight + self.bias
        if self.classes.shape[0] == 1:
            return torch.ones(features.shape[0], 1, dtype=torch.float64, device=features.device)
        if self.weight.shape[1] == 1:
            positive = torch.sigmoid(scores[:, 0])
            return torch.stack([1 - positive, positive], dim=1)
        return torch.softmax(scores, dim=1)

    def predict(self, features: Tensor) -> Tensor:
        """``(N,)`` int64 predicted class indices (ties: the lower column)."""
        return self.classes.to(features.device)[self.predict_proba(features).argmax(dim=1)]


def _standardise(features: Tensor) -> tuple[Tensor, Tensor]:
    x = features.double()
    mean = x.mean(dim=0)
    scale = x.std(dim=0, correction=0)
    return mean, torch.where(scale > 0, scale, torch.ones_like(scale))


def fit_linear_probe(
    features: Tensor, labels: Tensor, c: float = 1.0, max_iter: int = 1000, tolerance: float = 1e-6
) -> LinearProbe:
    """Fit the L2-regularised logistic-regression probe (see the module docstring).

    Args:
        features: ``(N, D)`` training features.
        labels: ``(N,)`` class indices; the probe predicts only the classes present.
        c: inverse regularisation strength (scikit-learn's ``C``).
        max_iter: L-BFGS iterations at most.
        tolerance: stop when the gradient's largest entry falls below this (on the objective divided by ``C N``).
            The default 1e-6 puts the probabilities within about 1e-4 of scikit-learn's fully converged optimum
            (``load_digits``, 10 classes) in a fraction of the evaluations: nearly separable features (MNIST
            ``lenet-mnist`` features) take ~100 evaluations at 1e-6 and ~1,900 at 1e-10.

    Returns:
        A :class:`LinearProbe`.

    Raises:
        InputError: bad features or labels, mismatched lengths, ``c <= 0``.
    """
    check_features(features, "features")
    index = check_labels(labels, "labels")
    if index.shape[0] != features.shape[0]:
        raise InputError(f"labels: {index.shape[0]} labels for {features.shape[0]} feature rows")
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 0:
        raise InputError(f"c: expected a number > 0, got {c!r}")
    classes, targets = torch.unique(index, return_inverse=True)
    mean, scale = _standardise(features)
    x = (features.double() - mean) / scale
    targets = targets.to(x.device)
    columns = 1 if classes.shape[0] <= 2 else classes.shape[0]
    weight = torch.zeros(x.shape[1], columns, dtype=torch.float64, device=x.device, requires_grad=True)
    bias = torch.zeros(columns, dtype=torch.float64, device=x.device, requires_grad=True)
    if classes.shape[0] == 1:
        return LinearProbe(mean, scale, weight.detach(), bias.detach(), classes, 0)
    penalty = 1.0 / (2.0 * float(c) * x.shape[0])  # the objective divided by C N: same optimum, better scaled

    def objective() -> Tensor:
        scores = x @ weight + bias
        if columns == 1:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(scores[:, 0], targets.double())
        else:
            loss = torch.nn.functional.cross_entropy(scores, targets)
        return loss + penalty * weight.square().sum()

    optimiser = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tolerance,
        tolerance_change=1e-15,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimiser.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    optimiser.step(closure)
    evaluations = int(optimiser.state[weight].get("func_evals", 0))
    return LinearProbe(mean, scale, weight.detach(), bias.detach(), classes.to(x.device), evaluations)


def _stratified_split(labels: Tensor, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``(train rows, test rows)``: ``round(fraction * n_c)`` rows of each class to the test side, seeded."""
    train, test = [], []
    for value in torch.unique(labels).tolist():
        rows = torch.nonzero(labels == value).flatten()
        rows = rows[torch.randperm(rows.shape[0], generator=generator)]
        cut = int(round(fraction * rows.shape[0]))
        test.append(rows[:cut])
        train.append(rows[cut:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


@dataclass(frozen=True)
class CASResult:
    """Classification Accuracy Score beside the same probe trained on reals.

    Attributes:
        cas: accuracy on the held-out reals of the probe trained on the fakes and their labels.
        real_accuracy: accuracy on the same held-out reals of the probe trained on the other reals.
        chance: the share of the most common class among the held-out reals (what a constant answer scores).
        num_fake_train, num_real_train, num_test: the set sizes.
    """

    cas: float
    real_accuracy: float
    chance: float
    num_fake_train: int
    num_real_train: int
    num_test: int


def classification_accuracy_score(
    real: Tensor,
    real_labels: Tensor,
    fake: Tensor,
    fake_labels: Tensor,
    test_fraction: float = 0.5,
    seed: int = 0,
    c: float = 1.0,
) -> CASResult:
    """CAS (Ravuri & Vinyals 2019) with a linear probe, and the real-trained probe's accuracy on the same test set.

    Args:
        real, real_labels: ``(N, D)`` real features and their ``(N,)`` classes.
        fake, fake_labels: ``(M, D)`` fake features and the classes they were generated for.
        test_fraction: share of each real class held out as the test set (the rest trains the real probe).
        seed: seed of the split.
        c: the probes' inverse regularisation strength.

    Returns:
        A :class:`CASResult`.

    Raises:
        InputError: bad features or labels, mismatched widths or lengths, ``test_fraction`` outside ``(0, 1)``, or
            a split that leaves no real to train or test on.
    """
    real_index, fake_index = check_labelled_pair(real, fake, real_labels, fake_labels, min_real=2)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise InputError(f"test_fraction: expected a share in (0, 1), got {test_fraction!r}")
    train, test = _stratified_split(real_index, float(test_fraction), torch.Generator().manual_seed(seed))
    if not train.numel() or not test.numel():
        raise InputError(
            f"test_fraction={test_fraction} leaves {train.numel()} reals to train and {test.numel()} to test"
        )
    test_labels = real_index[test]
    fake_probe = fit_linear_probe(fake, fake_index, c)
    real_probe = fit_linear_probe(real[train.to(real.device)], real_index[train], c)
    test_rows = real[test.to(real.device)]
    cas = float((fake_probe.predict(test_rows).cpu() == test_labels).double().mean())
    real_accuracy = float((real_probe.predict(test_rows).cpu() == test_labels).double().mean())
    chance = float(torch.bincount(test_labels).max()) / test_labels.shape[0]
    return CASResult(cas, real_accuracy, chance, fake.shape[0], int(train.numel()), int(test.numel()))


@dataclass(frozen=True)
class FakeProbability:
    """Held-out probability "fake" of every sample from a real-vs-fake probe.

    Attributes:
        real: ``(N,)`` float64 probability "fake" of each real (low is right).
        fake: ``(M,)`` float64 probability "fake" of each fake (high: obviously fake).
        accuracy: held-out accuracy of the probes (threshold 0.5) over all samples; 0.5: indistinguishable.
        folds: the number of folds.
    """

    real: Tensor
    fake: Tensor
    accuracy: float
    folds: int

    def most_fake(self, count: int) -> Tensor:
        """Indices of the ``count`` fakes with the highest probability "fake", most obvious first."""
        return torch.sort(-self.fake, stable=True).indices[: max(0, count)]

    def caught_unlike(self, other: FakeProbability) -> Tensor:
        """Indices of the fakes this probe calls fake (probability > 0.5) that ``other`` (a probe on the same fakes
        in another feature space) does not, most confidently caught first."""
        if other.fake.shape != self.fake.shape:
            raise InputError(f"other: probabilities of {other.fake.shape[0]} fakes, expected {self.fake.shape[0]}")
        caught = torch.nonzero((self.fake > 0.5) & (other.fake.to(self.fake.device) <= 0.5)).flatten()
        return caught[torch.sort(-self.fake[caught], stable=True).indices]


def fake_probabilities(real: Tensor, fake: Tensor, folds: int = 5, seed: int = 0, c: float = 1.0) -> FakeProbability:
    """Probability "fake" of every real and fake, each from a probe trained on the other folds.

    Args:
        real, fake: ``(N, D)`` and ``(M, D)`` features (at least ``folds`` of each).
        folds: cross-validation folds (>= 2), stratified: each set is split into ``folds`` near-equal parts.
        seed: seed of the fold assignment.
        c: the probe's inverse regularisation strength.

    Returns:
        A :class:`FakeProbability`.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise InputError(f"folds: must be an integer >= 2, got {folds!r}")
    check_feature_pair(real, fake, min_real=folds, min_fake=folds)
    pooled = torch.cat([real.double(), fake.to(real.device).double()])
    labels = torch.cat([torch.zeros(real.shape[0], dtype=torch.long), torch.ones(fake.shape[0], dtype=torch.long)])
    generator = torch.Generator().manual_seed(seed)
    fold_of = torch.empty(labels.shape[0], dtype=torch.long)
    for value in (0, 1):
        rows = torch.nonzero(labels == value).flatten()
        rows = rows[torch.randperm(rows.shape[0], generator=generator)]
        fold_of[rows] = torch.arange(rows.shape[0]) % folds
    probability = torch.empty(labels.shape[0], dtype=torch.float64)
    for fold in range(folds):
        held = fold_of == fold
        probe = fit_linear_probe(pooled[~held.to(pooled.device)], labels[~held], c)
        probability[held] = probe.predict_proba(pooled[held.to(pooled.device)])[:, 1].cpu()
    accuracy = float(((probability > 0.5).long() == labels).double().mean())
    return FakeProbability(probability[: real.shape[0]], probability[real.shape[0] :], accuracy, folds)
