"""Exact TreeSHAP (Lundberg et al. 2020): declaration and parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.methods._background import BackgroundParameters
from shared.methods.spec import MethodSpec, tree_ensemble


class TreeShapParameters(BackgroundParameters):
    feature_perturbation: Literal["interventional", "tree_path_dependent"] = Field(
        "interventional",
        description="interventional: expectations over the background rows; "
        "tree_path_dependent: over the trees' covers, counted from all background rows",
    )


SPEC = MethodSpec(
    name="tree_shap",
    label="TreeSHAP",
    modality="tabular",
    summary="Exact TreeSHAP of the served tree ensemble (Lundberg 2020)",
    plain="Splits the model's output for this case exactly among the input features: starting "
    "from the model's average output over reference cases, each feature's value pushes the "
    "output up or down, and the pushes add up to the output for this case (the additivity "
    "check below). It reads the trees of the served model file, so the values are computed, "
    "not estimated.",
    limitations="Tree ensembles only; the values are in the ensemble's margin (log-odds for "
    "gradient boosting) and depend on the reference cases chosen.",
    parameters=TreeShapParameters,
    supports=tree_ensemble,
    quality=(
        "additivity_error",
        "additivity_error_served",
        "served_parity_max_abs_diff",
        "background_rows",
    ),
)
