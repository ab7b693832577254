"""Kernel SHAP on the served ORT model.

Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017: Shapley
values as the solution of a weighted linear regression over sampled feature coalitions, with
absent features filled in from background rows (interventional expectation). It sees the model
only through ORT, so it explains any tabular bundle; tree ensembles get exact TreeSHAP instead.

The background is a seeded sample of the bundle's rows (``max_background``); each coalition
costs one ORT row per background row. ``nsamples`` coalitions are drawn from numpy's global
generator, seeded for the call and restored afterwards. With ``2**n_features - 2`` or more
samples every coalition is enumerated and the result is exact. No L1 feature selection is
applied (shap's default keeps only 10 features). ``link``: ``identity`` explains the served
score (probability); ``logit`` explains the log-odds of its background expectation.

Defaults: 2048 coalitions over 50 background rows. On the 30-feature breast-cancer GBT the
largest error against exact interventional TreeSHAP (log-odds, same rows) was ~2 % of the
largest value; 500 coalitions gave ~5 %, 8192 ~1 % at four times the cost.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from services.worker.explainers._tabular import (
    background_rows,
    checked_row,
    explained_score,
    numpy_global_seed,
    sampled_shap_attribution,
    score_function,
)
from services.worker.explainers.base import Attribution, CatalogueExplainer, LoadedModel
from shared.methods.kernel_shap import KernelShapParameters


class KernelShapExplainer(CatalogueExplainer):
    name: ClassVar[str] = "kernel_shap"

    def explain(
        self,
        *,
        model: LoadedModel,
        x: np.ndarray,
        target: int,
        parameters: KernelShapParameters,
        seed: int,
    ) -> Attribution:
        """Kernel SHAP values ``[n_features]`` of class ``target`` for the row ``x [1, n]``."""
        import shap

        p = parameters
        x = checked_row(model, x, target)
        background = background_rows(model, max_rows=p.max_background, seed=seed)
        scores = score_function(model, target=target, link=p.link)
        with numpy_global_seed(seed):
            explainer = shap.KernelExplainer(scores, background, link=p.link)
            raw = explainer.shap_values(x, nsamples=p.nsamples, l1_reg=False, silent=True)
        values = np.asarray(raw, dtype=np.float64).reshape(-1)
        expected = float(np.ravel(explainer.expected_value)[0])
        return sampled_shap_attribution(
            method=self.name,
            model=model,
            values=values,
            expected=expected,
            explained=explained_score(scores, x, p.link),
            target=target,
            parameters=p,
            seed=seed,
            background_rows=len(background),
        )
