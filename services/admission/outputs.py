"""The manifest's ``output`` drafted from the graph's head and the flags: which mode it is in
(single-label, multi-label or regression), how it is read (logits, probabilities or a value),
its labels, thresholds, unit and reference range.

The graph decides where it can:

- a converter's classifier (``TreeEnsembleClassifier``, ``LinearClassifier``, … with
  ``probabilities``) or a ``Softmax`` head: single-label, probabilities;
- a ``Sigmoid`` head: multi-label, probabilities (one finding per column);
- a regressor op (``TreeEnsembleRegressor``, ``LinearRegressor``, ``SVMRegressor``): regression;
- no head and one column (``[N, 1]``, a non-classifier): regression, the value as served;
- no head and several columns: single-label logits.

``--task`` says what the graph cannot: ``multi-label`` for a head that ends in plain logits
(the sigmoid is applied when reading), ``regression`` for a one-column sigmoid read as a score
in (0, 1), ``single-label``/``multi-label`` for a one-column head that is a classifier. A
``--task`` the graph contradicts (a softmax declared multi-label) is refused, naming both.
"""

from __future__ import annotations

from typing import Literal

from services.admission.errors import AdmissionError
from services.admission.inspect import GraphFacts
from shared.bundles.manifest import Output, OutputMode

Kind = Literal["logits", "probabilities", "value"]
MODES: tuple[OutputMode, ...] = ("single-label", "multi-label", "regression")
DEFAULT_VALUE_LABEL = "value"


def infer_mode(facts: GraphFacts, asked: OutputMode | None) -> tuple[OutputMode, Kind, str]:
    """The output's mode and kind, and the reason (for the inspection notes)."""
    n, where = facts.n_classes, facts.score_output
    fixed: tuple[OutputMode, Kind, str] | None = None
    if facts.regressor:
        fixed = ("regression", "value", "the graph ends in a regressor op")
    elif facts.head == "classifier-probabilities":
        fixed = ("single-label", "probabilities", "a classifier converter's class probabilities")
    elif facts.head == "softmax":
        fixed = ("single-label", "probabilities", "a Softmax over the classes")
    if fixed is not None:
        if asked is not None and asked != fixed[0]:
            raise AdmissionError(
                "draft", f"--task {asked} but the output is {fixed[0]}: {fixed[2]}", where=where
            )
        return fixed
    if facts.head == "sigmoid":
        if asked == "regression" and n == 1:
            return "regression", "value", "--task regression: the one Sigmoid column is a score"
        if asked not in (None, "multi-label"):
            raise AdmissionError(
                "draft",
                f"--task {asked} but output {where!r} ends in a Sigmoid: independent findings "
                "(multi-label); a regression is one column",
                where=where,
            )
        return "multi-label", "probabilities", "a Sigmoid per finding"
    if asked is None:
        if n == 1:
            return "regression", "value", "one column and no classifier head: a value"
        return "single-label", "logits", "no Softmax/Sigmoid: class logits"
    if asked == "regression":
        if n is not None and n != 1:
            raise AdmissionError(
                "draft", f"--task regression but output {where!r} has {n} columns; a regression "
                "output is one value", where=where,
            )  # fmt: skip
        return "regression", "value", "--task regression: the value as served"
    if asked == "multi-label":
        return "multi-label", "logits", "--task multi-label: a sigmoid is applied to each logit"
    if n == 1:
        raise AdmissionError(
            "draft",
            f"--task single-label but output {where!r} has one column; single-label needs one "
            "score per class (--task multi-label reads one column as one finding)",
            where=where,
        )
    return "single-label", "logits", "--task single-label: class logits"


def draft_output(
    facts: GraphFacts,
    *,
    asked: OutputMode | None,
    labels: tuple[str, ...] | None,
    positive_label: str | None = None,
    thresholds: tuple[float, ...] | None = None,
    unit: str | None = None,
    reference_range: tuple[float, float] | None = None,
) -> tuple[Output, str]:
    """The output and a note saying how it is read (and why)."""
    mode, kind, why = infer_mode(facts, asked)
    where = facts.score_output
    _only_for(mode, "multi-label", thresholds=thresholds)
    _only_for(mode, "regression", unit=unit, reference_range=reference_range)
    _only_for(mode, "single-label", positive=positive_label)
    named = _labels(facts, mode, labels)
    positive = 0
    if mode == "single-label":
        if positive_label is not None and positive_label not in named:
            raise AdmissionError(
                "draft", f"--positive {positive_label!r} is not a label", where="--positive"
            )
        positive = named.index(positive_label) if positive_label else min(1, len(named) - 1)
    if reference_range is not None and not reference_range[0] <= reference_range[1]:
        raise AdmissionError(
            "draft", f"--reference-range {reference_range}: LOW must be ≤ HIGH",
            where="--reference-range",
        )  # fmt: skip
    try:
        output = Output(
            name=where,
            kind=kind,
            labels=named,
            positive_index=positive,
            mode=mode,
            thresholds=_per_label(thresholds, len(named)),
            unit=unit,
            reference_range=reference_range,
        )
    except ValueError as exc:
        raise AdmissionError("draft", _first_error(exc), where="output") from None
    return output, f"output {where!r} read as {mode} {kind} ({why})"


def _only_for(mode: OutputMode, wanted: OutputMode, **given: object) -> None:
    for name, value in given.items():
        if value is not None and mode != wanted:
            flag = "--" + name.replace("_", "-")
            raise AdmissionError(
                "draft", f"{flag} is for {wanted} outputs; this output is {mode}", where=flag
            )


def _per_label(thresholds: tuple[float, ...] | None, n: int) -> tuple[float, ...] | None:
    if thresholds is None:
        return None
    if len(thresholds) == 1:
        thresholds = thresholds * n
    if len(thresholds) != n:
        raise AdmissionError(
            "draft", f"--thresholds has {len(thresholds)} values for {n} findings; give one "
            "per finding or one for all", where="--thresholds",
        )  # fmt: skip
    if not all(0.0 < t < 1.0 for t in thresholds):
        raise AdmissionError(
            "draft", "--thresholds must lie strictly between 0 and 1", where="--thresholds"
        )
    return thresholds


def _labels(facts: GraphFacts, mode: OutputMode, given: tuple[str, ...] | None) -> tuple[str, ...]:
    where = facts.score_output
    if mode == "regression":
        if given is not None and len(given) != 1:
            raise AdmissionError(
                "draft", f"a regression output is one value: --labels names it ({len(given)} "
                "given)", where="--labels",
            )  # fmt: skip
        return given or (DEFAULT_VALUE_LABEL,)
    n = facts.n_classes
    labels = given or facts.class_labels
    what = "findings" if mode == "multi-label" else "classes"
    if labels is None:
        raise AdmissionError(
            "draft",
            f"the graph does not name its {n if n else 'dynamic number of'} {what}; "
            "pass --labels L1,L2,... or --labels-file",
            where=where,
        )
    if n is not None and len(labels) != n:
        raise AdmissionError(
            "draft", f"{len(labels)} labels given but output {where!r} has {n} {what}",
            where=where,
        )  # fmt: skip
    return tuple(labels)


def _first_error(exc: ValueError) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return str(exc)
