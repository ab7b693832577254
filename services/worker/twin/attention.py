"""Attention-23/24: torch's dynamo exporter emits it at opset 23+ for
``scaled_dot_product_attention``; onnx2torch 1.5.15 has no converter.

Covered: 3D or 4D inputs, grouped key/value heads, ``scale``, ``is_causal`` (upper-left
aligned, like torch's) and a boolean or additive ``attn_mask``. Refused: a key/value cache
(``past_key``/``past_value``, ``nonpad_kv_seqlen``), ``softcap`` and the optional outputs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from services.worker.twin.onnx2torch_compat import Converter, Node, TorchOp


class Attention(nn.Module):
    """``softmax(Q K^T * scale + mask) V`` per head."""

    def __init__(self, q_heads: int, kv_heads: int, scale: float | None, causal: bool) -> None:
        super().__init__()
        self.q_heads, self.kv_heads, self.scale, self.causal = q_heads, kv_heads, scale, causal

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        packed = q.dim() == 3
        if packed:  # (batch, sequence, heads * size) -> (batch, heads, sequence, size)
            q, k, v = (
                t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)
                for t, heads in ((q, self.q_heads), (k, self.kv_heads), (v, self.kv_heads))
            )
        if k.shape[1] != q.shape[1]:  # grouped-query attention: each kv head serves a group
            k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
            v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
        scale = self.scale if self.scale is not None else 1 / math.sqrt(q.shape[-1])
        scores = (q @ k.transpose(-1, -2)) * scale
        if self.causal:
            keep = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
            scores = scores.masked_fill(~keep, float("-inf"))
        if mask is not None:
            scores = (
                scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool
                else scores + mask
            )  # fmt: skip
        y = torch.softmax(scores, dim=-1) @ v
        return y.transpose(1, 2).flatten(2) if packed else y


def _attention(node: Node) -> TorchOp:
    attributes = node.attributes
    if any(node.has_input(i) for i in (4, 5, 6)):
        raise NotImplementedError("Attention with a key/value cache or nonpad_kv_seqlen")
    if attributes.get("softcap", 0.0) != 0.0:
        raise NotImplementedError("Attention with softcap")
    if any(node.outputs[1:]):
        raise NotImplementedError("Attention with present_key/value or qk_matmul_output")
    module = Attention(
        q_heads=attributes.get("q_num_heads", 0),
        kv_heads=attributes.get("kv_num_heads", 0),
        scale=attributes.get("scale"),
        causal=attributes.get("is_causal", 0) == 1,
    )
    inputs = tuple(name for name in node.inputs[:4] if name)
    return TorchOp(module, inputs, node.outputs[:1])


CONVERTERS: tuple[Converter, ...] = (Converter("Attention", (23, 24), _attention),)
