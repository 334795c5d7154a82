"""``models.pooling``: the channels-last max pooling gives nn.MaxPool2d's values bit for bit,
swaps in without touching state_dicts, and steps aside when gradients are needed."""

import pytest
import torch
from torch import nn

from lftiming_ml.classification.config import classifier_profile
from lftiming_ml.classification.model import build_classifier
from lftiming_ml.models.pooling import ChannelsLastMaxPool2d, fast_max_pools
from lftiming_ml.reid.config import reid_profile
from lftiming_ml.reid.model import ReidNet


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, shape", [
    (3, 2, 1, False, (4, 8, 23, 17)),  # a ResNet stem, odd sizes
    (2, 2, 0, False, (5, 3, 32, 32)),  # the re-identification CNN
    (2, 2, 0, True, (1, 1, 7, 9)),  # ceil mode, one image one channel
    (3, 1, 1, False, (2, 4, 1, 1)),  # a one-pixel map
])
def test_same_values_as_max_pool(kernel, stride, padding, ceil_mode, shape):
    x = torch.randn(shape)
    x[0, 0, 0, 0] = x.max() + 1  # a maximum at a corner inside the padding's reach
    want = nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode)(x)
    with torch.no_grad():
        got = ChannelsLastMaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode)(x)
    assert got.is_contiguous()
    assert torch.equal(got, want)


def test_gradients_fall_back_to_max_pool():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    ChannelsLastMaxPool2d(2)(x).sum().backward()
    nn.MaxPool2d(2)(y).sum().backward()
    assert torch.equal(x.grad, y.grad)


def test_swap_keeps_weights_and_outputs():
    torch.manual_seed(0)
    plain = build_classifier(profile=classifier_profile("cpu"))
    for module in plain.modules():  # undo the builder's swap, to have the reference model
        for name, child in list(module.named_children()):
            if isinstance(child, ChannelsLastMaxPool2d):
                setattr(module, name, nn.MaxPool2d(child.kernel_size, child.stride, child.padding))
    fast = build_classifier(profile=classifier_profile("cpu"))
    fast.load_state_dict(plain.state_dict())
    assert any(isinstance(m, ChannelsLastMaxPool2d) for m in fast.modules())
    assert not any(type(m) is nn.MaxPool2d for m in fast.modules())
    p = classifier_profile("cpu").input_size
    phase, mask = torch.randn(6, p, p), torch.rand(6, p, p) > 0.5
    with torch.no_grad():
        assert torch.equal(fast.eval().embed(phase, mask), plain.eval().embed(phase, mask))


def test_fast_max_pools_replaces_every_max_pool():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.Sequential(nn.MaxPool2d(2)))
    fast_max_pools(net)
    pools = [m for m in net.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 2 and all(type(m) is ChannelsLastMaxPool2d for m in pools)
    assert (pools[0].kernel_size, pools[0].stride, pools[0].padding, pools[0].ceil_mode) == (3, 2, 1, True)
    reid = ReidNet(reid_profile("cpu"))
    assert sum(isinstance(m, ChannelsLastMaxPool2d) for m in reid.modules()) == len(reid_profile("cpu").channels)
