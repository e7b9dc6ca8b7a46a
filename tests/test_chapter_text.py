"""What a chapter says, checked against what it shows (issue 20).

- **Claims lint.** Every decimal number and every percentage in a chapter's prose must be printed by one of the
  chapter's own outputs at the precision the prose gives (or be a setting visible in its code, e.g. ``alpha=0.5``).
  A percentage may also be printed as a fraction (``0.57`` for "57 %"). What is left is listed in ``QUOTED`` with the
  reason (a constant, a number from the paper, a number another chapter prints).
- **Short cells.** No markdown cell over ``MAX_WORDS`` words: a cell is read on a projector.
- **Speaking to students.** No remark about how the repository is tested or the machine it was made on.
- **Figures.** Every saved figure is decoded and at least ``MIN_WIDTH`` px wide (readable without zooming).
- **Path.** No chapter calls a method that a later chapter introduces (``INTRODUCED_IN``).
"""
from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest

from test_portability import cells   # a notebook's cells, each source one string

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
MAX_WORDS = 250
MIN_WIDTH = 600


def text_outputs(path: Path) -> str:
    parts = []
    for c in cells(path):
        for o in c.get("outputs", []):
            if o["output_type"] == "stream":
                parts.append("".join(o["text"]))
            for kind in ("text/plain", "text/html", "text/markdown"):
                if kind in o.get("data", {}):
                    parts.append("".join(o["data"][kind]))
    return "\n".join(parts)


def code_sources(path: Path) -> str:
    return "\n".join(c["source"] for c in cells(path) if c["cell_type"] == "code")


def prose(path: Path) -> list[tuple[int, str]]:
    """Markdown cells without code spans, links' targets and LaTeX (whose digits are formulas, not claims)."""
    out = []
    for i, c in enumerate(cells(path)):
        if c["cell_type"] != "markdown":
            continue
        s = re.sub(r"```.*?```", " ", c["source"], flags=re.S)
        s = re.sub(r"`[^`]*`", " ", s)
        s = re.sub(r"\]\([^)]*\)", "]", s)
        s = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", s, flags=re.S)
        out.append((i, s))
    return out


NUMBER = re.compile(r"(?<![\w.,/])([-−]?\d+(?:\.\d+)?)(\s?%)|(?<![\w.,/])([-−]?\d*\.\d+)(?![\w.]*\w)")


def claimed_numbers(text: str) -> list[str]:
    """Decimal numbers ("0.97", "−0.51") and percentages ("57 %", "12%") in prose."""
    found = []
    for m in NUMBER.finditer(text):
        if m.group(1) is not None:
            found.append(m.group(1).replace("−", "-") + "%")
        else:
            found.append(m.group(3).replace("−", "-"))
    return found


def is_printed(number: str, text: str) -> bool:
    """Is ``number`` (as the prose writes it) printed in ``text`` at that precision?"""
    def occurs(n: str) -> bool:
        body = re.escape(n.lstrip("-"))
        sign = r"[-−]" if n.startswith("-") else r"(?<![-−\d])"
        return re.search(sign + r"(?<![\d.])" * (not n.startswith("-")) + body + r"(?![\d])", text) is not None
    if number.endswith("%"):
        value = number[:-1]
        if re.search(r"(?<![\d.])" + re.escape(value.lstrip("-")) + r"\s?%", text):
            return True
        # printed as a fraction with at least two decimals, e.g. 0.57 -> "57 %"
        p = float(value)
        for m in re.finditer(r"(?<![\d.])(\d*\.\d{2,})(?!\d)", text):
            if abs(float(m.group(1)) * 100 - p) <= 0.5 * 10 ** -(len(value.partition(".")[2]) or 0) + 1e-9:
                return True
        return False
    return occurs(number)


def is_setting(number: str, code: str) -> bool:
    """A percentage written in the code as a fraction, e.g. "70 %" for ``int(0.7 * w)``."""
    if not number.endswith("%"):
        return False
    fraction = float(number[:-1]) / 100
    return any(abs(float(m) - fraction) < 1e-12 for m in re.findall(r"(?<![\w.])\d*\.\d+(?![\d])", code))


# Numbers the prose may quote without an output printing them, each with its reason.
QUOTED: dict[str, dict[str, str]] = {
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_number_in_the_prose_is_printed(path):
    shown = text_outputs(path) + "\n" + code_sources(path)
    code = code_sources(path)
    allowed = QUOTED.get(path.stem, {})
    missing = [(i, n) for i, s in prose(path) for n in claimed_numbers(s)
               if n not in allowed and not is_printed(n, shown) and not is_setting(n, code)]
    assert not missing, f"{path.stem}: numbers in the prose that no output prints (cell, number): {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_markdown_cell_is_too_long_to_read_on_a_projector(path):
    long = [(i, len(s.split())) for i, c in enumerate(cells(path)) if c["cell_type"] == "markdown"
            for s in [c["source"]] if len(s.split()) > MAX_WORDS]
    assert not long, f"{path.stem}: markdown cells over {MAX_WORDS} words (cell, words): {long}"


# Remarks about how the repository is built and tested, or the machine it ran on: not for students.
DEVELOPER_REMARKS = ["nbval", "cannot download", "set here, not", "committed", "the tests pin", "a test checks",
                     "this machine", "our machine", "in CI", "pytest", "make test", "saved outputs",
                     "ATEN_CPU", "ONEDNN", "AVX", "the repository", "the repo "]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_chapter_speaks_to_students_not_about_its_tests(path):
    """In the prose, and in the comments of the code students read."""
    def student_text(c: dict) -> str:
        if c["cell_type"] == "markdown":
            return c["source"]
        return "\n".join(line.partition("#")[2] for line in c["source"].splitlines() if "#" in line)
    hits = [(i, r) for i, c in enumerate(cells(path))
            for r in DEVELOPER_REMARKS if r.lower() in student_text(c).lower()]
    assert not hits, f"{path.stem}: developer remarks in the prose (cell, phrase): {hits}"


def figures(path: Path):
    from PIL import Image
    for i, c in enumerate(cells(path)):
        for o in c.get("outputs", []):
            for kind in ("image/png", "image/jpeg"):
                if kind in o.get("data", {}):
                    data = o["data"][kind]
                    yield i, Image.open(io.BytesIO(base64.b64decode(data if isinstance(data, str) else "".join(data))))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_saved_figure_decodes_and_is_wide_enough_to_read(path):
    narrow = []
    for i, img in figures(path):
        img.load()                                  # decodes the whole image, not just its header
        if img.width < MIN_WIDTH:
            narrow.append((i, img.size))
    assert not narrow, f"{path.stem}: figures under {MIN_WIDTH} px wide (cell, size): {narrow}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_maps_keep_their_colour_bar(path):
    """``colorbar=False`` only in a cell that draws a shared bar itself (``add_colorbar``)."""
    bare = [i for i, c in enumerate(cells(path)) if c["cell_type"] == "code"
            and re.search(r"colorbar\s*=\s*False", c["source"]) and "add_colorbar" not in c["source"]]
    assert not bare, f"{path.stem}: maps drawn without a colour bar in cells {bare}"


# The chapter that teaches each method; a chapter may only call what it or an earlier chapter teaches.
ORDER = ["00", "01", "02", "03", "04", "05", "06", "06b", "07", "08", "09", "10", "11", "12"]
INTRODUCED_IN = {
    "deconvnet": "02", "saliency": "03", "guided_backprop": "03", "grad_x_input": "03", "optvis": "04",
    "render": "04", "cam": "05", "grad_cam": "06", "grad_cam_pp": "06", "smooth_grad_cam_pp": "06",
    "score_cam": "06b", "layer_cam": "06b", "guided_grad_cam": "06b", "occlusion": "06b", "smoothgrad": "07",
    "integrated_gradients": "08", "embed": "09", "fgsm": "10", "pgd": "10", "fooling_image": "10",
    "style": "11", "deletion": "12", "insertion": "12", "pointing_game": "12", "energy_pointing_game": "12",
    "sanity_check": "12",
}


def chapter_of(path: Path) -> str:
    return path.stem.split("_")[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_chapter_uses_a_method_a_later_chapter_teaches(path):
    here = ORDER.index(chapter_of(path))
    early = []
    for i, c in enumerate(cells(path)):
        if c["cell_type"] != "code":
            continue
        src = re.sub(r"forbid\s*=\s*\[[^\]]*\]", "", c["source"])   # what a grader forbids is not a use
        for name, chapter in INTRODUCED_IN.items():
            if ORDER.index(chapter) > here and re.search(rf"\b(?:vz|vizlab)\.(?:\w+\.)*{name}\b(?!_)", src):
                early.append((i, name, chapter))
    assert not early, f"{path.stem}: methods used before their chapter (cell, method, chapter): {early}"


def test_the_method_map_names_real_methods():
    import vizlab as vz
    for name in INTRODUCED_IN:
        assert hasattr(vz, name) or hasattr(vz.optvis, name), name
