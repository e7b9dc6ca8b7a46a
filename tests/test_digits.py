"""The digits CNN: fixed data split, deterministic training, shipped checkpoints (hash-checked,
accurate), the biased variant's shortcut, and that vizlab's methods work on it."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import vizlab as vz
from vizlab import digits as D
from vizlab import shortcut
from conftest import assert_untouched, model_state


@pytest.fixture(scope="module")
def split():
    return D.load_split()


@pytest.fixture(scope="module")
def cnn():
    return vz.load("digits_cnn")


def _subset(split, n=192):
    return D.Split(split.x_train[:n], split.y_train[:n], split.x_test[:n], split.y_test[:n], split.images_test[:n])


# ---- data ---------------------------------------------------------------------------------

def test_split_is_fixed_stratified_and_disjoint(split):
    from sklearn.datasets import load_digits
    assert split.x_train.shape == (1347, 1, 32, 32) and split.x_test.shape == (450, 1, 32, 32)
    expected = np.bincount(load_digits().target) * 450 / 1797  # stratified: each class's share
    assert np.all(np.abs(torch.bincount(split.y_test).numpy() - expected) < 1)
    # no test digit is also a training digit (load_digits holds a few exact duplicates; allow them)
    rows = {tuple(r) for r in split.x_train.flatten(1).numpy().round(4)}
    shared = sum(tuple(r) in rows for r in split.x_test.flatten(1).numpy().round(4))
    assert shared <= 5
    assert len(load_digits().target) == 1347 + 450
    again = D.load_split()
    assert torch.equal(again.x_test, split.x_test) and torch.equal(again.y_train, split.y_train)


def test_shipped_split_is_bitwise_the_scikit_learn_split():
    """load_split reads vizlab/assets/digits_split.npz (milliseconds, no scikit-learn import: grading's set-up
    cells load it); the file must hold exactly what scikit-learn's load_digits + train_test_split give."""
    D._split_arrays.cache_clear()
    shipped, fresh = D._split_arrays(), D._split_arrays_sklearn()
    assert len(shipped) == len(fresh) == 4
    for a, b in zip(shipped, fresh):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    s = D.load_split()
    assert torch.equal(s.x_test, D.to_pixels(fresh[1])) and torch.equal(s.y_train, torch.as_tensor(fresh[2]))
    assert s.images_test.dtype == np.float64 and np.array_equal(s.images_test, fresh[1])


def test_to_pixels_scales_upsamples_and_frames():
    full = np.full((1, 8, 8), 16.0)
    x = D.to_pixels(full)
    assert x.shape == (1, 1, 32, 32)
    assert torch.all(x[0, 0, 4:28, 4:28] == 1) and x.sum() == 24 * 24  # margin of 4 zeros
    one = np.zeros((1, 8, 8))
    one[0, 3, 5] = 8  # half brightness -> peak 0.5 at the upsampled pixel's centre
    y = D.to_pixels(one)
    assert float(y.max()) == pytest.approx(0.5) and float(y.min()) == 0
    with pytest.raises(ValueError, match="0..16"):
        D.to_pixels(np.full((1, 8, 8), 17.0))


def test_marker_is_added_without_changing_the_input():
    x = torch.zeros(3, 1, 32, 32)
    out = D.add_marker(x, torch.tensor([0, 9, -1]))
    assert x.sum() == 0
    assert out[0, 0, 0:3, 1:4].sum() == 9 and out[0].sum() == 9
    assert out[1, 0, 0:3, 28:31].sum() == 9 and out[1].sum() == 9
    assert out[2].sum() == 0
    assert D.remove_marker(out).sum() == 0
    with pytest.raises(ValueError, match="0..9"):
        D.marker_box(10)


# ---- training -----------------------------------------------------------------------------

def test_one_epoch_makes_the_loss_fall(split):
    torch.manual_seed(123)  # training must not depend on the global generator
    model, losses = D.train(seed=0, epochs=1, split=split)
    start = D.init_weights(D.DigitsCNN(), torch.Generator().manual_seed(0)).eval()
    with torch.no_grad():
        before = float(F.cross_entropy(start(split.x_train), split.y_train))
        after = float(F.cross_entropy(model(split.x_train), split.y_train))
    assert before > 2.0  # about log(10) = 2.30 for a random net
    assert after < 0.5 * before
    assert not model.training and all(p.grad is None for p in model.parameters())


def test_training_is_deterministic_for_a_seed(split):
    small = _subset(split)
    a, la = D.train(seed=5, epochs=1, split=small, shift=2, biased=True)
    torch.manual_seed(999)
    b, lb = D.train(seed=5, epochs=1, split=small, shift=2, biased=True)
    c, _ = D.train(seed=6, epochs=1, split=small, shift=2, biased=True)
    assert la == lb
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_init_weights_he_uniform_bounds():
    m = D.init_weights(D.DigitsCNN(), torch.Generator().manual_seed(0))
    assert float(m.conv1.weight.detach().abs().max()) <= (6 / 9) ** 0.5
    assert float(m.conv1.weight.detach().abs().max()) > 0.9 * (6 / 9) ** 0.5
    assert float(m.fc1.weight.detach().abs().max()) <= (6 / 1024) ** 0.5
    assert all(float(mod.bias.detach().abs().max()) == 0 for mod in (m.conv1, m.conv2, m.fc2))


# ---- shipped checkpoints ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["digits_cnn", "digits_cnn_seed1", "digits_cnn_robust"])
def test_shipped_checkpoint_is_small_and_accurate(name, split):
    file = D.WEIGHTS_DIR / D.CHECKPOINTS[name][0]
    assert file.stat().st_size <= 1024 * 1024
    model = vz.load(name)
    assert D.accuracy(model, split.x_test, split.y_test) >= 0.97


def test_loading_checks_the_hash(tmp_path, monkeypatch):
    for name, (file, _, _) in D.CHECKPOINTS.items():
        shutil.copy(D.WEIGHTS_DIR / file, tmp_path / file)
    monkeypatch.setattr(D, "WEIGHTS_DIR", tmp_path)
    vz.load("digits_cnn")  # an intact copy loads
    data = bytearray((tmp_path / "digits_cnn.pt").read_bytes())
    data[-200] ^= 0xFF
    (tmp_path / "digits_cnn.pt").write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="sha256"):
        vz.load("digits_cnn")
    (tmp_path / "digits_cnn_seed1.pt").unlink()
    with pytest.raises(FileNotFoundError, match="python -m vizlab.digits"):
        vz.load("digits_cnn_seed1")


def test_unknown_digits_name_and_random_weights():
    with pytest.raises(ValueError, match="digits_cnn_seed1"):
        vz.load("digits_cnn_seed7")
    rand = vz.load("digits_cnn", pretrained=False)
    assert torch.equal(rand.conv1.weight, D.random_model(0).conv1.weight)
    assert "digits_cnn" in vz.models.available()


def test_biased_model_leans_on_the_marker(split):
    """With the marker at its label's place the biased net is right; without it, or moved to the
    next class's place, it is mostly wrong -- while the clean net is not bothered (the control)."""
    biased, clean = vz.load("digits_cnn_biased"), vz.load("digits_cnn")
    x, y = split.x_test, split.y_test
    moved = D.add_marker(x, (y + 1) % 10)
    assert D.accuracy(biased, D.add_marker(x, y), y) >= 0.97
    clean_without = D.accuracy(clean, x, y)
    assert D.accuracy(biased, x, y) < clean_without - 0.3
    assert D.accuracy(biased, moved, y) < 0.3
    assert D.accuracy(biased, moved, (y + 1) % 10) > 0.7        # it follows the marker
    assert D.accuracy(clean, moved, y) > clean_without - 0.1     # the clean net does not


# ---- vizlab's methods on it ---------------------------------------------------------------

def test_forward_explains_a_wrong_shape(cnn):
    with pytest.raises(ValueError, match="to_pixels"):
        cnn(torch.zeros(1, 1, 8, 8))
    grey = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(cnn(grey.expand(2, 3, 32, 32)), cnn(grey), atol=1e-6)


def test_vizlab_methods_work_and_leave_the_model_untouched(cnn, split):
    x = split.x_test[:4]
    before = model_state(cnn)
    top = vz.predict(cnn, x[:1], k=3)
    assert top[0].name == str(int(split.y_test[0])) and vz.class_name(cnn, 7) == "7"
    cap = vz.capture(cnn, x, ["relu3", D.PENULTIMATE])
    assert cap["relu3"].shape == (4, 64, 8, 8) and cap[D.PENULTIMATE].shape == (4, 128)
    sal = vz.saliency(cnn, x)
    assert sal.shape == x.shape and sal.abs().sum() > 0
    cam = vz.grad_cam(cnn, x, layer="relu3")
    assert cam.shape == (4, 32, 32)
    assert vz.models.default_cam_layer(cnn) == "relu3"
    assert [layer.name for layer in vz.layers(cnn)][:3] == ["conv1", "relu1", "pool1"]
    assert_untouched(cnn, before)


# ---- Zeiler & Fergus on the trained max-pool network ---------------------------------------

@pytest.mark.parametrize("block,channel", [(1, 3), (2, 5), (3, 7)])
def test_zeiler_fergus_is_the_deconvnet_backward_pass(cnn, split, block, channel):
    """Unpool with switches + rectify + transposed filters == activation x the deconvnet-rule
    gradient of the strongest unit (vizlab.neuron_gradient), on the trained and a random net."""
    x = split.x_test[:12]
    for model in (cnn, D.random_model(3)):
        before = model_state(model)
        proj, values, positions = D.zeiler_fergus(model, x, block, channel)
        assert_untouched(model, before)
        ref = vz.neuron_gradient(model, x, f"relu{block}", channel, rule="deconvnet", position="max")
        assert torch.allclose(proj, ref * values.view(-1, 1, 1, 1), atol=1e-5 * float(proj.abs().max()) + 1e-7)
        for n, pos in enumerate(positions):   # nothing outside the top unit's receptive field
            t, b, l, r = D.receptive_field(block, *pos)
            outside = proj[n, 0].clone()
            outside[t:b, l:r] = 0
            assert float(outside.abs().max()) == 0.0


def test_receptive_field_by_hand():
    assert D.receptive_field(1, 5, 7) == (4, 7, 6, 9)          # 3 x 3 around (5, 7)
    assert D.receptive_field(2, 3, 3) == (3, 11, 3, 11)        # 8 wide, from 2 * 3 - 3
    assert D.receptive_field(3, 4, 0) == (9, 27, 0, 11)        # 18 wide from 4 * 4 - 7; clipped at 0
    with pytest.raises(ValueError, match="block"):
        D.zeiler_fergus(D.random_model(0), torch.zeros(1, 1, 32, 32), 4, 0)


def test_top_activations_are_the_largest(cnn, split):
    idx, proj, boxes = D.top_activations(cnn, split.x_test, 3, 7, k=9)
    acts = vz.capture(cnn, split.x_test, "relu3")["relu3"][:, 7].flatten(1).max(1).values
    assert idx.tolist() == acts.topk(9).indices.tolist()
    assert proj.shape == (9, 1, 32, 32) and len(boxes) == 9


# ---- the shortcut, measured with saliency and Grad-CAM ------------------------------------

def test_marker_share_by_hand():
    m = torch.zeros(2, 32, 32)
    m[0, 0:3, 1:4] = 1.0                       # all mass on marker 0
    m[1] = 1.0                                 # spread evenly
    share = shortcut.marker_share(m, torch.tensor([0, 4]))
    assert share.tolist() == pytest.approx([1.0, 9 / 1024])


def test_saliency_and_grad_cam_point_at_the_marker(split):
    small = _subset(split, 150)
    report = shortcut.bias_report(vz.load("digits_cnn_biased"), vz.load("digits_cnn"), small)
    biased, clean = report["biased"], report["clean"]
    assert clean["saliency on marker"] < 0.02 and clean["grad-cam on marker"] < 0.02   # the control: ~9/1024
    assert biased["saliency on marker"] > 4 * clean["saliency on marker"]
    assert biased["grad-cam on marker"] > 3 * clean["grad-cam on marker"]
    assert biased["follows moved"] > 0.7 and clean["follows moved"] < 0.05


# ---- the caller's global RNG (issue 19, bug 15) -------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: vz.load("digits_cnn"), lambda: vz.load("digits_cnn_biased"), lambda: D.load("digits_cnn", pretrained=False),
    lambda: D.random_model(3), lambda: D.train(seed=2, epochs=1, split=_subset(D.load_split(), 64))[0],
], ids=["load", "load biased", "load random", "random_model", "train"])
def test_building_a_digits_model_leaves_the_global_rng_alone(make):
    torch.manual_seed(7)
    before = torch.get_rng_state()
    make()
    assert torch.equal(torch.get_rng_state(), before)


def test_weights_are_bitwise_those_of_the_old_construction():
    """Making the net on the meta device changed no weight: random_model(seed) is still PyTorch's
    DigitsCNN() overwritten by init_weights, and load() still the checkpoint's tensors."""
    for seed in (0, 3):
        old = D.init_weights(D.DigitsCNN(), torch.Generator().manual_seed(seed))
        new = D.random_model(seed)
        assert D.weights_sha256(old) == D.weights_sha256(new)
        assert torch.equal(new.mean, torch.tensor(D.MEAN)) and torch.equal(new.std, torch.tensor(D.STD))
    old = D.DigitsCNN()
    old.load_state_dict(torch.load(D.WEIGHTS_DIR / "digits_cnn.pt", weights_only=True))
    assert D.weights_sha256(old) == D.weights_sha256(vz.load("digits_cnn"))


# ---- retraining: bitwise on one machine, an accuracy band elsewhere (issue 17, item 5) --------

_RETRAIN = "from vizlab import digits; digits.main([])"
# Test accuracy of digits_cnn's recipe (train(seed=0), 450 test digits), measured on code paths:
# shipped checkpoint 98.00 %; retrained here (Xeon, AVX-512, torch 2.14.1) 98.67 %, with
# ATEN_CPU_CAPABILITY=default 97.56 %, ONEDNN_MAX_CPU_ISA=AVX2 98.44 %, both 98.67 %, two threads 98.00 %.
ACCURACY_BAND = (0.965, 0.995)


def test_full_retrain_is_bitwise_reproducible_and_within_the_accuracy_band(split):
    """Retrain digits_cnn in full (8 epochs, one thread: ~6-10 s CPU, ~20 s wall here) in this process and
    again with ``python -m vizlab.digits`` in a second process: (a) the weights are bitwise identical;
    (b) the test accuracy lies in ``ACCURACY_BAND`` = 98.0 % (the shipped checkpoint) -1.5 / +1.5 points.
    Source of the band: the accuracies measured on six code paths, 97.56 % .. 98.67 % (listed above
    ``ACCURACY_BAND``); 1.5 points is about 7 of the 450 test digits, a margin of 2 digits beyond the
    widest measured."""
    import os
    import re
    import subprocess
    import sys
    assert torch.get_num_threads() == 1                      # conftest: one thread, as python -m vizlab.digits
    model, _ = D.train(**D.CHECKPOINTS["digits_cnn"][2], split=split)
    run = subprocess.run([sys.executable, "-c", _RETRAIN], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert run.returncode == 0, run.stderr
    digest = re.search(r"weights sha256 ([0-9a-f]{16})", run.stdout).group(1)
    assert D.weights_sha256(model)[:16] == digest, run.stdout            # (a) two processes, same weights
    accuracy = D.accuracy(model, split.x_test, split.y_test)
    shipped = D.accuracy(vz.load("digits_cnn"), split.x_test, split.y_test)
    assert f"test accuracy {accuracy:.2%}" in run.stdout
    assert ACCURACY_BAND[0] <= shipped <= ACCURACY_BAND[1]
    assert ACCURACY_BAND[0] <= accuracy <= ACCURACY_BAND[1]               # (b)


# ---- the helpers check what they are given (issue 19, bugs 18 and 30) ------------------------

def test_zeiler_fergus_takes_rgb_like_the_model(cnn, split):
    grey = split.x_test[:3]
    a = D.zeiler_fergus(cnn, grey, 2, 5)
    b = D.zeiler_fergus(cnn, grey.expand(3, 3, 32, 32), 2, 5)
    assert torch.allclose(a[0], b[0], atol=1e-6) and torch.allclose(a[1], b[1]) and a[2] == b[2]


def test_accuracy_runs_the_model_under_its_lock_and_leaves_it_as_found(cnn, split):
    before = model_state(cnn.train())
    try:
        assert D.accuracy(cnn, split.x_test[:50], split.y_test[:50].tolist(), batch_size=7) == \
            D.accuracy(cnn, split.x_test[:50], split.y_test[:50])
        assert_untouched(cnn, before)
    finally:
        cnn.eval()
