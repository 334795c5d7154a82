"""The re-identification embedding's inference form: batch norms fused into the convolutions,
channels-last, optional bfloat16 convolutions; the same embeddings (float32) or nearly
(bfloat16), the network itself untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lftiming_ml.models.bundle import read_bundle
from lftiming_ml.reid.model import embed_inputs, inference_net, reid_from_registry
from lftiming_ml.tracking.appearance import embed_detections
from lftiming_ml.tracking.types import WellFrameDetections

BUNDLE = Path(__file__).resolve().parents[2] / "models" / "reid_embedding"


@pytest.fixture(scope="module")
def net():
    b = read_bundle(BUNDLE)
    return reid_from_registry(b.state_dict, b.config)


def test_the_inference_form_gives_the_networks_embeddings_and_leaves_it_as_it_was(net) -> None:
    before = {k: v.clone() for k, v in net.state_dict().items()}
    p = net.profile.patch_size
    x = np.random.default_rng(0).normal(size=(64, 2, p, p)).astype(np.float32)
    cpu = torch.device("cpu")
    ref = embed_inputs(net, x, cpu)
    fast = inference_net(net, torch.float32)
    assert fast is inference_net(net, torch.float32)  # built once per network and dtype
    np.testing.assert_allclose(embed_inputs(fast, x, cpu, dim=net.profile.embedding_dim), ref, atol=1e-5)
    half = embed_inputs(inference_net(net, torch.bfloat16), x, cpu, dim=net.profile.embedding_dim)
    assert half.dtype == np.float32 and (half * ref).sum(1).min() > 0.99  # cosine of unit vectors
    assert not np.array_equal(half, ref)  # bfloat16 really ran
    assert set(net.state_dict()) == set(before)  # no submodule was registered on the network
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())
    changed = {k: v * 1.1 if v.is_floating_point() else v for k, v in before.items()}
    net.load_state_dict(changed)  # new weights: the inference form follows them
    try:
        np.testing.assert_allclose(embed_inputs(inference_net(net, torch.float32), x, cpu,
                                                dim=net.profile.embedding_dim), embed_inputs(net, x, cpu), atol=1e-5)
        assert inference_net(net, torch.float32) is not fast
    finally:
        net.load_state_dict(before)


def test_embed_detections_takes_the_precision_it_is_given(net) -> None:
    rng = np.random.default_rng(1)
    phase = rng.integers(900, 1200, (2, 64, 64)).astype(np.uint16)
    masks = np.zeros((2, 64, 64), bool)
    masks[0, 20:30, 20:30] = masks[1, 35:45, 30:42] = True
    det = WellFrameDetections(np.array([[25.0, 25.0], [40.0, 36.0]]), np.array([100.0, 120.0]), masks)
    detections = [det, det]
    f32 = embed_detections(net, phase, detections, device="cpu", precision="float32")
    bf16 = embed_detections(net, phase, detections, device="cpu", precision="bfloat16")
    assert f32[0].embeddings.shape == (2, net.profile.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(f32[1].embeddings, axis=1), 1.0, atol=1e-5)
    assert (f32[0].embeddings * bf16[0].embeddings).sum(1).min() > 0.99
    with pytest.raises(ValueError, match="unknown precision"):
        embed_detections(net, phase, detections, device="cpu", precision="half")
