"""vizlab's own import graph: no import circle, and no function-level import that hides one.

Every ``vizlab/**/*.py`` is parsed with ``ast`` (nothing is imported); each ``from .x import y``,
``from .. import x``, ``from vizlab.x import y`` and ``import vizlab.x`` is an arrow from the file's
module to the module it names -- at the top of the file and inside functions alike. (The implicit
import of a parent package, e.g. ``vizlab/__init__.py`` before ``vizlab.cam``, is not an arrow:
Python runs it first either way. ``vizlab/__init__.py``'s lazy ``importlib.import_module`` calls are
not arrows either: they run on attribute access, never while a module loads.)

Architecture review (issue 21, item 1): six files (hooks -> models -> digits -> attribution/cam ->
targets -> models ...) formed a circle kept alive by ~24 function-level imports. The names and
metadata moved to ``vizlab.lookup`` (the bottom module) and the dataset-bias experiment to
``vizlab.shortcut``; these tests keep it that way.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vizlab"

# Function-level imports of a vizlab module that are allowed, with the reason. Anything else goes
# at the top of the file: a function-level import that only dodges a circle hides the circle.
ALLOWED_FUNCTION_LEVEL = {
    ("vizlab.cli", "vizlab.plot"):
        "vizlab.plot imports matplotlib.pyplot, which must come after matplotlib.use('Agg') in explain()",
    ("vizlab.models", "vizlab.digits"):
        "import vizlab must not load vizlab.digits: `python -m vizlab.digits` would then find it in "
        "sys.modules and runpy warns (RuntimeWarning, 'found in sys.modules ... prior to execution')",
    ("vizlab.digits", "vizlab.shortcut"):
        "deprecation alias in digits.__getattr__: vizlab.digits.bias_report / marker_share moved to "
        "vizlab.shortcut, which imports digits",
}

# Arrows left out of the circle check: only deprecation aliases, each inside a module-level
# ``__getattr__`` (so it runs on first use of the old name, never while the module loads).
DEPRECATION_ALIASES = {("vizlab.digits", "vizlab.shortcut")}


class Arrow(NamedTuple):
    source: str          # importing module, e.g. "vizlab.cam"
    target: str          # imported module, e.g. "vizlab.attribution"
    function: str        # enclosing function ("" at module level, class bodies included)
    where: str           # "vizlab/cam.py:46"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_arrows(root: Path = PACKAGE) -> list[Arrow]:
    """Every vizlab -> vizlab import arrow in the package at ``root`` (a folder named ``vizlab``)."""
    root = Path(root)
    files = sorted(root.rglob("*.py"))
    modules = {_module_name(p, root) for p in files}
    top = root.name
    arrows = []
    for path in files:
        name = _module_name(path, root)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        where = f"{path.relative_to(root.parent)}"

        def add(target: str, function: str, line: int, names=()):
            if target.split(".")[0] != top:
                return
            # `from vizlab import cam` names a module; `from vizlab.models import info` a name in one
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            for t in subs or [target]:
                arrows.append(Arrow(name, t, function, f"{where}:{line}"))
            if subs and len(subs) < len(names):
                arrows.append(Arrow(name, target, function, f"{where}:{line}"))

        def visit(node: ast.AST, function: str):
            for child in ast.iter_child_nodes(node):
                inner = function
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    inner = f"{function}.{child.name}" if function else child.name
                elif isinstance(child, ast.Lambda):
                    inner = f"{function}.<lambda>" if function else "<lambda>"
                if isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = package.split(".")[:len(package.split(".")) - (child.level - 1)]
                        target = ".".join(base + ([child.module] if child.module else []))
                    else:
                        target = child.module or ""
                    add(target, function, child.lineno, [a.name for a in child.names])
                elif isinstance(child, ast.Import):
                    for alias in child.names:
                        add(alias.name, function, child.lineno)
                visit(child, inner)

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), "")
    return arrows


def find_cycle(arrows: list[Arrow]):
    """One import circle as a list of arrows (empty if there is none)."""
    graph: dict[str, list[Arrow]] = {}
    for a in arrows:
        if a.source != a.target:
            graph.setdefault(a.source, []).append(a)
    state: dict[str, int] = {}      # 1 on the current path, 2 done
    path: list[Arrow] = []

    def dfs(node: str):
        state[node] = 1
        for arrow in graph.get(node, []):
            path.append(arrow)
            if state.get(arrow.target) == 1:
                start = next(i for i, a in enumerate(path) if a.source == arrow.target)
                return path[start:]
            if arrow.target not in state:
                found = dfs(arrow.target)
                if found:
                    return found
            path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return []


def _describe(cycle) -> str:
    return "\n".join(f"  {a.source} -> {a.target}  ({a.where}{', in ' + a.function + '()' if a.function else ''})"
                     for a in cycle)


def check_no_cycle(root: Path = PACKAGE) -> None:
    arrows = import_arrows(root)
    aliases = [a for a in arrows if (a.source, a.target) in DEPRECATION_ALIASES]
    for a in aliases:
        assert a.function == "__getattr__", f"{a.source} -> {a.target} ({a.where}) is only exempt inside __getattr__"
    cycle = find_cycle([a for a in arrows if (a.source, a.target) not in DEPRECATION_ALIASES])
    assert not cycle, "vizlab's imports form a circle (top-level and function-level imports counted):\n" + \
        _describe(cycle)


def check_function_level(root: Path = PACKAGE) -> None:
    inside = [a for a in import_arrows(root)
              if a.function and a.source != a.target and (a.source, a.target) not in ALLOWED_FUNCTION_LEVEL]
    assert not inside, ("function-level imports of vizlab modules (move them to the top of the file, or add "
                        "them to ALLOWED_FUNCTION_LEVEL with the reason):\n" + _describe(inside))


def test_no_import_cycle():
    check_no_cycle()


def test_no_function_level_imports_of_vizlab_modules_off_the_allow_list():
    check_function_level()


def test_the_walk_sees_the_arrows_it_should():
    """The parser itself: a known top-level arrow, a `from . import x` arrow and the allowed
    function-level ones are found (a walk that saw nothing would pass the tests above)."""
    arrows = {(a.source, a.target, bool(a.function)) for a in import_arrows()}
    assert ("vizlab.cam", "vizlab.attribution", False) in arrows
    assert ("vizlab.hooks", "vizlab.targets", False) in arrows
    assert ("vizlab.hooks", "vizlab.lookup", False) in arrows
    assert ("vizlab.optvis.render", "vizlab.optvis.objectives", False) in arrows
    assert ("vizlab.cli", "vizlab.plot", True) in arrows


def test_checks_catch_a_circle_and_a_hidden_import(tmp_path):
    """Both checks fail on a small package with a circle kept alive by a function-level import."""
    pkg = tmp_path / "vizlab"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("from .b import g\n\ndef f():\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    from .sub import c\n    return c\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from .. import a\n")
    with pytest.raises(AssertionError, match=r"vizlab.b -> vizlab.sub.c"):
        check_no_cycle(pkg)
    with pytest.raises(AssertionError, match=r"vizlab/b.py:2, in g\(\)"):
        check_function_level(pkg)


def test_lookup_is_the_bottom():
    """vizlab.lookup imports no other vizlab module (hooks, targets, digits and models stand on it)."""
    assert [a for a in import_arrows() if a.source == "vizlab.lookup"] == []


def test_moved_names_still_work():
    """vizlab.models re-exports the names that moved to vizlab.lookup; vizlab.digits.bias_report and
    marker_share are deprecated aliases of vizlab.shortcut's (a DeprecationWarning, same objects)."""
    import vizlab as vz
    from vizlab import digits, lookup, models, shortcut
    for name in ["IMAGENET_MEAN", "IMAGENET_STD", "ModelInfo", "imagenet_categories", "info", "class_name",
                 "class_index", "NotFoundError", "LayerNotFoundError", "layer_names", "find_layer"]:
        assert getattr(models, name) is getattr(lookup, name), name
    assert vz.info is lookup.info and vz.find_layer is lookup.find_layer and vz.shortcut is shortcut
    for name in ["bias_report", "marker_share"]:
        with pytest.warns(DeprecationWarning, match=f"vizlab.shortcut.{name}"):
            assert getattr(digits, name) is getattr(shortcut, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        digits.nope


# The floors of the house (CONTRIBUTING.md, "The house"): a module imports from its own floor or below.
# A package's submodules share its floor (vizlab.optvis.render is on vizlab.optvis's floor).
FLOORS = {
    "vizlab.lookup": 0, "vizlab.methods": 0,
    "vizlab.targets": 1, "vizlab.hooks": 1, "vizlab.models": 1, "vizlab.data": 1, "vizlab.digits": 1,
    "vizlab.attribution": 2, "vizlab.cam": 2, "vizlab.perturbation": 2, "vizlab.adversarial": 2,
    "vizlab.optvis": 2, "vizlab.style": 2, "vizlab.features": 2, "vizlab.embed": 2, "vizlab.exemplars": 2,
    "vizlab.evaluate": 3, "vizlab.shortcut": 3,
    "vizlab.plot": 4, "vizlab.widgets": 4, "vizlab.cli": 4, "vizlab.exercises": 4, "vizlab.exercise_references": 4,
    "vizlab.exercise_nets": 4,
}


def floor(module: str) -> int:
    parts = module.split(".")
    for i in range(len(parts), 1, -1):
        if ".".join(parts[:i]) in FLOORS:
            return FLOORS[".".join(parts[:i])]
    raise AssertionError(f"{module} has no floor: add it to FLOORS in tests/test_architecture.py and to the "
                         f"table in CONTRIBUTING.md")


def upward_arrows(root: Path = PACKAGE) -> list[Arrow]:
    return [a for a in import_arrows(root)
            if a.source != "vizlab" and (a.source, a.target) not in DEPRECATION_ALIASES
            and floor(a.target) > floor(a.source)]


def test_no_upward_import():
    up = upward_arrows()
    assert not up, "imports from a higher floor (CONTRIBUTING.md, 'The house'):\n" + _describe(up)


def test_every_module_has_a_floor():
    for path in PACKAGE.rglob("*.py"):
        floor(_module_name(path, PACKAGE)) if path.parent != PACKAGE or path.name != "__init__.py" else None


def test_the_floor_check_catches_an_upward_import(tmp_path):
    pkg = tmp_path / "vizlab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "hooks.py").write_text("from . import plot\n")
    (pkg / "plot.py").write_text("")
    assert [(a.source, a.target) for a in upward_arrows(pkg)] == [("vizlab.hooks", "vizlab.plot")]
