"""What a model's output says, read by its manifest's :class:`~shared.bundles.manifest.Output`.

One reading for every consumer: the API's diagnosis, admission's output sanity check, the
records and the reports. ``scores`` is the served output row, one column per label.

- single-label: the top class and the full distribution (softmax of logits);
- multi-label: every finding's probability (sigmoid of logits) against its threshold;
- regression: the value in its unit, and whether it lies in the reference range.

The explained *targets* are output columns: by default the top class, the positive findings
(the most probable one when none is positive), or the value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shared.bundles.manifest import Output, OutputMode


class OutputError(ValueError):
    """A served output that its manifest cannot read (wrong size, not finite, out of range)."""


class Finding(BaseModel):
    """One finding of a multi-label model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    index: int
    probability: float
    threshold: float
    positive: bool


class Outcome(BaseModel):
    """A model's output, read: the headline ``label``/``probability`` (the top class, the most
    probable finding, or the value's name) and what the mode adds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: OutputMode
    label: str = Field(description="top class, most probable finding, or the value's name")
    probability: float | None = Field(description="of label; null for a regression value")
    probabilities: dict[str, float] = Field(
        description="label -> probability (classes or findings); the value for regression"
    )
    findings: tuple[Finding, ...] = Field(default=(), description="multi-label: every finding")
    value: float | None = Field(default=None, description="regression: the served value")
    unit: str | None = None
    reference_range: tuple[float, float] | None = None
    in_range: bool | None = Field(default=None, description="regression: inside the range")

    @property
    def positive(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.positive)

    def default_targets(self, output: Output) -> tuple[int, ...]:
        """The output columns explained when a request names none."""
        if self.mode == "multi-label":
            chosen = self.positive or (max(self.findings, key=lambda f: f.probability),)
            return tuple(f.index for f in chosen)
        if self.mode == "regression":
            return (0,)
        return (output.labels.index(self.label),)

    def recorded(self) -> dict[str, object]:
        """As the prediction row (and its audit record) keeps it."""
        return self.model_dump(mode="json")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow: exp(-log(1 + e^-z))."""
    return np.exp(-np.logaddexp(0.0, -z))


def softmax(z: np.ndarray) -> np.ndarray:
    shifted = np.exp(z - z.max())
    return shifted / shifted.sum()


def probabilities_of(scores: np.ndarray, output: Output) -> np.ndarray:
    """The served row as probabilities (or the value, for regression), float64 ``[n]``."""
    row = np.asarray(scores, dtype=np.float64).reshape(-1)
    if output.kind != "logits":
        return row
    return sigmoid(row) if output.mode == "multi-label" else softmax(row)


def read_outcome(scores: np.ndarray, output: Output) -> Outcome:
    """``scores`` (the served row) read by ``output``; :class:`OutputError` if it cannot be."""
    labels = output.labels
    row = np.asarray(scores, dtype=np.float64).reshape(-1)
    if row.shape != (len(labels),):
        raise OutputError(f"the output has {row.size} values for {len(labels)} labels")
    if not np.all(np.isfinite(row)):
        raise OutputError("the output is not finite")
    values = probabilities_of(row, output)
    listed = {label: float(v) for label, v in zip(labels, values, strict=True)}
    if output.mode == "regression":
        value = float(values[0])
        low_high = output.reference_range
        return Outcome(
            mode="regression",
            label=labels[0],
            probability=None,
            probabilities=listed,
            value=value,
            unit=output.unit,
            reference_range=low_high,
            in_range=None if low_high is None else low_high[0] <= value <= low_high[1],
        )
    if np.any(values < -1e-6) or np.any(values > 1 + 1e-6):
        raise OutputError("probabilities outside [0, 1]")
    if output.mode == "single-label":
        if not math.isclose(float(values.sum()), 1.0, abs_tol=1e-3):
            raise OutputError(f"class probabilities sum to {values.sum():.6g}, not 1")
        top = int(np.argmax(values))
        return Outcome(
            mode="single-label",
            label=labels[top],
            probability=float(values[top]),
            probabilities=listed,
        )
    findings = tuple(
        Finding(
            label=label,
            index=i,
            probability=float(p),
            threshold=output.threshold(i),
            positive=bool(p >= output.threshold(i)),
        )
        for i, (label, p) in enumerate(zip(labels, values, strict=True))
    )
    top_finding = max(findings, key=lambda f: f.probability)
    return Outcome(
        mode="multi-label",
        label=top_finding.label,
        probability=top_finding.probability,
        probabilities=listed,
        findings=findings,
    )


def recorded_outcome(
    outcome: dict[str, object] | None,
    *,
    label: str,
    probability: float,
    probabilities: dict[str, float],
) -> Outcome:
    """A prediction row's outcome; rows written before outcomes were recorded (0.2.0 and
    earlier) were single-label, their ``label``/``probability``/``probabilities`` say all."""
    if outcome is not None:
        return Outcome.model_validate(outcome)
    return Outcome(
        mode="single-label", label=label, probability=probability, probabilities=probabilities
    )


def targets_named(output: Output, named: Sequence[str]) -> tuple[int, ...]:
    """The output columns of the labels a request names (``ValueError`` naming an unknown one)."""
    unknown = [label for label in named if label not in output.labels]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)} not among the model's labels: {', '.join(output.labels)}"
        )
    return tuple(dict.fromkeys(output.labels.index(label) for label in named))
