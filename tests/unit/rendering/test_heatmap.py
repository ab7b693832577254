import math

import numpy as np
import pytest
from matplotlib import colormaps
from numpy.testing import assert_allclose, assert_array_equal

from shared.rendering.heatmap import heatmap_rgb, normalise_attributions, render_heatmap
from shared.rendering.options import HeatmapOptions
from tests.unit.rendering._png import decode

H, W = 48, 64  # not square, so a transposed axis cannot pass


def _square(value: float = 1.0) -> np.ndarray:
    """Zero attributions except a square inside the top-right quadrant."""
    attr = np.zeros((H, W))
    attr[6:18, 40:56] = value
    return attr


def _cmap_rgb(name: str, position: float) -> np.ndarray:
    return np.rint(np.asarray(colormaps[name](position)[:3]) * 255).astype(np.uint8)


@pytest.mark.parametrize("overlay", ["original", "grayscale", "mask", "none"])
@pytest.mark.parametrize("image_shape", [(H, W), (1, H, W), (3, H, W)])
def test_png_has_the_image_size_and_rgb_mode(overlay, image_shape):
    image = np.random.default_rng(0).random(image_shape)
    attributions = np.random.default_rng(1).normal(size=(3, H, W))
    pixels = decode(render_heatmap(image, attributions, HeatmapOptions(overlay=overlay)))
    assert pixels.shape == (H, W, 3)


def test_only_the_attributed_quadrant_changes():
    image = np.full((H, W), 0.5)
    pixels = decode(render_heatmap(image, _square(), HeatmapOptions(alpha=0.8)))
    change = np.abs(pixels.astype(int) - 128).sum(axis=-1)
    quadrants = [change[:24, :32], change[:24, 32:], change[24:, :32], change[24:, 32:]]
    assert int(np.argmax([q.sum() for q in quadrants])) == 1
    outside = np.ones((H, W), dtype=bool)
    outside[6:18, 40:56] = False
    assert change[outside].max() == 0  # unattributed pixels show the image unchanged
    assert change[6:18, 40:56].min() > 0


def test_channels_are_summed_so_opposite_signs_cancel():
    rng = np.random.default_rng(2)
    attributions = rng.normal(size=(3, H, W))
    options = HeatmapOptions(polarity="both")
    assert_allclose(
        normalise_attributions(attributions, options),
        normalise_attributions(attributions.sum(axis=0), options),
    )
    cancelling = np.stack([_square(), -_square(), np.zeros((H, W))])
    assert not normalise_attributions(cancelling, HeatmapOptions(polarity="absolute")).any()


def test_positive_polarity_renders_negative_evidence_like_zero():
    image = np.random.default_rng(3).random((3, H, W))
    for overlay in ("original", "grayscale", "none"):
        options = HeatmapOptions(overlay=overlay)
        assert render_heatmap(image, -_square(), options) == render_heatmap(
            image, np.zeros((H, W)), options
        )
    unchanged = decode(render_heatmap(image, -_square()))
    assert_array_equal(unchanged, np.rint(image.transpose(1, 2, 0) * 255).astype(np.uint8))


def test_negative_polarity_shows_the_magnitude_of_negative_evidence():
    normalised = normalise_attributions(-_square(2.0), HeatmapOptions(polarity="negative"))
    assert_allclose(normalised, _square(1.0))


def test_both_polarity_maps_signs_to_the_ends_of_the_diverging_map():
    attr = np.zeros((H, W))
    attr[5, 5], attr[40, 60] = 3.0, -3.0
    options = HeatmapOptions(polarity="both", overlay="none", clip_percentile=100)
    pixels = decode(render_heatmap(np.zeros((H, W)), attr, options))
    assert_array_equal(pixels[5, 5], _cmap_rgb("RdBu_r", 1.0))
    assert_array_equal(pixels[40, 60], _cmap_rgb("RdBu_r", 0.0))
    assert_array_equal(pixels[20, 20], _cmap_rgb("RdBu_r", 128 / 255))
    assert np.abs(pixels[5, 5].astype(int) - pixels[40, 60]).sum() > 200


@pytest.mark.parametrize("clip", [60.0, 90.0, 99.0, 100.0])
def test_clip_percentile_is_the_scale_of_the_nonzero_magnitudes(clip):
    ramp = np.concatenate([np.zeros(H * W // 2), np.linspace(0.01, 1.0, H * W // 2)])
    attr = ramp.reshape(H, W)
    expected = np.clip(attr / np.percentile(ramp[ramp > 0], clip), 0.0, 1.0)
    assert_allclose(normalise_attributions(attr, HeatmapOptions(clip_percentile=clip)), expected)


def test_lower_clip_saturates_more_and_brightens_every_pixel():
    attr = np.random.default_rng(4).gamma(1.0, size=(H, W))
    images = {
        clip: decode(
            render_heatmap(
                np.zeros((H, W)), attr, HeatmapOptions(overlay="none", clip_percentile=clip)
            )
        ).astype(int)
        for clip in (70.0, 99.0)
    }
    luma = {clip: pixels @ np.array([299, 587, 114]) for clip, pixels in images.items()}
    assert (luma[70.0] >= luma[99.0] - 1000).all()  # cividis lightness rises monotonically
    top = _cmap_rgb("cividis", 1.0)
    saturated = {clip: np.all(images[clip] == top, axis=-1).mean() for clip in images}
    assert saturated[70.0] == pytest.approx(0.30, abs=0.01)
    assert saturated[99.0] == pytest.approx(0.01, abs=0.005)


def test_mask_keeps_exactly_the_top_pixels_and_dims_the_rest():
    attr = np.random.default_rng(5).permutation(np.arange(1.0, H * W + 1)).reshape(H, W)
    image = np.full((H, W), 0.8)
    options = HeatmapOptions(overlay="mask", mask_top_percent=25.0, alpha=1.0)
    pixels = decode(render_heatmap(image, attr, options))[..., 0]
    kept = pixels == 204
    assert kept.sum() == math.ceil(0.25 * H * W)
    assert attr[kept].min() > attr[~kept].max()
    assert (pixels[~kept] == 0).all()
    half = heatmap_rgb(image, attr, options.model_copy(update={"alpha": 0.5}))[..., 0]
    assert_allclose(half[~kept], 0.4)


def test_mask_never_keeps_unattributed_pixels():
    options = HeatmapOptions(overlay="mask", mask_top_percent=50.0, alpha=1.0)
    kept = heatmap_rgb(np.ones((H, W)), _square(), options)[..., 0] > 0
    assert_array_equal(kept, _square() > 0)


def test_grayscale_overlay_keeps_unattributed_pixels_grey():
    image = np.random.default_rng(6).random((3, H, W))
    rgb = heatmap_rgb(image, _square(), HeatmapOptions(overlay="grayscale"))
    assert_allclose(rgb[30:, :30, 0], rgb[30:, :30, 1])
    assert_allclose(rgb[30:, :30, 1], rgb[30:, :30, 2])


def test_same_input_gives_identical_bytes_without_metadata():
    image = np.random.default_rng(7).random((H, W))
    attr = np.random.default_rng(8).normal(size=(H, W))
    for options in (HeatmapOptions(), HeatmapOptions(polarity="both", colorbar=True)):
        first, second = render_heatmap(image, attr, options), render_heatmap(image, attr, options)
        assert first == second
        assert b"tEXt" not in first and b"Software" not in first


def test_colorbar_variant_adds_a_bar_beside_the_upscaled_image():
    pixels = decode(render_heatmap(np.zeros((H, W)), _square(), HeatmapOptions(colorbar=True)))
    scale = math.ceil(192 / H)
    assert pixels.shape[0] == H * scale and pixels.shape[1] > W * scale


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="pixels but attributions are"):
        render_heatmap(np.zeros((H, W)), np.zeros((W, H)))
    with pytest.raises(ValueError, match="NaN"):
        render_heatmap(np.zeros((H, W)), np.full((H, W), np.nan))
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        render_heatmap(np.zeros((H, W)), np.zeros((1, 1, H, W)))
    with pytest.raises(ValueError, match="image must be"):
        render_heatmap(np.zeros((2, H, W)), np.zeros((H, W)))
