"""The tree ensemble of a served ``model.onnx``, read from its ``ai.onnx.ml`` node attributes.

TreeSHAP needs the trees themselves, and the explained model must be the served model, so the
trees are read from the same bytes ORT serves rather than from the training library. ONNX
nodes say "go to the true child when ``x MODE threshold``"; shap's tree format says "go left
when ``x <= threshold``". Every input is float32, so each mode maps exactly:

* ``BRANCH_LEQ``: left = true child, threshold ``t``;
* ``BRANCH_LT``: ``x < t`` equals ``x <= nextafter(t, -inf)`` on float32, left = true child;
* ``BRANCH_GT`` / ``BRANCH_GTE``: the negations of ``LEQ`` / ``LT``, left = false child.

The float32 threshold convention: a split is the comparison ORT makes, the float32 input
against the float32 threshold stored in ``model.onnx``, and that is what TreeSHAP explains.
A library that keeps float64 thresholds (scikit-learn, LightGBM: ``float32(x) <= t``) left it
to its converter to choose the float32: skl2onnx writes the largest float32 at or below ``t``,
which decides every float32 input as the library does; onnxmltools' LightGBM converter writes
the nearest float32, so an input exactly on a threshold that rounded up goes left here and
right in LightGBM. XGBoost's thresholds are float32 already (``x < t``).

A missing value (NaN) follows ``nodes_missing_value_tracks_true`` like ORT: the true child when
set, else the false child (a comparison with NaN is false). ``EQ``/``NEQ`` splits, ``_as_tensor``
(double) attributes, ``SOFTMAX``/``PROBIT`` transforms and ``MIN``/``MAX`` aggregation are
refused with an :class:`ExplainerError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from services.worker.explainers.base import ExplainerError

_OPS = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")
_TRANSFORMS = ("NONE", "LOGISTIC")
_MODES = ("LEAF", "BRANCH_LEQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_GTE")
UNCOVERED_LEAF_WEIGHT = 1e-6
"""Cover (in rows) of a leaf no background row reaches; see :meth:`TreeEnsemble.covers`."""


@dataclass(frozen=True)
class TreeEnsemble:
    """The served ensemble as dense ``[n_trees, max_nodes]`` arrays in shap's tree layout.

    Node ``j`` of tree ``t`` is a leaf when ``children_left[t, j] < 0`` (so is padding past
    ``n_nodes[t]``). Class ``c``'s margin is ``base_values[c]`` plus the leaf votes
    ``values[t, leaf, c]`` summed over trees; ``post_transform`` maps margins to the served
    scores (``LOGISTIC``: sigmoid, ``NONE``: identity). A binary classifier exported with one
    vote column (skl2onnx's layout) has ``n_columns == 1`` and ``n_outputs == 2``: the column
    is class 1, and ORT serves class 0 as ``1 - p``, i.e. margin ``-m`` under ``LOGISTIC``.
    """

    children_left: np.ndarray  # int32
    children_right: np.ndarray  # int32
    children_default: np.ndarray  # int32: where a NaN goes
    features: np.ndarray  # int32, -2 at leaves
    thresholds: np.ndarray  # float32: left iff x <= threshold
    values: np.ndarray  # float64 [n_trees, max_nodes, n_columns], zero at internal nodes
    n_nodes: np.ndarray  # int [n_trees]
    base_values: np.ndarray  # float64 [n_columns]
    post_transform: str
    n_outputs: int

    @property
    def logistic(self) -> bool:
        return self.post_transform == "LOGISTIC"

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """The leaf (``[n, n_trees]``) each row of the float32 batch ``x [n, n_features]`` hits."""
        trees = np.arange(len(self.n_nodes))
        node = np.zeros((len(x), len(trees)), dtype=np.intp)
        while (inner := self.children_left[trees, node] >= 0).any():
            row, tree = np.nonzero(inner)
            at = node[row, tree]
            value = x[row, self.features[tree, at]]
            left = value <= self.thresholds[tree, at]
            child = np.where(left, self.children_left[tree, at], self.children_right[tree, at])
            node[row, tree] = np.where(np.isnan(value), self.children_default[tree, at], child)
        return node

    def covers(self, x: np.ndarray) -> np.ndarray:
        """Node covers ``[n_trees, max_nodes]``: how many rows of ``x`` pass through each node.

        ONNX keeps no node counts, so the covers come from background rows. A leaf no row
        reaches gets :data:`UNCOVERED_LEAF_WEIGHT` instead of 0, because path-dependent TreeSHAP
        divides by covers; internal covers are then the sums of their children's, so each
        split's two fractions still add up to one, and the shift is below a millionth of a row.
        """
        trees = np.arange(len(self.n_nodes))
        counts: np.ndarray = np.zeros(self.children_left.shape)
        np.add.at(counts, (trees[None, :], self.leaves(x)), 1.0)
        real = np.arange(counts.shape[1])[None, :] < self.n_nodes[:, None]
        inner = self.children_left >= 0
        counts[real & ~inner & (counts == 0)] = UNCOVERED_LEAF_WEIGHT
        left, right = np.maximum(self.children_left, 0), np.maximum(self.children_right, 0)
        while True:  # children before parents: settles after max-depth passes
            summed = np.take_along_axis(counts, left, 1) + np.take_along_axis(counts, right, 1)
            updated = np.where(inner, summed, counts)
            if np.array_equal(updated, counts):
                return counts
            counts = updated

    def target_values(self, target: int) -> tuple[np.ndarray, float]:
        """Leaf values ``[n_trees, max_nodes]`` and the offset that sum to ``target``'s margin."""
        if not 0 <= target < self.n_outputs:
            raise ExplainerError(f"target {target} is outside the model's {self.n_outputs} outputs")
        if self.base_values.size == self.n_outputs:
            return self.values[..., target], float(self.base_values[target])
        if target == 1:
            return self.values[..., 0], float(self.base_values[0])
        # class 0 of a one-column binary ensemble: ORT serves 1 - p, or -m when votes go negative
        complement = 0.0 if self.logistic or (self.values < 0).any() else 1.0
        return -self.values[..., 0], complement - float(self.base_values[0])

    def margin(self, x: np.ndarray, target: int) -> np.ndarray:
        """Class ``target``'s margin for each row of the float32 batch ``x`` (``[n]`` float64)."""
        values, offset = self.target_values(target)
        trees = np.arange(len(self.n_nodes))
        return offset + values[trees, self.leaves(x)].sum(axis=1)

    def served(self, margin: np.ndarray) -> np.ndarray:
        """What ORT serves for a margin: the probability under ``LOGISTIC``, else the margin."""
        return 1.0 / (1.0 + np.exp(-margin)) if self.logistic else margin


def parse_tree_ensemble(model_bytes: bytes, *, input_name: str, n_features: int) -> TreeEnsemble:
    """Read the single ``TreeEnsembleClassifier``/``Regressor`` node fed by ``input_name``."""
    import onnx
    from onnx import helper

    graph = onnx.load_from_string(model_bytes).graph
    nodes = [n for n in graph.node if n.op_type in _OPS and n.domain == "ai.onnx.ml"]
    if len(nodes) != 1 or list(nodes[0].input) != [input_name]:
        ops = sorted({n.op_type for n in graph.node})
        raise ExplainerError(
            f"exact TreeSHAP needs one ONNX TreeEnsembleClassifier/Regressor reading "
            f"{input_name!r} directly; this model has {ops}"
        )
    attrs = {a.name: helper.get_attribute_value(a) for a in nodes[0].attribute}
    kind = "class" if nodes[0].op_type == "TreeEnsembleClassifier" else "target"
    _refuse_unsupported(attrs, kind)
    if kind == "class":
        n_outputs = len(attrs.get("classlabels_int64s") or attrs.get("classlabels_strings") or [])
    else:
        n_outputs = int(attrs.get("n_targets", 1))
    n_columns = int(max(attrs[f"{kind}_ids"])) + 1
    if n_columns != n_outputs and not (n_outputs == 2 and n_columns == 1):
        raise ExplainerError(f"votes for {n_columns} of {n_outputs} outputs are not supported")
    structure = _structure(attrs, kind, n_columns, n_features)
    if attrs.get("aggregate_function", b"SUM") == b"AVERAGE":
        structure["values"] /= len(structure["n_nodes"])
    base = np.asarray(attrs.get("base_values") or [0.0] * n_columns, dtype=np.float64)
    if n_outputs == 2 and n_columns == 1 and base.size == 2:
        base = base[1:]  # ORT adds base_values[1] to the single class-1 column
    if base.size != n_columns:
        raise ExplainerError(f"{base.size} base_values for {n_columns} vote columns")
    return TreeEnsemble(
        **structure,
        base_values=base,
        post_transform=attrs.get("post_transform", b"NONE").decode(),
        n_outputs=n_outputs,
    )


def _refuse_unsupported(attrs: dict[str, Any], kind: str) -> None:
    doubles = sorted(name for name in attrs if name.endswith("_as_tensor"))
    if doubles:
        raise ExplainerError(f"double-precision tree attributes are not supported: {doubles}")
    transform = attrs.get("post_transform", b"NONE").decode()
    if transform not in _TRANSFORMS:
        raise ExplainerError(
            f"post_transform {transform} is not supported (only {', '.join(_TRANSFORMS)}): "
            "use kernel_shap or permutation_shap for this model"
        )
    aggregate = attrs.get("aggregate_function", b"SUM").decode()
    if aggregate not in ("SUM", "AVERAGE"):
        raise ExplainerError(f"aggregate_function {aggregate} is not supported")
    modes = {m.decode() for m in attrs["nodes_modes"]}
    if not modes <= set(_MODES):
        raise ExplainerError(f"tree split modes {sorted(modes - set(_MODES))} are not supported")
    if not attrs.get(f"{kind}_weights"):
        raise ExplainerError(f"the tree ensemble has no {kind}_weights")


def _structure(
    attrs: dict[str, Any], kind: str, n_columns: int, n_features: int
) -> dict[str, np.ndarray]:
    """The node attributes laid out as dense ``[n_trees, max_nodes]`` arrays."""
    tree_ids, tree = np.unique(np.asarray(attrs["nodes_treeids"]), return_inverse=True)
    node = np.asarray(attrs["nodes_nodeids"], dtype=np.intp)
    n_nodes = np.bincount(tree)
    shape = (len(tree_ids), int(n_nodes.max()))
    if (node >= n_nodes[tree]).any() or np.unique(tree * shape[1] + node).size != node.size:
        raise ExplainerError("tree node ids must run 0..n-1 within each tree")
    mode = np.asarray([m.decode() for m in attrs["nodes_modes"]])
    leaf = mode == "LEAF"
    features = np.asarray(attrs["nodes_featureids"])
    if features[~leaf].max(initial=0) >= n_features:
        raise ExplainerError(f"a split reads a feature beyond the model's {n_features}")
    strict = (mode == "BRANCH_LT") | (mode == "BRANCH_GTE")  # x < t  <=>  x <= t's float below
    left_is_true = (mode == "BRANCH_LEQ") | (mode == "BRANCH_LT")
    true_id = np.asarray(attrs["nodes_truenodeids"])
    false_id = np.asarray(attrs["nodes_falsenodeids"])
    thresholds = np.asarray(attrs["nodes_values"], dtype=np.float32)
    tracks_true = np.asarray(attrs.get("nodes_missing_value_tracks_true") or [0] * len(mode))

    def dense(column: np.ndarray, fill: float, dtype: type) -> np.ndarray:
        array: np.ndarray = np.full(shape, fill, dtype=dtype)
        array[tree, node] = np.where(leaf, fill, column)
        return array

    return {
        "children_left": dense(np.where(left_is_true, true_id, false_id), -1, np.int32),
        "children_right": dense(np.where(left_is_true, false_id, true_id), -1, np.int32),
        "children_default": dense(np.where(tracks_true == 1, true_id, false_id), -1, np.int32),
        "features": dense(features, -2, np.int32),
        "thresholds": dense(
            np.where(strict, np.nextafter(thresholds, np.float32(-np.inf)), thresholds),
            -2,
            np.float32,
        ),
        "values": _votes(attrs, kind, tree_ids, n_nodes, n_columns),
        "n_nodes": n_nodes,
    }


def _votes(
    attrs: dict[str, Any], kind: str, tree_ids: np.ndarray, n_nodes: np.ndarray, n_columns: int
) -> np.ndarray:
    """Leaf votes ``[n_trees, max_nodes, n_columns]`` (float32 weights, summed per node)."""
    vote_trees = np.asarray(attrs[f"{kind}_treeids"])
    tree = np.searchsorted(tree_ids, vote_trees)
    node = np.asarray(attrs[f"{kind}_nodeids"], dtype=np.intp)
    if not np.isin(vote_trees, tree_ids).all() or (node >= n_nodes[tree]).any():
        raise ExplainerError(f"{kind}_treeids/{kind}_nodeids name nodes that do not exist")
    values = np.zeros((len(tree_ids), int(n_nodes.max()), n_columns))
    weights = np.asarray(attrs[f"{kind}_weights"], dtype=np.float32).astype(np.float64)
    np.add.at(values, (tree, node, np.asarray(attrs[f"{kind}_ids"])), weights)
    return values
