"""A metric's reading of its own numbers, as findings the verdict reconciles (torch-free).

Each metric turns its records into :class:`Finding` s (``FeatureMetric.findings``), one per question it speaks to;
:func:`ganprobe.report.verdict.reconcile` weighs the findings of every metric on each question into one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Question = Literal["distance", "layers", "balance", "copies"]

# Claims that findings on the same question compare, in words.
CLAIM_WORDS: dict[str, str] = {
    "differ": "the sets differ",
    "alike": "the sets are alike",
    "fidelity": "poor fidelity (fakes lie off the real data)",
    "diversity": "mode dropping (parts of the real data have no fakes)",
    "both": "both fidelity and diversity are poor",
    "neither": "neither fidelity nor diversity is clearly worse",
}


@dataclass(frozen=True)
class Finding:
    """One metric's reading of its numbers on one question.

    Attributes:
        question: ``distance``, ``layers``, ``balance`` (fidelity or diversity) or ``copies``.
        metric: the metric's name (``knn_loo``).
        sentence: the reading in full, as the metric alone would state it.
        claim: a key of :data:`CLAIM_WORDS` that other findings on the question can agree with, or ``None``
            (context only: a number without a threshold of its own, such as FID).
        evidence: the numbers behind the claim in a few words (``fake 1.00 vs real 0.69``).
    """

    question: Question
    metric: str
    sentence: str
    claim: str | None = None
    evidence: str = ""


def balance_claim(fidelity: float, diversity: float) -> str | None:
    """The ``balance`` claim of a fidelity and a diversity score in ``[0, 1]`` (precision/recall, density clipped to
    1 and coverage): ``both`` poor, ``neither`` worse (both good), ``fidelity`` or ``diversity`` worse, or ``None``
    when neither is clearly worse and not both are good or poor."""
    if max(fidelity, diversity) < 0.3:
        return "both"
    if min(fidelity, diversity) > 0.7:
        return "neither"
    if fidelity < diversity - 0.1:
        return "fidelity"
    if diversity < fidelity - 0.1:
        return "diversity"
    return None
