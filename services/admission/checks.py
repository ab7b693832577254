"""The individual admission checks; each returns ``(value, detail)`` or raises AdmissionError."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from services.admission.errors import AdmissionError
from services.admission.inspect import GraphFacts, inspect_model, load_proto
from services.admission.methods import PARITY_BOUND
from services.admission.probes import bundle_background, image_probes, tabular_probes
from services.worker.explainers import LoadedModel
from shared.bundles.manifest import ImageInput, Manifest, Output, TabularInput
from shared.bundles.outcome import Outcome, OutputError, read_outcome
from shared.bundles.registry import Bundle
from shared.methods.spec import image_network

if TYPE_CHECKING:
    import onnxruntime
    import torch

SHIPPED_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}
SUM_TOLERANCE = 1e-4


def onnx_checker(data: bytes, manifest: Manifest) -> tuple[GraphFacts, str]:
    import onnx

    proto = load_proto(data)
    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise AdmissionError(
                "onnx.checker", "external tensor data is refused", where=tensor.name
            )
    for node in proto.graph.node:
        if node.domain not in SHIPPED_DOMAINS:
            raise AdmissionError(
                "onnx.checker", f"op domain {node.domain!r} is not shipped with ONNX Runtime",
                where=node.name or node.op_type,
            )  # fmt: skip
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise AdmissionError(
            "onnx.checker", str(exc).strip().splitlines()[0], where="graph"
        ) from None
    size = (
        (manifest.input.height, manifest.input.width)
        if isinstance(manifest.input, ImageInput)
        else None
    )
    facts = inspect_model(data, image_size=size)
    opsets = ", ".join(f"{d} {v}" for d, v in facts.opsets.items())
    return facts, f"valid ({len(proto.graph.node)} nodes; opsets {opsets})"


def ort_session(data: bytes) -> tuple[onnxruntime.InferenceSession, str]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises its own untyped errors
        where = _node_in(str(exc)) or _node_of_op(data, str(exc))
        raise AdmissionError("onnxruntime", _first_line(exc), where=where) from None
    return session, f"session created (onnxruntime {ort.__version__})"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:400]


def _node_in(message: str) -> str | None:
    """ORT names a failing node as ``Node (name)`` in its messages."""
    start = message.find("Node (")
    if start < 0:
        return None
    end = message.find(")", start)
    return message[start + 6 : end] if end > start else None


def _node_of_op(data: bytes, message: str) -> str | None:
    """The first node whose op type ORT's message names (``domain:Op(version)``)."""
    for node in load_proto(data).graph.node:
        if f"{node.op_type}(" in message:
            return node.name or node.op_type
    return None


def expected_input_shape(manifest: Manifest) -> tuple[int, ...]:
    spec = manifest.input
    if isinstance(spec, ImageInput):
        return (spec.channels, spec.height, spec.width)
    return (len(spec.features),)


def names_and_shapes(session: onnxruntime.InferenceSession, manifest: Manifest) -> tuple[None, str]:
    inputs = session.get_inputs()
    if [i.name for i in inputs] != [manifest.input_name]:
        raise AdmissionError(
            "names and shapes", f"the model's inputs are {[i.name for i in inputs]}",
            where="input_name",
        )  # fmt: skip
    declared = expected_input_shape(manifest)
    graph_shape = list(inputs[0].shape)[1:]
    for axis, (want, have) in enumerate(zip(declared, graph_shape, strict=False), start=1):
        if isinstance(have, int) and have > 0 and have != want:
            raise AdmissionError(
                "names and shapes", f"input axis {axis} is {have}; the manifest declares {want}",
                where=manifest.input_name,
            )  # fmt: skip
    outputs = {o.name: o for o in session.get_outputs()}
    name = manifest.output.name
    if name not in outputs:
        raise AdmissionError(
            "names and shapes", f"no output {name!r}; outputs: {list(outputs)}", where="output.name"
        )
    shape = list(outputs[name].shape)
    n = len(manifest.output.labels)
    if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != n):
        raise AdmissionError(
            "names and shapes", f"output shape {shape} is not [N, {n}]", where=name
        )
    return (
        None,
        f"input {manifest.input_name} [N, {', '.join(map(str, declared))}], output {name} [N, {n}]",
    )


def probe_forward(
    session: onnxruntime.InferenceSession, bundle: Bundle
) -> tuple[tuple[np.ndarray, dict[str, np.ndarray]], str]:
    manifest = bundle.manifest
    spec = manifest.input
    if isinstance(spec, ImageInput):
        probes = image_probes(spec)
        what = f"{len(probes)} seeded synthetic images {spec.height}x{spec.width}"
    else:
        assert isinstance(spec, TabularInput)
        background = bundle_background(bundle)
        probes = tabular_probes(spec, background)
        source = "background rows" if background is not None else "points in the feature ranges"
        what = f"{len(probes)} {source}"
    names = [o.name for o in session.get_outputs()]
    try:
        runs = [session.run(names, {manifest.input_name: row[None]}) for row in probes]
    except Exception as exc:  # noqa: BLE001 - ORT raises its own untyped errors
        raise AdmissionError("probe forward", _first_line(exc), where=_node_in(str(exc))) from None
    outputs = {
        name: np.concatenate([np.asarray(run[i]).reshape(1, -1) for run in runs])
        for i, name in enumerate(names)
        if all(isinstance(run[i], np.ndarray) for run in runs)
    }
    n = len(manifest.output.labels)
    scores = outputs.get(manifest.output.name)
    if scores is None or scores.shape != (len(probes), n):
        shape = None if scores is None else scores.shape
        raise AdmissionError(
            "probe forward",
            f"scores have shape {shape}, not [1, {n}] each",
            where=manifest.output.name,
        )
    return (probes, outputs), what


def output_sanity(outputs: dict[str, np.ndarray], manifest: Manifest) -> tuple[Outcome, str]:
    """Every probe's output read as it is served (:func:`~shared.bundles.outcome.read_outcome`):
    finite, probabilities in [0, 1], a single-label distribution summing to 1 (here within
    ``SUM_TOLERANCE``, tighter than serving's), a regression value finite. The first probe's
    outcome decides the target the methods are run on (:func:`admission_target`)."""
    output = manifest.output
    scores = outputs[output.name].astype(np.float64)
    try:
        outcomes = [read_outcome(row, output) for row in scores]
    except OutputError as exc:
        raise AdmissionError("output sanity", f"on the probes: {exc}", where=output.name) from None
    low, high = f"{scores.min():.3g}", f"{scores.max():.3g}"
    explained = f"; methods explain {outcomes[0].label!r} on probe 0"
    if output.mode == "regression":
        unit = f" {output.unit}" if output.unit else ""
        return outcomes[0], f"finite values in [{low}, {high}]{unit}{explained}"
    if output.mode == "multi-label":
        read = "sigmoid of logits" if output.kind == "logits" else "probabilities"
        positives = sum(len(o.positive) for o in outcomes)
        thresholds = ", ".join(f"{output.threshold(i):g}" for i in range(len(output.labels)))
        return outcomes[0], (
            f"{len(output.labels)} findings ({read}) in [0, 1]; {positives} positive over "
            f"{len(outcomes)} probes at thresholds {thresholds}{explained}"
        )
    if output.kind == "logits":
        return outcomes[0], f"finite logits in [{low}, {high}]{explained}"
    gap = float(np.max(np.abs(scores.sum(axis=1) - 1.0)))
    if gap > SUM_TOLERANCE:
        raise AdmissionError(
            "output sanity", f"probability rows sum to 1 only within {gap:.3g}", where=output.name
        )
    return outcomes[0], f"probabilities in [0, 1], rows sum to 1 within {gap:.1e}{explained}"


def admission_target(outcome: Outcome, output: Output) -> int:
    """The output column admission explains: the predicted class, the top finding, the value."""
    return output.labels.index(outcome.label)


def needs_twin(manifest: Manifest) -> bool:
    return image_network(manifest)


def twin_parity(
    data: bytes, session: onnxruntime.InferenceSession, probes: np.ndarray
) -> tuple[tuple[torch.nn.Module | None, dict[str, float], str | None], str]:
    """The torch twin, its largest gap to ORT per output over the probes, and why there is no
    usable twin (``None`` when there is one). A twin that cannot be built or differs by more than
    :data:`PARITY_BOUND` refuses nothing: the gradient methods are then listed unavailable with
    this reason, and the ONNX Runtime methods (``superpixel_shap``) still run."""
    import torch

    from services.worker.twin import load_twin

    def unusable(
        reason: str, gaps: dict[str, float]
    ) -> tuple[tuple[None, dict[str, float], str], str]:
        return (None, gaps, reason), f"no usable torch twin: {reason}; gradient methods unavailable"

    try:
        twin = load_twin(data)
    except Exception as exc:  # noqa: BLE001 - onnx2torch's errors are untyped too
        return unusable(_not_converted(exc), {})
    names = [o.name for o in session.get_outputs()]
    gaps = dict.fromkeys(names, 0.0)
    input_name = session.get_inputs()[0].name
    try:
        for row in probes:
            expected = session.run(names, {input_name: row[None]})
            with torch.no_grad():
                got = twin(torch.from_numpy(row[None]))
            got = list(got) if isinstance(got, tuple | list) else [got]
            for name, ort_value, twin_value in zip(names, expected, got, strict=False):
                gap = float(np.max(np.abs(twin_value.numpy() - ort_value)))
                gaps[name] = max(gaps[name], gap)
    except RuntimeError as exc:
        return unusable(f"the torch twin fails on the probes: {_first_line(exc)}", {})
    detail = ", ".join(f"{k} {v:.2e}" for k, v in gaps.items())
    worst = max(gaps, key=lambda k: gaps[k])
    if not gaps[worst] <= PARITY_BOUND:
        return unusable(
            f"the torch twin differs from ONNX Runtime by {gaps[worst]:.3g} > {PARITY_BOUND:g} "
            f"on {worst!r} over {len(probes)} probes",
            gaps,
        )
    return (
        (twin, gaps, None),
        f"max |twin - ORT| over {len(probes)} probes: {detail} (≤ {PARITY_BOUND:g})",
    )


def _not_converted(exc: Exception) -> str:
    op = _missing_op(str(exc))
    if op is not None:
        return f"onnx2torch has no converter for {op} ({_first_line(exc)})"
    return f"onnx2torch cannot convert the model ({type(exc).__name__}: {_first_line(exc)})"


def _missing_op(message: str) -> str | None:
    """The op onnx2torch lacks: it says ``OperationDescription(..., operation_type=...)``."""
    marker = "operation_type="
    start = message.find(marker)
    if start < 0:
        return None
    return message[start + len(marker) :].split(",")[0].strip("'\" )")


def loaded(bundle: Bundle, session: Any, twin: Any) -> LoadedModel:
    return LoadedModel(bundle=bundle, session=session, twin=twin)
