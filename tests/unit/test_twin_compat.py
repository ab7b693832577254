"""What the twin's onnx2torch shim relies on, probed against the installed onnx2torch and torch.

A failure here means an upgrade changed something the shim (services/worker/twin/
onnx2torch_compat.py) or its converters assume; each message says what to re-check.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import inspect
import warnings
from pathlib import Path

import onnx
import pytest
import torch
from onnx import helper

from services.worker.twin import attention, converters, ml_converters, onnx2torch_compat
from services.worker.twin.onnx2torch_compat import Converter, onnx2torch, upstream_has

ALL_CONVERTERS: tuple[Converter, ...] = (
    converters.CONVERTERS + attention.CONVERTERS + ml_converters.CONVERTERS
)
ADDED = sorted(
    {(c.domain, c.op_type, v) for c in ALL_CONVERTERS for v in c.versions if v not in c.replaces}
)


def test_onnx2torch_is_the_verified_version() -> None:
    installed = importlib.metadata.version("onnx2torch")
    assert installed == onnx2torch_compat.VERIFIED_ONNX2TORCH, (
        f"onnx2torch {installed} is installed; the twin's shim was verified against "
        f"{onnx2torch_compat.VERIFIED_ONNX2TORCH}. Re-check the registry API, the node and "
        "graph attributes _adapt reads, which converters it now ships (drop ours), its "
        "torchvision imports, then update VERIFIED_ONNX2TORCH."
    )


def test_torch_is_the_verified_version() -> None:
    release = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    assert release == onnx2torch_compat.VERIFIED_TORCH, (
        f"torch {torch.__version__} is installed; the twin was verified with "
        f"{onnx2torch_compat.VERIFIED_TORCH}.x. Re-run tests/unit/test_twin*.py and "
        "tests/integration/test_twin_families.py (which ops each exporter now emits), then "
        "update VERIFIED_TORCH."
    )


@pytest.mark.parametrize(("domain", "op_type", "version"), ADDED)
def test_each_added_converter_is_missing_upstream(domain, op_type, version) -> None:
    assert not upstream_has(op_type, version, domain), (
        f"onnx2torch now ships a converter for {domain or 'ai.onnx'} {op_type}-{version}; "
        "ours is no longer installed: drop it from services/worker/twin after checking theirs "
        "passes tests/unit/test_twin_converters.py"
    )


def test_each_added_version_is_a_real_onnx_op_version() -> None:
    for converter in ALL_CONVERTERS:
        for version in converter.versions:
            schema = onnx.defs.get_schema(converter.op_type, version, converter.domain)
            assert schema.since_version == version, (converter.op_type, version)


def test_reshape_14_still_refuses_allowzero_upstream() -> None:
    # the only converter the shim replaces; when onnx2torch accepts allowzero=1, drop ours
    upstream = onnx2torch_compat.upstream_converter("Reshape", 14)
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=1)
    onnx_node = onnx2torch().onnx_node.OnnxNode(node, unique_name="reshape")
    with pytest.raises(NotImplementedError, match="allowzero"):
        upstream(onnx_node, None)


def test_registry_api_has_the_signatures_the_shim_uses() -> None:
    registry = onnx2torch().node_converters.registry
    assert list(inspect.signature(registry.add_converter).parameters) == [
        "operation_type",
        "version",
        "domain",
    ]
    assert list(inspect.signature(registry.get_converter).parameters) == [
        "operation_type",
        "version",
        "domain",
    ]
    assert registry.OperationDescription._fields == ("domain", "operation_type", "version")
    assert isinstance(registry._CONVERTER_REGISTRY, dict)
    assert upstream_has("Reshape", 14) and upstream_has("Softmax", 13)  # the snapshot works
    common = importlib.import_module("onnx2torch.utils.common")
    assert common.OnnxMapping._fields == ("inputs", "outputs")
    assert common.OperationConverterResult._fields == ("torch_module", "onnx_mapping")
    assert list(inspect.signature(common.get_const_value).parameters) == ["name", "graph"]
    for attribute in ("operation_type", "input_values", "output_values", "attributes"):
        assert isinstance(getattr(onnx2torch().onnx_node.OnnxNode, attribute), property)
    assert callable(onnx2torch().onnx_graph.OnnxGraph.generate_node_name)


def _torchvision_uses(source: Path) -> set[tuple[str, str]]:
    """(module, attribute) pairs a file takes from torchvision, by its import statements and
    ``torchvision.<module>.<attribute>`` references."""
    uses: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torchvision."):
            uses |= {(node.module.removeprefix("torchvision."), a.name) for a in node.names}
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "torchvision"
        ):
            uses.add((node.value.attr, node.attr))
    return uses


def test_torchvision_stand_in_covers_exactly_what_onnx2torch_imports() -> None:
    spec = importlib.util.find_spec("onnx2torch")
    assert spec is not None and spec.origin is not None
    users = {
        path.name: _torchvision_uses(path)
        for path in Path(spec.origin).parent.rglob("*.py")
        if "torchvision" in path.read_text()
    }
    assert set(users) == {"nms.py", "roialign.py"}, (
        f"onnx2torch now uses torchvision in {sorted(users)}: extend the stand-in in "
        "onnx2torch_compat (or its error) so those converters fail clearly"
    )
    assert set().union(*users.values()) == onnx2torch_compat.TORCHVISION_USES


def test_upstream_module_names_still_keep_the_domain_dots() -> None:
    original = onnx2torch_compat.PATCHED[("onnx2torch.onnx_graph.OnnxGraph", "generate_node_name")]
    node = helper.make_node("Scaler", ["x"], ["y"], domain="ai.onnx.ml")
    assert original(node) == "ai.onnx.ml/Scaler", (
        "onnx2torch changed how it names modules; if it no longer keeps dots (torch refuses "
        "them), drop the generate_node_name patch from onnx2torch_compat"
    )
    assert onnx2torch_compat.module_name("/features/features.0/Conv") == "features/features/0/Conv"


def test_upstream_slicing_still_indexes_with_a_list() -> None:
    original = onnx2torch_compat.PATCHED[("onnx2torch.node_converters.slice", "_do_slice")]
    x = torch.arange(24.0).reshape(2, 3, 4)
    index = [slice(None), slice(1, 3)]
    with pytest.warns(UserWarning, match="non-tuple sequence"):  # torch 2.13 still accepts it
        upstream = original(x, [], index, [])
    ours = onnx2torch_compat._do_slice(x, [], index, [])
    assert torch.equal(upstream, x[:, 1:3]) and torch.equal(ours, x[:, 1:3])


def test_upstream_convert_still_returns_a_whole_tuple_for_one_of_its_outputs() -> None:
    # Split's second half is a graph output; its first half feeds a Neg that is one too
    nodes = [
        helper.make_node("Split", ["x"], ["a", "b"], axis=0),
        helper.make_node("Neg", ["a"], ["c"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
        [
            helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [2]),
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    upstream = onnx2torch().convert(proto)(x)
    assert isinstance(upstream[0], tuple), (
        "onnx2torch now returns single values for graph outputs of multi-output nodes: drop "
        "_single_output_producers from onnx2torch_compat.convert"
    )
    b, c = onnx2torch_compat.convert(proto)(x)
    assert torch.equal(b, x[2:]) and torch.equal(c, -x[:2])


def test_converted_slices_use_the_tuple_indexing() -> None:
    starts, ends = (
        helper.make_tensor("starts", 7, [2], [1, -3]),
        helper.make_tensor("ends", 7, [2], [3, -1]),
    )
    axes = helper.make_tensor("axes", 7, [2], [1, 2])
    graph = helper.make_graph(
        [helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [starts, ends, axes],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = torch.arange(24.0).reshape(2, 3, 4)
    twin = onnx2torch_compat.convert(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the list-of-slices deprecation would raise here
        assert torch.equal(twin(x), x[:, 1:3, -3:-1])
