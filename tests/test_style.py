"""vizlab.style: exact values of the four losses on tiny tensors, invariances, gradients, the
transfer loop (it optimises, computes its targets once, leaves the model as found)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import style as st
from conftest import assert_untouched, model_state


# --------------------------------------------------------------------------------------------
# The losses, by hand
# --------------------------------------------------------------------------------------------

F22 = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])          # 1 x 1 x 2 x 2
F2C = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])        # 1 x 2 x 1 x 2: C = 2, HW = 2


def test_content_loss_by_hand():
    # w * sum (F - P)^2 = 2 * (1 + 4 + 9 + 16) = 60; and (F - F) gives 0
    assert st.content_loss(2.0, F22, torch.zeros_like(F22)).item() == 60.0
    assert st.content_loss(5.0, F22, F22).item() == 0.0


def test_gram_matrix_by_hand():
    # F = [[1, 2], [3, 4]] (channels x positions): F F^T = [[5, 11], [11, 25]], / (C H W = 4)
    g = st.gram_matrix(F2C)
    assert torch.equal(g, torch.tensor([[[1.25, 2.75], [2.75, 6.25]]]))
    assert torch.equal(st.gram_matrix(F2C, normalize=False), torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]))


def test_gram_matrix_batches_images_separately():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(3, 4, 5, 6, generator=g)
    batched = st.gram_matrix(f)
    for n in range(3):
        assert torch.allclose(batched[n], st.gram_matrix(f[n:n + 1])[0], atol=1e-6)


def test_style_loss_by_hand():
    # w * sum (G - A)^2 with A = 0: 2 * (1.25^2 + 2 * 2.75^2 + 6.25^2) = 2 * 55.75 = 111.5
    feats = [torch.zeros(1, 1, 1, 1), F2C]
    loss = st.style_loss(feats, [1], [torch.zeros(1, 2, 2)], [2.0])
    assert loss.item() == pytest.approx(111.5, rel=1e-7)
    # two layers add, each with its own weight; a matching target costs nothing
    loss2 = st.style_loss([F2C, F2C], [0, 1], [st.gram_matrix(F2C), torch.zeros(1, 2, 2)], [7.0, 1.0])
    assert loss2.item() == pytest.approx(55.75, rel=1e-7)


def test_tv_loss_by_hand():
    img = torch.tensor([[[[1.0, 2.0], [4.0, 8.0]]]])
    # vertical: (4 - 1)^2 + (8 - 2)^2 = 45; horizontal: (2 - 1)^2 + (8 - 4)^2 = 17
    assert st.tv_loss(img, 0.5).item() == pytest.approx(0.5 * 62)
    assert st.tv_loss(torch.full((1, 3, 4, 4), 0.3), 1.0).item() == 0.0


def test_style_loss_rejects_mismatched_lists():
    with pytest.raises(ValueError, match="one entry per layer"):
        st.style_loss([F2C], [0], [st.gram_matrix(F2C)], [1.0, 2.0])


def test_gram_matrix_ignores_where_features_are():
    """Shuffling the positions (the same permutation for every channel) leaves the Gram matrix as is."""
    g = torch.Generator().manual_seed(1)
    f = torch.randn(1, 8, 6, 7, generator=g)
    perm = torch.randperm(6 * 7, generator=g)
    shuffled = f.reshape(1, 8, -1)[:, :, perm].reshape(1, 8, 6, 7)
    assert not torch.allclose(shuffled, f)
    assert torch.allclose(st.gram_matrix(shuffled), st.gram_matrix(f), atol=1e-5)
    # ... but shuffling each channel differently does change it: it measures co-occurrence
    own = torch.stack([f[0, c].reshape(-1)[torch.randperm(42, generator=g)] for c in range(8)]).reshape(1, 8, 6, 7)
    assert not torch.allclose(st.gram_matrix(own), st.gram_matrix(f), atol=1e-3)


@pytest.mark.parametrize("name", ["content", "gram", "style", "tv", "softmax"])
def test_gradients_match_finite_differences(name):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    other = torch.randn(1, 3, 4, 5, generator=g, dtype=torch.float64)
    fns = {
        "content": lambda t: st.content_loss(0.7, t, other),
        "gram": lambda t: st.gram_matrix(t),
        "style": lambda t: st.style_loss([t, t * 2], [0, 1], [st.gram_matrix(other), st.gram_matrix(other)],
                                         [1.5, 0.5]),
        "tv": lambda t: st.tv_loss(t, 0.3),
        "softmax": lambda t: st.softmax_activations(t),
    }
    assert torch.autograd.gradcheck(fns[name], (x,), eps=1e-6, atol=1e-6)


def test_softmax_activations_is_swag():
    f = torch.tensor([[[[0.0, 0.0], [0.0, torch.log(torch.tensor(5.0))]]]])
    # exp = [1, 1, 1, 5] / 8, times M = 4
    assert torch.allclose(st.softmax_activations(f), torch.tensor([[[[0.5, 0.5], [0.5, 2.5]]]]))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 4, 4, generator=g)
    out = st.softmax_activations(x)
    assert torch.allclose(out.flatten(1).mean(1), torch.ones(2), atol=1e-5)   # mean entry 1 per image
    assert torch.allclose(st.softmax_activations(x + 3.0), out, atol=1e-5)    # blind to a shift
    assert torch.allclose(st.softmax_activations(x[1:]), out[1:], atol=1e-6)  # images separately


def test_activation_entropy_extremes():
    assert st.activation_entropy(torch.ones(1, 2, 3, 3)).item() == pytest.approx(1.0, abs=1e-6)
    one_hot = torch.zeros(1, 2, 3, 3)
    one_hot[0, 1, 2, 0] = 4.0
    assert st.activation_entropy(one_hot).item() == pytest.approx(0.0, abs=1e-6)
    # two equal entries out of M = 4: log 2 / log 4 = 0.5
    half = torch.tensor([[[[1.0, 0.0], [-1.0, 0.0]]]])
    assert st.activation_entropy(half).item() == pytest.approx(0.5, abs=1e-6)


# --------------------------------------------------------------------------------------------
# Features and the loop, on a tiny net
# --------------------------------------------------------------------------------------------

def tiny_net(seed: int = 0) -> nn.Module:
    """conv-BN-ReLU-conv-ReLU-pool-linear; layer names "0".."7"; has batch norm (flags and buffers)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                            nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    return net


def photo(seed: int, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=g)


def test_features_match_capture_and_stop_before_the_head():
    net = tiny_net().eval()
    x = photo(0)
    calls = []
    handle = net[7].register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        a, b = st.features(net, x, ["2", "4"])
    finally:
        handle.remove()
    ref = vz.capture(net, st.to_model_input(x, net), ["2", "4"])
    assert torch.allclose(a, ref["2"]) and torch.allclose(b, ref["4"])
    assert calls == [], "the classifier ran although no layer after '4' was needed"
    assert torch.allclose(st.features(net, x, ["4"], "softmax")[0], st.softmax_activations(ref["4"]))


def test_transfer_lowers_the_style_loss_and_leaves_the_model_as_found():
    net = tiny_net().train()  # a training-mode model with batch norm: flags and buffers must survive
    before = model_state(net)
    buffers = [b.clone() for b in net.buffers()]
    rng = torch.random.get_rng_state()
    img, hist = st.transfer(net, photo(0), photo(1, 20), "4", ["2", "4"], style_weights=10.0, steps=30,
                            progress=False)
    assert_untouched(net, before)
    assert all(torch.equal(a, b) for a, b in zip(buffers, net.buffers()))
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert img.shape == (1, 3, 16, 16) and float(img.min()) >= 0 and float(img.max()) <= 1
    assert len(hist["style"]) == 30 and hist["content"][0] == 0.0  # starts at the content photo
    assert hist["style"][-1] < 0.1 * hist["style"][0]


def test_transfer_history_is_the_cs231n_loss():
    """relative=False: the first recorded loss is exactly the sum of the CS231n losses at the start."""
    net = tiny_net().eval()
    c, s = photo(0), photo(1)
    _, hist = st.transfer(net, c, s, "4", ["2", "4"], style_weights=[3.0, 0.5], tv_weight=0.01, steps=1,
                          content_weight=2.0, relative=False, progress=False)
    with torch.no_grad():
        fs = st.features(net, s, ["2", "4"])
        fc = st.features(net, c, ["2", "4"])
    want_style = st.style_loss(fc, [0, 1], [st.gram_matrix(f) for f in fs], [3.0, 0.5]).item()
    assert hist["style"][0] == pytest.approx(want_style, rel=1e-5)
    assert hist["tv"][0] == pytest.approx(st.tv_loss(c, 0.01).item(), rel=1e-5)
    assert hist["loss"][0] == pytest.approx(want_style + hist["tv"][0], rel=1e-5)


def test_targets_are_computed_once():
    """One forward for the style image, one for the content photo, then one per L-BFGS step."""
    net = tiny_net().eval()
    calls = []
    handle = net[0].register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        st.transfer(net, photo(0), photo(1), "4", ["2"], steps=5, progress=False)
        lbfgs = len(calls)
        calls.clear()
        st.transfer(net, photo(0), photo(1), "4", ["2"], steps=5, optimizer="adam", progress=False)
    finally:
        handle.remove()
    assert lbfgs == 2 + 5
    assert len(calls) == 2 + 5


def test_noise_init_is_deterministic_for_a_generator():
    net = tiny_net().eval()
    runs = [st.transfer(net, photo(0), photo(1), "4", ["2", "4"], steps=3, init="noise", optimizer="adam",
                        generator=torch.Generator().manual_seed(7), progress=False)[0] for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    other = st.transfer(net, photo(0), photo(1), "4", ["2", "4"], steps=3, init="noise", optimizer="adam",
                        generator=torch.Generator().manual_seed(8), progress=False)[0]
    assert not torch.equal(runs[0], other)


def test_texture_synthesis_and_content_reconstruction():
    net = tiny_net().eval()
    _, tex = st.transfer(net, photo(0), photo(1), None, ["2", "4"], steps=20, init="noise",
                         generator=torch.Generator().manual_seed(0), progress=False)
    assert tex["content"] == [0.0] * 20 and tex["style"][-1] < 0.1 * tex["style"][0]
    _, rec = st.transfer(net, photo(0), photo(1), "4", [], steps=20, init="noise",
                         generator=torch.Generator().manual_seed(0), progress=False)
    assert rec["style"] == [0.0] * 20 and rec["content"][-1] < 0.2 * rec["content"][0]


def test_errors_that_teach():
    net = tiny_net().eval()
    with pytest.raises(ValueError, match="pixels 1 x 3 x H x W in \\[0, 1\\]"):
        st.transfer(net, photo(0)[0], photo(1), "4", ["2"], steps=1, progress=False)
    with pytest.raises(ValueError, match="not a normalised model input"):
        st.transfer(net, photo(0) * 4 - 2, photo(1), "4", ["2"], steps=1, progress=False)
    with pytest.raises(ValueError, match="'lbfgs' or 'adam'"):
        st.transfer(net, photo(0), photo(1), "4", ["2"], steps=1, optimizer="sgd", progress=False)
    with pytest.raises(ValueError, match="None or 'softmax'"):
        st.transfer(net, photo(0), photo(1), "4", ["2"], steps=1, activation_transform="relu", progress=False)
    with pytest.raises(ValueError, match="2 style layers but 1 style weights"):
        st.transfer(net, photo(0), photo(1), "4", ["2", "4"], style_weights=[1.0], steps=1, progress=False)
    with pytest.raises(ValueError, match="no default style layers"):
        st.transfer(net, photo(0), photo(1), steps=1, progress=False)


def test_style_distance_is_zero_for_the_style_itself():
    net = tiny_net().eval()
    assert st.style_distance(net, photo(1), photo(1), ["2", "4"]) == 0.0
    assert st.style_distance(net, photo(0), photo(1), ["2", "4"]) > 0.0


# --------------------------------------------------------------------------------------------
# Real networks
# --------------------------------------------------------------------------------------------

def test_random_vgg19_is_seeded_offline_and_leaves_the_global_rng():
    rng = torch.random.get_rng_state()
    a, c = st.random_vgg19(0), st.random_vgg19(1)
    assert torch.equal(torch.random.get_rng_state(), rng)
    # the first draw of the seeded generator is the first convolution, by torchvision's rule
    want = nn.init.kaiming_normal_(torch.empty(64, 3, 3, 3), mode="fan_out", nonlinearity="relu",
                                   generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.features[0].weight, want) and not torch.equal(c.features[0].weight, want)
    assert [type(m).__name__ for m in a.features[:5]] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    assert sum(isinstance(m, nn.Conv2d) for m in a.modules()) == 16  # VGG-19: 16 conv + 3 linear
    assert all(torch.isfinite(p).all() for p in a.parameters())
    assert st.default_layers(a)[0] == "features.22"


def test_lite0_default_transfer_lowers_the_style_loss(lite0):
    before = model_state(lite0)
    c, s = st.pixels("chelsea", 64), st.pixels("coffee", 64)
    assert c.shape == (1, 3, 64, 64) and 0 <= float(c.min()) and float(c.max()) <= 1
    _, hist = st.transfer(lite0, c, s, steps=15, progress=False)
    assert_untouched(lite0, before)
    assert hist["style"][-1] < 0.3 * hist["style"][0]


# --------------------------------------------------------------------------------------------
# The explorer over cached results
# --------------------------------------------------------------------------------------------

def test_style_explorer_shows_the_cached_result_for_each_setting():
    from vizlab.widgets.style import StyleExplorer
    images = np.zeros((2, 3, 2, 4, 4, 3), dtype=np.uint8)
    for i in range(2):
        for j in range(3):
            for k in range(2):
                images[i, j, k] = 10 * i + 3 * j + k  # a different grey per setting
    judge = np.arange(12, dtype=float).reshape(2, 3, 2)
    ex = StyleExplorer(images, ["a", "b"], [1, 10, 100], [0, 0.01], np.full((4, 4, 3), 255, np.uint8),
                       np.zeros((4, 4, 3), np.uint8), metrics={"judge": judge})
    assert np.allclose(ex.result("b", 10, 0.01), (10 + 3 + 1) / 255)
    assert ex.numbers("b", 100, 0) == {"judge": judge[1, 2, 0]}
    pic = ex.render("a", 1, 0)
    assert pic.shape == (4, 4 * 3 + 8, 3) and pic[0, 0, 0] == 1.0 and pic[0, 8, 0] == 0.0
    with pytest.raises(KeyError, match="no cached result"):
        ex.result("c", 1, 0)
    with pytest.raises(ValueError, match="networks, style weights, TV weights"):
        StyleExplorer(images[:1], ["a", "b"], [1, 10, 100], [0, 0.01], images[0, 0, 0], images[0, 0, 0])
    box = ex.widget
    first = ex.picture.value
    ex.network.value = "b"
    ex.style_weight.value = 10.0
    assert ex.picture.value != first and f"judge {judge[1, 1, 0]:.3f}" in ex.info.value
    assert box is ex.widget


def test_judge_network_is_seeded_and_leaves_the_global_rng():
    rng = torch.random.get_rng_state()
    a, b = st.judge_network(1), st.judge_network(1)
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert all(layer in dict(a.named_modules()) for layer in st.JUDGE_LAYERS)


# --------------------------------------------------------------------------------------------
# Issue 19: the contract every entry point keeps
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_transfer_works_inside_no_grad_and_inference_mode(mode, optimizer):
    """Bug 3: transfer switches gradients on for itself (the Adam path used to fail); same result."""
    net = tiny_net().eval()
    before = model_state(net)
    want = st.transfer(net, photo(0), photo(1), "4", ["2", "4"], steps=3, optimizer=optimizer, progress=False)
    with (torch.no_grad() if mode == "no_grad" else torch.inference_mode()):
        got = st.transfer(net, photo(0), photo(1), "4", ["2", "4"], steps=3, optimizer=optimizer, progress=False)
    assert_untouched(net, before)
    assert torch.equal(got[0], want[0]) and got[1] == want[1]


def test_a_single_layer_name_is_one_layer():
    """Bug 11: style_layers="2" used to be iterated letter by letter (here: the same as ["2"] by luck of a
    one-letter name; "layer1" gave "no layer called 'l'")."""
    net = tiny_net().eval()
    a = st.transfer(net, photo(0), photo(1), "4", "2", steps=2, progress=False)
    b = st.transfer(net, photo(0), photo(1), "4", ["2"], steps=2, progress=False)
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    named = nn.Sequential()
    named.add_module("conv", nn.Conv2d(3, 4, 3, padding=1))
    named.add_module("relu", nn.ReLU())
    named.add_module("later", nn.Conv2d(4, 4, 3, padding=1))
    named.eval()
    assert st.style_distance(named, photo(0), photo(1), "relu") == st.style_distance(named, photo(0), photo(1),
                                                                                     ["relu"])
    img, hist = st.transfer(named, photo(0), photo(1), None, "relu", steps=1, progress=False)
    assert len(hist["style"]) == 1
    assert len(st.features(named, photo(0), "later")) == 1


def test_noise_init_without_a_generator_is_seed_0_and_leaves_the_global_rng():
    """Bug 14: generator=None is torch.Generator().manual_seed(0); the global RNG is not drawn from."""
    net = tiny_net().eval()
    state = torch.get_rng_state()
    for optimizer in ("lbfgs", "adam"):
        a = st.transfer(net, photo(0), photo(1), None, ["2", "4"], steps=2, init="noise", optimizer=optimizer,
                        progress=False)[0]
        assert torch.equal(torch.get_rng_state(), state), f"the global RNG was used ({optimizer})"
        b = st.transfer(net, photo(0), photo(1), None, ["2", "4"], steps=2, init="noise", optimizer=optimizer,
                        generator=torch.Generator().manual_seed(0), progress=False)[0]
        assert torch.equal(a, b)


def test_nan_pixels_are_refused_not_propagated():
    """Bug 9: NaN passed the [0, 1] check (NaN < 0 and NaN > 1 are both False) and gave a NaN image."""
    net = tiny_net().eval()
    c = photo(0)
    c[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="content: the input holds NaN"):
        st.transfer(net, c, photo(1), "4", ["2"], steps=1, progress=False)
    with pytest.raises(ValueError, match="image: the input holds NaN"):
        st.style_distance(net, c, c, ["2"])


def test_all_zero_style_features_are_refused_not_weighted_1e29():
    """Bug 23: the relative weight divided by clamp_min(1e-30); relative=False still runs."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU()).eval()
    mean = torch.tensor(vz.models.IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 16, 16).contiguous()
    with pytest.raises(ValueError, match="all zero"):
        st.style_distance(net, photo(0), mean, ["1"])
    with pytest.raises(ValueError, match="relative=False"):
        st.transfer(net, photo(0), mean, None, ["1"], steps=1, progress=False)
    _, hist = st.transfer(net, photo(0), mean, None, ["1"], steps=1, relative=False, progress=False)
    assert hist["style"][0] > 0


def test_activation_entropy_of_one_entry_is_zero():
    """Bug 28: log M = 0 for M = 1 gave 0/0 = NaN; one entry carries everything: entropy 0."""
    assert st.activation_entropy(torch.ones(1, 1, 1, 1)).tolist() == [0.0]
    assert st.activation_entropy(torch.zeros(2, 1, 1, 1)).tolist() == [0.0, 0.0]
    assert st.activation_entropy(torch.zeros(1, 2, 2, 2)).item() == 0.0


def test_style_layers_that_never_run_or_are_flat_get_a_clear_error():
    """Bug 22: a bare KeyError, or 'not enough values to unpack' for a 2-D layer."""
    net = tiny_net().eval()
    with pytest.raises(ValueError, match="not features N x C x H x W"):
        st.transfer(net, photo(0), photo(1), "4", ["2", "7"], steps=1, progress=False)

    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.extra = tiny_net(), nn.Conv2d(8, 8, 1)   # extra is registered but never called

        def forward(self, x):
            return self.net(x)
    with pytest.raises(ValueError, match="were not called in the forward pass"):
        st.transfer(Unused().eval(), photo(0), photo(1), "net.4", ["extra"], steps=1, progress=False)
    with pytest.raises(ValueError, match="were not called in the forward pass"):
        st.style_distance(Unused().eval(), photo(0), photo(1), ["net.2", "extra"])


def test_random_vgg19_without_its_classifier_has_the_same_convolutions_and_no_fc_weights():
    full, convs = st.random_vgg19(0), st.random_vgg19(0, classifier=False)
    for a, b in zip(full.features, convs.features):
        if isinstance(a, nn.Conv2d):
            assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not any(isinstance(m, nn.Linear) for m in convs.modules())
    fc = sum(p.numel() for p in full.classifier.parameters())
    assert sum(p.numel() for p in convs.parameters()) == sum(p.numel() for p in full.parameters()) - fc
    assert fc > 100_000_000                                   # what leaving it out saves: 0.5 GB of float32


# --------------------------------------------------------------------------------------------
# The loop is render's: the same numbers as a plain, hand-written L-BFGS / Adam loop
# --------------------------------------------------------------------------------------------

def _by_hand(net, content, style, content_layer, style_layers, steps, optimizer):
    """Gatys et al.'s loop written out with nothing from vizlab but the four losses' formulas: hooks collect
    the features, ``f @ f^T / CHW`` is the Gram matrix (autograd's own backward), one L-BFGS iteration
    (memory 20, lr 1) or one Adam step (lr 0.02) per step, the pixels clamped to [0, 1] after each."""
    net = net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    mods = dict(net.named_modules())
    MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def feats(x):
        got = {}
        handles = [mods[n].register_forward_hook(lambda m, i, o, n=n: (got.__setitem__(n, o), o.clone())[1])
                   for n in set(style_layers + [content_layer])]
        try:
            net((x - MEAN) / STD)  # ImageNet's mean and std: what vizlab assumes for a plain module
        finally:
            for h in handles:
                h.remove()
        return got

    def gram(f):
        n, c, h, w = f.shape
        f = f.reshape(n, c, h * w)
        return f @ f.transpose(1, 2) / (c * h * w)
    with torch.no_grad():
        fs, fc = feats(style), feats(content)
    targets = [gram(fs[n]) for n in style_layers]
    P = fc[content_layer]
    ws = [10.0 / float((a ** 2).sum()) for a in targets]
    wc = 1.0 / float((P ** 2).sum())
    x = content.clone().requires_grad_(True)
    opt = (torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=20) if optimizer == "lbfgs"
           else torch.optim.Adam([x], lr=0.02))
    losses = []

    def closure():
        f = feats(x)
        loss = (wc * ((f[content_layer] - P) ** 2).sum()
                + sum(w * ((gram(f[n]) - a) ** 2).sum() for w, n, a in zip(ws, style_layers, targets))
                + 1e-3 * (((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum() + ((x[..., 1:] - x[..., :-1]) ** 2).sum()))
        x.grad, = torch.autograd.grad(loss, [x])
        return loss.detach()
    for _ in range(steps):
        if optimizer == "lbfgs":
            losses.append(float(opt.step(closure)))
        else:
            losses.append(float(closure()))
            opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach(), losses


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_transfer_is_the_hand_written_loop(optimizer):
    net = tiny_net()
    c, s = photo(0), photo(1, 20)
    img, hist = st.transfer(net, c, s, "4", ["2", "4"], steps=12, optimizer=optimizer, progress=False)
    want, losses = _by_hand(tiny_net(), c, s, "4", ["2", "4"], 12, optimizer)
    assert hist["loss"] == pytest.approx(losses, rel=1e-4)
    assert torch.allclose(img, want, atol=1e-4)
    assert float((img - c).abs().max()) > 1e-2  # the control: the image did move (so the comparison means something)


def test_gram_gradient_is_autograds_generic_product_rule():
    """The Gram matrix's hand-written backward ``(dG + dG^T) F`` equals autograd's rule for ``F @ F^T``."""
    f = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)  # not symmetric
    mine, = torch.autograd.grad((st.gram_matrix(f) * w).sum(), f)
    flat = f.reshape(2, 5, 12)
    ref, = torch.autograd.grad(((flat @ flat.transpose(1, 2) / 60) * w).sum(), f)
    assert torch.allclose(mine, ref, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: st.gram_matrix(t), (f,))
    assert torch.autograd.gradgradcheck(lambda t: st.gram_matrix(t), (f,))


def test_transfer_and_features_see_through_a_compiled_model():
    """``torch.compile``'s wrapper is unwrapped (forward hooks added after compiling never fire in the compiled
    code): the same features and the same transfer as on the module itself."""
    net = tiny_net().eval()
    compiled = torch.compile(net)
    c, s = photo(0), photo(1)
    assert torch.equal(st.features(compiled, c, ["2"])[0], st.features(net, c, ["2"])[0])
    a = st.transfer(compiled, c, s, "4", ["2", "4"], steps=3, progress=False)
    b = st.transfer(net, c, s, "4", ["2", "4"], steps=3, progress=False)
    assert torch.equal(a[0], b[0]) and a[1] == b[1]


def test_transfer_and_style_distance_take_the_model_first():
    """Issue 21 item 3: model first, like every vizlab function; the old order still works, with a warning, and
    gives the same result."""
    net = tiny_net().eval()
    c, s = photo(0), photo(1)
    new = st.transfer(net, c, s, "4", ["2", "4"], steps=2, progress=False)
    with pytest.warns(DeprecationWarning, match="takes the model first"):
        old = st.transfer(c, s, net, "4", ["2", "4"], steps=2, progress=False)
    assert torch.equal(new[0], old[0]) and new[1] == old[1]
    with pytest.warns(DeprecationWarning, match="takes the model first"):
        assert st.style_distance(c, s, net, ["2"]) == st.style_distance(net, c, s, ["2"])
