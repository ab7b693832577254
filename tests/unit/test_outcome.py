"""Reading a model's output by its manifest: classes, findings against thresholds, a value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from shared.bundles.manifest import Output
from shared.bundles.outcome import (
    OutputError,
    read_outcome,
    recorded_outcome,
    sigmoid,
    targets_named,
)

FINDINGS = ("atelectasis", "effusion", "nodule")


def multi_label(**extra: object) -> Output:
    return Output(name="logits", kind="logits", labels=FINDINGS, mode="multi-label", **extra)


def test_single_label_logits_are_the_softmax_and_the_top_class_is_the_diagnosis() -> None:
    output = Output(name="logits", kind="logits", labels=("a", "b", "c"))
    logits = np.array([[0.5, 2.0, -1.0]], dtype=np.float32)
    outcome = read_outcome(logits, output)
    expected = np.exp(logits[0]) / np.exp(logits[0]).sum()
    assert outcome.mode == "single-label" and outcome.label == "b"
    assert outcome.probability == pytest.approx(expected[1], rel=1e-6)
    assert list(outcome.probabilities.values()) == pytest.approx(expected.tolist(), rel=1e-6)
    assert outcome.default_targets(output) == (1,)


def test_each_finding_is_the_sigmoid_of_its_logit_against_its_own_threshold() -> None:
    output = multi_label(thresholds=(0.5, 0.7, 0.2))
    logits = np.array([[0.1, 0.6, -1.0]])  # sigmoid: 0.525, 0.646, 0.269
    outcome = read_outcome(logits, output)
    probabilities = [f.probability for f in outcome.findings]
    assert probabilities == pytest.approx([1 / (1 + math.exp(-z)) for z in logits[0]])
    assert [f.positive for f in outcome.findings] == [True, False, True]
    assert outcome.label == "effusion"  # the most probable finding, though it is negative
    assert outcome.default_targets(output) == (0, 2)  # the positive ones


def test_with_no_positive_finding_the_most_probable_one_is_explained() -> None:
    output = multi_label()
    outcome = read_outcome(np.array([[-3.0, -0.5, -2.0]]), output)
    assert outcome.positive == ()
    assert outcome.default_targets(output) == (1,)


def test_sigmoid_stays_finite_and_exact_at_large_logits() -> None:
    z = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    p = sigmoid(z)
    assert np.all(np.isfinite(p))
    assert p[2] == 0.5 and p[4] == 1.0 and p[0] == 0.0
    assert p[1] == pytest.approx(math.exp(-40.0), rel=1e-12)  # no cancellation below 0.5


def test_a_regression_value_is_read_with_its_unit_and_range() -> None:
    output = Output(
        name="risk", kind="value", labels=("risk",), mode="regression", unit="%",
        reference_range=(0.0, 20.0),
    )  # fmt: skip
    outcome = read_outcome(np.array([[31.5]]), output)
    assert (outcome.value, outcome.unit, outcome.in_range) == (31.5, "%", False)
    assert outcome.probability is None
    assert read_outcome(np.array([[12.0]]), output).in_range is True
    assert outcome.default_targets(output) == (0,)


@pytest.mark.parametrize(
    ("scores", "reason"),
    [
        ([[0.2, 0.3]], "2 values for 3 labels"),
        ([[0.2, np.nan, 0.1]], "not finite"),
    ],
)
def test_an_output_the_manifest_cannot_read_is_refused(scores: list, reason: str) -> None:
    with pytest.raises(OutputError, match=reason):
        read_outcome(np.array(scores), multi_label())


def test_probabilities_that_do_not_sum_to_one_are_not_a_single_label_output() -> None:
    output = Output(name="p", kind="probabilities", labels=("a", "b"))
    with pytest.raises(OutputError, match="sum to 1.2"):
        read_outcome(np.array([[0.6, 0.6]]), output)
    sigmoids = Output(name="p", kind="probabilities", labels=("a", "b"), mode="multi-label")
    assert read_outcome(np.array([[0.6, 0.6]]), sigmoids).default_targets(sigmoids) == (0, 1)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"labels": ("a",)}, "at least two labels"),
        ({"labels": ("a", "a")}, "unique"),
        ({"mode": "regression", "labels": ("r",)}, "kind value"),
        ({"mode": "regression", "kind": "value", "labels": ("r", "s")}, "one label"),
        ({"kind": "value"}, "for regression outputs"),
        ({"thresholds": (0.5, 0.5)}, "for multi-label outputs"),
        ({"mode": "multi-label", "thresholds": (0.5,)}, "one value per label"),
        ({"mode": "multi-label", "thresholds": (0.5, 1.0)}, "strictly between"),
        ({"unit": "mg"}, "for regression outputs"),
        (
            {"mode": "regression", "kind": "value", "labels": ("r",), "reference_range": (2, 1)},
            "low <= high",
        ),
    ],
)
def test_an_inconsistent_output_declaration_is_refused(fields: dict, reason: str) -> None:
    declared = {"name": "out", "kind": "logits", "labels": ("a", "b"), **fields}
    with pytest.raises(ValidationError, match=reason):
        Output.model_validate(declared)


def test_named_targets_are_columns_and_an_unknown_label_is_named() -> None:
    assert targets_named(multi_label(), ["nodule", "atelectasis", "nodule"]) == (2, 0)
    with pytest.raises(ValueError, match="pneumothorax not among"):
        targets_named(multi_label(), ["pneumothorax"])


def test_a_row_without_an_outcome_reads_as_its_single_label() -> None:
    outcome = recorded_outcome(None, label="b", probability=0.7, probabilities={"a": 0.3, "b": 0.7})
    assert outcome.mode == "single-label" and outcome.label == "b" and outcome.findings == ()
    again = recorded_outcome(outcome.recorded(), label="x", probability=0, probabilities={})
    assert again == outcome
