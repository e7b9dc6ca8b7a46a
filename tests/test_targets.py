import pytest
import torch

from vizlab import targets


def test_target_forms():
    logits = torch.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert targets.scores(None, logits).tolist() == [5.0, 7.0]
    assert targets.scores(2, logits).tolist() == [2.0, 3.0]
    assert targets.scores([0, 1], logits).tolist() == [1.0, 0.0]
    assert targets.scores(torch.tensor([2, 0]), logits).tolist() == [2.0, 7.0]
    assert targets.scores(lambda z: z[:, 0] - z[:, 2], logits).tolist() == [-1.0, 4.0]


def test_target_errors():
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="outside"):
        targets.scores(3, logits)
    with pytest.raises(ValueError, match="one class per image"):
        targets.scores([0, 1, 2], logits)
    with pytest.raises(ValueError, match="shape"):
        targets.scores(lambda z: z.sum(), logits)
    with pytest.raises(TypeError):
        targets.scores(True, logits)


def _named_model():
    """A 3-class linear model whose classes have names (resolve uses vizlab's class lookup)."""
    import vizlab as vz
    from vizlab.lookup import ModelInfo
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    model.vizlab_info = ModelInfo(name="tiny", categories=("cat", "dog", "fish"))
    assert vz.class_index(model, "dog") == 1
    return model


def test_freeze_fixes_the_target_at_the_clean_input():
    model = _named_model()
    clean = torch.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert targets.freeze(None, model, 2, clean).tolist() == [1, 0]            # the clean prediction
    assert targets.freeze(None, model, 2, lambda: clean).tolist() == [1, 0]
    assert targets.freeze(2, model, 2).tolist() == [2, 2]                      # one class for all
    assert targets.freeze("fish", model, 2).tolist() == [2, 2]                 # names resolved
    assert targets.freeze(["dog", 0], model, 2).tolist() == [1, 0]
    score = lambda z: z[:, 0] - z[:, 1]
    assert targets.freeze(score, model, 2) is score                            # a callable as is


def test_freeze_runs_the_model_only_for_the_prediction():
    calls = []

    def clean_logits():
        calls.append(1)
        return torch.zeros(1, 3)
    targets.freeze(1, None, 1, clean_logits)
    assert calls == []
    targets.freeze(None, None, 1, clean_logits)
    assert calls == [1]


def test_freeze_errors():
    with pytest.raises(ValueError, match="target names 3 classes but the batch holds 2 images"):
        targets.freeze([0, 1, 2], None, 2)
    with pytest.raises(ValueError, match="negative"):
        targets.freeze(-1, None, 1)
    with pytest.raises(ValueError, match="outside 0..2"):
        targets.freeze(3, None, 1, torch.zeros(1, 3))                        # checked when logits are given
    with pytest.raises(TypeError, match="whole-number"):
        targets.freeze(1.5, None, 1)
    with pytest.raises(TypeError, match="bool"):
        targets.freeze(True, None, 1)
    with pytest.raises(ValueError, match="clean logits"):
        targets.freeze(None, None, 1)


def test_every_family_says_the_same_for_a_wrong_length_target():
    """Issue 21 item 3: one contract, one error text (attribution, CAM, occlusion, attacks)."""
    import vizlab as vz
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    x = torch.rand(2, 3, 8, 8)
    calls = {
        "smoothgrad": lambda: vz.smoothgrad(vz.saliency, model, x, [0, 1, 2], samples=2),
        "integrated_gradients": lambda: vz.integrated_gradients(model, x, [0, 1, 2], steps=2),
        "score_cam": lambda: vz.score_cam(model, x, [0, 1, 2], "1"),
        "occlusion": lambda: vz.occlusion(model, x, [0, 1, 2], window=4, stride=4),
        "fgsm": lambda: vz.fgsm(vz.adversarial.Normalized(model), x, [0, 1, 2], 0.1),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r"names 3 classes but the batch holds 2 images; pass one class per image"):
            call()
