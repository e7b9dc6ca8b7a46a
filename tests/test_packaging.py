"""The two ways of installing vizlab name the same packages; importing it stays light."""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge spells some packages differently


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;#]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject():
    runtime = {_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    names = set()
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = line.split("#")[0].strip()
        if not item.startswith("- ") or item.endswith(":") or item in ("- conda-forge",):
            continue
        value = item[2:].strip()
        if value in ("pip", "-e .") or value.startswith("python"):
            continue
        names.add(CONDA_NAMES.get(_name(value), _name(value)))
    names.discard("conda-forge")
    assert names == runtime


def test_import_is_light_and_side_effect_free():
    """import vizlab pulls in no plotting / widget / sklearn stack, and importing the plotting
    modules changes no matplotlib setting."""
    code = (
        "import sys, json\n"
        "import vizlab\n"
        "heavy = [m for m in ('matplotlib', 'sklearn', 'skimage', 'ipywidgets', 'torchvision') if m in sys.modules]\n"
        "import matplotlib\n"
        "before = dict(matplotlib.rcParams)\n"
        "import vizlab.plot, vizlab.widgets\n"
        "changed = sorted(k for k, v in matplotlib.rcParams.items() if before.get(k) != v)\n"
        "print(json.dumps([heavy, changed]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    heavy, changed = json.loads(out)
    assert heavy == [] and changed == []


def test_public_names_resolve():
    import vizlab
    for name in ["load", "predict", "capture", "sample_image", "preprocess", "deprocess", "feature_maps",
                 "layer_statistics", "first_layer_filters", "plot", "widgets"]:
        assert getattr(vizlab, name) is not None
