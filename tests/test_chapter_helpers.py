"""The helpers the chapters used to copy into their cells (issue 21, item 5): a correlation of two maps, a
map's share on one half of a two-photo canvas, the canvases themselves and the exercises' seeded networks.
Hand-computed values, numpy's definition as the reference, and the bad inputs a student will pass."""
import math

import numpy as np
import pytest
import torch

import vizlab as vz
from vizlab import data, exercise_nets
from vizlab import evaluate as ev


# -- pearson -----------------------------------------------------------------------------------------------

def test_pearson_by_hand():
    # a = (1, 2, 3), b = (2, 4, 7): centred (-1, 0, 1) and (-7/3, -1/3, 8/3); r = 5 / sqrt(2 * 14/3 * 2 ... )
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0])
    ca, cb = a - a.mean(), b - b.mean()
    want = (ca * cb).sum() / math.sqrt((ca ** 2).sum() * (cb ** 2).sum())
    assert ev.pearson(torch.tensor(a), torch.tensor(b)) == pytest.approx(want, abs=1e-15)
    assert want == pytest.approx(5 / math.sqrt(2 * 38 / 3), abs=1e-15)


def test_pearson_matches_numpy_on_maps_of_any_shape():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 7, 9, generator=g), torch.rand(63, generator=g)
    assert ev.pearson(a, b) == pytest.approx(np.corrcoef(a.flatten().numpy(), b.numpy())[0, 1], abs=1e-12)
    assert ev.pearson(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ev.pearson(a, -3 * a + 2) == pytest.approx(-1.0, abs=1e-12)
    assert ev.pearson(a.numpy(), 2 * a.numpy()) == pytest.approx(1.0, abs=1e-12)


def test_pearson_of_constant_maps_and_the_spearman_built_on_it():
    flat, ramp = torch.ones(4, 4), torch.arange(16.0).view(4, 4)
    assert ev.pearson(flat, 2 * flat) == 1.0 and ev.pearson(flat, ramp) == 0.0
    assert ev.spearman(ramp, ramp ** 3) == pytest.approx(1.0)       # monotone: ranks identical
    assert ev.spearman(torch.tensor([1.0, 3.0, 2.0]), torch.tensor([10.0, 20.0, 30.0])) == pytest.approx(0.5)


def test_pearson_rejects_maps_of_different_sizes():
    with pytest.raises(ValueError, match="same size"):
        ev.pearson(torch.rand(4, 4), torch.rand(5, 5))


# -- half_share --------------------------------------------------------------------------------------------

def test_half_share_by_hand():
    m = torch.tensor([[1.0, 0.0, 3.0, 0.0],
                      [0.0, 2.0, 0.0, 2.0]])                 # left half 3, right half 5, total 8
    assert ev.half_share(m) == pytest.approx(3 / 8)
    assert ev.half_share(m[None], left=False) == pytest.approx(5 / 8)
    odd = torch.tensor([[1.0, 1.0, 1.0]])                  # W = 3: the middle column belongs to the right half
    assert ev.half_share(odd) == pytest.approx(1 / 3)
    assert ev.half_share(torch.zeros(2, 4)) == 0.0         # an empty map has no mass on either half


def test_half_share_is_the_energy_pointing_game_with_half_the_canvas_as_the_box():
    m = torch.rand(1, 6, 10, generator=torch.Generator().manual_seed(1))
    left_box = ev.box_mask((0, 0, 5, 6), (6, 10))
    assert ev.half_share(m) == pytest.approx(float(m[0][left_box].sum() / m.sum()), abs=1e-6)


@pytest.mark.parametrize("bad, match", [(torch.rand(2, 4, 4), r"\[H, W\]"), (torch.tensor([[1.0, -1.0]]), "non-negative")])
def test_half_share_bad_maps(bad, match):
    with pytest.raises(ValueError, match=match):
        ev.half_share(bad)


# -- canvases ----------------------------------------------------------------------------------------------

def test_side_by_side_keeps_both_inputs_in_place():
    a, b = torch.rand(2, 3, 5, 4), torch.rand(2, 3, 5, 6)
    pair = data.side_by_side(a, b)
    assert pair.shape == (2, 3, 5, 10) and torch.equal(pair[..., :4], a) and torch.equal(pair[..., 4:], b)


@pytest.mark.parametrize("left, right, match", [
    (torch.rand(1, 3, 5, 5), torch.rand(1, 3, 6, 5), "height"),
    (torch.rand(3, 5, 5), torch.rand(1, 3, 5, 5), r"\[N, C, H, W\]"),
    (np.zeros((1, 3, 5, 5)), torch.rand(1, 3, 5, 5), "ndarray"),
])
def test_side_by_side_bad_inputs(left, right, match):
    with pytest.raises(ValueError, match=match):
        data.side_by_side(left, right)


def test_canvas_boxes_and_grey():
    assert data.canvas_boxes(224) == ((0, 56, 112, 168), (112, 56, 224, 168))
    model = vz.load()
    left, right = torch.full((1, 3, 8, 8), 1.0), torch.full((1, 3, 8, 8), -1.0)
    c = data.canvas(left, right, model)
    grey = data.normalize(torch.full((1, 3, 1, 1), 0.5), model)
    assert c.shape == (1, 3, 8, 8)
    assert torch.equal(c[:, :, 2:6, :4], left[:, :, :4, :4]) and torch.equal(c[:, :, 2:6, 4:], right[:, :, :4, :4])
    outside = torch.ones(8, 8, dtype=torch.bool)
    outside[2:6] = False
    assert torch.equal(c[0][:, outside], grey[0, :, 0].view(3, 1).expand(3, int(outside.sum())))


def test_canvas_shrinks_by_area_average():
    photo = torch.arange(16.0).view(1, 1, 4, 4).expand(1, 3, 4, 4)
    c = data.canvas(photo, photo, size=4)                  # each photo 2 x 2: the means of its 2 x 2 blocks
    assert torch.equal(c[0, 0, 1:3, 0:2], torch.tensor([[2.5, 4.5], [10.5, 12.5]]))


def test_annotated_canvases_are_data_canvas():
    model = vz.load()
    items = ev.annotated_inputs(model)
    photos = {i["name"]: i["x"] for i in items if ":" not in i["name"]}
    canvas_items = [i for i in items if ":" in i["name"]]
    assert canvas_items
    xs = [i["x"] for i in canvas_items]
    assert any(torch.equal(x, data.canvas(photos[a], photos[b], model)) for x in xs for a in photos for b in photos)


@pytest.mark.parametrize("left, size, match", [
    (torch.rand(2, 3, 8, 8), None, r"\[1, C, H, W\]"),
    (torch.rand(1, 1, 8, 8), None, "channels"),
    (torch.rand(1, 3, 8, 8), 1, "no room"),
])
def test_canvas_bad_inputs(left, size, match):
    with pytest.raises(ValueError, match=match):
        data.canvas(left, torch.rand(1, 3, 8, 8), size=size)


# -- the exercises' networks -------------------------------------------------------------------------------

def _built_in_a_cell(layers, seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(*layers())


@pytest.mark.parametrize("widths, classes, seed", [((6, 8), 4, 0), ((4, 6), 3, 0), ((8, 12), 5, 3)])
def test_tiny_cnn_has_the_weights_a_seeded_cell_gets(widths, classes, seed):
    from torch import nn
    w1, w2 = widths
    want = _built_in_a_cell(lambda: [nn.Conv2d(3, w1, 3, padding=1), nn.ReLU(), nn.Conv2d(w1, w2, 3, stride=2, padding=1),
                                     nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w2, classes)], seed)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    got = exercise_nets.tiny_cnn(widths, classes, seed=seed)
    assert torch.equal(torch.random.get_rng_state(), state), "building a net must not touch the global generator"
    assert not got.training
    for (n, p), (m, q) in zip(got.state_dict().items(), want.state_dict().items()):
        assert n == m and torch.equal(p, q)
    assert got(torch.rand(2, 3, 11, 13)).shape == (2, classes)


def test_vgg_like_has_the_weights_a_seeded_cell_gets():
    from torch import nn
    want = _built_in_a_cell(lambda: [nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1),
                                     nn.ReLU(), nn.Flatten(), nn.Linear(512, 16), nn.ReLU(), nn.Linear(16, 5)], 0)
    got = exercise_nets.vgg_like(seed=0)
    assert all(torch.equal(p, q) for p, q in zip(got.state_dict().values(), want.state_dict().values()))
    assert got(torch.rand(2, 3, 16, 16)).shape == (2, 5)
    assert not torch.equal(exercise_nets.vgg_like(seed=1)[0].weight, got[0].weight)


def test_exercise_nets_reject_a_non_integer_seed():
    with pytest.raises(TypeError, match="seed must be an int"):
        exercise_nets.tiny_cnn(seed=0.5)
