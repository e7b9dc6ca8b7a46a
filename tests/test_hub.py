"""deploy/: the JupyterHub configuration loads, listens on 127.0.0.1 only and declares its services; the Zero to
JupyterHub values parse and limit each student's memory (issue 23). Skipped without jupyterhub (the [hub] extra)."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.fixture
def hub_config(tmp_path, monkeypatch):
    """deploy/jupyterhub_config.py read by JupyterHub's own loader, its state and course in tmp_path."""
    pytest.importorskip("jupyterhub")
    from jupyterhub.app import JupyterHub

    monkeypatch.setenv("VIZLAB_HUB_DIR", str(tmp_path / "hub"))
    monkeypatch.setenv("VIZLAB_COURSE_DIR", str(tmp_path / "course"))
    for name in ("VIZLAB_HUB_PORT", "VIZLAB_HUB_API_TOKEN", "VIZLAB_HUB_PASSWORD", "VIZLAB_HUB_ADMIN_PASSWORD",
                 "CONFIGPROXY_AUTH_TOKEN", "VIZLAB_HUB_INSTRUCTORS"):
        monkeypatch.delenv(name, raising=False)
    app = JupyterHub()
    app.load_config_file(str(DEPLOY / "jupyterhub_config.py"))
    return app.config, tmp_path


def host(url: str) -> str:
    return re.match(r"^[a-z]+://([^/:]+|\[[^\]]+\])", url).group(1)


def test_binds_to_loopback_only(hub_config):
    c, _ = hub_config
    assert host(c.JupyterHub.bind_url) == "127.0.0.1"
    assert c.JupyterHub.bind_url.rstrip("/").endswith(":8000")
    assert c.JupyterHub.hub_ip == "127.0.0.1"
    assert host(c.ConfigurableHTTPProxy.api_url) == "127.0.0.1"
    assert c.Spawner.ip == "127.0.0.1"
    for service in c.JupyterHub.services:
        if "url" in service:
            assert host(service["url"]) == "127.0.0.1", service["name"]
    # nothing in the file opens another interface
    text = (DEPLOY / "jupyterhub_config.py").read_text()
    assert "0.0.0.0" not in text and "'::'" not in text and '"::"' not in text


def test_services_declared(hub_config):
    c, tmp = hub_config
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert {"vizlab", "idle-culler"} <= set(services)
    culler = services["idle-culler"]
    assert "jupyterhub_idle_culler" in culler["command"]
    assert any(arg.startswith("--timeout=") for arg in culler["command"])
    formgrader = services["vizlab"]
    assert formgrader["command"][0].endswith("jupyterhub-singleuser")
    assert Path(formgrader["cwd"]) == tmp / "course"                 # where the course's nbgrader_config.py is
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert "access:services!service=vizlab" in roles["formgrader-vizlab"]["scopes"]
    assert "instructor" in c.JupyterHub.load_groups["formgrader-vizlab"]["users"]
    assert {"list:users", "read:users:activity", "read:servers", "delete:servers"} <= set(roles["idle-culler"]["scopes"])
    assert "vizlab-admin" not in services                            # only with VIZLAB_HUB_API_TOKEN


def test_login_spawner_and_exchange(hub_config):
    c, tmp = hub_config
    assert c.JupyterHub.authenticator_class == "shared-password"
    password = c.SharedPasswordAuthenticator.user_password
    admin = c.SharedPasswordAuthenticator.admin_password
    assert len(password) >= 8 and len(admin) >= 32 and password != admin
    assert (tmp / "hub" / "password").stat().st_mode & 0o077 == 0     # generated, readable by its owner only
    assert "instructor" in c.Authenticator.admin_users
    assert c.JupyterHub.spawner_class == "simple"
    assert c.SimpleLocalProcessSpawner.home_dir_template.startswith(str(tmp / "hub"))
    student_config = (tmp / "hub" / "etc" / "jupyter" / "nbgrader_config.py").read_text()
    assert repr(str(tmp / "course" / "exchange")) in student_config
    assert "course_id = 'vizlab'" in student_config
    assert "student_id = os.environ.get('JUPYTERHUB_USER'" in student_config   # one Unix user: the hub name
    assert c.Spawner.environment["JUPYTER_CONFIG_PATH"] == str(tmp / "hub" / "etc" / "jupyter")
    import json
    server = json.loads((tmp / "hub" / "etc" / "jupyter" / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False
    page = json.loads((tmp / "hub" / "etc" / "jupyter" / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True


def test_admin_token_service(tmp_path, monkeypatch):
    pytest.importorskip("jupyterhub")
    from jupyterhub.app import JupyterHub

    monkeypatch.setenv("VIZLAB_HUB_DIR", str(tmp_path / "hub"))
    monkeypatch.setenv("VIZLAB_COURSE_DIR", str(tmp_path / "course"))
    monkeypatch.setenv("VIZLAB_HUB_API_TOKEN", "t" * 32)
    monkeypatch.setenv("VIZLAB_HUB_PORT", "8123")
    app = JupyterHub()
    app.load_config_file(str(DEPLOY / "jupyterhub_config.py"))
    c = app.config
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8123"
    admin = [s for s in c.JupyterHub.services if s["name"] == "vizlab-admin"]
    assert admin and admin[0]["api_token"] == "t" * 32


def memory_bytes(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)\s*([KMGT]?)i?B?", str(text)).groups()
    return float(number) * 1024 ** " KMGT".index(unit or " ")


def test_z2jh_values_limit_memory():
    pytest.importorskip("jupyterhub")
    yaml = pytest.importorskip("yaml")
    values = yaml.safe_load((DEPLOY / "z2jh" / "config.yaml").read_text())
    memory = values["singleuser"]["memory"]
    guarantee, limit = memory_bytes(memory["guarantee"]), memory_bytes(memory["limit"])
    assert 0.5 * 1024 ** 3 <= guarantee <= limit <= 4 * 1024 ** 3
    assert values["singleuser"]["cpu"]["limit"] >= 0.5
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0
    assert values["singleuser"]["image"]["name"]
    dockerfile = (DEPLOY / "z2jh" / "Dockerfile").read_text()
    assert "download.pytorch.org/whl/cpu" in dockerfile and "nbgrader" in dockerfile


# -- tests/browser/hub.py (the hub in the browser test, `make browser`): its arguments, prerequisites and cleanup --

def browser_hub():
    """tests/browser/hub.py as a module (it reuses benchmarks/hub_load.py, which needs the [hub] extra)."""
    pytest.importorskip("jupyterhub")
    pytest.importorskip("websocket")
    pytest.importorskip("psutil")
    import importlib.util

    spec = importlib.util.spec_from_file_location("vizlab_browser_hub", ROOT / "tests" / "browser" / "hub.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv, message", [
    (["--time-limit", "0"], "--time-limit"),
    (["--time-limit", "7200"], "--time-limit"),
    (["--chapter", "99"], "chapters: 00"),
])
def test_browser_hub_rejects_bad_arguments(argv, message, capsys):
    hub = browser_hub()
    with pytest.raises(SystemExit) as exc:
        hub.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("ci, code, word", [("true", 1, "FAILED"), ("", 0, "SKIPPED")])
def test_browser_hub_missing_prerequisite(ci, code, word, monkeypatch, capsys):
    """Under CI a missing browser or proxy fails the test; elsewhere it skips, saying what is missing.
    Either way nothing is started."""
    hub = browser_hub()
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(hub, "missing_prerequisites", lambda: ["a browser at /nowhere (apt-get install chromium)"])
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: pytest.fail("started although a prerequisite is missing"))
    assert hub.main([]) == code
    out = capsys.readouterr().out
    assert out.startswith(f"{word}: ") and "apt-get install chromium" in out


def test_browser_hub_port_block_skips_a_taken_port():
    """The hub needs 4 consecutive free ports: a block with one port taken is passed over."""
    hub = browser_hub()
    with socket.socket() as taken, socket.socket() as probe:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        probe.bind(("127.0.0.1", 0))
        other = probe.getsockname()[1]
        probe.close()
        free = next(p for p in range(other, other + 200) if not (p <= busy < p + 4) and all(
            _bindable(q) for q in range(p, p + 4)))
        assert hub.free_port_block(4, candidates=[busy - 2, free]) == free
        with pytest.raises(RuntimeError, match="consecutive free ports"):
            hub.free_port_block(4, candidates=[busy - 1, busy])


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_browser_hub_stop_kills_what_the_hub_left(tmp_path):
    """stop_everything ends the hub and a child of it that ignores SIGTERM (a stuck server or kernel), and reports
    nothing left; the child would outlive a plain SIGTERM to the hub."""
    import argparse

    import psutil

    hub = browser_hub()
    import hub_load

    ready = tmp_path / "child.pid"
    child_code = ("import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  f"open({str(ready)!r}, 'w').write(str(os.getpid())); time.sleep(600)")
    fake_hub = ("import subprocess, sys, time; "
                f"subprocess.Popen([sys.executable, '-c', {child_code!r}]); time.sleep(600)")
    run = hub_load.Run(argparse.Namespace(time_limit=60, port=hub.free_port_block(4), browser=False,
                                          work=tmp_path / "work", memory_floor=0.0))
    run.hub = subprocess.Popen([sys.executable, "-c", fake_hub], start_new_session=True)
    try:
        for _ in range(200):
            if ready.exists() and ready.read_text():
                break
            time.sleep(0.05)
        child = psutil.Process(int(ready.read_text()))
        hub_pid = run.hub.pid
        assert hub.stop_everything(run) == []
        assert not hub.alive([child])
        assert not psutil.pid_exists(hub_pid) or psutil.Process(hub_pid).status() == psutil.STATUS_ZOMBIE
    finally:
        for p in hub.alive([psutil.Process(int(ready.read_text()))] if ready.exists() and ready.read_text() else []):
            p.kill()
