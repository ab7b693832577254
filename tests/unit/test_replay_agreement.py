"""Agreement of a replay with its archive: known answers on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from services.worker.replay_agreement import AgreementError, agreement, spearman, top_positions


def test_identical_arrays_agree_exactly() -> None:
    rng = np.random.default_rng(0)
    for values in (rng.normal(size=30), rng.normal(size=(3, 20, 20))):
        archived = values.astype(np.float32)
        result = agreement(archived, archived.copy())
        assert result.exact is True
        assert result.max_abs_diff == 0.0
        assert result.spearman == 1.0
        assert result.top_features_same is True and result.top_overlap == 1.0
    assert agreement(archived, archived.copy()).top_k == 4  # ceil(1% of 20 * 20 pixels)


def test_a_reversed_ranking_correlates_minus_one_and_moves_the_top_features() -> None:
    archived = np.arange(1, 11, dtype=np.float32)
    result = agreement(archived, archived[::-1].copy())
    assert result.exact is False
    assert result.max_abs_diff == 9.0
    assert result.spearman == pytest.approx(-1.0)
    assert result.top_k == 5
    assert top_positions(archived)[1] == {5, 6, 7, 8, 9}
    assert result.top_features_same is False and result.top_overlap == 0.0


def test_one_swap_below_the_top_keeps_the_top_features() -> None:
    archived = np.arange(1, 11, dtype=np.float32)
    replayed = archived[[1, 0, 2, 3, 4, 5, 6, 7, 8, 9]]
    result = agreement(archived, replayed)
    # rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)) with two ranks off by one: 1 - 12 / 990
    assert_allclose(result.spearman, 1 - 12 / 990, rtol=1e-12)
    assert result.exact is False and result.max_abs_diff == 1.0
    assert result.top_features_same is True


def test_a_sign_flip_anticorrelates_but_keeps_the_top_features_by_magnitude() -> None:
    archived = np.array([0.5, -3.0, 1.0, 2.0, -0.25, 4.0, 0.1], dtype=np.float32)
    result = agreement(archived, -archived)
    assert result.spearman == pytest.approx(-1.0)
    assert result.max_abs_diff == 8.0  # 2 * max |a|
    assert result.exact is False
    assert result.top_features_same is True


def test_constant_arrays_have_a_defined_correlation() -> None:
    zeros = np.zeros(8, dtype=np.float32)
    both = agreement(zeros, zeros.copy())
    assert (both.exact, both.max_abs_diff, both.spearman) == (True, 0.0, 1.0)
    shifted = agreement(np.ones(8, dtype=np.float32), np.full(8, 2.0, dtype=np.float32))
    assert (shifted.exact, shifted.max_abs_diff, shifted.spearman) == (False, 1.0, 1.0)
    one_side = np.arange(8, dtype=np.float32)
    assert spearman(zeros, one_side) == 0.0 and spearman(one_side, zeros) == 0.0


def test_an_image_top_is_chosen_by_channel_summed_magnitude() -> None:
    archived = np.zeros((3, 10, 10), dtype=np.float32)  # 100 pixels: the top 1% is one pixel
    archived[0, 2, 3] = 5.0
    archived[1, 7, 7] = -4.0
    spread = np.zeros_like(archived)
    spread[:, 2, 3] = [2.0, -2.0, 2.0]  # the same pixel, 6 in total over the channels
    spread[2, 7, 7] = 5.5
    assert top_positions(archived) == (1, frozenset({2 * 10 + 3}))
    assert agreement(archived, spread).top_features_same is True
    spread[2, 7, 7] = 6.5  # now the other pixel leads
    assert agreement(archived, spread).top_features_same is False


def test_a_tiny_difference_is_not_exact_and_is_measured() -> None:
    archived = np.linspace(-1, 1, 50, dtype=np.float32)
    replayed = archived.copy()
    replayed[10] = np.nextafter(replayed[10], np.float32(2))
    result = agreement(archived, replayed)
    assert result.exact is False
    assert_allclose(result.max_abs_diff, float(replayed[10]) - float(archived[10]))
    assert 0 < result.max_abs_diff < 1e-7
    assert result.spearman == 1.0 and result.top_features_same is True


def test_arrays_that_cannot_be_compared_are_refused() -> None:
    with pytest.raises(AgreementError, match="shape"):
        agreement(np.zeros(4, dtype=np.float32), np.zeros(5, dtype=np.float32))
    with pytest.raises(AgreementError, match="NaN"):
        agreement(np.zeros(4, dtype=np.float32), np.array([0, np.nan, 0, 0], dtype=np.float32))
