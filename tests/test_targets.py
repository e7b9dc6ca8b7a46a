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
