"""One reasoned verdict from every metric: a statement per question, reconciled, within what the sample supports.

Each metric reads its own numbers as :class:`Finding` s, one per question it speaks to (how far apart the sets are,
where in the network they separate, fidelity or diversity, copies), each with a *claim* that other metrics' findings
on the same question can agree or disagree with. :func:`reconcile` then writes, first, which numbers the sample size
supports (the metrics' :class:`~ganprobe.metrics.sample_size.SampleCheck`), and then one sentence per question:

* only findings whose metric has enough samples draw a conclusion; a question none of them can answer says so;
* the most trusted finding leads (the declaration's ``verdict_rank``); findings that agree with it are named once,
  as agreeing; findings that disagree are named with their numbers, followed by which to trust and why
  (the declaration's ``trust_reason``);
* a finding whose metric has too few samples is mentioned only where it would say something else, as unreliable.

Torch-free: it reads records and checks, not tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ganprobe.metrics.findings import CLAIM_WORDS, Finding
from ganprobe.metrics.sample_size import SampleCheck

__all__ = ["CLAIM_WORDS", "QUESTIONS", "Finding", "Voice", "reconcile", "sample_size_sentence"]

# The questions in the order a report answers them, with the words that open each answer.
QUESTIONS: dict[str, str] = {
    "distance": "How far apart",
    "layers": "Where in the network",
    "balance": "Fidelity or diversity",
    "copies": "Copies",
}


@dataclass(frozen=True)
class Voice:
    """How much a metric's findings count in :func:`reconcile`.

    Attributes:
        title: the metric in words (``1-NN LOO``).
        rank: lower is trusted first when findings disagree (the declaration's ``verdict_rank``).
        trust_reason: why to trust it over metrics ranked after it.
        check: its sample-size check; ``None`` counts as enough.
    """

    title: str
    rank: int
    trust_reason: str = ""
    check: SampleCheck | None = None

    @property
    def enough(self) -> bool:
        """Whether its findings may draw a conclusion."""
        return self.check is None or self.check.enough


def sample_size_sentence(checks: Sequence[SampleCheck]) -> str | None:
    """``Sample size: 64 real and 64 fake images: enough for ...; too few for ... (needs N per set)`` or ``None``."""
    if not checks:
        return None
    real = max((check.real for check in checks if check.real is not None), default=None)
    fake = max((check.fake for check in checks if check.fake is not None), default=None)
    sizes = (("real", real), ("fake", fake))
    counts = " and ".join(f"{count:,} {label}" for label, count in sizes if count is not None)
    enough = [check.label for check in checks if check.enough]
    short = [f"{check.label} ({check.required:,})" for check in checks if not check.enough]
    text = f"Sample size: {counts} images."
    if enough:
        text += f" Enough for {_join(enough)}."
    if short:
        text += f" Too few for {_join(short)} per set: the verdict does not rest on them."
    return text


def reconcile(findings: Sequence[Finding], voices: Mapping[str, Voice]) -> list[str]:
    """The verdict: the sample-size sentence, then one sentence per question that any finding speaks to.

    Args:
        findings: every metric's findings (:meth:`~ganprobe.metrics.base.FeatureMetric.findings`).
        voices: ``{metric name: Voice}`` for every metric that has findings.

    Returns:
        Plain-words sentences, most important first.
    """
    checks = [voice.check for voice in voices.values() if voice.check is not None]
    lines = [line for line in (sample_size_sentence(checks),) if line]
    for question, heading in QUESTIONS.items():
        asked = sorted(
            (finding for finding in findings if finding.question == question),
            key=lambda finding: voices[finding.metric].rank,
        )
        if asked:
            answer = _answer(asked, voices)
            if len(answer) > 1 and answer[1].islower():  # "Fakes become ..." reads "fakes become ..." after a heading
                answer = answer[0].lower() + answer[1:]
            lines.append(f"{heading}: {answer}")
    return lines


def _answer(asked: Sequence[Finding], voices: Mapping[str, Voice]) -> str:
    usable = [finding for finding in asked if voices[finding.metric].enough]
    weak = [finding for finding in asked if not voices[finding.metric].enough]
    if not usable:
        needs = _join([f"{voices[f.metric].title} needs {voices[f.metric].check.required:,}" for f in weak])  # type: ignore[union-attr]
        return f"too few samples to tell ({needs} per set); the numbers below are shown, not read."
    lead = next((finding for finding in usable if finding.claim is not None), usable[0])
    text = lead.sentence if lead is usable[0] else f"{usable[0].sentence} {lead.sentence}"  # context first
    agree = [f for f in usable if f is not lead and f.claim is not None and f.claim == lead.claim]
    differ = [f for f in usable if f is not lead and f.claim is not None and f.claim != lead.claim]
    for finding in usable:
        if finding is not lead and finding is not usable[0] and finding.claim is None:
            text += f" {finding.sentence}"
    if agree:
        text += f" {_join([f'{voices[f.metric].title} ({f.evidence})' for f in agree])} agree{_s(agree)}."
    if differ:
        said = _join([f"{voices[f.metric].title} ({f.evidence}) says {CLAIM_WORDS[f.claim]}" for f in differ])  # type: ignore[index]
        reason = voices[lead.metric].trust_reason
        text += f" The metrics disagree: {said}. Trust {voices[lead.metric].title} here" + (
            f": {reason}." if reason else "."
        )
    for finding in weak:
        if finding.claim is None or finding.claim == lead.claim:
            continue
        check = voices[finding.metric].check
        assert check is not None
        text += (
            f" {voices[finding.metric].title} ({finding.evidence}) would suggest {CLAIM_WORDS[finding.claim]}, but "
            f"{check.smallest():,} per set are too few for it (needs {check.required:,})."
        )
    return text


def _join(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}"


def _s(items: Sequence[object]) -> str:
    return "s" if len(items) == 1 else ""
