"""Exact TreeSHAP of the served ONNX tree ensemble.

Lundberg et al., "From local explanations to global understanding with explainable AI for
trees", Nature Machine Intelligence 2020. The trees are read from the served ``model.onnx``
(:mod:`services.worker.onnx_trees`) and handed to ``shap.TreeExplainer`` in shap's custom
tree format, so the explained model is the served model, not the training library's object.
Before explaining, the parsed trees are run on the row and the background rows and compared
with ORT's output; past ``SERVED_PARITY_TOLERANCE`` (:mod:`shared.methods.quality`; relative
once outputs exceed 1, since ORT's float32 sums round in proportion) the job is refused.

Values are in the ensemble's margin: log-odds under a ``LOGISTIC`` post-transform (gradient
boosting: XGBoost, LightGBM, sklearn), probability under ``NONE`` for a classifier (random
forests), the predicted value itself for a regressor. Splits compare the float32 input with
the float32 thresholds stored in ``model.onnx``, as ORT does (the float32 threshold convention,
:mod:`services.worker.onnx_trees`). ``feature_perturbation``:

* ``interventional`` (default): E[f(x_S, X_rest)] over the bundle's background rows (at most
  ``max_background``, a seeded sample: the same rows Kernel and Permutation SHAP use with the
  same seed). The expected value is the mean margin over those rows, and Kernel/Permutation
  SHAP estimate the same game, so the methods can be cross-checked. Cost grows linearly with
  the background; shap computes this mode with C floats (thresholds, leaf votes and each
  tree's sums; the thresholds lose nothing, ONNX stores them as float32) and float64 totals
  (additivity to ~1e-7 relative).
* ``tree_path_dependent``: expectations follow the trees' covers, which ONNX does not store;
  they are recounted from all background rows (:meth:`TreeEnsemble.covers`). With the training
  rows as background this is sklearn's own TreeSHAP. Computed in float64.

Quality: ``additivity_error`` is |expected value + sum of values - the parsed trees' margin|;
``additivity_error_served`` is the same sum checked against ORT's served output on the
served scale (the sigmoid of the sum against the served probability under ``LOGISTIC``). Not
in log-odds: ORT serves a float32 probability, for the class of negative margin ``1 - v`` with
``v`` its float32 sigmoid of ``|margin|``, a multiple of 2**-24 within about one such step of
the exact value; its log-odds are known only to about ``2**-24 / (p (1 - p))`` (2e-3 at
p = 3e-5, a margin of 10.4) however exact the values are.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from services.worker.explainers._tabular import background_rows, checked_row, library_versions
from services.worker.explainers.base import (
    Attribution,
    CatalogueExplainer,
    ExplainerError,
    LoadedModel,
)
from services.worker.onnx_trees import TreeEnsemble, parse_tree_ensemble
from shared.methods.quality import SERVED_PARITY_TOLERANCE
from shared.methods.tree_shap import TreeShapParameters


def shap_tree_model(
    ensemble: TreeEnsemble, *, target: int, covers_from: np.ndarray | None
) -> dict[str, Any]:
    """Class ``target``'s margin as the model dict ``shap.TreeExplainer`` accepts, with node
    covers counted from the rows ``covers_from`` (needed by ``tree_path_dependent`` only)."""
    values, offset = ensemble.target_values(target)
    covers = np.ones(values.shape) if covers_from is None else ensemble.covers(covers_from)
    trees = [
        {
            "children_left": ensemble.children_left[t, :n],
            "children_right": ensemble.children_right[t, :n],
            "children_default": ensemble.children_default[t, :n],
            "features": ensemble.features[t, :n],
            "thresholds": ensemble.thresholds[t, :n].astype(np.float64),
            "values": values[t, :n, None],
            "node_sample_weight": covers[t, :n],
        }
        for t, n in enumerate(ensemble.n_nodes)
    ]
    return {
        "trees": trees,
        "base_offset": offset,
        "tree_output": "log_odds" if ensemble.logistic else "raw_value",
        "input_dtype": np.float32,  # compare float32 inputs with float32 thresholds, like ORT
        "internal_dtype": np.float64,
    }


class TreeShapExplainer(CatalogueExplainer):
    name: ClassVar[str] = "tree_shap"

    def explain(
        self,
        *,
        model: LoadedModel,
        x: np.ndarray,
        target: int,
        parameters: TreeShapParameters,
        seed: int,
    ) -> Attribution:
        """SHAP values ``[n_features]`` of class ``target``'s margin for the row ``x [1, n]``."""
        import shap

        perturbation = parameters.feature_perturbation
        x = checked_row(model, x, target)
        ensemble = parse_tree_ensemble(
            model.bundle.read_model_bytes(),
            input_name=model.manifest.input_name,
            n_features=x.shape[1],
        )
        interventional = perturbation == "interventional"
        background = background_rows(
            model, max_rows=parameters.max_background if interventional else None, seed=seed
        )
        rows = np.vstack([x, background])
        margins = ensemble.margin(rows, target)
        served = model.scores(rows)[:, target]
        parity = _parity(ensemble.served(margins), served)
        tree_model = shap_tree_model(
            ensemble, target=target, covers_from=None if interventional else background
        )
        explainer = shap.TreeExplainer(
            tree_model,
            data=background if interventional else None,
            feature_perturbation=perturbation,
            model_output="raw",
        )
        values = np.asarray(explainer.shap_values(x, check_additivity=False), dtype=np.float64)[0]
        expected = float(np.ravel(explainer.expected_value)[0])
        total = expected + values.sum()
        served_total = float(ensemble.served(np.asarray(total)))  # on the served scale
        return Attribution(
            method=self.name,
            values=values,
            target=target,
            parameters=parameters.recorded(),
            model_sha256=model.bundle.sha256,
            seed=seed,
            baseline=expected,
            quality={
                "additivity_error": float(abs(total - margins[0])),
                "additivity_error_served": abs(served_total - float(served[0])),
                "served_parity_max_abs_diff": parity,
                "background_rows": float(len(background)),
            },
            library_versions=library_versions("shap", "onnx", "onnxruntime"),
        )


def _parity(parsed: np.ndarray, served: np.ndarray) -> float:
    """Max |parsed trees' served score - ORT's|; refuses the job past tolerance, which is
    absolute for scores up to 1 (probabilities) and relative beyond (a regressor's value: ORT
    sums float32 votes, so at 1000 its rounding alone is ~1e-4)."""
    difference = float(np.max(np.abs(parsed - served)))
    tolerance = SERVED_PARITY_TOLERANCE * max(1.0, float(np.max(np.abs(served))))
    if not difference <= tolerance:
        raise ExplainerError(
            f"the trees read from model.onnx disagree with the served model by {difference:.3g} "
            f"(tolerance {tolerance:g}); refusing to explain a different model"
        )
    return difference
