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


# -- other obvious ways around the check (issue 18) ----------------------------------------------

import functools
import sys

import vizlab.style as st

FEATS = [(torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(s)),) for s in range(2)]


def _gram(f):
    n, c, h, w = f.shape
    g = f.reshape(n, c, h * w)
    return g @ g.transpose(1, 2) / (c * h * w)


_ALIAS = st.gram_matrix                      # captured before the check, as a student cell would


class _Lazy:                                 # computes the library's answer only when read as numbers
    def __init__(self, f):
        self.f = f

    def __array__(self, dtype=None, copy=None):
        return st.gram_matrix(self.f).numpy()


@pytest.mark.parametrize("cheat", [
    lambda f: _ALIAS(f),
    functools.partial(st.gram_matrix),
    lambda f: functools.partial(_ALIAS)(f),
    lambda f: _Lazy(f),
], ids=["alias", "partial", "partial of alias", "lazy __array__"])
def test_the_reference_cannot_be_reached(cheat):
    with pytest.raises(AssertionError, match="write it yourself"):
        exercises.check("gram", cheat, st.gram_matrix, FEATS)


def test_a_caught_forbidden_call_still_fails():
    def sneaky(f):
        try:
            return st.gram_matrix(f)
        except Exception:
            return st.gram_matrix(f)          # the guard is off after the first error: the hit is remembered
    with pytest.raises(AssertionError, match="write it yourself"):
        exercises.check("gram", sneaky, st.gram_matrix, FEATS)


def test_switching_the_guard_off_fails():
    def off(f):
        sys.setprofile(None)
        return st.gram_matrix(f)
    with pytest.raises(AssertionError, match="guard was switched off"):
        exercises.check("gram", off, st.gram_matrix, FEATS)


def test_forbid_names_torch_functions_and_allow_keeps_helpers(capsys):
    with pytest.raises(AssertionError, match="corrcoef"):
        exercises.check("corr", lambda a: torch.corrcoef(a)[0, 1], lambda a: torch.corrcoef(a)[0, 1],
                        [(torch.randn(2, 5, generator=torch.Generator().manual_seed(0)),)], forbid=[torch.corrcoef])
    exercises.check("gram", lambda f: st.gram_matrix(f) * 1.0, lambda f: st.gram_matrix(f), FEATS,
                    allow=[st.gram_matrix])
    assert "gram: passed (2 cases)" in capsys.readouterr().out


def test_a_patched_library_fails_the_check():
    """A student cell (Jupyter names its code /tmp/ipykernel_<pid>/<hash>.py) swaps the library's __code__."""
    cell = {}
    exec(compile("def _gram(f):\n    n, c, h, w = f.shape\n    g = f.reshape(n, c, h * w)\n"
                 "    return g @ g.transpose(1, 2) / (c * h * w)\n", "/tmp/ipykernel_0/1234.py", "exec"), cell)
    original = st.gram_matrix
    try:
        st.gram_matrix.__code__, saved = cell["_gram"].__code__, st.gram_matrix.__code__   # swapped in place
    except ValueError:                                                          # (closure mismatch)
        pytest.skip("cannot swap __code__ here")
    try:
        with pytest.raises(AssertionError, match="library was changed"):
            exercises.check("gram", _gram, lambda f: st.gram_matrix(f), FEATS)
    finally:
        original.__code__ = saved


def test_the_grader_cannot_be_replaced():
    with pytest.raises(AttributeError, match="cannot be changed"):
        exercises.check = lambda *a, **k: None
    exercises.__dict__["check"] = lambda *a, **k: None          # the module's dict: not what check cells get
    try:
        assert exercises.check.__code__.co_filename == exercises.__file__
        from vizlab.exercises import check as imported
        assert imported.__code__.co_filename == exercises.__file__
    finally:
        exercises.__dict__["check"] = exercises.check


def test_hint_lines_fit_nbgrader_validate():
    with pytest.raises(AssertionError) as info:
        exercises.check("matmul", lambda a, b: (a @ b) * 2, reference, CASES, hint="word " * 40)
    assert all(len(line) <= 88 for line in str(info.value).splitlines()), str(info.value)
