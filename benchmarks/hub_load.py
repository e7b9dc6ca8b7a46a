"""Load test of the course on a local JupyterHub: N simulated students, start to autograde (issue 23 item 2).

    .venv/bin/python benchmarks/hub_load.py [--students 1 2 4] [--chapter 05] [--time-limit 900] [--port 8100]
                                            [--memory-floor 1.5] [--big-wave 12 --wait-for-memory 18] [--work DIR]

Needs the [hub] extra (jupyterhub, jupyterhub-idle-culler) and configurable-http-proxy in build/hub/node_modules
(`make hub` installs both). Everything is on 127.0.0.1, in build/hub-load/ or --work (deleted at the start of each run):

1. a course with one chapter (course/build_course.py), released to nbgrader's exchange (`nbgrader release_assignment`);
2. JupyterHub with deploy/jupyterhub_config.py on --port, an admin API token of its own (a "vizlab-admin" service);
3. for each N in --students, a wave of N students at once, each in its own thread:
   * logs in through the hub's login form with the class password, then its server is started with the REST API
     (POST /hub/api/users/<name>/server) and polled until ready:                      -> "server s" (to ready);
   * in a kernel of its own server (jupyter_server REST + websocket, the kernel protocol), runs
     `nbgrader fetch_assignment` in its server's environment (the hub's student config: exchange, course, its name);
   * runs the fetched notebook top to bottom in a kernel started on it (a session), the solution cells filled in with
     the instructor's code and model answers (a student who did every exercise), cell by cell, stopping at the first
     error:                                                                                 -> "run s";
   * saves the notebook with its outputs through the contents API and runs `nbgrader submit`;
   * a thread samples every 0.2 s the RSS and USS of each student's server and kernels:  -> "peak GB" per student;
     and the sum of the PSS of all the students' processes (a page shared by k processes counts 1/k in each: the
     memory the students take together, whatever else runs on the machine):           -> "all students GB";
4. the instructor runs `nbgrader collect` and `nbgrader autograde` for the wave, and reads the scores;
5. the wave's servers are stopped before the next wave;
6. with --browser, one more student in headless Chromium (playwright, Debian's chromium): the hub's login form,
   the spawn, JupyterLab on the fetched chapter, Run All (it stops at the first unanswered exercise), and every
   control of the chapter's first explorer moved until its picture changes (tests/browser/run.py's checks).

At the end, on an error, on Ctrl-C and at --time-limit seconds the script stops every server, the hub and the proxy
(API first, then SIGTERM to the hub, then SIGKILL to every process it saw under the hub). On a shared machine: a
wave of --big-wave students or more waits (up to 5 minutes, else it is skipped) until --wait-for-memory GB are
available, and when the machine's available memory falls below --memory-floor GB every server is stopped and the
run ends as a failure, before the kernel's OOM killer would pick some process. The last lines are the waves as rows
of deploy/README.md's table. A wave fails a student that
did not reach a running server, a cell that raised, a submission not collected or an autograded score (the code
checks; the written answers wait for formgrader) below the maximum.
"""
from __future__ import annotations

import _thread
import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil
import requests
import websocket

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "course"))
import build_course  # noqa: E402

GB = 1024 ** 3
HOST = "127.0.0.1"


class Aborted(Exception):
    pass


class Run:
    """Shared state: the deadline, the hub, and every process seen under it."""

    def __init__(self, args):
        self.args = args
        self.deadline = time.monotonic() + args.time_limit
        self.abort = threading.Event()
        self.work = Path(args.work).resolve() if getattr(args, "work", None) else ROOT / "build" / "hub-load"
        self.course = self.work / "course"
        self.port = args.port
        self.url = f"http://{HOST}:{self.port}"
        self.token = secrets.token_hex(24)
        self.password = secrets.token_urlsafe(12)
        self.hub: subprocess.Popen | None = None
        self.seen: dict[int, psutil.Process] = {}
        self.owner: dict[int, tuple[str | None, bool]] = {}    # pid -> (JUPYTERHUB_USER, is a kernel)
        self.peaks: dict[str, dict[str, float]] = {}
        self.hub_rss = 0                                       # peak RSS of the hub, proxy and services
        self.min_available = psutil.virtual_memory().available  # the machine's, lowest since the last reset
        self.lock = threading.Lock()
        self.stopped_for_memory: int | None = None             # the available bytes that stopped the run
        self.peak_pss = 0                                      # the students' processes together (sum of PSS)

    # -- time -----------------------------------------------------------------------------------------------------
    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.abort.is_set():
            raise Aborted("time limit reached" if left <= 0 else
                          "memory floor reached" if self.stopped_for_memory is not None else "aborted")
        return left

    # -- hub API --------------------------------------------------------------------------------------------------
    def api(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        headers = {"Authorization": f"token {token or self.token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers,
                                timeout=min(60, max(1, self.left())), **kw)

    def start_hub(self) -> None:
        env = dict(os.environ)
        if self.args.browser:
            env["VIZLAB_HUB_BROWSER_TEST"] = "1"
        env.update(VIZLAB_HUB_DIR=str(self.work / "hub"), VIZLAB_COURSE_DIR=str(self.course),
                   VIZLAB_HUB_PORT=str(self.port), VIZLAB_HUB_API_TOKEN=self.token,
                   VIZLAB_HUB_PASSWORD=self.password, VIZLAB_HUB_ADMIN_PASSWORD=secrets.token_urlsafe(32),
                   CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(24),
                   PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
        log = open(self.work / "hub.log", "w")

        def default_signals():             # a hub started from a background job would inherit SIGINT ignored
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

        self.hub = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(ROOT / "deploy" / "jupyterhub_config.py")],
                                    cwd=self.work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=default_signals)
        while True:
            self.left()
            if self.hub.poll() is not None:
                raise RuntimeError(f"the hub exited ({self.hub.returncode}); see {self.work / 'hub.log'}")
            try:
                if self.api("GET", "/").ok and self.api("GET", "/users").ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)

    def stop_all(self) -> None:
        """Stop servers (API), then the hub (SIGTERM), then SIGKILL whatever it left. Never raises."""
        if self.hub is None:
            return
        self.scan()
        if self.hub.poll() is None:
            try:
                users = requests.get(f"{self.url}/hub/api/users", timeout=10,
                                     headers={"Authorization": f"token {self.token}"}).json()
                for u in users:
                    if u.get("servers"):
                        requests.delete(f"{self.url}/hub/api/users/{u['name']}/server", timeout=10,
                                        headers={"Authorization": f"token {self.token}"})
            except Exception:
                pass
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(30)
            except subprocess.TimeoutExpired:
                pass
        for proc in [self.hub_proc()] + list(self.seen.values()):
            try:
                if proc is not None and proc.is_running():
                    proc.kill()
            except psutil.Error:
                pass
        try:
            os.killpg(self.hub.pid, signal.SIGKILL)       # the hub's session: the proxy, services, servers
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.hub.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.hub = None

    def hub_proc(self) -> psutil.Process | None:
        try:
            return psutil.Process(self.hub.pid) if self.hub else None
        except psutil.Error:
            return None

    # -- memory ---------------------------------------------------------------------------------------------------
    def scan(self) -> list[psutil.Process]:
        hub = self.hub_proc()
        if hub is None:
            return []
        try:
            procs = hub.children(recursive=True)
        except psutil.Error:
            return []
        for p in procs:
            if p.pid not in self.seen:
                self.seen[p.pid] = p
                try:
                    user = p.environ().get("JUPYTERHUB_USER")
                    kernel = any("ipykernel" in part for part in p.cmdline())
                except psutil.Error:
                    user, kernel = None, False
                self.owner[p.pid] = (user, kernel)
        return procs

    def sample_forever(self, interval: float = 0.2) -> None:
        while not self.abort.is_set():
            totals: dict[str, list[int]] = {}
            hub_rss = students_pss = 0
            hub = self.hub_proc()
            for p in self.scan() + ([hub] if hub else []):
                user, kernel = self.owner.get(p.pid, (None, False))
                try:
                    mem = p.memory_full_info()
                except psutil.Error:
                    continue
                if not user:
                    hub_rss += mem.rss
                    continue
                students_pss += mem.pss                       # each shared page counted once over all processes
                t = totals.setdefault(user, [0, 0, 0, 0])     # rss all, uss all, rss kernels, uss kernels
                t[0] += mem.rss
                t[1] += mem.uss
                if kernel:
                    t[2] += mem.rss
                    t[3] += mem.uss
            available = psutil.virtual_memory().available
            with self.lock:
                self.hub_rss = max(self.hub_rss, hub_rss)
                self.min_available = min(self.min_available, available)
                self.peak_pss = max(self.peak_pss, students_pss)
                for user, t in totals.items():
                    pk = self.peaks.setdefault(user, dict(rss=0, uss=0, kernel_rss=0, kernel_uss=0))
                    for key, value in zip(("rss", "uss", "kernel_rss", "kernel_uss"), t):
                        pk[key] = max(pk[key], value)
            if available < self.args.memory_floor * GB and not self.abort.is_set():   # before the OOM killer does
                self.stopped_for_memory = available
                print(f"\nmemory: only {available / GB:.1f} GB available (floor {self.args.memory_floor:g} GB): "
                      "stopping every server", flush=True)
                self.abort.set()
            time.sleep(interval)


# -- one student ----------------------------------------------------------------------------------------------------
class Kernel:
    """A kernel in a student's server, driven over the server's websocket (the Jupyter kernel protocol)."""

    def __init__(self, run: Run, name: str, token: str, path: str):
        self.run, self.base = run, f"{run.url}/user/{name}/api"
        self.headers = {"Authorization": f"token {token}"}
        r = requests.post(f"{self.base}/sessions", headers=self.headers, timeout=min(120, run.left()),
                          json={"path": path, "type": "notebook", "name": Path(path).name,
                                "kernel": {"name": "python3"}})
        r.raise_for_status()
        self.session_id, self.kernel_id = r.json()["id"], r.json()["kernel"]["id"]
        ws_url = f"ws://{HOST}:{run.port}/user/{name}/api/kernels/{self.kernel_id}/channels"
        self.ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"],
                                              timeout=min(60, run.left()))
        self.session = uuid.uuid4().hex

    def execute(self, code: str) -> tuple[list[dict], dict | None]:
        """Run code; return (nbformat outputs, the error output or None)."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "student", "session": self.session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        outputs, error, replied, idle = [], None, False, False
        while not (replied and idle):
            self.ws.settimeout(max(1, min(60, self.run.left())))
            try:
                msg = decode(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue                                  # a long cell: run.left() raises at the deadline
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "execute_reply":
                replied = True
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "stream":
                outputs.append(nbformat.v4.new_output("stream", name=content["name"], text=content["text"]))
            elif kind in ("display_data", "execute_result"):
                out = nbformat.v4.new_output(kind, data=content["data"], metadata=content.get("metadata", {}))
                if kind == "execute_result":
                    out.execution_count = content.get("execution_count")
                outputs.append(out)
            elif kind == "error":
                error = nbformat.v4.new_output("error", ename=content["ename"], evalue=content["evalue"],
                                               traceback=content["traceback"])
                outputs.append(error)
        return outputs, error

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        try:
            requests.delete(f"{self.base}/sessions/{self.session_id}", headers=self.headers, timeout=30)
        except Exception:
            pass


def decode(frame: str | bytes) -> dict:
    """A kernel message from the server's websocket: JSON text, or the binary form of a message with buffers
    (widgets): nbufs, offsets (big-endian uint32), then the JSON message and the buffers."""
    if isinstance(frame, str):
        return json.loads(frame)
    nbufs = int.from_bytes(frame[:4], "big")
    offsets = [int.from_bytes(frame[4 + 4 * i:8 + 4 * i], "big") for i in range(nbufs)]
    end = offsets[1] if nbufs > 1 else len(frame)
    return json.loads(frame[offsets[0]:end].decode("utf-8"))


def shell_in_kernel(kernel: Kernel, argv: list[str]) -> None:
    """Run a command in the student's kernel (the server's environment, cwd = the student's home)."""
    code = ("import os, subprocess\n"
            f"_r = subprocess.run({argv!r}, cwd=os.path.expanduser('~'), capture_output=True, text=True, "
            f"timeout={max(10, int(min(600, kernel.run.left())))})\n"
            "print(_r.returncode)\nprint(_r.stdout[-1500:], _r.stderr[-1500:])\n")
    outputs, error = kernel.execute(code)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    if error or not text.strip().startswith("0"):
        raise RuntimeError(f"{' '.join(argv)} failed in the student's server: {text.strip()[:800]}")


def student(run: Run, name: str, aid: str, notebook_name: str, solutions: dict[str, str]) -> dict:
    res = dict(name=name, server=None, run=None, cells=0, failure=None)
    try:
        t0 = time.monotonic()
        # log in through the hub's form with the class password (the hub creates the user)
        web = requests.Session()
        web.get(f"{run.url}/hub/login", timeout=min(60, run.left()))
        r = web.post(f"{run.url}/hub/login", timeout=min(60, run.left()), allow_redirects=False,
                     data={"username": name, "password": run.password, "_xsrf": web.cookies.get("_xsrf", "")})
        if r.status_code != 302:                         # a wrong password answers 403 with the form again
            raise RuntimeError(f"login failed ({r.status_code})")
        r = run.api("POST", f"/users/{name}/server")
        if r.status_code not in (201, 202):
            raise RuntimeError(f"spawn request: {r.status_code} {r.text[:200]}")
        while True:
            u = run.api("GET", f"/users/{name}").json()
            server = u.get("servers", {}).get("")
            if server and server.get("ready"):
                break
            if not server and not u.get("pending"):
                raise RuntimeError("the server stopped while starting")
            time.sleep(0.25)
        res["server"] = time.monotonic() - t0
        token = run.api("POST", f"/users/{name}/tokens", json={"note": "hub_load", "expires_in": 7200}).json()["token"]

        # fetch the released chapter through nbgrader's exchange, in a kernel of the student's server
        k = Kernel(run, name, token, "fetch.ipynb")
        try:
            shell_in_kernel(k, ["nbgrader", "fetch_assignment", aid])
        finally:
            k.close()
        path = f"{aid}/{notebook_name}"
        headers = {"Authorization": f"token {token}"}
        r = requests.get(f"{run.url}/user/{name}/api/contents/{path}", headers=headers,
                         timeout=min(60, run.left()))
        r.raise_for_status()
        nb = nbformat.from_dict(r.json()["content"])

        # run it top to bottom, with the exercises answered
        t1 = time.monotonic()
        k = Kernel(run, name, token, path)
        try:
            count = 0
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("solution") and meta.get("grade_id") in solutions:
                    cell.source = solutions[meta["grade_id"]]      # the student's answer: the model one
                if cell.cell_type != "code":
                    continue
                count += 1
                cell.outputs, error = k.execute(cell.source)
                cell.execution_count = count
                res["cells"] = count
                if error:
                    raise RuntimeError(f"cell {count} raised {error.ename}: {error.evalue[:200]}")
            res["run"] = time.monotonic() - t1
            r = requests.put(f"{run.url}/user/{name}/api/contents/{path}", headers=headers,
                             timeout=min(60, run.left()), json={"type": "notebook", "format": "json", "content": nb})
            r.raise_for_status()
            shell_in_kernel(k, ["nbgrader", "submit", aid])
        finally:
            k.close()
    except Aborted as exc:
        res["failure"] = str(exc)
    except Exception as exc:
        res["failure"] = f"{type(exc).__name__}: {exc}"[:400]
    return res


# -- one student in a browser ----------------------------------------------------------------------------------------
def browser_student(run: Run, aid: str, notebook_name: str) -> list[str]:
    """Chromium logs in through the hub's form, the hub spawns the server, JupyterLab opens the fetched chapter,
    Run All, then every control of the chapter's first explorer is moved (tests/browser/run.py's checks).
    Returns the failures; a missing browser or playwright is reported, not failed."""
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    try:
        from playwright.sync_api import sync_playwright
        import run as lab_check                                  # tests/browser/run.py: Run All, explorer moves
    except ImportError as exc:
        print(f"browser: skipped ({exc}; the [browser] extra installs playwright)")
        return []
    if not Path(lab_check.CHROMIUM).exists():
        print(f"browser: skipped (no browser at {lab_check.CHROMIUM}; apt-get install chromium)")
        return []
    name, failures, rows = "browser1", [], []
    t0 = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=lab_check.CHROMIUM, args=lab_check.CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport=lab_check.VIEWPORT).new_page()
            page.set_default_timeout(120000)
            page.goto(f"{run.url}/hub/login")
            page.fill("#username_input", name)
            page.fill("#password_input", run.password)
            page.click("#login_submit")
            page.wait_for_url(f"**/user/{name}/lab**", timeout=min(300, run.left()) * 1000)  # spawn-pending, then Lab
            page.wait_for_selector(".jp-LabShell", timeout=120000)
            t_lab = time.monotonic() - t0
            disabled = page.evaluate("() => JSON.parse(document.getElementById('jupyter-config-data').textContent)"
                                     ".disabledExtensions || []")
            if "@jupyter/nbgrader:formgrader" not in disabled:
                failures.append(f"browser: a student's JupyterLab offers formgrader (disabled: {disabled})")
            token = run.api("POST", f"/users/{name}/tokens", json={"note": "hub_load browser"}).json()["token"]
            k = Kernel(run, name, token, "fetch.ipynb")
            try:
                shell_in_kernel(k, ["nbgrader", "fetch_assignment", aid])
            finally:
                k.close()
            page.goto(f"{run.url}/user/{name}/lab/tree/{aid}/{notebook_name}?reset")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180000)
            lab_check.wait_idle(page, 600)
            t1 = time.monotonic()
            lab_check.run_all(page, notebook_name)
            state = page.evaluate(lab_check.STATE_JS)
            # the released chapter's exercises are unanswered: their check cells (which import vizlab.exercises)
            # fail and Run All stops there; everything above the exercises must have run without an error
            errors = [e for e in page.evaluate(lab_check.ERRORS_JS)
                      if "NotImplementedError" not in e and "vizlab.exercises" not in e]
            failures += [f"browser: {e[:200]}" for e in errors]
            n = page.evaluate(lab_check.EXPLORERS_JS)
            print(f"browser: logged in and Lab open in {t_lab:.1f} s; Run All {time.monotonic() - t1:.0f} s, "
                  f"{state['cells']} code cells, {len(state['unexecuted'])} not run (after the first exercise); "
                  f"{n} explorer(s)")
            if not n:
                failures.append("browser: no explorer drawn")
            else:
                lab_check.exercise_explorer(page, page.locator("[data-explorer='0']"), f"{aid}#0", rows, failures)
                for where, control, ms, result in rows:
                    print(f"browser: {where} {control}: {ms} ms {result}")
                if not any(result.startswith("->") for *_, result in rows):   # a move the picture answered
                    failures.append("browser: no control of the first explorer changed its picture")
        except Exception as exc:
            failures.append(f"browser: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        finally:
            browser.close()
    try:
        run.api("DELETE", f"/users/{name}/server")
    except Exception:
        pass
    return failures


# -- the instructor ---------------------------------------------------------------------------------------------------
def prepare_course(run: Run, chapter: str) -> tuple[str, str, dict[str, str]]:
    released = build_course.build(out=run.course, only=[chapter], clean=True)
    aid, path = next(iter(released.items()))
    (run.course / "exchange").mkdir(parents=True, exist_ok=True)
    os.chmod(run.course / "exchange", 0o777)
    build_course.nbgrader(run.course, "release_assignment", aid, "--force", "--log-level=WARN")
    source = nbformat.read(run.course / "source" / aid / path.name, as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    return aid, path.name, solutions


def grade(run: Run, aid: str, pattern: str) -> tuple[float, float, dict[str, tuple[float, float]]]:
    t0 = time.monotonic()
    build_course.nbgrader(run.course, "collect", aid, f"--student={pattern}", "--log-level=WARN")
    t_collect = time.monotonic() - t0
    t0 = time.monotonic()
    build_course.nbgrader(run.course, "autograde", aid, f"--student={pattern}", "--log-level=WARN")
    t_grade = time.monotonic() - t0
    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(f"sqlite:///{run.course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(aid):
            if sub.student.id.startswith(pattern.rstrip("*")):
                # the written answers are graded by hand (formgrader): compare the code checks' points only
                auto = [g for nb in sub.notebooks for g in nb.grades if g.cell.cell_type == "code"]
                scores[sub.student.id] = (sum(g.auto_score for g in auto), sum(g.max_score for g in auto))
    return t_collect, t_grade, scores


def wave(run: Run, n: int, aid: str, notebook_name: str, solutions: dict[str, str]) -> dict:
    names = [f"n{n}s{i:03d}" for i in range(1, n + 1)]
    with run.lock:
        available = run.min_available = psutil.virtual_memory().available
        run.peak_pss = 0
    with ThreadPoolExecutor(n) as pool:
        try:
            results = list(pool.map(lambda nm: student(run, nm, aid, notebook_name, solutions), names))
        except BaseException:                            # Ctrl-C, SIGTERM, the watchdog: the students stop too,
            run.abort.set()                              # instead of the pool waiting for them to finish
            raise
    with run.lock:
        machine = available - run.min_available                # what the students took from the machine, at worst
        pss = run.peak_pss                                     # the same, counted on their processes alone
    failures = [f"{r['name']}: {r['failure']}" for r in results if r["failure"]]
    t_collect = t_grade = None
    scores = {}
    if any(not r["failure"] for r in results):
        try:
            t_collect, t_grade, scores = grade(run, aid, f"n{n}s*")
        except (Exception, SystemExit) as exc:
            failures.append(f"instructor: {exc}"[:400])
    for r in results:
        if not r["failure"]:
            got, full = scores.get(r["name"], (None, None))
            if got is None:
                failures.append(f"{r['name']}: submission not collected or graded")
            elif got < full:
                failures.append(f"{r['name']}: autograded {got:g}/{full:g}")
            r["score"] = (got, full)
    for name in names:                                   # free the machine for the next wave
        try:
            run.api("DELETE", f"/users/{name}/server")
        except Exception:
            pass
    with run.lock:
        peaks = {name: dict(run.peaks.get(name, {})) for name in names}
    return dict(n=n, results=results, failures=failures, t_collect=t_collect, t_grade=t_grade, peaks=peaks,
                machine=machine, pss=pss, hub_rss=run.hub_rss)


def wave_stats(w: dict, ok: list) -> tuple[list, list, float, float]:
    """For the students of wave ``w`` who ran (``ok``): their times to a running server and chapter run times,
    sorted, and the largest peak RSS and USS of one student in GB."""
    srv = sorted(r["server"] for r in ok)
    runs = sorted(r["run"] for r in ok)
    rss = max(w["peaks"].get(r["name"], {}).get("rss", 0) for r in ok) / GB
    uss = max(w["peaks"].get(r["name"], {}).get("uss", 0) for r in ok) / GB
    return srv, runs, rss, uss


def report(w: dict) -> None:
    print(f"\n== N = {w['n']} students at once")
    print("student     server s   run s  cells  peak GB (server+kernels RSS / USS, kernel RSS)   score")
    for r in w["results"]:
        pk = w["peaks"].get(r["name"]) or {}
        score = r.get("score") or (None, None)
        fmt = lambda v: f"{v:7.1f}" if v is not None else "      -"  # noqa: E731
        print(f"{r['name']:<10}{fmt(r['server'])} {fmt(r['run'])} {r['cells']:6d}"
              f"  {pk.get('rss', 0) / GB:5.2f} / {pk.get('uss', 0) / GB:5.2f}, kernel {pk.get('kernel_rss', 0) / GB:5.2f}"
              f"{'':18}{'' if score[0] is None else f'{score[0]:g}/{score[1]:g}'}")
    ok = [r for r in w["results"] if not r["failure"]]
    if ok:
        srv, runs, rss, uss = wave_stats(w, ok)
        print(f"time to a running server: median {srv[len(srv) // 2]:.1f} s, max {srv[-1]:.1f} s; chapter run: "
              f"median {runs[len(runs) // 2]:.0f} s, max {runs[-1]:.0f} s")
        print(f"peak memory per student: {rss:.2f} GB RSS ({uss:.2f} GB USS: not shared with other students); "
              f"the students took at most {w['machine'] / GB:.2f} GB of the machine's available memory "
              f"(other programs included); their processes together at most {w['pss'] / GB:.2f} GB (sum of PSS: "
              f"{w['pss'] / GB / len(ok):.2f} GB per student who ran); "
              f"hub + proxy + services {w['hub_rss'] / GB:.2f} GB RSS")
    if w["t_grade"] is not None:
        print(f"instructor: collect {w['t_collect']:.1f} s, autograde {w['t_grade']:.1f} s for {len(ok)} submissions")
    print(f"failures: {len(w['failures'])}" + "".join(f"\n  {f}" for f in w["failures"]))


def wait_for_memory(run: Run, n: int) -> bool:
    """A wave of --big-wave students or more starts only when --wait-for-memory GB are available (the machine is
    shared): waits up to 5 minutes for them, then skips the wave (printed, not a failure)."""
    if n < run.args.big_wave:
        return True
    need = run.args.wait_for_memory * GB
    end = time.monotonic() + min(300, run.left())
    while (available := psutil.virtual_memory().available) < need:
        if time.monotonic() > end:
            print(f"\n== N = {n}: skipped, {available / GB:.1f} GB available < {need / GB:g} GB for 5 minutes")
            return False
        time.sleep(5)
    return True


def summary(waves: list[dict], chapter: str) -> None:
    """The waves as the rows of deploy/README.md's table."""
    if not waves:
        return
    print("\n| chapter | students at once | to a running server s (median / max) | chapter run s (median / max) "
          "| peak per student GB: RSS (USS) | all students GB: sum of PSS (per student) "
          "| instructor: collect + autograde s | failures |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for w in waves:
        ok = [r for r in w["results"] if not r["failure"]]
        if ok:
            srv, runs, rss, uss = wave_stats(w, ok)
            timing = (f"{srv[len(srv) // 2]:.1f} / {srv[-1]:.1f} | {runs[len(runs) // 2]:.0f} / {runs[-1]:.0f} "
                      f"| {rss:.2f} ({uss:.2f})")
        else:
            timing = "- | - | -"
        grading = (f"{w['t_collect']:.1f} + {w['t_grade']:.1f}" if w["t_grade"] is not None else "-")
        per = f"{w['pss'] / GB / len(ok):.2f}" if ok else "-"           # the failed ones barely started
        print(f"| {chapter} | {w['n']} | {timing} | {w['pss'] / GB:.2f} ({per}) | {grading} "
              f"| {len(w['failures'])} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="*", default=[1],
                        help="wave sizes, e.g. 1 2 4 (default 1; none: only --browser)")
    parser.add_argument("--browser", action="store_true",
                        help="then one student in Chromium: login, spawn, Run All, the first explorer's controls")
    parser.add_argument("--chapter", default="05", help="the chapter the students run (one with exercises)")
    parser.add_argument("--time-limit", type=float, default=900, help="seconds for the whole run, then stop")
    parser.add_argument("--port", type=int, default=8100, help="the hub's port on 127.0.0.1 (uses 4 from here)")
    parser.add_argument("--work", help="the working folder (deleted at the start; default build/hub-load)")
    parser.add_argument("--memory-floor", type=float, default=1.5,
                        help="GB: when the machine's available memory falls below it, stop every server and end "
                             "the run (a failure) before the kernel's OOM killer picks a process")
    parser.add_argument("--big-wave", type=int, default=12, help="waves this large wait for --wait-for-memory")
    parser.add_argument("--wait-for-memory", type=float, default=18,
                        help="GB available before a wave of --big-wave students or more starts (waits <= 5 min, "
                             "then skips that wave)")
    args = parser.parse_args(argv)
    if any(n > 64 or n < 1 for n in args.students):
        parser.error("--students: 1..64 per wave")
    # `make bench` runs every benchmark without arguments: without the hub installed this one says so and passes
    if not (BIN / "jupyterhub").exists() or not (BIN / "jupyterhub-singleuser").exists():
        print(f"skipped: no jupyterhub in {BIN} (the [hub] extra: make hub installs it)")
        return 0
    if not (ROOT / "build" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy").exists() \
            and not shutil.which("configurable-http-proxy"):
        print("skipped: configurable-http-proxy not found (make hub, or: npm install --prefix build/hub "
              "configurable-http-proxy)")
        return 0
    run = Run(args)
    watchdog = threading.Timer(args.time_limit + 5, _thread.interrupt_main)   # a stuck call: KeyboardInterrupt
    watchdog.daemon = True
    previous = signal.signal(signal.SIGTERM, lambda *a: _thread.interrupt_main())
    failures = 0
    try:
        shutil.rmtree(run.work, ignore_errors=True)
        run.work.mkdir(parents=True)
        watchdog.start()
        t0 = time.monotonic()
        aid, notebook_name, solutions = prepare_course(run, args.chapter)
        print(f"course: {aid} ({notebook_name}) released, {len(solutions)} solution cells "
              f"[{time.monotonic() - t0:.1f} s]")
        t0 = time.monotonic()
        run.start_hub()
        print(f"hub: {run.url} up [{time.monotonic() - t0:.1f} s]; log {run.work / 'hub.log'}")
        threading.Thread(target=run.sample_forever, daemon=True).start()
        waves = []
        for n in args.students:
            if not wait_for_memory(run, n):
                continue
            w = wave(run, n, aid, notebook_name, solutions)
            report(w)
            waves.append(w)
            failures += len(w["failures"])
            sys.stdout.flush()
            if run.abort.is_set():
                break
        summary(waves, args.chapter)
        if args.browser:
            problems = browser_student(run, aid, notebook_name)
            print(f"browser failures: {len(problems)}" + "".join(f"\n  {p}" for p in problems))
            failures += len(problems)
    except (KeyboardInterrupt, Aborted) as exc:
        print(f"\nstopped: {type(exc).__name__} {exc} (time limit {args.time_limit:.0f} s)")
        failures += 1
    finally:
        run.abort.set()
        watchdog.cancel()
        t0 = time.monotonic()
        run.stop_all()
        signal.signal(signal.SIGTERM, previous)
        left = [p.pid for p in run.seen.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        print(f"hub and servers stopped [{time.monotonic() - t0:.1f} s]" + (f"; STILL RUNNING: {left}" if left else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
