"""What an ONNX graph says about itself: inputs, outputs, head, converter conventions.

Nothing here is guessed: a fact the graph does not state is left ``None`` and the drafting
step asks for it as a flag. The Grad-CAM layer is found in :mod:`.pooling`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from services.admission.errors import AdmissionError
from services.admission.pooling import find_pooled_feature_map

if TYPE_CHECKING:
    import onnx

Dim = int | str | None
"""A fixed size, a symbolic dimension's name, or ``None`` for an unnamed dynamic one."""
Head = Literal["softmax", "sigmoid", "classifier-probabilities", "none"]
Layout = Literal["NCHW", "tabular"]

_PASS_THROUGH = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast"}
_TREE_OPS = {"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"}
_CLASSIFIER_OPS = {"TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier", "ZipMap"}
_REGRESSOR_OPS = {"TreeEnsembleRegressor", "LinearRegressor", "SVMRegressor"}
_LABEL_ATTRIBUTES = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorFacts(_Frozen):
    name: str
    dtype: str
    shape: tuple[Dim, ...] | None = None
    """``None`` for a value that is not a tensor (a ZipMap's sequence of maps)."""


class GraphFacts(_Frozen):
    """The facts of one ONNX graph that a manifest is drafted from."""

    producer: str
    opsets: dict[str, int]
    input: TensorFacts
    outputs: tuple[TensorFacts, ...]
    layout: Layout
    dynamic_batch: bool
    channels: int | None = None
    height: int | None = None
    width: int | None = None
    n_features: int | None = None
    score_output: str
    label_output: str | None = None
    head: Head
    n_classes: int | None = None
    class_labels: tuple[str, ...] | None = None
    zipmap: bool = False
    tree_ensemble: bool = False
    regressor: bool = False
    gradcam_layer: str | None = None
    gradcam_tensor: str | None = None
    gradcam_reason: str | None = None
    """Why no Grad-CAM layer was found (``None`` when one was, or for tabular models)."""
    notes: tuple[str, ...] = ()


def load_proto(onnx_bytes: bytes) -> onnx.ModelProto:
    import onnx
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        proto = onnx.load_model_from_string(onnx_bytes)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise AdmissionError("onnx", f"not an ONNX model: {exc}") from None
    if not proto.graph.node:
        raise AdmissionError("onnx", "the graph has no nodes", where="graph")
    return proto


def _tensor(value: onnx.ValueInfoProto) -> TensorFacts:
    import onnx

    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return TensorFacts(name=value.name, dtype=kind or "unknown")
    tensor = value.type.tensor_type
    dtype = str(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    shape: tuple[Dim, ...] | None = None
    if tensor.HasField("shape"):
        shape = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tensor.shape.dim
        )
    return TensorFacts(name=value.name, dtype=dtype, shape=shape)


def _fixed(dim: Dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def inspect_model(onnx_bytes: bytes, *, image_size: tuple[int, int] | None = None) -> GraphFacts:
    """Read the facts of the model; ``image_size`` (height, width) is the declared size of a
    dynamic-shape image input, used to follow shapes to the Grad-CAM layer."""
    proto = load_proto(onnx_bytes)
    graph = proto.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [_tensor(v) for v in graph.input if v.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise AdmissionError(
            "inspect",
            f"the model takes {len(inputs)} inputs ({names}); one is served",
            where="graph.input",
        )
    (given,) = inputs
    if given.dtype != "float32":
        raise AdmissionError(
            "inspect", f"input dtype is {given.dtype}; float32 is served", where=given.name
        )
    if given.shape is None:
        raise AdmissionError("inspect", "the input has no declared rank", where=given.name)
    outputs = tuple(_tensor(v) for v in graph.output)
    ops = {node.op_type for node in graph.node}
    notes: list[str] = []
    layout = _layout(given)
    score, label = _score_output(outputs, ops)
    head = _head(graph, score.name, ops)
    class_labels = _class_labels(graph)
    n_classes = _fixed(score.shape[-1]) if score.shape else None
    if n_classes is None and class_labels:
        n_classes = len(class_labels)
    facts: dict[str, object] = {}
    if layout == "NCHW":
        assert given.shape is not None
        channels, height, width = (_fixed(d) for d in given.shape[1:])
        height, width = (height, width) if height and width else (None, None)
        size = (height, width) if height and width else image_size
        found = find_pooled_feature_map(proto, given.name, size) if size and channels else None
        if found is None:
            reason = "the input's height and width are dynamic and no size was declared"
            facts.update(gradcam_reason=reason)
        else:
            facts.update(
                gradcam_layer=found.layer, gradcam_tensor=found.tensor, gradcam_reason=found.reason
            )
        facts.update(channels=channels, height=height, width=width)
    else:
        facts.update(n_features=_fixed(given.shape[1]))
    if head == "none" and layout == "NCHW":
        notes.append(f"output {score.name!r} ends in no Softmax/Sigmoid")
    return GraphFacts(
        producer=f"{proto.producer_name} {proto.producer_version}".strip() or "unknown",
        opsets={o.domain or "ai.onnx": o.version for o in proto.opset_import},
        input=given,
        outputs=outputs,
        layout=layout,
        dynamic_batch=_fixed(given.shape[0]) is None,
        score_output=score.name,
        label_output=label,
        head=head,
        n_classes=n_classes,
        class_labels=class_labels,
        zipmap="ZipMap" in ops,
        tree_ensemble=bool(ops & _TREE_OPS),
        regressor=bool(ops & _REGRESSOR_OPS) and not ops & _CLASSIFIER_OPS,
        notes=tuple(notes),
        **facts,  # type: ignore[arg-type]
    )


def _layout(given: TensorFacts) -> Layout:
    shape = given.shape or ()
    if len(shape) == 2:
        return "tabular"
    if len(shape) == 4:
        if _fixed(shape[1]) in (1, 3):
            return "NCHW"
        if _fixed(shape[3]) in (1, 3):
            raise AdmissionError(
                "inspect",
                f"input shape {list(shape)} looks channels-last (NHWC); export NCHW",
                where=given.name,
            )
    raise AdmissionError(
        "inspect",
        f"input shape {list(shape)} is neither an NCHW image with 1 or 3 channels "
        "nor [N, features] rows",
        where=given.name,
    )


def _score_output(
    outputs: tuple[TensorFacts, ...], ops: set[str]
) -> tuple[TensorFacts, str | None]:
    """skl2onnx/onnxmltools name their outputs ``label`` and ``probabilities``; a torch export
    has one float output. A ZipMap's output (a sequence of maps) cannot be served."""
    by_name = {o.name: o for o in outputs}
    label = "label" if "label" in by_name else None
    floats = [o for o in outputs if o.shape is not None and o.dtype in ("float32", "float64")]
    if "probabilities" in by_name and by_name["probabilities"].shape is not None:
        return by_name["probabilities"], label
    if "ZipMap" in ops:
        zipped = [o.name for o in outputs if o.shape is None]
        raise AdmissionError(
            "inspect",
            "class probabilities come out of a ZipMap as a sequence of maps; export with "
            "zipmap=False (skl2onnx: options={id(model): {'zipmap': False}}; onnxmltools "
            "LightGBM: zipmap=False)",
            where=", ".join(zipped) or "ZipMap",
        )
    if len(floats) != 1:
        names = ", ".join(o.name for o in outputs)
        raise AdmissionError(
            "inspect",
            f"cannot tell which output holds the class scores among {names}: the graph has "
            f"{len(floats)} float tensor outputs",
            where="graph.output",
        )
    return floats[0], label


def _head(graph: onnx.GraphProto, output: str, ops: set[str]) -> Head:
    producers = {out: node for node in graph.node for out in node.output}
    name = output
    while (node := producers.get(name)) is not None:
        if node.op_type == "Softmax":
            return "softmax"
        if node.op_type == "Sigmoid":
            return "sigmoid"
        if node.op_type in _CLASSIFIER_OPS:
            return "classifier-probabilities"
        if node.op_type not in _PASS_THROUGH or not node.input:
            return "none"
        name = node.input[0]
    return "none"


def _class_labels(graph: onnx.GraphProto) -> tuple[str, ...] | None:
    import onnx

    for node in graph.node:
        if node.op_type not in _CLASSIFIER_OPS:
            continue
        for attribute in node.attribute:
            if attribute.name in _LABEL_ATTRIBUTES:
                values = onnx.helper.get_attribute_value(attribute)
                return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values)
    return None
