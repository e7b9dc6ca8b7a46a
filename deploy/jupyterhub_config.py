# JupyterHub configuration of the vizlab course on one machine, for a trial or a workshop: `make hub`.
#
#     .venv/bin/jupyterhub -f deploy/jupyterhub_config.py        (from the repository root, after `make course`)
#
# What it sets up (deploy/README.md explains each choice and the production routes, TLJH and Zero to JupyterHub):
#   * http://127.0.0.1:8000 only (VIZLAB_HUB_PORT changes the port); the hub's API, the proxy's API and every
#     server listen on 127.0.0.1 too. Put a TLS reverse proxy in front before anyone else may reach it.
#   * SharedPasswordAuthenticator: any student name logs in with one shared password (VIZLAB_HUB_PASSWORD, >= 8
#     characters); the instructor ("instructor", VIZLAB_HUB_INSTRUCTORS adds more) with the admin password
#     (VIZLAB_HUB_ADMIN_PASSWORD, >= 32 characters). Unset passwords are generated once into build/hub/ (mode 600).
#   * SimpleLocalProcessSpawner: every student's server is a process of the user running the hub, with its home in
#     build/hub/home/<name>/. No system users are needed -- and students are NOT isolated from each other (same Unix
#     user, no memory limit enforced). A real class needs TLJH (systemd, one Unix user each) or Kubernetes.
#   * nbgrader: the exchange is the course's own (build/course/exchange, course id "vizlab"), so
#     `nbgrader release_assignment ch05` in build/course/ is what students fetch; their submissions carry their hub
#     name. Formgrader runs as a hub-managed service at /services/vizlab/ for the instructor (and the group
#     formgrader-vizlab, for teaching assistants); students' servers do not load the formgrader extension.
#   * jupyterhub-idle-culler as a service: servers idle for VIZLAB_CULL_TIMEOUT seconds (3600) are stopped.
#   * VIZLAB_HUB_API_TOKEN (optional, >= 8 characters): registers a service "vizlab-admin" holding that token with
#     the admin scopes a load test or a roster script needs (benchmarks/hub_load.py sets it).
import os
import secrets
import stat
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent                      # the venv's bin/: jupyterhub-singleuser, nbgrader, the kernel
STATE = Path(os.environ.get("VIZLAB_HUB_DIR", ROOT / "build" / "hub")).resolve()
COURSE = Path(os.environ.get("VIZLAB_COURSE_DIR", ROOT / "build" / "course")).resolve()
COURSE_ID = "vizlab"                                   # course/nbgrader_config.py's CourseDirectory.course_id
HOST = "127.0.0.1"
PORT = int(os.environ.get("VIZLAB_HUB_PORT", "8000"))
CULL_TIMEOUT = int(os.environ.get("VIZLAB_CULL_TIMEOUT", "3600"))
INSTRUCTORS = {"instructor"} | {n for n in os.environ.get("VIZLAB_HUB_INSTRUCTORS", "").split(",") if n}

STATE.mkdir(parents=True, exist_ok=True)
(STATE / "home").mkdir(exist_ok=True)
EXCHANGE = COURSE / "exchange"
EXCHANGE.mkdir(parents=True, exist_ok=True)


def secret(env: str, filename: str, nbytes: int) -> str:
    """The value of `env`, or a random one kept in STATE/filename (readable by its owner only)."""
    if os.environ.get(env):
        return os.environ[env]
    path = STATE / filename
    if not path.exists():
        path.write_text(secrets.token_urlsafe(nbytes) + "\n")
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        print(f"[vizlab hub] {env} not set: generated one into {path}", file=sys.stderr)
    return path.read_text().strip()


c = get_config()  # noqa: F821 (JupyterHub provides it when it reads this file)

# -- network: loopback only -------------------------------------------------------------------------------------
c.JupyterHub.bind_url = f"http://{HOST}:{PORT}"
c.JupyterHub.hub_ip = HOST
c.JupyterHub.hub_port = PORT + 2
c.ConfigurableHTTPProxy.api_url = f"http://{HOST}:{PORT + 1}"
c.Spawner.ip = HOST
# configurable-http-proxy from the npm registry in build/hub/node_modules (make hub installs it), else on PATH.
_chp = ROOT / "build" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
if _chp.exists():
    c.ConfigurableHTTPProxy.command = [str(_chp)]

# -- where the hub keeps its state --------------------------------------------------------------------------------
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.auth_token = secret("CONFIGPROXY_AUTH_TOKEN", "proxy_token", 32)

# -- log in: one shared password for students, a separate one for the instructors ---------------------------------
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = secret("VIZLAB_HUB_PASSWORD", "password", 12)
c.SharedPasswordAuthenticator.admin_password = secret("VIZLAB_HUB_ADMIN_PASSWORD", "admin_password", 32)
c.Authenticator.admin_users = INSTRUCTORS
c.Authenticator.allow_all = True                     # any name with the class password; a roster: allowed_users
c.Authenticator.username_pattern = r"^[a-z][a-z0-9_-]{0,31}$"   # names become folders and nbgrader student ids

# -- one server per student: a local process of this user, home in build/hub/home/<name> ---------------------------
c.JupyterHub.spawner_class = "simple"                # jupyterhub.spawner.SimpleLocalProcessSpawner
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120                        # a loaded 2-core machine starts a server in ~5-20 s
c.Spawner.http_timeout = 120
c.LocalProcessSpawner.interrupt_timeout = 10         # SIGINT, then SIGTERM, then SIGKILL when a server is stopped
c.LocalProcessSpawner.term_timeout = 10
# A kernel must answer its first message within this many seconds or Jupyter Server closes its connection (default
# 60). With 16-20 students pressing Run All together on 2 cores, 1-2 kernels took longer (benchmarks/hub_load.py).
c.Spawner.args = ["--MappingKernelManager.kernel_info_timeout=180"]
if os.getuid() == 0:                                 # containers and CI run as root; Jupyter refuses root otherwise
    c.Spawner.args.append("--allow-root")
if os.environ.get("VIZLAB_HUB_BROWSER_TEST"):        # benchmarks/hub_load.py --browser: the page watches the kernel
    c.Spawner.args.append("--LabApp.expose_app_in_browser=True")
# Students see the chapters' nbgrader "Assignments" tab but not formgrader; nbgrader submits under their hub name.
STUDENT_CONFIG = STATE / "etc" / "jupyter"
STUDENT_CONFIG.mkdir(parents=True, exist_ok=True)
(STUDENT_CONFIG / "nbgrader_config.py").write_text(
    "# written by deploy/jupyterhub_config.py: the student side of nbgrader on this hub\n"
    "import os\n"
    "c = get_config()\n"
    f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
    f"c.Exchange.root = {str(EXCHANGE)!r}\n"
    "# every server runs as the same Unix user: the submission carries the hub name instead\n"
    "c.CourseDirectory.student_id = os.environ.get('JUPYTERHUB_USER', '*')\n"
)
(STUDENT_CONFIG / "jupyter_server_config.json").write_text(
    '{"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": false,'
    ' "nbgrader.server_extensions.course_list": false}}}\n'
)
(STUDENT_CONFIG / "labconfig").mkdir(exist_ok=True)        # and no formgrader / course list / create-assignment UI
(STUDENT_CONFIG / "labconfig" / "page_config.json").write_text(
    '{"disabledExtensions": {"@jupyter/nbgrader:formgrader": true, "@jupyter/nbgrader:course-list": true,'
    ' "@jupyter/nbgrader:create-assignment": true}}\n'
)
c.Spawner.environment = {
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",   # the venv's kernel and nbgrader
    "JUPYTER_CONFIG_PATH": str(STUDENT_CONFIG),
    "OMP_NUM_THREADS": "1",                           # two cores shared by the class: one thread per kernel
    "MKL_NUM_THREADS": "1",
}
# LocalProcessSpawner does not enforce these; they are shown to the user (jupyter-resource-usage) and are the values
# the Kubernetes deployment enforces (deploy/z2jh/config.yaml, measured by benchmarks/hub_load.py).
c.Spawner.mem_guarantee = "1G"
c.Spawner.mem_limit = "2G"

# -- services: formgrader for the instructor, the idle culler, optionally an admin token ---------------------------
c.JupyterHub.services = [
    {
        "name": COURSE_ID,                           # https://.../services/vizlab/formgrader
        "url": f"http://{HOST}:{PORT + 3}",
        "command": [str(BIN / "jupyterhub-singleuser")] + (["--allow-root"] if os.getuid() == 0 else []),
        "cwd": str(COURSE),                          # nbgrader reads build/course/nbgrader_config.py from here
        "environment": {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "JUPYTERHUB_DEFAULT_URL": "/formgrader",
        },
        "oauth_no_confirm": True,
    },
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={CULL_TIMEOUT}",
                    f"--cull-every={max(10, min(300, CULL_TIMEOUT // 2))}", "--concurrency=5"],
    },
]
c.JupyterHub.load_groups = {f"formgrader-{COURSE_ID}": {"users": sorted(INSTRUCTORS)}}
c.JupyterHub.load_roles = [
    {   # who may open formgrader: the instructors and any teaching assistant added to the group
        "name": f"formgrader-{COURSE_ID}",
        "groups": [f"formgrader-{COURSE_ID}"],
        "scopes": [f"access:services!service={COURSE_ID}"],
    },
    {   # what the formgrader service itself may ask the hub
        "name": f"{COURSE_ID}-service",
        "services": [COURSE_ID],
        "scopes": ["read:users:name", "read:groups"],
    },
    {   # jupyterhub-idle-culler's documented minimum
        "name": "idle-culler",
        "services": ["idle-culler"],
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    },
]
if os.environ.get("VIZLAB_HUB_API_TOKEN"):
    c.JupyterHub.services.append({"name": "vizlab-admin", "api_token": os.environ["VIZLAB_HUB_API_TOKEN"]})
    c.JupyterHub.load_roles.append({"name": "vizlab-admin", "services": ["vizlab-admin"],
                                    "scopes": ["admin:users", "admin:servers", "tokens", "list:users",
                                               "read:users", "access:servers"]})

# Stop every student server when the hub stops (a one-machine hub has nothing to reconnect to).
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
