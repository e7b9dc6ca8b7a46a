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
