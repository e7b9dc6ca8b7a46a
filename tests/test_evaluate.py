"""vizlab.evaluate: hand-computed values on tiny maps and models, parity with Quantus, hygiene."""
from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import evaluate as ev
from conftest import assert_untouched, model_state


def tiny_linear() -> nn.Module:
    """logit_0 = sum of the pixels of a 1-channel image, logit_1 = 0."""
    lin = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 1, 1, 1], [0, 0, 0, 0]]))
    return nn.Sequential(nn.Flatten(), lin).eval()


def tiny_conv(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)).eval()


def param_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


X4 = torch.tensor([[[[4.0, 3.0], [2.0, 1.0]]]])   # [1, 1, 2, 2]


# ---------------------------------------------------------------- hand-computed values

def test_auc_trapezoid_by_hand():
    assert float(ev.auc(torch.tensor([1.0, 0.5, 0.0]))) == pytest.approx(0.5)
    assert float(ev.auc(torch.tensor([0.0, 1.0, 1.0]))) == pytest.approx(0.75)
    assert ev.auc(torch.ones(3, 11)).tolist() == pytest.approx([1.0] * 3)
    with pytest.raises(ValueError):
        ev.auc(torch.tensor([1.0]))


def test_deletion_and_insertion_by_hand():
    model = tiny_linear()
    # map = x: delete 4, then 3, then 2, then 1; logit = what is left
    d = ev.deletion(X4[0], model, X4, 0, step=1, substrate=0.0, softmax=False)
    assert d.tolist() == [[10.0, 6.0, 3.0, 1.0, 0.0]]
    i = ev.insertion(X4[0], model, X4, 0, step=1, substrate=0.0, softmax=False)
    assert i.tolist() == [[0.0, 4.0, 7.0, 9.0, 10.0]]
    # reversed map: the least important first; two pixels per step
    d2 = ev.deletion(-X4[0], model, X4, 0, step=2, substrate=0.0, softmax=False)
    assert d2.tolist() == [[10.0, 7.0, 0.0]]
    # a fraction of the pixels per step: 0.25 of 4 pixels = 1
    assert ev.deletion(X4[0], model, X4, 0, step=0.25, substrate=0.0, softmax=False).tolist() == d.tolist()
    # softmax of (logit, 0): sigmoid
    p = ev.deletion(X4[0], model, X4, 0, step=1, substrate=0.0)
    assert p[0].tolist() == pytest.approx(torch.sigmoid(torch.tensor([10.0, 6, 3, 1, 0])).tolist())


def test_step_that_does_not_divide_the_image_ends_fully_changed():
    model = tiny_linear()
    d = ev.deletion(X4[0], model, X4, 0, step=3, substrate=0.0, softmax=False)
    assert d.tolist() == [[10.0, 1.0, 0.0]]


def test_constant_map_deletes_in_reading_order():
    assert ev.order(torch.zeros(2, 3)).tolist() == [0, 1, 2, 3, 4, 5]
    assert ev.order(torch.tensor([[0.0, 2.0], [1.0, 2.0]])).tolist() == [1, 3, 2, 0]


def test_pointing_game_by_hand():
    m = torch.zeros(1, 8, 8)
    m[0, 2, 5] = 1.0                                  # maximum at row 2, column 5
    x = torch.zeros(1, 1, 8, 8)
    assert ev.pointing_game(m, None, x, [4, 1, 6, 3]).tolist() == [1.0]      # x 4..5, y 1..2
    assert ev.pointing_game(m, None, x, [0, 0, 5, 8]).tolist() == [0.0]      # x1 exclusive
    assert ev.pointing_game(m, None, x, [0, 0, 5, 8], tolerance=1).tolist() == [1.0]
    assert ev.pointing_game(m, None, x, [[0, 0, 2, 2], [5, 2, 6, 3]]).tolist() == [1.0]  # two boxes
    two = torch.stack([m[0], m[0].T])                 # second map peaks at row 5, column 2
    assert ev.pointing_game(two, None, torch.zeros(2, 1, 8, 8), [[[4, 1, 6, 3]], [[4, 1, 6, 3]]]).tolist() == [1.0, 0.0]


def test_energy_pointing_game_by_hand():
    x = torch.zeros(1, 1, 8, 8)
    uniform = torch.ones(1, 8, 8)
    assert float(ev.energy_pointing_game(uniform, None, x, [0, 0, 4, 2])) == pytest.approx(8 / 64)
    m = torch.zeros(1, 8, 8)
    m[0, 0, 0], m[0, 7, 7], m[0, 3, 3] = 3.0, 1.0, -5.0     # negative values do not count
    assert float(ev.energy_pointing_game(m, None, x, [0, 0, 4, 4])) == pytest.approx(0.75)
    assert float(ev.energy_pointing_game(torch.zeros(1, 8, 8), None, x, [0, 0, 4, 4])) == 0.0


def test_box_mask_and_errors():
    mask = ev.box_mask([1, 2, 3, 5], (6, 6))
    assert mask.sum() == 2 * 3 and mask[2:5, 1:3].all()
    with pytest.raises(ValueError, match="x0 < x1"):
        ev.box_mask([3, 2, 1, 5], (6, 6))
    with pytest.raises(ValueError, match="one list of boxes per image"):
        ev.pointing_game(torch.ones(2, 4, 4), None, torch.zeros(2, 1, 4, 4), [[[0, 0, 1, 1]]])


def test_similarities_by_hand():
    from scipy.stats import spearmanr
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 16, 16, generator=g), torch.randn(3, 16, 16, generator=g)
    s = ev.similarity(a, b)
    assert s["spearman"] == pytest.approx(spearmanr(a.sum(0).ravel(), b.sum(0).ravel())[0])
    assert s["spearman_abs"] == pytest.approx(spearmanr(a.abs().amax(0).ravel(), b.abs().amax(0).ravel())[0])
    same = ev.similarity(a, a)
    assert all(v == pytest.approx(1.0) for v in same.values())
    assert ev.similarity(a, -a)["spearman"] == pytest.approx(-1.0)
    assert ev.similarity(a, -a)["spearman_abs"] == pytest.approx(1.0)       # abs forgets the sign
    assert ev.spearman(np.zeros(4), np.arange(4)) == 0.0                    # constant map: no NaN


def test_baseline_maps():
    x = torch.zeros(2, 3, 9, 9)
    c = ev.centre_map(None, x)
    assert c.shape == (2, 9, 9) and c[0, 4, 4] == 1.0 and c[0, 0, 0] < c[0, 2, 2] < 1
    r1 = ev.random_map(None, x, generator=torch.Generator().manual_seed(3))
    r2 = ev.random_map(None, x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(r1, r2) and r1.shape == (2, 9, 9)


# ---------------------------------------------------------------- one call shape

def test_method_by_name_function_or_tensor_agree(lite0, chelsea_x):
    by_name = ev.explain("grad_cam", lite0, chelsea_x)
    assert torch.equal(by_name, vz.grad_cam(lite0, chelsea_x))
    by_fn = ev.explain(vz.saliency, lite0, chelsea_x)
    assert torch.equal(by_fn, vz.saliency(lite0, chelsea_x).abs().amax(1))
    assert torch.equal(ev.explain(by_fn, lite0, chelsea_x), by_fn)
    p1 = ev.pointing_game("grad_cam", lite0, chelsea_x, [0, 0, 112, 224])
    p2 = ev.pointing_game(by_name, lite0, chelsea_x, [0, 0, 112, 224])
    assert torch.equal(p1, p2)


def test_unknown_method_and_bad_map_teach():
    with pytest.raises(ValueError, match="Did you mean grad_cam"):
        ev.get_method("grad_cma")
    with pytest.raises(ValueError, match="resolution"):
        ev.explain(torch.zeros(1, 7, 7), None, torch.zeros(1, 3, 8, 8))


# ---------------------------------------------------------------- randomisation

def test_randomize_leaves_the_original_untouched_and_is_deterministic():
    model = tiny_conv()
    before, state = param_hash(model), model_state(model)
    rng = torch.random.get_rng_state()
    layers = ["6", "2", "0"]
    casc = [(n, param_hash(m), {k: v.clone() for k, v in m.state_dict().items()})
            for n, m in ev.randomize(model, layers, "cascading", torch.Generator().manual_seed(1))]
    assert param_hash(model) == before
    assert_untouched(model, state)
    assert torch.equal(torch.random.get_rng_state(), rng), "the global RNG was used"
    again = [param_hash(m) for _, m in ev.randomize(model, layers, "cascading", torch.Generator().manual_seed(1))]
    assert [h for _, h, _ in casc] == again
    other = [param_hash(m) for _, m in ev.randomize(model, layers, "cascading", torch.Generator().manual_seed(2))]
    assert other != again
    orig = model.state_dict()
    # cascading: after step k, layers 0..k differ from the original, the others do not
    for k, (_, _, sd) in enumerate(casc):
        for j, name in enumerate(layers):
            same = torch.equal(sd[f"{name}.weight"], orig[f"{name}.weight"])
            assert same == (j > k), (k, name)
    # independent: one layer at a time, with the same random weights as in the cascade
    indep = [{k: v.clone() for k, v in m.state_dict().items()}
             for _, m in ev.randomize(model, layers, "independent", torch.Generator().manual_seed(1))]
    for k, name in enumerate(layers):
        for j, other_name in enumerate(layers):
            assert torch.equal(indep[k][f"{other_name}.weight"], orig[f"{other_name}.weight"]) == (j != k)
        assert torch.equal(indep[k][f"{name}.weight"], casc[-1][2][f"{name}.weight"])
    assert param_hash(model) == before


def test_randomizable_layers_of_lite0_go_from_the_top(lite0):
    names = ev.randomizable_layers(lite0)
    assert names[:3] == ["classifier", "head", "blocks.15"] and names[-2:] == ["blocks.0", "stem"]
    assert len(names) == 19
    with pytest.raises(Exception, match="blocks"):
        next(ev.randomize(lite0, ["blokcs.3"]))
    with pytest.raises(ValueError, match="cascading"):
        next(ev.randomize(lite0, ["head"], mode="bottom_up"))


def test_sanity_check_on_lite0_hygiene_and_known_behaviour(lite0, chelsea_x):
    state, before = model_state(lite0), param_hash(lite0)
    rows = ev.sanity_check("grad_cam", lite0, chelsea_x, layers=["classifier", ["head", "blocks.15"]],
                           generator=torch.Generator().manual_seed(0))
    assert param_hash(lite0) == before
    assert_untouched(lite0, state)
    assert [r["layer"] for r in rows] == ["original", "classifier", "head..blocks.15"]
    assert rows[0]["spearman_abs"] == pytest.approx(1.0)
    # Grad-CAM depends on the class weights: randomising the classifier changes its map
    assert rows[1]["spearman_abs"] < 0.9


# ---------------------------------------------------------------- parity with Quantus

quantus = pytest.importorskip("quantus")


def _quiet():
    warnings.simplefilter("ignore")


def test_pixel_flipping_parity_with_quantus():
    _quiet()
    model = tiny_conv(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 8, generator=g)
    maps = torch.rand(2, 8, 8, generator=g)                 # continuous: no ties
    y = model(x).argmax(-1)
    metric = quantus.PixelFlipping(features_in_step=4, perturb_baseline=0.0, disable_warnings=True,
                                   abs=False, normalise=False, return_auc_per_sample=False)
    theirs = np.array(metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(),
                             a_batch=maps[:, None].numpy(), device="cpu", softmax=True, channel_first=True))
    ours = ev.deletion(maps, model, x, y.tolist(), step=4, substrate=0.0)
    assert ours.shape == (2, 17)
    # Quantus flips the map broadcast over the 3 channels, 4 values at a time: every third of its
    # steps has flipped whole pixels, 4 more of them -- our step of 4 pixels.
    assert theirs.shape == (2, 48)
    np.testing.assert_allclose(ours[:, 1:].numpy(), theirs[:, 2::3], rtol=1e-5, atol=1e-6)


def test_pointing_games_parity_with_quantus():
    _quiet()
    model = tiny_conv(2)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 8, 8, generator=g)
    maps = torch.rand(4, 8, 8, generator=g)
    for k, (row, col) in enumerate([(1, 1), (7, 7), (5, 2), (4, 7)]):
        maps[k, row, col] = 2.0                               # in, out, in, in (the second box)
    boxes = [[[0, 0, 4, 4]], [[2, 2, 8, 6]], [[1, 3, 5, 8]], [[0, 0, 8, 2], [6, 0, 8, 8]]]
    s = torch.stack([ev.box_mask(b, (8, 8)) for b in boxes])[:, None].numpy().astype(float)
    y = model(x).argmax(-1).numpy()
    kw = dict(model=model, x_batch=x.numpy(), y_batch=y, a_batch=maps[:, None].numpy(), s_batch=s, device="cpu")
    hits = quantus.PointingGame(disable_warnings=True)(**kw)
    ours = ev.pointing_game(maps, model, x, boxes)
    assert ours.tolist() == [float(h) for h in hits]
    assert ours.tolist() == [1.0, 0.0, 1.0, 1.0]
    ratio = quantus.AttributionLocalisation(disable_warnings=True, abs=False, normalise=False)(**kw)
    np.testing.assert_allclose(ev.energy_pointing_game(maps, model, x, boxes).numpy(), ratio, rtol=1e-6)


def _saliency_map(model, x, target=None):
    return vz.saliency(model, x, target).abs().amax(1)


def test_model_parameter_randomisation_parity_with_quantus():
    """Quantus' MPRT (top-down cascade, seed s -> torch.manual_seed(s + 1) before each layer's
    reset_parameters) and our sanity check with the same layers and seed give the same Spearman
    correlations, layer by layer."""
    _quiet()
    model = tiny_conv(3)
    before = param_hash(model)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 8, 8, generator=g)
    y = model(x).argmax(-1)

    def explain_func(model, inputs, targets, **kwargs):
        t = torch.as_tensor(inputs, dtype=torch.float32)
        return _saliency_map(model, t, torch.as_tensor(targets).tolist()).numpy()[:, None]

    a = explain_func(model, x.numpy(), y.numpy())
    metric = quantus.MPRT(layer_order="top_down", seed=41, disable_warnings=True, abs=True, normalise=True)
    theirs = metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=a, explain_func=explain_func,
                    device="cpu")
    rows = ev.sanity_check(_saliency_map, model, x, y.tolist(), layers=["6", "2", "0"], generator=42)
    assert list(theirs) == ["original", "6", "2", "0"]
    for layer, scores in theirs.items():
        ours = [r["spearman_abs"] for r in rows if r["layer"] == layer]
        np.testing.assert_allclose(ours, scores, rtol=1e-6, atol=1e-9)
    assert param_hash(model) == before


# ---------------------------------------------------------------- hygiene and determinism on Lite0

def test_deletion_insertion_on_lite0_hygiene_and_batching(lite0, chelsea_x):
    state = model_state(lite0)
    d1 = ev.deletion("grad_cam", lite0, chelsea_x, step=0.25, batch_size=2)
    d2 = ev.deletion("grad_cam", lite0, chelsea_x, step=0.25, batch_size=16)
    torch.testing.assert_close(d1, d2, rtol=1e-5, atol=1e-6)
    assert_untouched(lite0, state)
    with torch.no_grad():
        pred = int(lite0(chelsea_x).argmax())
        p0 = float(lite0(chelsea_x).softmax(-1)[0, pred])
        blurred = float(lite0(ev.blur(chelsea_x)).softmax(-1)[0, pred])
    assert float(d1[0, 0]) == pytest.approx(p0, rel=1e-5)          # step 0: the photo itself
    ins = ev.insertion("grad_cam", lite0, chelsea_x, step=0.25)
    assert float(ins[0, -1]) == pytest.approx(p0, rel=1e-5)        # last step: the photo again
    assert float(ins[0, 0]) == pytest.approx(blurred, rel=1e-5)    # first step: the blurred photo
    assert_untouched(lite0, state)


def test_noisy_methods_are_deterministic_for_a_generator(lite0, chelsea_x):
    a = ev.explain("random", lite0, chelsea_x, generator=torch.Generator().manual_seed(5))
    b = ev.explain("random", lite0, chelsea_x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    c = ev.explain("smoothgrad", lite0, chelsea_x, generator=torch.Generator().manual_seed(5), samples=2)
    d = ev.explain("smoothgrad", lite0, chelsea_x, generator=torch.Generator().manual_seed(5), samples=2)
    assert torch.equal(c, d)


# ---------------------------------------------------------------- the explorer

def test_evaluation_explorer_caches_and_matches_the_library(lite0, chelsea_x):
    from vizlab.widgets import EvaluationExplorer
    state = model_state(lite0)
    item = {"name": "chelsea", "x": chelsea_x, "target": 285, "label": "Egyptian cat", "boxes": [[0, 0, 112, 112]]}
    explorer = EvaluationExplorer(lite0, [item], methods=["centre", "grad_cam"], step=0.25)
    r = explorer.results("chelsea", "grad_cam")
    d = ev.deletion("grad_cam", lite0, chelsea_x, 285, step=0.25)[0]
    assert np.allclose(r["deletion"], d.numpy()) and r["deletion_auc"] == pytest.approx(float(ev.auc(d)))
    assert r["energy pointing game"] == pytest.approx(float(ev.energy_pointing_game("grad_cam", lite0, chelsea_x,
                                                                                     [[0, 0, 112, 112]], 285)))
    # the centre bump peaks at (111.5, 111.5): pixel (111, 111) is in the box
    assert explorer.results("chelsea", "centre")["pointing game"] == 1.0
    pic = explorer.render("chelsea", "grad_cam", "deletion")
    assert pic.ndim == 3 and pic.shape[2] == 3 and explorer.render("chelsea", "grad_cam", "deletion") is pic
    w = explorer.widget
    first = explorer.picture.value
    explorer.metric.value = "insertion"
    assert explorer.picture.value != first and "insertion AUC" in explorer.info.value
    with pytest.raises(ValueError, match="metric"):
        explorer.render("chelsea", "grad_cam", "accuracy")
    assert w is explorer.widget
    assert_untouched(lite0, state)


# ---------------------------------------------------------------- issue 19: hardening (bugs by number)

def test_randomize_copies_under_the_model_lock():
    """Bug 2: another call's temporary hook (registered while it holds the model lock) must not
    be deep-copied into the randomised model."""
    import threading
    from vizlab.hooks import model_lock
    model = tiny_conv()
    holding, done = threading.Event(), threading.Event()

    def other_call():
        with model_lock(model):
            handle = model[0].register_forward_hook(lambda *a: None)
            holding.set()
            done.wait(0.5)                        # randomize must wait for the lock meanwhile
            handle.remove()

    t = threading.Thread(target=other_call)
    t.start()
    holding.wait()
    _, copy = next(ev.randomize(model, ["6"]))
    done.set()
    t.join()
    assert all(not m._forward_hooks for m in copy.modules()), "the copy carries another call's hook"


@pytest.mark.parametrize("context", ["no_grad", "inference_mode"])
def test_sanity_check_works_without_grad_mode(context):
    """Bug 3 (sanity_check part): the copy and its maps are made outside inference mode."""
    model, x = tiny_conv(), torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    expected = ev.sanity_check("saliency", model, x, layers=["6", "2"])
    with (torch.no_grad() if context == "no_grad" else torch.inference_mode()):
        rows = ev.sanity_check("saliency", model, x, layers=["6", "2"])
    assert rows == expected


def test_partial_boxes_are_clipped_to_the_image():
    """Bug 4: a box reaching past the edge counts the pixels it covers inside the image (this held
    before; boxes wholly outside, which did not, are refused: test_bad_inputs_evaluate.py)."""
    m = torch.zeros(1, 8, 8)
    m[0, 1, 1] = 1.0
    x = torch.zeros(1, 1, 8, 8)
    assert ev.pointing_game(m, None, x, [-3, -3, 2, 2]).tolist() == [1.0]
    assert ev.pointing_game(m, None, x, [2, -3, 20, 20]).tolist() == [0.0]
    assert ev.box_mask([-4, -4, 4, 2], (8, 8)).sum() == 8
    assert float(ev.energy_pointing_game(torch.ones(1, 8, 8), None, x, [-4, -4, 4, 2])) == pytest.approx(8 / 64)
    assert float(ev.energy_pointing_game(torch.ones(1, 8, 8), None, x, [6, 6, 99, 99])) == pytest.approx(4 / 64)


def test_nan_map_is_refused_with_the_method_name():
    """Bug 6."""
    def broken(model, x, target=None):
        return torch.full((len(x), *x.shape[2:]), float("nan"))
    with pytest.raises(ValueError, match="'broken' holds NaN"):
        ev.deletion(broken, tiny_conv(), torch.zeros(1, 3, 8, 8), step=0.5)


def test_deletion_and_explorer_work_on_digits_cnn():
    """Bug 8: the black substrate has the input's channel count (digits_cnn takes 1 channel)."""
    from vizlab import digits as D
    from vizlab.widgets import EvaluationExplorer
    model = vz.load("digits_cnn")
    state = model_state(model)
    split = D.load_split()
    x, y = split.x_test[:2], split.y_test[:2]
    assert torch.equal(ev.substrate(model, x, "black"), torch.zeros_like(x))      # pixels in [0, 1]: black is 0
    d = ev.deletion("saliency", model, x, step=0.25)
    assert d.shape == (2, 5) and torch.isfinite(d).all()
    items = [{"name": f"test {i}", "x": x[i:i + 1], "target": int(y[i]), "label": str(int(y[i])),
              "boxes": [[4, 4, 28, 28]]} for i in range(2)]
    explorer = EvaluationExplorer(model, items, methods=["saliency", "grad_cam"], step=0.25)
    r = explorer.results("test 0", "grad_cam")
    assert r["pointing game"] in (0.0, 1.0) and 0 <= r["energy pointing game"] <= 1
    assert explorer.render("test 1", "saliency", "deletion").ndim == 3
    assert_untouched(model, state)
    with pytest.raises(ValueError, match="32 px"):
        ev.annotated_inputs(model)                   # 224 px boxes: a clear error, not wrong boxes


def test_step_fraction_and_pixels_unchanged_for_valid_values():
    """Bug 10 refuses step <= 0, NaN and bools; valid steps count as before."""
    model = tiny_linear()
    assert ev.deletion(X4[0], model, X4, 0, step=1.0, substrate=0.0, softmax=False).shape == (1, 5)
    assert ev.deletion(X4[0], model, X4, 0, step=np.float32(0.5), substrate=0.0, softmax=False).shape == (1, 3)
    assert ev.deletion(X4[0], model, X4, 0, step=np.int64(4), substrate=0.0, softmax=False).shape == (1, 2)


def test_randomize_takes_a_single_layer_name():
    """Bug 11: one name is one layer, as hooks.layer_list reads it (it used to iterate the string)."""
    from collections import OrderedDict
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 2, 3), pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(),
                                      fc=nn.Linear(2, 3)))
    (label, one), = [(n, param_hash(m)) for n, m in ev.randomize(model, "fc")]
    (_, listed), = [(n, param_hash(m)) for n, m in ev.randomize(model, ["fc"])]
    assert label == "fc" and one == listed != param_hash(model)


def test_identical_constant_maps_are_fully_similar():
    """Bug 12: two identical constant maps score 1, also in sanity_check's "original" row of a
    method whose maps are all zero; a constant map against a varying one still scores 0."""
    a = torch.full((16, 16), 0.25)
    assert ev.similarity(a, a.clone()) == {"spearman_abs": 1.0, "spearman": 1.0, "ssim": 1.0, "hog": 1.0}
    assert ev.similarity(torch.zeros(3, 16, 16), torch.zeros(3, 16, 16))["hog"] == 1.0
    varying = torch.rand(16, 16, generator=torch.Generator().manual_seed(0))
    assert ev.similarity(a, varying)["spearman_abs"] == 0.0 and ev.similarity(a, varying)["hog"] == 0.0
    dead = tiny_conv()
    with torch.no_grad():
        dead[-1].weight.zero_()                      # logits constant: every gradient is zero
    rows = ev.sanity_check("saliency", dead, torch.randn(1, 3, 8, 8), 0, layers=["2"])
    assert rows[0]["layer"] == "original"
    assert all(rows[0][k] == 1.0 for k in ev.SIMILARITIES)


def test_generator_none_is_seed_0_and_leaves_the_global_rng_alone():
    """Bug 14: random / smoothgrad maps (via explain, deletion, random_map) without a generator
    are those of a generator seeded with 0, and the global torch RNG is not consumed."""
    model, x = tiny_conv(), torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    r = ev.explain("random", model, x)
    assert torch.equal(r, ev.explain("random", model, x, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(ev.random_map(model, x), r)
    s = ev.explain("smoothgrad", model, x, samples=2)
    assert torch.equal(s, ev.explain("smoothgrad", model, x, samples=2, generator=torch.Generator().manual_seed(0)))
    d = ev.deletion("random", model, x, step=0.25)
    assert torch.equal(d, ev.deletion("random", model, x, step=0.25))
    ev.insertion("smoothgrad", model, x, step=0.25, samples=2)
    ev.pointing_game("random", model, x, [0, 0, 4, 4])
    assert torch.equal(torch.get_rng_state(), rng), "the global RNG was consumed"


def test_class_names_are_targets_everywhere():
    """Bug 16: deletion, insertion and sanity_check resolve class names as the other methods do."""
    model = vz.load("resnet18", pretrained=False)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ev.deletion("saliency", model, x, "tabby", step=0.5),
                       ev.deletion("saliency", model, x, 281, step=0.5))
    assert torch.equal(ev.insertion("saliency", model, x, ["tabby"], step=0.5),
                       ev.insertion("saliency", model, x, [281], step=0.5))
    assert (ev.sanity_check("saliency", model, x, "tabby", layers="fc") ==
            ev.sanity_check("saliency", model, x, 281, layers="fc"))


def test_box_formats_and_map_formats():
    """Bugs 26, 27: numpy / tensor boxes, one box for a whole batch, numpy and list maps."""
    g = torch.Generator().manual_seed(0)
    maps, x = torch.rand(4, 8, 8, generator=g), torch.zeros(4, 1, 8, 8)
    box = [2, 2, 6, 6]
    expected = ev.pointing_game(maps, None, x, [[box]] * 4)
    assert torch.equal(ev.pointing_game(maps, None, x, box), expected)              # one box for every image
    assert torch.equal(ev.pointing_game(maps, None, x, np.array(box)), expected)
    assert torch.equal(ev.pointing_game(maps, None, x, torch.tensor(box)), expected)
    assert torch.equal(ev.pointing_game(maps, None, x, np.array([box] * 4)), expected)  # one box per image
    assert torch.equal(ev.pointing_game(maps.numpy(), None, x, box), expected)
    assert torch.equal(ev.pointing_game(maps[:1].tolist(), None, x[:1], [box, [0, 0, 1, 1]]),
                       ev.pointing_game(maps[:1], None, x[:1], [[box, [0, 0, 1, 1]]]))
    assert torch.equal(ev.energy_pointing_game(maps.numpy(), None, x, np.array(box, dtype=np.float32)),
                       ev.energy_pointing_game(maps, None, x, [[box]] * 4))
    assert float(ev.auc([1.0, 0.5, 0.0])) == pytest.approx(0.5)
    assert ev.similarity(maps[0].numpy(), maps[0].tolist())["spearman"] == pytest.approx(1.0)


def test_a_constant_map_misses_the_pointing_game():
    """Design note of issue 19: every pixel of a constant map ties for the maximum; under
    Quantus' tie rule it would hit any box, so a dead method would win. vizlab scores it a miss."""
    x = torch.zeros(2, 1, 8, 8)
    flat = torch.stack([torch.zeros(8, 8), torch.full((8, 8), 0.3)])
    assert ev.pointing_game(flat, None, x, [0, 0, 8, 8]).tolist() == [0.0, 0.0]
    ties = torch.zeros(1, 8, 8)
    ties[0, 0, 0] = ties[0, 5, 5] = 1.0                 # a genuine tie still follows the Quantus rule
    assert ev.pointing_game(ties, None, x[:1], [4, 4, 8, 8]).tolist() == [1.0]


def test_curve_fractions_are_the_pixels_changed_not_equal_spacing():
    # 0.2 of 224 x 224 is 10035 pixels a step: 6 steps, the last one changing a single pixel
    xs = ev.curve_fractions(7, 0.2, 224 * 224)
    assert np.allclose(xs[:6], np.arange(6) * 10035 / 50176) and xs[-1] == 1.0
    assert xs[5] < 1.0 and 1.0 - xs[5] < 1e-4                  # not the 5/6 that equal spacing would draw
    assert np.allclose(ev.curve_fractions(5, 4, 16), [0, 0.25, 0.5, 0.75, 1.0])
