import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from shared.rendering.summary import (
    BAR_COLOUR,
    MISSING_COLOUR,
    _scaled_values,
    _swarm_offsets,
    render_summary,
)
from tests.unit.rendering._png import count_colour, decode


def _cases(n_cases: int, n_features: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(n_features)
    inputs = rng.random((n_cases, n_features))
    return (
        (inputs - 0.5) * rng.random(n_features),
        inputs,
        [f"feature {j}" for j in range(n_features)],
    )


@pytest.mark.parametrize("kind", ["beeswarm", "bar"])
@pytest.mark.parametrize("n_features", [1, 30])
def test_renders_and_decodes(kind, n_features):
    values, inputs, names = _cases(100, n_features)
    pixels = decode(render_summary(values, inputs, names, kind=kind))
    assert pixels.shape[1] == 760 and pixels.shape[0] >= 150


def test_max_display_sets_the_number_of_rows():
    values, inputs, names = _cases(50, 30)
    heights = [
        decode(render_summary(values, inputs, names, max_display=m)).shape[0] for m in (5, 15)
    ]
    assert heights[1] - heights[0] == 26 * 10


def test_bar_chart_uses_its_colour_and_missing_values_are_grey():
    values, inputs, names = _cases(60, 4)
    assert count_colour(decode(render_summary(values, inputs, names, kind="bar")), BAR_COLOUR) > 500
    inputs[:, 0] = np.nan
    grey_with_missing = count_colour(decode(render_summary(values, inputs, names)), MISSING_COLOUR)
    grey_without = count_colour(
        decode(render_summary(values, np.zeros_like(inputs), names)), MISSING_COLOUR
    )
    # 60 grey points of ~8 px each; antialiased black text also yields a few exact greys.
    assert grey_with_missing > 300 and grey_without < 30


def test_swarm_offsets_stack_crowded_points_and_leave_lone_ones_centred():
    x = np.array([0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 10.0])
    assert_array_equal(_swarm_offsets(x), [0, 0, 1, -1, 2, -2, 0])


def test_feature_values_scale_between_their_5th_and_95th_percentiles():
    column = np.r_[np.arange(101.0), np.nan]
    scaled = _scaled_values(column)
    assert_allclose(scaled[:101], np.clip((np.arange(101.0) - 5) / 90, 0, 1))
    assert np.isnan(scaled[-1])
    assert_allclose(_scaled_values(np.array([3.0, 3.0, np.nan]))[:2], 0.5)


def test_same_input_gives_identical_bytes():
    values, inputs, names = _cases(80, 12)
    assert render_summary(values, inputs, names) == render_summary(values, inputs, names)


@pytest.mark.parametrize(
    ("values", "inputs", "names", "kind", "message"),
    [
        (np.zeros((3, 2)), np.zeros((3, 3)), ["a", "b"], "bar", "do not agree"),
        (np.zeros((3, 2)), np.zeros((3, 2)), ["a"], "bar", "do not agree"),
        (np.zeros((0, 2)), np.zeros((0, 2)), ["a", "b"], "bar", "non-empty"),
        (np.full((3, 2), np.inf), np.zeros((3, 2)), ["a", "b"], "bar", "finite"),
        (np.zeros((3, 2)), np.zeros((3, 2)), ["a", "b"], "violin", "kind"),
    ],
)
def test_bad_inputs_are_rejected(values, inputs, names, kind, message):
    with pytest.raises(ValueError, match=message):
        render_summary(values, inputs, names, kind=kind)
