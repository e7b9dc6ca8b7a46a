import time

import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import models

from conftest import random_resnet18


def test_lite0_matches_reference_implementation(lite0):
    """Logits equal efficientnet-lite-pytorch's (the published weights' own code) on real photos."""
    from efficientnet_lite_pytorch import EfficientNet
    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(models.lite0_weights_path())).eval()
    for name in ["chelsea", "coffee", "astronaut"]:
        x = vz.preprocess(vz.sample_image(name), lite0)
        with torch.no_grad():
            assert (lite0(x) - ref(x)).abs().max() < 1e-4


def test_tf_same_padding_is_asymmetric_for_stride_two():
    conv = models.SamePadConv2d(1, 1, 3, stride=2, bias=False)
    conv.weight.data.fill_(1.0)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = conv(x)
    # TF "SAME": out = ceil(4/2) = 2, total pad 1 -> 0 on top/left, 1 on bottom/right.
    assert out.shape == (1, 1, 2, 2)
    assert out[0, 0, 0, 0] == x[0, 0, :3, :3].sum()
    assert out[0, 0, 1, 1] == x[0, 0, 2:, 2:].sum()


@pytest.mark.parametrize("name, accepted", [("chelsea", range(281, 286)), ("coffee", [967])])
def test_acceptance_predictions(lite0, name, accepted):
    top = vz.predict(lite0, vz.preprocess(vz.sample_image(name), lite0), k=3)
    if name == "coffee":
        assert top[0].index == 967 and top[0].name == "espresso"
    else:
        assert any(p.index in accepted for p in top)


def test_predict_probabilities_and_batches(lite0, chelsea_x):
    one = vz.predict(lite0, chelsea_x, k=5)
    assert len(one) == 5 and all(a.probability >= b.probability for a, b in zip(one, one[1:]))
    with torch.no_grad():
        p = lite0(chelsea_x).softmax(-1)[0]
    assert abs(one[0].probability - float(p.max())) < 1e-6
    two = vz.predict(lite0, torch.cat([chelsea_x, chelsea_x.flip(-1)]), k=2)
    assert len(two) == 2 and len(two[0]) == 2


def test_load_metadata_and_eval_mode(lite0):
    meta = vz.info(lite0)
    assert meta.mean == (0.5, 0.5, 0.5) and meta.std == (0.5, 0.5, 0.5) and meta.input_size == 224
    assert len(meta.categories) == 1000 and meta.categories[967] == "espresso"
    assert not any(m.training for m in lite0.modules())
    # ReLU6 modules, none in place, one per use (so hooks and rule overrides see each one).
    acts = [m for m in lite0.modules() if isinstance(m, nn.ReLU6)]
    assert len(acts) == 33 and not any(getattr(m, "inplace", False) for m in acts)
    assert len({id(m) for m in acts}) == len(acts)


@pytest.mark.parametrize("name, layer", [("resnet18", "layer4"), ("vgg16", "features"), ("alexnet", "features"),
                                         ("mobilenet_v3_small", "features"), ("resnet50", "layer4")])
def test_torchvision_models_offline(name, layer):
    m = vz.load(name, pretrained=False)
    assert vz.default_cam_layer(m) == layer
    assert vz.info(m).mean == models.IMAGENET_MEAN
    assert not m.training


def test_torchvision_pretrained_fails_fast_without_network(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    t = time.monotonic()
    with pytest.raises(RuntimeError, match="put the file at"):
        vz.load("resnet18", pretrained=True)
    assert time.monotonic() - t < 15  # the socket probe has a 3 s timeout; never a hang


def test_unknown_model_suggests_names():
    with pytest.raises(ValueError, match="resnet18"):
        vz.load("resnet_18")


def test_default_cam_layer_by_inspection():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 8, 3), nn.ReLU())
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(self.gap(self.body(x)).flatten(1))

    assert vz.default_cam_layer(Tiny()) == "body"
    m = random_resnet18()
    m.vizlab_info = None  # forget the name: found by inspection alone
    assert vz.default_cam_layer(m) == "layer4"
    with pytest.raises(ValueError, match="spatial"):
        vz.default_cam_layer(nn.Sequential(nn.Flatten(), nn.Linear(3 * 224 * 224, 2)))


def test_layers_and_lookup(lite0):
    table = {l.name: l for l in vz.layers(lite0)}
    assert table["head"].shape == (1, 1280, 7, 7)
    assert table["stem.act"].shape == (1, 32, 112, 112)
    assert table["classifier"].shape == (1, 1000)
    assert vz.find_layer(lite0, "blocks.3.depthwise.act") is lite0.blocks[3].depthwise.act
    with pytest.raises(KeyError) as err:
        vz.find_layer(lite0, "blocks.3.depthwse.act")
    assert "blocks.3.depthwise.act" in str(err.value)
    assert not any(m._forward_hooks for m in lite0.modules())


def test_class_names(lite0):
    assert vz.class_name(lite0, 281) == "tabby"
    assert vz.class_index(lite0, "espresso") == 967
    with pytest.raises(KeyError, match="several"):
        vz.class_index(lite0, "cat")
    with pytest.raises(KeyError, match="espresso") as err:
        vz.class_index(lite0, "expresso")
    assert str(err.value).startswith("no class called 'expresso'") and str(err.value).endswith("'")


def test_weights_checksum_is_verified(tmp_path, monkeypatch):
    bad = tmp_path / "efficientnet-lite0-57934424.pth"
    bad.write_bytes(b"not the weights")
    monkeypatch.setattr(models, "lite0_weights_path", lambda: bad)
    with pytest.raises(RuntimeError, match="damaged"):
        vz.load()


# ---- issue 7: hardening -------------------------------------------------------------------------

def _bn_dropout_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.5), nn.Linear(4, 3))


def test_predict_runs_a_train_mode_model_in_eval_mode():
    """Item 1: dropout off, batch-norm statistics (and num_batches_tracked) untouched, flags restored."""
    from conftest import assert_untouched, model_state
    m = _bn_dropout_net()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = m.eval()(x).softmax(-1)
    m.train()
    before = model_state(m)
    first, again = vz.predict(m, x, k=3), vz.predict(m, x, k=3)
    assert first == again
    assert [p.probability for p in first[0]] == pytest.approx(sorted(expected[0].tolist(), reverse=True), abs=1e-6)
    assert_untouched(m, before)
    assert m.training


def test_defaults_probe_with_the_users_input():
    """Item 11: a 1-channel 32-px model, a float64 model and a train-mode BatchNorm1d head (N=1)."""
    torch.manual_seed(0)
    small = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 32 * 32, 3)).eval()
    x = torch.randn(1, 1, 32, 32)
    assert vz.default_cam_layer(small, x) == "3"
    assert vz.grad_cam(small, x, 0).shape == (1, 32, 32)           # layer=None probes with x
    with pytest.raises(ValueError, match="pass your own input"):  # the default 224-px probe does not fit ...
        vz.layers(small)
    assert vz.layers(small, x)[-1].shape == (1, 3)                  # ... the user's input does
    double = random_resnet18().double()
    assert vz.layers(double, leaves_only=True)[0].shape == (1, 64, 112, 112)
    m = random_resnet18()
    m.vizlab_info = None
    m.fc = nn.Sequential(nn.Linear(512, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    m.train()
    assert vz.default_cam_layer(m) == "layer4"                      # probed in eval mode: N=1 is fine
    assert m.training


def test_dns_that_hangs_is_bounded(monkeypatch, tmp_path):
    """Item 17: the timeout covers the name lookup: a resolver that never answers gives the clear error."""
    import socket
    import threading
    release = threading.Event()

    def slow_lookup(*args, **kwargs):
        release.wait(30)
        raise socket.gaierror("too slow")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(models, "NETWORK_TIMEOUT", 0.2)
    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    try:
        with pytest.raises(RuntimeError, match=r"no answer within 0.2 s"):
            vz.load("resnet18", pretrained=True)
    finally:
        release.set()


def test_damaged_cached_weights_name_the_file(monkeypatch, tmp_path):
    """Item 16: a corrupt file in torchvision's cache: say which file to delete."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    import torchvision
    url = torchvision.models.get_model_weights("resnet18").DEFAULT.url
    cached = tmp_path / "checkpoints" / url.rsplit("/", 1)[-1]
    cached.parent.mkdir()
    cached.write_bytes(b"\x80\x02garbage")
    with pytest.raises(RuntimeError, match="delete it") as err:
        vz.load("resnet18", pretrained=True)
    assert str(cached) in str(err.value)


def test_compiled_model_is_explained_through_its_original_module():
    """Item 13: hooks added after torch.compile are ignored by the compiled code: vizlab unwraps it."""
    m = random_resnet18()
    compiled = torch.compile(m, backend="eager")
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(vz.grad_cam(compiled, x, 1, "layer3"), vz.grad_cam(m, x, 1, "layer3"))
    assert torch.equal(vz.grad_cam(compiled, x, 1, "_orig_mod.layer3"), vz.grad_cam(m, x, 1, "layer3"))
    assert vz.capture(compiled, x, "layer2")["layer2"].shape == (1, 128, 4, 4)
    assert vz.find_layer(compiled, "layer2") is m.layer2
    assert vz.predict(compiled, x, k=1) == vz.predict(m, x, k=1)
