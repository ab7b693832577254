"""The one error admission raises: which step refused the model, and where in it."""

from __future__ import annotations


class AdmissionError(Exception):
    """A model refused at ``step``; ``where`` names the ONNX node, tensor or manifest field."""

    def __init__(self, step: str, message: str, *, where: str | None = None) -> None:
        self.step = step
        self.where = where
        self.message = message
        located = f" [{where}]" if where else ""
        super().__init__(f"{step}{located}: {message}")
