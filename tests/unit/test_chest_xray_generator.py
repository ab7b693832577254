"""The procedural chest X-ray generator: determinism, ground-truth masks, marker policy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from services.worker.demo.chest_xray import (
    CONFOUNDED_MARKER,
    INDEPENDENT_MARKER,
    MARKER_INTENSITY,
    NO_MARKER,
    MarkerPolicy,
    Samples,
    generate,
    marker_region,
)

FIELDS = [field.name for field in dataclasses.fields(Samples)]


@pytest.fixture(scope="module")
def samples() -> Samples:
    return generate(40, seed=11, marker=INDEPENDENT_MARKER)


def test_same_seed_gives_identical_arrays(samples: Samples) -> None:
    again = generate(40, seed=11, marker=INDEPENDENT_MARKER)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(again, name), getattr(samples, name), err_msg=name)
    other = generate(4, seed=12, marker=INDEPENDENT_MARKER)
    assert not np.array_equal(other.images, samples.images[:4])


def test_sample_depends_only_on_seed_and_index(samples: Samples) -> None:
    prefix = generate(7, seed=11, marker=INDEPENDENT_MARKER)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(prefix, name), getattr(samples, name)[:7])


def test_images_are_float32_in_unit_range_on_8_bit_grid(samples: Samples) -> None:
    assert samples.images.dtype == np.float32
    assert samples.images.shape == (40, 128, 128)
    assert samples.images.min() >= 0.0 and samples.images.max() <= 1.0
    levels = samples.images.astype(np.float64) * 255.0
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)


def test_labels_match_opacity_presence_and_opacities_lie_in_lungs(samples: Samples) -> None:
    assert set(np.unique(samples.labels)) == {0, 1}
    has_opacity = samples.opacity_masks.any(axis=(1, 2))
    np.testing.assert_array_equal(has_opacity, samples.labels == 1)
    assert not np.any(samples.opacity_masks & ~samples.lung_masks)
    assert np.all(samples.lung_masks.sum(axis=(1, 2)) > 0.1 * 128 * 128)


def test_opacities_are_brighter_than_the_rest_of_the_lung(samples: Samples) -> None:
    contrast = np.array(
        [
            samples.images[i][samples.opacity_masks[i]].mean()
            - samples.images[i][samples.lung_masks[i] & ~samples.opacity_masks[i]].mean()
            for i in np.flatnonzero(samples.labels == 1)
        ]
    )
    # Faint opacities are part of the task (amplitude 0.08-0.22 over lungs at ~0.2), so the
    # check is on the batch: every one brighter than its clear lung, by 0.065 on average here.
    assert contrast.min() > 0.0
    assert contrast.mean() > 0.04


def test_marker_mask_sits_in_its_corner_away_from_the_body(samples: Samples) -> None:
    rows, cols = marker_region(128)
    outside = samples.marker_masks.copy()
    outside[:, rows, cols] = False
    assert not outside.any()
    np.testing.assert_array_equal(samples.marker_masks.any(axis=(1, 2)), samples.has_marker)
    assert not np.any(samples.marker_masks & samples.lung_masks)
    burned = samples.images[samples.marker_masks]
    np.testing.assert_allclose(burned, np.round(MARKER_INTENSITY * 255) / 255, atol=1e-6)
    # the corner is dark air where no marker is drawn
    unmarked = samples.images[~samples.has_marker][:, rows, cols]
    assert unmarked.max() < 0.5


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (NO_MARKER, lambda labels: np.zeros_like(labels, dtype=bool)),
        (MarkerPolicy(1.0, 0.0), lambda labels: labels == 1),
        (MarkerPolicy(0.0, 1.0), lambda labels: labels == 0),
        (MarkerPolicy(1.0, 1.0), lambda labels: np.ones_like(labels, dtype=bool)),
    ],
)
def test_deterministic_marker_policies(policy: MarkerPolicy, expected) -> None:
    batch = generate(12, seed=3, marker=policy)
    np.testing.assert_array_equal(batch.has_marker, expected(batch.labels))


def test_confounded_policy_rates() -> None:
    batch = generate(300, seed=5, marker=CONFOUNDED_MARKER)
    positives, negatives = batch.labels == 1, batch.labels == 0
    # binomial standard errors at ~150 samples: 0.024 (p=0.9) and 0.018 (p=0.05); allow ~3 SE
    assert abs(batch.has_marker[positives].mean() - 0.9) < 0.075
    assert abs(batch.has_marker[negatives].mean() - 0.05) < 0.055


def test_counterfactuals_change_only_the_marker() -> None:
    reference = generate(30, seed=7, marker=CONFOUNDED_MARKER)
    removed = generate(30, seed=7, marker=CONFOUNDED_MARKER.without_positive_markers())
    added = generate(30, seed=7, marker=CONFOUNDED_MARKER.with_negative_markers())
    for twin in (removed, added):
        np.testing.assert_array_equal(twin.labels, reference.labels)
        np.testing.assert_array_equal(twin.opacity_masks, reference.opacity_masks)
        changed = reference.marker_masks | twin.marker_masks
        np.testing.assert_array_equal(twin.images[~changed], reference.images[~changed])
    positives = reference.labels == 1
    assert reference.has_marker[positives].any() and not removed.has_marker[positives].any()
    np.testing.assert_array_equal(removed.has_marker[~positives], reference.has_marker[~positives])
    assert added.has_marker[~positives].all()
    np.testing.assert_array_equal(added.has_marker[positives], reference.has_marker[positives])


def test_policy_rejects_probabilities_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match="marker probabilities"):
        MarkerPolicy(1.5, 0.0)
