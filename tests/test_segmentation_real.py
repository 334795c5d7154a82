"""benchmarks/segmentation_real.py: the real-data profile changes at another input scale still
load the shipped LOCSNET strictly (anchors are not weights); trains and scores nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lftiming_ml.models.init import apply_init, resolve_init
from lftiming_ml.segmentation.config import INIT_INPUT_FIELDS, SegmenterProfile, train_config
from lftiming_ml.segmentation.model import build_segmenter, registry_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import segmentation_real  # noqa: E402


def test_real_data_fields_scale_the_anchors_with_the_input():
    profile = {"anchor_sizes": [12, 18, 28, 44]}
    quarter = segmentation_real.real_data_fields(profile)
    half = segmentation_real.real_data_fields(profile, 0.5)
    assert quarter["input_scale"] == 0.25 and quarter["anchor_sizes"] == (12, 18, 28, 44)
    assert half["input_scale"] == 0.5 and half["anchor_sizes"] == (24, 36, 56, 88)
    assert {k: v for k, v in half.items() if k not in ("input_scale", "anchor_sizes")} == \
        {k: v for k, v in quarter.items() if k not in ("input_scale", "anchor_sizes")}


@pytest.mark.parametrize("input_scale", [0.25, 0.5])
def test_shipped_locsnet_loads_into_the_real_data_profile(input_scale):
    init = resolve_init(str(ROOT / "models" / "locsnet"), model_name="locsnet")
    fields = segmentation_real.real_data_fields(init.config["profile"], input_scale)
    profile = SegmenterProfile.model_validate({**init.config["profile"], **fields})
    model = build_segmenter(kind="locsnet", profile=profile)
    changes = apply_init(model, init, config=registry_config(train_config("cpu", kind="locsnet", profile=profile)),
                         input_fields=INIT_INPUT_FIELDS, allow_changed=("input_scale",))
    assert changes == {"input_scale": (1.0, input_scale)}
    assert tuple(model.rpn.anchor_generator.sizes) == tuple((a,) for a in fields["anchor_sizes"])
