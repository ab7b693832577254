import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from shared.rendering.waterfall import (
    NEGATIVE_COLOUR,
    POSITIVE_COLOUR,
    render_waterfall,
    top_features,
)
from tests.unit.rendering._png import count_colour, decode

VALUES = np.array([0.1, -3.0, 2.0, 0.5, -0.2])
NAMES = ["age", "radius", "texture", "smoothness", "symmetry"]
INPUTS = np.array([61.0, 14.2, 19.9, 0.09, 0.18])


def test_rows_are_sorted_by_magnitude_and_the_rest_aggregated():
    rows = top_features(VALUES, NAMES, INPUTS, expected_value=-0.5, k=3)
    assert [row["name"] for row in rows] == ["radius", "texture", "smoothness", "2 other features"]
    assert [row["rank"] for row in rows] == [1, 2, 3, None]
    assert [row["value"] for row in rows] == [14.2, 19.9, 0.09, None]
    assert_allclose([row["shap"] for row in rows], [-3.0, 2.0, 0.5, 0.1 - 0.2])


def test_listed_and_aggregated_contributions_add_up_to_f_x():
    rng = np.random.default_rng(0)
    values, expected = rng.normal(size=30), 0.37
    rows = top_features(values, [f"f{i}" for i in range(30)], rng.random(30), expected, k=10)
    assert len(rows) == 11 and rows[-1]["name"] == "20 other features"
    f_x = expected + values.sum()
    assert_allclose(expected + sum(row["shap"] for row in rows), f_x, rtol=1e-12)
    assert_allclose(rows[0]["end"], f_x, rtol=1e-12)
    assert rows[-1]["start"] == expected
    for upper, lower in zip(rows, rows[1:], strict=False):
        assert upper["start"] == lower["end"]
        assert_allclose(upper["end"] - upper["start"], upper["shap"], atol=1e-12)
    assert np.all(np.diff([abs(row["shap"]) for row in rows[:-1]]) <= 0)


def test_no_aggregate_when_k_covers_all_and_singular_for_one():
    assert all(row["rank"] for row in top_features(VALUES, NAMES, INPUTS, 0.0, k=5))
    assert top_features(VALUES, NAMES, INPUTS, 0.0, k=4)[-1]["name"] == "1 other feature"


def test_rows_are_json_serialisable_from_numpy_inputs():
    inputs = [np.float32(1.5), np.int64(3), np.str_("male"), None, "x"]
    rows = top_features(VALUES.astype(np.float32), NAMES, inputs, np.float64(0.1), k=5)
    decoded = json.loads(json.dumps(rows))
    assert {row["name"]: row["value"] for row in decoded}["age"] == 1.5
    assert {row["name"]: row["value"] for row in decoded}["texture"] == "male"


@pytest.mark.parametrize(
    ("values", "names", "expected", "k", "message"),
    [
        (VALUES, NAMES[:4], 0.0, 3, "names"),
        (np.array([np.nan, 1.0, 1.0, 1.0, 1.0]), NAMES, 0.0, 3, "finite"),
        (VALUES, NAMES, float("inf"), 3, "finite"),
        (VALUES, NAMES, 0.0, 0, "k must be"),
        (np.zeros((5, 1)), NAMES, 0.0, 3, "1-D"),
    ],
)
def test_bad_inputs_are_rejected(values, names, expected, k, message):
    with pytest.raises(ValueError, match=message):
        top_features(values, names, INPUTS, expected, k)


@pytest.mark.parametrize("n_features", [1, 30])
def test_renders_and_decodes(n_features):
    rng = np.random.default_rng(n_features)
    names = [f"feature number {i}" for i in range(n_features)]
    png = render_waterfall(rng.normal(size=n_features), names, rng.random(n_features), 0.2)
    pixels = decode(png)
    assert pixels.shape[1] == 760 and pixels.shape[0] >= 150


def test_bar_colours_follow_the_sign():
    mixed = decode(render_waterfall(VALUES, NAMES, INPUTS, 0.0, title="case 17"))
    assert count_colour(mixed, POSITIVE_COLOUR) > 100 and count_colour(mixed, NEGATIVE_COLOUR) > 100
    negative = decode(render_waterfall(-np.abs(VALUES), NAMES, INPUTS, 0.0))
    assert count_colour(negative, POSITIVE_COLOUR) == 0


def test_more_rows_make_a_taller_figure():
    values = np.random.default_rng(1).normal(size=30)
    names = [f"f{i}" for i in range(30)]
    short = decode(render_waterfall(values, names, np.zeros(30), 0.0, k=5))
    tall = decode(render_waterfall(values, names, np.zeros(30), 0.0, k=20))
    assert tall.shape[0] - short.shape[0] == 28 * 15


def test_same_input_gives_identical_bytes():
    first = render_waterfall(VALUES, NAMES, INPUTS, 0.0, units_label="probability")
    assert first == render_waterfall(VALUES, NAMES, INPUTS, 0.0, units_label="probability")
    assert b"tEXt" not in first
