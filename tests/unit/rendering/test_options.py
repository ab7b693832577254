import pytest
from pydantic import ValidationError

from shared.rendering.options import CMAPS, OVERLAYS, POLARITIES, HeatmapOptions


def test_defaults_are_colour_blind_safe_and_resolve_by_polarity():
    options = HeatmapOptions()
    assert (options.polarity, options.overlay, options.clip_percentile) == (
        "positive",
        "original",
        99.0,
    )
    assert options.resolved_cmap == "cividis"
    assert HeatmapOptions(polarity="both").resolved_cmap == "RdBu_r"
    assert HeatmapOptions(polarity="both", cmap="coolwarm").resolved_cmap == "coolwarm"


def test_allowed_values_are_listed_for_the_api():
    assert "cividis" in CMAPS and "auto" in CMAPS and "jet" not in CMAPS
    assert set(POLARITIES) == {"positive", "negative", "both", "absolute"}
    assert set(OVERLAYS) == {"original", "grayscale", "mask", "none"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cmap", "jet"),
        ("alpha", 1.5),
        ("alpha", -0.1),
        ("clip_percentile", 30.0),
        ("clip_percentile", 100.5),
        ("polarity", "signed"),
        ("overlay", "blend"),
        ("mask_top_percent", 0.0),
        ("unknown_option", 1),
    ],
)
def test_bad_values_are_rejected_naming_the_field(field, value):
    with pytest.raises(ValidationError) as error:
        HeatmapOptions(**{field: value})
    assert error.value.errors()[0]["loc"] == (field,)


def test_clip_is_accepted_as_the_short_query_name():
    assert HeatmapOptions(clip=90.0) == HeatmapOptions(clip_percentile=90.0)
    with pytest.raises(ValidationError, match="greater than or equal to 50"):
        HeatmapOptions(clip=30.0)


def test_colorbar_with_mask_is_rejected_with_a_reason():
    with pytest.raises(ValidationError, match="no meaning with overlay='mask'"):
        HeatmapOptions(overlay="mask", colorbar=True)


def test_options_are_frozen():
    options = HeatmapOptions()
    with pytest.raises(ValidationError):
        options.alpha = 0.9
