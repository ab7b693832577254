"""Torch converters for the ``ai.onnx.ml`` ops of linear tabular pipelines (skl2onnx).

``Pipeline([StandardScaler(), LogisticRegression()])`` exports as ``Scaler`` then
``LinearClassifier`` (and a ``Normalizer`` for more than two classes); converted, its
probabilities are differentiable in the features, so the gradient explainers apply. Export
it with ``options={"zipmap": False}``: a ``ZipMap`` output is a sequence of maps, which has
no tensor form (onnx2torch refuses the model).
"""

from __future__ import annotations

import torch
from torch import nn

from services.worker.twin.onnx2torch_compat import Converter, Node, TorchOp

ML_DOMAIN = "ai.onnx.ml"
_POST_TRANSFORMS = ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO")


def _floats(values: object) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


class Scaler(nn.Module):
    """``(x - offset) * scale``, per feature (or one value for all)."""

    offset: torch.Tensor
    scale: torch.Tensor

    def __init__(self, offset: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("offset", offset)
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.offset) * self.scale


class LinearClassifier(nn.Module):
    """``scores = x @ coefficients.T + intercepts``, then the post transform; the label is the
    class of the highest score (the first on a tie, as ONNX Runtime picks)."""

    coefficients: torch.Tensor
    intercepts: torch.Tensor
    labels: torch.Tensor

    def __init__(
        self, coefficients: torch.Tensor, intercepts: torch.Tensor, labels: torch.Tensor, post: str
    ) -> None:
        super().__init__()
        self.register_buffer("coefficients", coefficients)
        self.register_buffer("intercepts", intercepts)
        self.register_buffer("labels", labels)
        self.post = post

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = x.float() @ self.coefficients.T + self.intercepts
        if self.post == "LOGISTIC":
            scores = torch.sigmoid(scores)
        elif self.post == "SOFTMAX":
            scores = torch.softmax(scores, dim=-1)
        elif self.post == "SOFTMAX_ZERO":  # softmax over the non-zero scores; zeros stay 0
            exp = torch.where(scores != 0, torch.exp(scores - scores.amax(-1, keepdim=True)), 0)
            scores = exp / exp.sum(-1, keepdim=True)
        return self.labels[torch.argmax(scores, dim=-1)], scores


class Normalizer(nn.Module):
    """Each row divided by its largest value (``MAX``), its sum of absolute values (``L1``) or
    its Euclidean norm (``L2``)."""

    def __init__(self, norm: str) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.norm == "MAX":
            return x / x.amax(dim=-1, keepdim=True)
        order = 1 if self.norm == "L1" else 2
        return x / torch.linalg.vector_norm(x, ord=order, dim=-1, keepdim=True)


def _scaler(node: Node) -> TorchOp:
    offset = _floats(node.attributes.get("offset", [0.0]))
    scale = _floats(node.attributes.get("scale", [1.0]))
    return TorchOp(Scaler(offset, scale), node.inputs, node.outputs)


def _linear_classifier(node: Node) -> TorchOp:
    attributes = node.attributes
    post = attributes.get("post_transform", "NONE")
    if post not in _POST_TRANSFORMS:
        raise NotImplementedError(f"LinearClassifier with post_transform={post}")
    if "classlabels_ints" not in attributes:
        raise NotImplementedError("LinearClassifier with string labels has no tensor form")
    labels = torch.tensor(attributes["classlabels_ints"], dtype=torch.int64)
    intercepts = _floats(attributes.get("intercepts", [0.0] * labels.numel()))
    if intercepts.numel() < 2 or intercepts.numel() != labels.numel():
        raise NotImplementedError("LinearClassifier with one score for two classes")
    coefficients = _floats(attributes["coefficients"]).reshape(intercepts.numel(), -1)
    module = LinearClassifier(coefficients, intercepts, labels, post)
    return TorchOp(module, node.inputs, node.outputs)


def _normalizer(node: Node) -> TorchOp:
    norm = node.attributes.get("norm", "MAX")
    if norm not in ("MAX", "L1", "L2"):
        raise NotImplementedError(f"Normalizer with norm={norm}")
    return TorchOp(Normalizer(norm), node.inputs, node.outputs)


CONVERTERS: tuple[Converter, ...] = (
    Converter("Scaler", (1,), _scaler, domain=ML_DOMAIN),
    Converter("LinearClassifier", (1,), _linear_classifier, domain=ML_DOMAIN),
    Converter("Normalizer", (1,), _normalizer, domain=ML_DOMAIN),
)
