"""LOCSNET heads: output shapes, the fused feature path, loss terms, weight round trip."""

from __future__ import annotations

import torch
from toy_cells import TINY_PROFILE, toy_set

from lftiming_ml.segmentation.dataset import SegmentationDataset, collate_segmentation
from lftiming_ml.segmentation.engine import load_weights, save_weights
from lftiming_ml.segmentation.losses import composite_loss
from lftiming_ml.segmentation.model import FUSION_LAYER, FusedMaskHeads, _run_layers, build_segmenter
from lftiming_ml.segmentation.config import SegmenterTrainConfig


def _batch():
    ds = SegmentationDataset(toy_set()[:2], TINY_PROFILE)
    return collate_segmentation([ds[0], ds[1]])


def test_eval_outputs_have_roi_mask_probabilities():
    torch.manual_seed(0)
    model = build_segmenter(kind="locsnet", profile=TINY_PROFILE).eval()
    images, _ = _batch()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for det in out:
        n = det["boxes"].shape[0]
        assert det["boxes"].shape == (n, 4) and det["scores"].shape == (n,)
        assert det["mask_probs"].shape == (n, 2 * TINY_PROFILE.mask_roi_size, 2 * TINY_PROFILE.mask_roi_size)
        assert 0 <= n <= TINY_PROFILE.max_detections
        assert ((det["mask_probs"] >= 0) & (det["mask_probs"] <= 1)).all()


def test_whole_head_sees_roi_features_plus_third_layer_of_both_extra_heads():
    torch.manual_seed(0)
    heads = FusedMaskHeads(16, 4, 2, fused=True).eval()
    f = torch.randn(3, 16, 7, 7)
    o3 = _run_layers(heads.overlap, f, 0, FUSION_LAYER)
    c3 = _run_layers(heads.complement, f, 0, FUSION_LAYER)
    expected = heads.whole_predictor(heads.whole(f + o3 + c3))
    out = heads(f, aux=True)
    torch.testing.assert_close(out["whole"], expected)
    assert out["overlap"].shape == out["complement"].shape == out["whole"].shape == (3, 2, 14, 14)
    # the extra heads' 4th layer is not fused: changing it leaves the whole mask alone ...
    with torch.no_grad():
        list(heads.overlap)[FUSION_LAYER][0].weight.add_(1.0)
    torch.testing.assert_close(heads(f)["whole"], expected)
    # ... but changing their first three layers does change it
    with torch.no_grad():
        list(heads.complement)[0][0].weight.mul_(2.0)
    assert not torch.allclose(heads(f)["whole"], expected)


def test_baseline_has_only_the_whole_head():
    heads = FusedMaskHeads(16, 4, 2, fused=False)
    assert not hasattr(heads, "overlap") and not hasattr(heads, "complement")
    assert set(heads(torch.randn(2, 16, 7, 7), aux=True)) == {"whole"}


def test_training_losses_have_three_mask_terms_and_are_finite():
    torch.manual_seed(0)
    images, targets = _batch()
    for kind, mask_terms in (("locsnet", {"loss_mask", "loss_overlap", "loss_complement"}), ("mask_rcnn", {"loss_mask"})):
        model = build_segmenter(kind=kind, profile=TINY_PROFILE).train()
        losses = model(images, targets)
        assert mask_terms <= set(losses)
        assert {"loss_overlap", "loss_complement"} & set(losses) == (mask_terms - {"loss_mask"})
        total = composite_loss(losses, SegmenterTrainConfig(kind=kind).loss_weights())
        assert torch.isfinite(total) and all(torch.isfinite(v) for v in losses.values())
        assert losses["loss_mask"] > 0
        total.backward()
        grads = [p.grad for n, p in model.named_parameters() if "mask_heads" in n and p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)


def test_weights_round_trip_with_weights_only(tmp_path):
    torch.manual_seed(0)
    model = build_segmenter(kind="locsnet", profile=TINY_PROFILE).eval()
    path = tmp_path / "locsnet.pt"
    save_weights(model, path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state.keys() == load_weights(path).keys()
    assert any(k.startswith("roi_heads.mask_heads.overlap.") for k in state)
    clone = build_segmenter(kind="locsnet", profile=TINY_PROFILE)
    clone.load_state_dict(state)
    clone.eval()
    images, _ = _batch()
    with torch.no_grad():
        a, b = model(images), clone(images)
    for da, db in zip(a, b):
        torch.testing.assert_close(da["boxes"], db["boxes"])
        torch.testing.assert_close(da["mask_probs"], db["mask_probs"])
