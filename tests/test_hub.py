"""deploy/: the JupyterHub configuration loads, listens on 127.0.0.1 only and declares its services; the Zero to
JupyterHub values parse and limit each student's memory (issue 23). Skipped without jupyterhub (the [hub] extra)."""
from __future__ import annotations

import re
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
