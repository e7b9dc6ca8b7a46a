import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import hooks

from conftest import assert_untouched, model_state, random_resnet18


class TwoLayer(nn.Module):
    """y = w2 . relu(W1 x): small enough to check activations and gradients by hand."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Conv2d(1, 2, 1, bias=False)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc2 = nn.Linear(2, 2, bias=False)
        self.fc1.weight.data = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
        self.fc2.weight.data = torch.tensor([[2.0, 3.0], [0.0, 1.0]])

    def forward(self, x):
        return self.fc2(self.pool(self.act(self.fc1(x))).flatten(1))


def test_capture_exact_values_and_gradients():
    m = TwoLayer().eval()
    x = torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]]])  # 1x1x2x2
    before = model_state(m)
    out = vz.capture(m, x, ["act", "fc1"], target=0, gradients=True)
    expected_act = torch.tensor([[[[1.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [0.0, 0.0]]]])
    assert torch.equal(out["act"], expected_act)
    assert torch.equal(out.activations["fc1"][0, 1], -x[0, 0])
    # score = 2 * mean(act_0) + 3 * mean(act_1): d score / d act = [2/4, 3/4] everywhere
    assert torch.allclose(out.gradients["act"][0, :, 0, 0], torch.tensor([0.5, 0.75]))
    # through the ReLU: zero where it was off
    assert torch.allclose(out.gradients["fc1"], torch.tensor([[[[0.5, 0.0], [0.5, 0.0]], [[0.0, 0.75], [0.0, 0.0]]]]))
    assert out.logits.tolist() == [[2 * 1.0 + 3 * 0.5, 0.5]]
    assert_untouched(m, before)


def test_resnet_inplace_relu_and_residual_add():
    """bn2's output is later modified in place (out += identity; relu_): the capture must hold the
    value bn2 produced and the gradient at that point, not at the summed one."""
    m = random_resnet18()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    before = model_state(m)
    out = vz.capture(m, x, ["layer4.1.bn2", "layer4"], target=[3, 5], gradients=True)
    block = m.layer4[1]
    with torch.no_grad():
        h = m.layer4[0](m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))
        bn2 = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(h)))))
    assert torch.allclose(out["layer4.1.bn2"], bn2, atol=1e-5)
    # gradient at bn2 = gradient at layer4's output masked by the final ReLU
    mask = (out["layer4"] > 0).float()
    assert torch.allclose(out.gradients["layer4.1.bn2"], out.gradients["layer4"] * mask, atol=1e-6)
    # the model's own answer is unchanged by capturing
    with torch.no_grad():
        assert torch.allclose(out.logits, m(x), atol=1e-5)
    assert_untouched(m, before)


def test_module_used_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(self.conv(self.conv(x)).mean((2, 3)))

    torch.manual_seed(0)
    m = Twice().eval()
    x = torch.randn(1, 3, 4, 4)
    out = vz.capture(m, x, "conv", target=1, gradients=True)
    first, second = out.all_activations["conv"]
    assert torch.allclose(first, m.conv(x)) and torch.allclose(second, m.conv(m.conv(x)))
    assert out["conv"] is second
    assert len(out.all_gradients["conv"]) == 2
    assert torch.allclose(out.gradients["conv"], m.fc.weight[1].view(1, 3, 1, 1).expand(1, 3, 4, 4) / 16)


def test_hygiene_after_an_exception():
    m = random_resnet18()
    m.layer2.train()  # an unusual state that must survive
    m.fc.weight.requires_grad_(False)
    before = model_state(m)
    with pytest.raises(ValueError, match="outside"):
        vz.capture(m, torch.randn(1, 3, 32, 32), ["layer3"], target=5000, gradients=True)
    assert_untouched(m, before)


def test_gradients_need_no_trainable_parameters():
    m = TwoLayer().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    out = vz.capture(m, torch.ones(1, 1, 2, 2), "act", target=0, gradients=True)
    assert out.gradients["act"].abs().sum() > 0
    assert all(not p.requires_grad for p in m.parameters())


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(3, 8, 8), "batch"),
    (torch.zeros(8, 8), "shape"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "float"),
    (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
    ("image.png", "Tensor"),
])
def test_bad_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        hooks.check_input(bad)


def test_unknown_layer_and_unused_layer():
    m = TwoLayer().eval()
    with pytest.raises(KeyError, match="fc1"):
        vz.capture(m, torch.ones(1, 1, 2, 2), "fc_1")
    m.unused = nn.ReLU()
    with pytest.raises(ValueError, match="not called"):
        vz.capture(m, torch.ones(1, 1, 2, 2), "unused")
    assert not any(mod._forward_hooks for mod in m.modules())


def test_capture_runs_in_eval_mode_and_restores_training():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    m.train()
    x = torch.randn(1, 3, 8, 8)
    first, second = (vz.capture(m, x, "1")["1"] for _ in range(2))
    assert torch.equal(first, second)  # dropout off: no randomness
    assert all(mod.training for mod in m.modules())


class Boom(nn.Module):
    def __init__(self, error):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.error = error

    def forward(self, x):
        self.conv(x)
        raise self.error


def test_run_model_lets_the_models_own_errors_through():
    """A bug inside a student's forward is reported as itself, not as a wrong image size."""
    err = RuntimeError("boom")
    with pytest.raises(RuntimeError, match="^boom$") as info:
        hooks.run_model(Boom(err).eval(), torch.zeros(1, 3, 8, 8))
    assert info.value is err
    with pytest.raises(RuntimeError, match="boom"):
        vz.predict(Boom(RuntimeError("boom")).eval(), torch.zeros(1, 3, 8, 8))


@pytest.mark.parametrize("model, x, phrase", [
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)), (1, 3, 9, 9), "mat1 and mat2"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(5, 4, 3)), (1, 3, 9, 9), "channels"),
    (nn.Sequential(nn.Conv2d(3, 4, 5)), (1, 3, 3, 3), "Kernel size"),
    (nn.Sequential(nn.Conv2d(3, 4, 1), nn.MaxPool2d(4)), (1, 3, 3, 3), "Output size is too small"),
])
def test_run_model_translates_size_errors_and_chains_them(model, x, phrase):
    with pytest.raises(ValueError, match="cannot run on an input of shape") as info:
        hooks.run_model(model.eval(), torch.zeros(x))
    assert phrase in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError) and phrase in str(info.value.__cause__)


def test_generator_none_is_seed_0_everywhere_and_the_global_rng_is_untouched():
    """One meaning of generator=None across the families (issue 19): a fresh seed-0 generator, never the global
    RNG -- SmoothGrad and IG's noise baseline drew from the global RNG before."""
    from vizlab import attribution as A
    from vizlab.hooks import check_generator
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 3)).eval()
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    lite0 = vz.load("efficientnet_lite0", pretrained=False)          # baseline_for reads its mean/std
    state = torch.get_rng_state()
    a = A.smoothgrad(A.saliency, net, x, 0, samples=3)
    base = A.baseline_for(lite0, x, "noise")
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, A.smoothgrad(A.saliency, net, x, 0, samples=3, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(base, A.baseline_for(lite0, x, "noise", torch.Generator().manual_seed(0)))
    assert torch.equal(check_generator(None).get_state(), torch.Generator().manual_seed(0).get_state())
    with pytest.raises(TypeError, match="torch.Generator"):
        check_generator(0)


def test_progress_has_one_meaning():
    """Issue 21 item 3: progress= is False/None (silent), True (a bar) or progress(done, total), everywhere."""
    assert hooks.progress_reporter(None) is None and hooks.progress_reporter(False) is None
    seen = []
    report = hooks.progress_reporter(lambda done, total: seen.append((done, total)))
    report(1, 2)
    assert seen == [(1, 2)]
    bar = hooks.progress_reporter(True, "test")
    bar(1, 3)
    bar(3, 3)                                    # closes the bar; no error
    with pytest.raises(TypeError, match="progress must be True"):
        hooks.progress_reporter("yes")
    net = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(2, 2)).eval()
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for call in (lambda p: vz.score_cam(net, x, 0, "1", progress=p),
                 lambda p: vz.occlusion(net, x, 0, window=4, stride=4, progress=p)):
        seen.clear()
        call(lambda done, total: seen.append((done, total)))
        assert seen and seen[-1][0] == seen[-1][1]           # rises to the total
        assert torch.equal(call(True), call(None))           # a bar changes nothing else
    from vizlab import optvis
    seen.clear()
    optvis.render(net, optvis.objectives.channel("0", 1), param=optvis.param.pixels(8), transforms=[], steps=3,
                  progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]                   # render (and style.transfer, through it): per step


def test_capture_takes_target_by_keyword():
    """capture's target is keyword-only (the methods read (model, x, target, layer)); positional still works,
    with a DeprecationWarning, and gives the same gradients."""
    net = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(2, 3)).eval()
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    new = vz.capture(net, x, "1", target=2, gradients=True)
    with pytest.warns(DeprecationWarning, match="by keyword"):
        old = vz.capture(net, x, "1", 2, gradients=True)
    assert torch.equal(new.gradients["1"], old.gradients["1"])
    with pytest.raises(TypeError, match="one target"):
        vz.capture(net, x, "1", 2, target=1)
