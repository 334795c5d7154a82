"""bfloat16 convolutions at inference (``profile.precision``): the bundled LOCSNET finds the
same cells as in float32, outputs stay float32, and the model is left as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from toy_cells import toy_set

from lftiming_ml.bundled import load_shipped
from lftiming_ml.metrics.segmentation import mask_iou_matrix
from lftiming_ml.models.precision import inference_dtype
from lftiming_ml.segmentation.infer import segment_crops
from lftiming_ml.segmentation.model import segmenter_from_registry

ROOT = Path(__file__).resolve().parents[2]


def test_inference_dtype_follows_the_profile_and_the_device() -> None:
    cpu = torch.device("cpu")
    assert inference_dtype("float32", cpu) == torch.float32
    assert inference_dtype("bfloat16", cpu) == torch.bfloat16
    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    assert inference_dtype("auto", cpu) == (torch.bfloat16 if native else torch.float32)
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        inference_dtype("half", cpu)


def test_bfloat16_convolutions_find_the_cells_float32_finds() -> None:
    bundle, _ = load_shipped(ROOT / "models" / "locsnet")
    model, profile = segmenter_from_registry(bundle.state_dict, bundle.config)
    samples = toy_set()
    crops = [np.pad(s.image, 16, constant_values=1000) for s in samples]  # 96 px, the bundle's crop size
    f32 = segment_crops(model, crops, profile=profile.model_copy(update={"precision": "float32"}))
    bf16 = segment_crops(model, crops, profile=profile.model_copy(update={"precision": "bfloat16"}))
    assert [len(a) for a in f32] == [len(b) for b in bf16]
    for s, a in zip(samples, f32):  # every disc found (a toy disc is not a simulated cell: extras may come)
        truth = np.pad(s.masks, ((0, 0), (16, 16), (16, 16)))
        assert mask_iou_matrix(a.masks, truth).max(axis=0).min() > 0.5
    for a, b in zip(f32, bf16):
        assert b.scores.dtype == np.float32 and b.boxes.dtype == np.float32
        np.testing.assert_allclose(b.scores, a.scores, atol=0.02)
        assert np.diag(mask_iou_matrix(a.masks, b.masks)).min() > 0.9
    assert model.backbone.compute_dtype == torch.float32  # restored: training runs in float32
    assert model.roi_heads.mask_heads.compute_dtype == torch.float32
