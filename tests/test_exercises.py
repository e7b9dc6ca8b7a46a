"""The exercise checker must pass a right answer and fail every kind of wrong one."""
import pytest
import torch

from vizlab import exercises


def reference(a, b):
    return a @ b


CASES = [(torch.randn(3, 4, generator=torch.Generator().manual_seed(s)),
          torch.randn(4, 2, generator=torch.Generator().manual_seed(s + 1))) for s in range(3)]


def test_right_answer_passes(capsys):
    exercises.check("matmul", lambda a, b: torch.einsum("ij,jk->ik", a, b), reference, CASES)
    assert "matmul: passed (3 cases)" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, phrase", [
    (lambda a, b: (a @ b) * 1.01, "relative error"),
    (lambda a, b: (a @ b).T, "shape"),
    (lambda a, b: None, "return"),
    (lambda a, b: (a @ b) * float("nan"), "NaN"),
])
def test_wrong_answers_fail(wrong, phrase):
    with pytest.raises(AssertionError, match=phrase):
        exercises.check("matmul", wrong, reference, CASES)


def test_stub_says_not_done():
    def stub(a, b):
        raise NotImplementedError()
    with pytest.raises(AssertionError, match="not done yet"):
        exercises.check("matmul", stub, reference, CASES)


def test_student_cannot_change_the_reference_input():
    def in_place(a, b):
        a.zero_()
        return a @ b
    with pytest.raises(AssertionError):
        exercises.check("matmul", in_place, reference, CASES)


def test_rel_error_is_cs231n():
    assert exercises.rel_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) == 0
    assert exercises.rel_error([1.0], [3.0]) == pytest.approx(0.5)


def test_tuple_results_compared_elementwise():
    ref = lambda a, b: (a @ b, a.sum())
    exercises.check("pair", lambda a, b: (a @ b, a.sum()), ref, CASES)
    with pytest.raises(AssertionError, match="value 2"):
        exercises.check("pair", lambda a, b: (a @ b, a.sum() + 1), ref, CASES)


def _double(x):
    return x * 2


DOUBLE_CASES = [(torch.ones(3),), (torch.arange(4.0),)]


@pytest.mark.parametrize("odd, phrase", [
    (lambda x: {"a": x}, "dict"),
    (lambda x: "x * 2", "string"),
    (lambda x: (x * 3).to_sparse(), "relative error"),
    (lambda x: [t.requires_grad_() * 3 for t in x.clone()], "relative error"),
    (lambda x: (x * 2).to(torch.complex64) + 1j, "imaginary"),
    (lambda x: [[1.0], [1.0, 2.0]], "cannot be read as numbers"),
    (lambda x: object(), "object"),
])
def test_odd_answers_fail_with_the_hint_never_a_traceback(odd, phrase):
    """Issue 19, bug 24: whatever a student returns, the check fails with an AssertionError that
    gives the hint; a complex answer with an imaginary part fails instead of being cut to its real part."""
    with pytest.raises(AssertionError, match=phrase) as info:
        exercises.check("double", odd, _double, DOUBLE_CASES, hint="multiply by 2")
    assert "Hint: multiply by 2" in str(info.value)


@pytest.mark.parametrize("right", [
    lambda x: (x * 2).to_sparse(),
    lambda x: [t.requires_grad_() * 2 for t in x.clone()],
    lambda x: (x * 2).to(torch.complex64),
    lambda x: (x * 2).numpy().tolist(),
], ids=["sparse", "list of tensors requiring grad", "complex with zero imaginary part", "list"])
def test_right_values_in_another_container_pass(right, capsys):
    exercises.check("double", right, _double, DOUBLE_CASES)
    assert "double: passed (2 cases)" in capsys.readouterr().out
