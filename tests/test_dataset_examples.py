"""vizlab.exemplars: receptive fields computed from the layers, and the top-k crops (Zeiler & Fergus' top 9).

Exact expectations on hand-made nets (a spot detector finds the spots placed at known positions, with
3 x 3 crops holding exactly the spot), the receptive field against hand-computed values (digits_cnn's
documented fields, ResNet-18's 99 px at layer2) and against the support of one unit's gradient.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import digits as D
from vizlab import exemplars as E

from conftest import assert_clear_error, assert_untouched, model_state, random_resnet18, tiny


def spot_detector() -> nn.Module:
    """conv 3x3 (8 at the centre, -1 around it, no bias) -> ReLU: fires only where a single bright pixel is."""
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(-1.0)
        conv.weight[0, 0, 1, 1] = 8.0
    return nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


def spots(*placed) -> torch.Tensor:
    """Two 16 x 16 grey images (zeros) with spots ``(image, row, col, brightness)``."""
    x = torch.zeros(2, 1, 16, 16)
    for n, i, j, a in placed:
        x[n, 0, i, j] = a
    return x


def test_top_crops_are_the_spots_with_their_fields():
    x = spots((0, 4, 5, 3.0), (1, 10, 2, 2.0), (0, 12, 12, 1.0))
    ex = vz.dataset_examples(spot_detector(), "1", 0, x, k=3)
    assert ex.field == E.Field(size=3, stride=1, offset=0.0)
    assert ex.values.tolist() == [24.0, 16.0, 8.0]                      # 8 x the brightness
    assert ex.sources == [0, 1, 0] and ex.positions == [(4, 5), (10, 2), (12, 12)]
    assert ex.boxes == [(3, 6, 4, 7), (9, 12, 1, 4), (11, 14, 11, 14)]
    expected = torch.zeros(3, 1, 3, 3)
    expected[:, 0, 1, 1] = torch.tensor([3.0, 2.0, 1.0])                # the spot, centred in its crop
    assert torch.equal(ex.crops, expected)


def test_a_crop_past_the_border_is_padded_with_zeros():
    ex = vz.dataset_examples(spot_detector(), "1", 0, spots((0, 0, 15, 1.0)), k=1)
    assert ex.boxes == [(-1, 2, 14, 17)]
    expected = torch.zeros(1, 1, 3, 3)
    expected[0, 0, 1, 1] = 1.0
    assert torch.equal(ex.crops, expected)


def blob_detector() -> nn.Module:
    """conv 5x5 whose weights fall off from the centre: a spot gives a peak and weaker shifted copies around it."""
    conv = nn.Conv2d(1, 1, 5, padding=2, bias=False)
    yy, xx = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    with torch.no_grad():
        conv.weight.copy_((10 - (yy - 2) ** 2 - (xx - 2) ** 2)[None, None])
    return nn.Sequential(conv, nn.ReLU()).eval()


def test_non_maximum_suppression_skips_shifted_copies_of_one_region():
    x = spots((0, 5, 5, 3.0), (0, 11, 11, 2.0), (1, 8, 8, 1.0))
    plain = vz.dataset_examples(blob_detector(), "1", 0, x, k=3, overlap=1.0)
    assert plain.sources == [0, 0, 0] and plain.positions[0] == (5, 5)   # the peak and two shifted copies of it
    assert all(abs(i - 5) + abs(j - 5) == 1 for i, j in plain.positions[1:])
    nms = vz.dataset_examples(blob_detector(), "1", 0, x, k=3)
    assert nms.positions == [(5, 5), (11, 11), (8, 8)] and nms.sources == [0, 0, 1]
    assert nms.values.tolist() == [30.0, 20.0, 10.0]


def test_suppression_works_across_the_sizes_of_one_photo():
    """The same photo at two sizes: the peak at the smaller size hides the same region at the larger one (IoU 0.25)."""
    small = spots((0, 8, 8, 1.0), (1, 2, 2, 0.1))
    large = torch.nn.functional.interpolate(small, scale_factor=2, mode="nearest")   # the spot as 2 x 2 pixels
    ex = vz.dataset_examples(spot_detector(), "1", 0, [small, large], k=2, overlap=0.2)
    assert ex.sources == [0, 1]       # not photo 0 twice (8 at 16 px, 5 at 32 px): photo 1's weak spot is second


def test_many_channels_at_once_equal_one_at_a_time():
    net = tiny()
    x = torch.randn(4, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    together = vz.dataset_examples(net, "1", [0, 2, 3], x, k=5)
    for c, ex in zip([0, 2, 3], together):
        alone = vz.dataset_examples(net, "1", c, x, k=5)
        assert ex.channel == c and torch.equal(ex.crops, alone.crops) and ex.boxes == alone.boxes


@pytest.mark.parametrize("block", [1, 2, 3])
def test_digits_fields_equal_the_documented_ones(block):
    net = D.random_model(0)
    f = E.receptive_field(net, f"relu{block}", torch.zeros(1, 1, 32, 32))
    side = 32 // 2 ** (block - 1)
    for i in range(side):
        top, bottom, left, right = f.box(i, side - 1 - i)
        clipped = (max(top, 0), min(bottom, 32), max(left, 0), min(right, 32))
        assert clipped == D.receptive_field(block, i, side - 1 - i)


def test_digits_top_example_is_top_activations_first():
    net = D.random_model(0)
    x = D.load_split().x_test[:60]
    for c in (0, 5, 11):
        idx, _, boxes = D.top_activations(net, x, 3, c, k=1)
        ex = vz.dataset_examples(net, "relu3", c, x, k=1)
        top, bottom, left, right = ex.boxes[0]
        assert ex.sources[0] == int(idx[0])
        assert (max(top, 0), min(bottom, 32), max(left, 0), min(right, 32)) == boxes[0]


def test_resnet18_layer2_field_is_99_px_the_shortcut_is_skipped():
    """conv1 7x7/2 -> 7, maxpool 3x3/2 -> 11, layer1 four 3x3 at stride 4 -> 43, layer2 four 3x3 (the first
    stride 2) at stride 4 then 8 -> 51, 67, 83, 99. The 1x1/2 down-sampling shortcut runs on a parallel branch."""
    f = E.receptive_field(random_resnet18(), "layer2", torch.zeros(1, 3, 64, 64))
    assert (f.size, f.stride) == (99, 8)


def gradient_support(model, layer, x, i, j):
    """Bounding box (top, bottom, left, right) of the input pixels with a non-zero gradient of unit (i, j)."""
    x = x.clone().requires_grad_(True)
    store = {}
    handle = vz.find_layer(model, layer).register_forward_hook(lambda m, a, out: store.update(A=out))
    try:
        model(x)
        (g,) = torch.autograd.grad(store["A"][0, :, i, j].sum(), x)
    finally:
        handle.remove()
    rows, cols = torch.nonzero(g[0].abs().sum(0), as_tuple=True)
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


@pytest.mark.parametrize("layer, exact", [("stem", True), ("blocks.1", True), ("blocks.4", False)])
def test_lite0_field_against_the_gradient(layer, exact):
    torch.manual_seed(0)
    model = vz.load("efficientnet_lite0", pretrained=False).eval()
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    f = E.receptive_field(model, layer, x)
    side = vz.capture(model, x, layer)[layer].shape[-1]
    i = j = side // 2
    top, bottom, left, right = f.box(i, j)
    support = gradient_support(model, layer, x, i, j)
    if exact:
        assert support == (top, bottom, left, right)
    else:                        # the gradient can only reach inside the field (ReLU6 may close a path at its edge)
        assert top <= support[0] and support[1] <= bottom and left <= support[2] and support[3] <= right
        assert support[1] - support[0] > f.size // 2


def test_the_model_is_left_as_it_was():
    net = tiny()
    net.train()
    before = model_state(net)
    vz.dataset_examples(net, "3", 1, torch.randn(3, 3, 10, 10, generator=torch.Generator().manual_seed(0)), k=4)
    E.receptive_field(net, "3", torch.zeros(1, 3, 10, 10))
    assert_untouched(net, before)


def test_default_pool_is_every_sample_photo_at_two_sizes():
    model = tiny()
    pool = E.default_pool(model)
    assert [tuple(v.shape) for v in pool] == [(len(vz.list_samples()), 3, s, s) for s in E.POOL_SIZES]
    assert tuple(E.default_pool(D.random_model(0))[0].shape) == (450, 1, 32, 32)


class Unused(nn.Module):
    """A layer that is defined but never called by forward."""

    def __init__(self):
        super().__init__()
        self.conv, self.unused = nn.Conv2d(3, 2, 3), nn.Conv2d(2, 2, 1)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


M = tiny()
X = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(0))

CASES = {
    "a typo'd layer": (lambda: vz.dataset_examples(M, "11", 0, X), vz.lookup.LayerNotFoundError, "Closest: 1"),
    "channel out of range": (lambda: vz.dataset_examples(M, "1", 4, X), IndexError, "4 channels (0..3)"),
    "a negative channel": (lambda: vz.dataset_examples(M, "1", -1, X), IndexError, "0..3"),
    "a float channel": (lambda: vz.dataset_examples(M, "1", 1.5, X), TypeError, "whole number"),
    "a grey image for an RGB model": (lambda: vz.dataset_examples(M, "1", 0, X[:, :1]), ValueError, "channel"),
    "k=0": (lambda: vz.dataset_examples(M, "1", 0, X, k=0), ValueError, "k must be at least 1"),
    "overlap=2": (lambda: vz.dataset_examples(M, "1", 0, X, overlap=2), ValueError, "overlap"),
    "images of different counts": (lambda: vz.dataset_examples(M, "1", 0, [X, X[:1]]), ValueError, "same N"),
    "an empty list of images": (lambda: vz.dataset_examples(M, "1", 0, []), ValueError, "images is empty"),
    "one image without batch": (lambda: vz.dataset_examples(M, "1", 0, X[0]), ValueError, "batch [N, C, H, W]"),
    "a 2-D layer": (lambda: vz.dataset_examples(M, "6", 0, X), ValueError, "convolutional layer"),
    "NaN pixels": (lambda: vz.dataset_examples(M, "1", 0, torch.full((1, 3, 8, 8), float("nan"))), ValueError, "NaN"),
    "receptive field of a layer that never runs": (lambda: E.receptive_field(Unused(), "unused", X[:1]), ValueError,
                                                   "not called in the forward pass"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error(case):
    assert_clear_error(CASES, case)
