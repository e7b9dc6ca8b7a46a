"""Every chapter as a student opens it: JupyterLab in headless Chromium, Run All, every control moved.

    .venv/bin/python tests/browser/run.py [--notebooks 01 06] [--shots DIR] [--skip-voila]
    .venv/bin/python tests/browser/run.py --voila-only --voila-chapter 06      # only the lecture check (~2 min)

(`make browser` installs what this needs and runs it; `.ci/run` calls it after `make test`.)

What it checks, for every notebooks/*.ipynb (found by glob, so new chapters are covered):
  1. Run All finishes with every code cell executed, no error output, no "Error displaying widget"
     and no "Loading widget" left;
  2. for every explorer (a widget output with a picture) each control is moved once and the
     picture's bytes must change -- or, when they legitimately cannot, the explorer must say why
     (an element with class ``vizlab-why``, e.g. "No ReLU runs before stem.bn ..."). "Unchanged"
     is only concluded on a positive signal that the move was handled: the page logs the widget
     messages it sends to the kernel and the kernel's "idle" reply to each (after the explorer's
     callback ran and sent its new picture), then gives the page a few seconds to draw. A slow
     update (Score-CAM, an uncached integrated-gradients setting) is waited for as long as the
     kernel owes a reply; a move that shows nothing is tried once more before it fails;
  3. under Voila (``make present``), the lecture version of one chapter (course/lecture.py) renders to its last
     cell with no error, shows no model answer, no solution and no exercise check (each written question reads
     "(answered in class)"; the model answers are taken from the instructor version), hides the code, and a
     control of its first explorer still drives the picture.
It prints the update latency per control (from the key press / click to the new picture in the
page). No timing is asserted: the numbers depend on the machine.

It starts JupyterLab (and Voila) on a free localhost port with a token, on a temporary copy of
notebooks/, with fresh settings and a fresh browser profile, and stops only the processes it
started. Chromium is Debian's /usr/bin/chromium (``apt-get install chromium``); it is driven by the
playwright Python package without ``playwright install``. Without a browser the test is skipped
-- except under CI (CI=true), where that is a failure.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1366, "height": 768}
RUN_ALL_TIMEOUT = 30 * 60        # s per chapter; generous: chapters take ~1 min of CPU, CI machines are slow
UPDATE_TIMEOUT = 10 * 60         # s per control move while the kernel is working on it (a Score-CAM ...)
CONTROL_TIMEOUT = 120            # s per control move when the kernel is not even busy with it
NO_MESSAGE_TIMEOUT = 30          # s: a move that sends no widget message to the kernel by then did nothing
SETTLE = 0.5                     # s without a new widget message / kernel reply: the exchange is over
DRAW_GRACE = 3.0                 # s the page gets to draw a new picture after the kernel finished
SETTINGS = {   # fresh JupyterLab settings: every cell in the DOM, no news / update checks (offline)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"checkForUpdates": False, "fetchNews": "false", "doNotDisturbMode": True},
}

# -- page helpers (JavaScript run in the page) -------------------------------------------------------
STATE_JS = """() => {
  const status = Array.from(document.querySelectorAll('.jp-StatusBar-TextItem, .jp-StatusBar-Item'))
                      .map(e => e.textContent).join(' ');
  const prompts = Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell')).map(c => {
      const p = c.querySelector('.jp-InputPrompt');
      const src = c.querySelector('.cm-content');
      return {prompt: p ? p.textContent.trim() : '', empty: src ? src.textContent.trim() === '' : false};
  });
  return {idle: /\\|\\s*Idle/.test(status), busy: /\\|\\s*Busy/.test(status),
          running: prompts.filter(p => p.prompt.includes('*')).length,
          unexecuted: prompts.map((p, i) => [i, p]).filter(([i, p]) => !p.empty && /\\[\\s*\\]/.test(p.prompt)).map(([i]) => i),
          cells: prompts.length};
}"""

ERRORS_JS = """() => {
  const out = [];
  for (const o of document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')) {
    const t = o.textContent;
    if (/Traceback|\\b\\w+Error\\b/.test(t)) out.push(t.slice(0, 400));
  }
  const text = document.body.innerText;
  if (text.includes('Error displaying widget')) out.push('Error displaying widget');
  return out;
}"""

EXPLORERS_JS = """() => {
  // an explorer: a widget output (no data-mime-type) holding a picture
  const outs = Array.from(document.querySelectorAll('.jp-OutputArea-output:not([data-mime-type]), .jp-OutputArea-output'))
                    .filter(o => o.querySelector('img.widget-image'));
  const roots = outs.filter(o => !outs.some(p => p !== o && p.contains(o)));
  roots.forEach((o, i) => o.setAttribute('data-explorer', String(i)));
  return roots.length;
}"""

CONTROLS_JS = """(root) => {
  const list = [];
  const label = el => {
    const box = el.closest('.widget-inline-hbox, .widget-toggle-buttons');
    const l = box && box.querySelector('.widget-label');
    if (l && l.textContent.trim()) return l.textContent.trim();
    const row = el.parentElement && el.parentElement.closest('.widget-hbox');   // inline_label(...)
    const v = row && row.querySelector('.vizlab-label');
    return v ? v.textContent.trim() : '';
  };
  root.querySelectorAll('select').forEach((el, i) => list.push({kind: 'select', i, label: label(el) || 'dropdown'}));
  root.querySelectorAll('.widget-toggle-buttons').forEach((el, i) => list.push({kind: 'toggle', i, label: label(el) || 'buttons'}));
  root.querySelectorAll('.noUi-handle').forEach((el, i) => list.push({kind: 'slider', i, label: label(el) || 'slider'}));
  root.querySelectorAll('input[type=number]').forEach((el, i) => list.push({kind: 'number', i, label: (label(el) || 'number') + ' (box)'}));
  return list;
}"""

PICTURE_JS = """async (root) => {
  const img = root.querySelector('img.widget-image');
  if (!img || !img.src) return null;
  try {
    const buf = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let h = 2166136261;                       // FNV-1a over the PNG bytes
    for (let k = 0; k < buf.length; k++) { h ^= buf[k]; h = Math.imul(h, 16777619) >>> 0; }
    return h.toString(16) + ':' + buf.length;
  } catch (e) { return null; }              // the blob URL was just replaced: ask again
}"""

WHY_JS = """(root) => Array.from(root.querySelectorAll('.vizlab-why')).map(e => e.textContent.trim()).join(' | ')"""

BUSY_JS = """(root) => !!root.querySelector('.vizlab-busy')"""

# What an explorer writes besides its picture (info line, legend): a reason for an unchanged
# picture counts only if the explorer wrote something in answer to this move -- a note left
# from an earlier move must not excuse a control that does nothing.
TEXT_JS = """(root) => Array.from(root.querySelectorAll('.widget-html-content')).map(e => e.innerHTML).join('\\n')"""

# The positive signal that a control move was handled: JupyterLab (started with
# --LabApp.expose_app_in_browser) lets the page listen to the kernel connection. Every widget
# message the page sends (comm_msg) is logged; the kernel answers each request with a status
# "idle" whose parent is that message, once it has run the explorer's callback and sent the new
# picture. Nothing is decided on the status bar's "Idle" (the message may not have left yet).
LOG_JS = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel) return false;
  if (window.__vzKernel !== kernel) {
    window.__vzKernel = kernel;
    window.__vzLog = {sent: [], idle: new Set(), last: performance.now()};
    kernel.anyMessage.connect((_, args) => {
      const m = args.msg, log = window.__vzLog;
      if (args.direction === 'send' && m.header.msg_type === 'comm_msg') {
        log.sent.push(m.header.msg_id); log.last = performance.now();
      } else if (args.direction === 'recv' && m.header.msg_type === 'status' &&
                 m.content.execution_state === 'idle' && m.parent_header && m.parent_header.msg_id) {
        log.idle.add(m.parent_header.msg_id); log.last = performance.now();
      }
    });
  }
  return true;
}"""

RESET_LOG_JS = """() => { const log = window.__vzLog; log.sent = []; log.idle.clear(); log.last = performance.now(); }"""

PENDING_JS = """() => {
  const log = window.__vzLog;
  return {sent: log.sent.length, pending: log.sent.filter(id => !log.idle.has(id)).length,
          quiet: (performance.now() - log.last) / 1000};
}"""


FIGURES_JS = """() => Array.from(document.querySelectorAll('.jp-RenderedImage img')).map((img, i) => {
  img.setAttribute('data-figure', String(i));
  return {i, natural: img.naturalWidth, shown: Math.round(img.getBoundingClientRect().width)};
})"""


class Failure(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A process started in its own session; ``stop()`` ends that process group only."""

    def __init__(self, cmd, cwd, env, url, log: Path):
        self.url, self.log = url, log
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 180) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise Failure(f"server exited ({self.proc.returncode}); log:\n{self.log.read_text()[-2000:]}")
            try:
                if self.url.startswith("tcp:"):        # Voila runs the notebook on every GET: just connect
                    host, port = self.url[4:].rsplit(":", 1)
                    socket.create_connection((host, int(port)), timeout=5).close()
                else:
                    urllib.request.urlopen(self.url, timeout=5)
                return
            except Exception:
                time.sleep(0.5)
        raise Failure(f"server not ready after {timeout} s; log:\n{self.log.read_text()[-2000:]}")

    def children(self) -> list[int]:
        """Processes started by the server (its kernels): they may live in their own process group."""
        kids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                kids.append(int(stat.parent.name))
        return kids

    def stop(self) -> None:
        kids = self.children() if self.proc.poll() is None else []
        self._stop_server()
        for pid in kids:                          # a kernel the server did not shut down (same pid, same command)
            try:
                if b"ipykernel" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass

    def _stop_server(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
            except ProcessLookupError:
                pass


def server_env(tmp: Path) -> dict:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    settings = tmp / "settings"
    for name, value in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    for var, sub in [("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                     ("JUPYTER_RUNTIME_DIR", "runtime")]:
        (tmp / sub).mkdir(exist_ok=True)
        env[var] = str(tmp / sub)
    return env


def copy_project(tmp: Path, root: Path) -> Path:
    """notebooks/ and data/ side by side (chapters may read ../data/...)."""
    site = tmp / "site"
    shutil.copytree(root / "notebooks", site / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if (root / "data").is_dir():
        shutil.copytree(root / "data", site / "data", ignore=shutil.ignore_patterns("*.pt", "*.pth"))
    return site


def wait_for(fn, timeout: float, what: str, interval: float = 0.25):
    end = time.time() + timeout
    while time.time() < end:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")


def wait_idle(page, timeout: float = 300, stable: int = 3) -> None:
    """The kernel shows Idle and nothing runs, ``stable`` polls in a row."""
    seen = [0]

    def idle():
        s = page.evaluate(STATE_JS)
        seen[0] = seen[0] + 1 if (s["idle"] and not s["running"]) else 0
        return seen[0] >= stable
    wait_for(idle, timeout, "the kernel to be Idle", interval=0.3)


def run_all(page, name: str) -> None:
    for attempt in range(3):                   # the menu can be racy right after the page loads
        try:
            page.locator('.lm-MenuBar-itemLabel', has_text=re.compile(r"^Run$")).first.click(timeout=20000)
            page.locator('.lm-Menu-itemLabel', has_text=re.compile(r"^Run All Cells$")).first.click(timeout=20000)
            break
        except Exception:
            page.keyboard.press("Escape")
            time.sleep(2)
    else:
        raise Failure(f"{name}: could not click Run > Run All Cells")
    start = time.time()
    started = wait_for(lambda: page.evaluate(STATE_JS)["running"] > 0 or time.time() - start > 20, 60,
                       "Run All to start")
    del started
    wait_idle(page, RUN_ALL_TIMEOUT)


def picture(page, root) -> str:
    return wait_for(lambda: root.evaluate(PICTURE_JS), 60, "the explorer's picture", interval=0.1)


def move(page, root, control) -> str | None:
    """Move one control once; returns None when it has nothing to move to (one option)."""
    kind, i = control["kind"], control["i"]
    if kind == "select":
        el = root.locator("select").nth(i)
        n = el.evaluate("e => e.options.length")
        if n < 2:
            return None
        k = (el.evaluate("e => e.selectedIndex") + 1) % n
        el.select_option(index=k)
        return el.evaluate("e => e.options[e.selectedIndex].text")
    if kind == "toggle":
        buttons = root.locator(".widget-toggle-buttons").nth(i).locator("button:not(.mod-active)")
        if buttons.count() == 0:
            return None
        target = buttons.first
        label = target.inner_text().strip()
        target.click()
        return label
    if kind == "slider":
        handle = root.locator(".noUi-handle").nth(i)
        now, top = (handle.get_attribute(a) for a in ("aria-valuenow", "aria-valuemax"))
        key = "ArrowLeft" if now is not None and top is not None and float(now) >= float(top) else "ArrowRight"
        handle.focus()
        handle.press(key)
        return key
    if kind == "number":
        box = root.locator("input[type=number]").nth(i)
        value = int(float(box.input_value() or 0))
        high = box.get_attribute("max")
        new = value - 5 if high is not None and value + 5 > float(high) else value + 5
        box.fill(str(new))
        box.press("Enter")
        return str(new)
    raise ValueError(kind)


BUSY_SHOTS: set = set()


def settled(page) -> bool:
    """Every widget message sent since the last reset has its kernel "idle" reply, and nothing has
    been sent or received for ``SETTLE`` s (ipywidgets sends a throttled change right after an idle)."""
    s = page.evaluate(PENDING_JS)
    return s["pending"] == 0 and s["quiet"] >= SETTLE


def await_update(page, root, before: str, text_before: str, t0: float, busy_shot: str | None = None) -> tuple:
    """After one control move: ``("changed", ms, busy_seen)`` when the picture's bytes changed;
    ``("why", text)`` when the kernel has handled the move, the picture stayed and the explorer
    says why (in text it wrote in answer to this move); ``("unchanged", reason)`` otherwise.
    Waits up to ``CONTROL_TIMEOUT`` s, and up to ``UPDATE_TIMEOUT`` s while the kernel still owes
    a reply (a slow method, e.g. Score-CAM).
    ``busy_shot``: a file for a screenshot of the explorer in its busy state (taken when it first
    shows, again after 3 s busy so that a many-pass method's progress count is in it)."""
    moved_at, handled_at, busy_seen, shots_taken = time.time(), None, False, 0
    while True:
        now = root.evaluate(PICTURE_JS)
        if now is not None and now != before:
            return ("changed", (time.perf_counter() - t0) * 1000, bool(busy_seen))
        if (not busy_seen or (busy_shot and shots_taken == 1 and time.time() - busy_seen >= 3)) \
                and root.evaluate(BUSY_JS):
            busy_seen = busy_seen or time.time()
            if busy_shot:
                root.screenshot(path=busy_shot)
                shots_taken += 1
        s = page.evaluate(PENDING_JS)
        waited = time.time() - moved_at
        if s["sent"] == 0:
            if waited > NO_MESSAGE_TIMEOUT:
                return ("unchanged", f"the move sent nothing to the kernel in {NO_MESSAGE_TIMEOUT} s")
        elif s["pending"] == 0 and s["quiet"] >= SETTLE:
            handled_at = handled_at or time.time()
            if time.time() - handled_at >= DRAW_GRACE:       # the kernel is done; the page had time to draw
                why, answered = root.evaluate(WHY_JS), root.evaluate(TEXT_JS) != text_before
                if why and answered:
                    return ("why", why)
                if why:
                    return ("unchanged", "the kernel handled the move; picture and text stayed the same "
                                         f"(the reason shown is from before: {why[:50]})")
                return ("unchanged", "the kernel handled the move, the picture stayed the same and the "
                                     "explorer does not say why")
        else:
            handled_at = None
        limit = UPDATE_TIMEOUT if s["pending"] else CONTROL_TIMEOUT
        if waited > limit:
            return ("unchanged", f"no new picture after {limit} s ({s['pending']} widget message(s) "
                                 "still unanswered by the kernel)")
        time.sleep(0.05)


def exercise_explorer(page, root, where: str, rows: list, failures: list, shots=None) -> None:
    """Move every control of one explorer once (a second time if the first move showed nothing)."""
    root.scroll_into_view_if_needed()
    if not page.evaluate(LOG_JS):
        failures.append(f"{where}: cannot listen to the kernel (JupyterLab without expose_app_in_browser?)")
        return
    controls = root.evaluate(CONTROLS_JS)
    if not controls:
        failures.append(f"{where}: an explorer without controls")
    for control in controls:
        name = f"{control['label']} [{control['kind']}]"
        wait_for(lambda: settled(page), UPDATE_TIMEOUT, "the previous update to finish", interval=0.1)
        for attempt in (1, 2):
            before, text_before = picture(page, root), root.evaluate(TEXT_JS)
            page.evaluate(RESET_LOG_JS)
            t0 = time.perf_counter()
            try:
                moved = move(page, root, control)
            except Exception as err:          # noqa: BLE001 -- reported as a failure of this control
                result = ("error", f"could not move it: {str(err).splitlines()[0]}")
                break
            if moved is None:
                result = ("none",)
                break
            shot = Path(shots) / f"busy_{where.replace('#', '_')}.png" if shots else None
            result = await_update(page, root, before, text_before, t0,
                                  str(shot) if shot and shot not in BUSY_SHOTS else None)
            if shot and shot.exists():
                BUSY_SHOTS.add(shot)             # one busy screenshot per explorer and run
            if result[0] != "unchanged":
                break
        again = " (2nd try)" if attempt == 2 else ""
        if result[0] == "none":
            rows.append((where, name, "-", "one option: nothing to move"))
        elif result[0] == "changed":
            rows.append((where, name, f"{result[1]:.0f}", f"-> {moved}{again}{'; busy shown' if result[2] else ''}"))
        elif result[0] == "why":
            rows.append((where, name, "-", f"unchanged{again}; explorer says: {result[1][:60]}"))
        else:
            failures.append(f"{where}: {name}: {result[1]}" + (" (twice)" if attempt == 2 else ""))
            rows.append((where, name, "-", "FAILED: " + result[1][:60]))
        wait_for(lambda: settled(page), UPDATE_TIMEOUT, "the update to finish", interval=0.1)


def check_chapter(context, base: str, token: str, nb: str, rows: list, failures: list, shots) -> None:
    page = context.new_page()
    page.set_default_timeout(60000)
    t0 = time.time()
    try:
        page.goto(f"{base}/lab/tree/notebooks/{nb}?reset&token={token}", timeout=180000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180000)
        wait_idle(page, 600)
        run_all(page, nb)
        state = page.evaluate(STATE_JS)
        if state["unexecuted"]:
            failures.append(f"{nb}: code cells {state['unexecuted'][:5]} did not run (an earlier cell failed?)")
        wait_for(lambda: "Loading widget" not in page.inner_text("body"), 120, "widgets to load")
        for err in page.evaluate(ERRORS_JS):
            failures.append(f"{nb}: {err}")
        n = page.evaluate(EXPLORERS_JS)
        print(f"  {nb}: ran in {time.time() - t0:.0f} s, {state['cells']} code cells, {n} explorer(s)", flush=True)
        if shots:
            first = page.locator("[data-explorer='0']")
            if n:
                first.scroll_into_view_if_needed()
            page.screenshot(path=str(Path(shots) / f"lab_{nb.replace('.ipynb', '')}.png"))
        figures = page.evaluate(FIGURES_JS)
        small = [f"#{f['i']} {f['natural']}->{f['shown']} px" for f in figures
                 if f["natural"] and f["shown"] < 0.9 * f["natural"]]
        if small:                              # a layout note, not a failure: titles shrink with the figure
            print(f"  {nb}: static figures shown below 90 % of their size: {', '.join(small)}", flush=True)
        if shots:
            for f in figures:
                fig = page.locator(f"[data-figure='{f['i']}']")
                fig.scroll_into_view_if_needed()
                fig.screenshot(path=str(Path(shots) / f"lab_{nb.replace('.ipynb', '')}_fig{f['i']:02d}.png"))
        for k in range(n):
            exercise_explorer(page, page.locator(f"[data-explorer='{k}']"), f"{nb.split('_')[0]}#{k}", rows, failures, shots)
        for err in page.evaluate(ERRORS_JS):
            failures.append(f"{nb} after moving controls: {err}")
    except Failure as err:
        failures.append(f"{nb}: {err}")
        if shots:
            page.screenshot(path=str(Path(shots) / f"FAILED_{nb.replace('.ipynb', '')}.png"))
    finally:
        page.close()


def plain_fragment(markdown: str, shortest: int = 20) -> str | None:
    """The longest stretch of one line of ``markdown`` that renders as itself (no math, code, emphasis, link or
    HTML marks in it), whitespace collapsed; None when no stretch has ``shortest`` characters."""
    parts = [" ".join(p.split()) for line in markdown.splitlines() for p in re.split(r"[$`*_\[\]()#<>|\\{}~]", line)]
    best = max(parts, key=len, default="")
    return best if len(best) >= shortest else None


def lecture_expectations(instructor: Path) -> dict:
    """What the page of a chapter's lecture version must not show (model answers, solution code) and must show
    (the last cell: the page is complete; one "(answered in class)" per written question)."""
    sys.path.insert(0, str(ROOT / "course"))
    import lecture
    nb = json.loads(instructor.read_text(encoding="utf-8"))
    source = lambda c: c["source"] if isinstance(c["source"], str) else "".join(c["source"])   # noqa: E731
    nbg = lambda c: c.get("metadata", {}).get("nbgrader", {})                                    # noqa: E731
    answers = [c for c in nb["cells"] if c["cell_type"] == "markdown" and nbg(c).get("solution")]
    forbidden = [f for f in (plain_fragment(source(c)) for c in answers) if f]
    forbidden += ["BEGIN SOLUTION", "END SOLUTION", "Model answer", "YOUR ANSWER HERE",
                  "BEGIN MARK SCHEME", "BEGIN HIDDEN TESTS"]
    # solution and check code: a line given in the exercise statement itself may show
    given = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown" and not nbg(c).get("solution"))
    forbidden += [line.strip() for c in nb["cells"] if c["cell_type"] == "code" and (nbg(c).get("solution") or nbg(c).get("grade"))
                  for line in source(c).splitlines() if len(line.strip()) >= 16 and "BEGIN" not in line
                  and "END" not in line and line.strip() not in given]
    last = next((plain_fragment(source(c)) for c in reversed(lecture.lecture_version(nb)["cells"])
                 if c["cell_type"] == "markdown" and plain_fragment(source(c))), None)
    return {"forbidden": forbidden, "answered": len(answers), "last": last, "answered_text": "(answered in class)"}


def check_voila(context, served: Path, instructor: Path, env: dict, tmp: Path, rows: list, failures: list,
                shots) -> None:
    """Serve ``served`` (the lecture version of ``instructor``) with Voila as `make present` does and check it."""
    nb = served.name
    expect = lecture_expectations(instructor)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = Server([sys.executable, "-m", "voila", str(served), "--no-browser",
                     f"--port={port}", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0"],
                    served.parent, env, f"tcp:127.0.0.1:{port}", tmp / "voila.log")
    page = None
    try:
        server.wait_ready()
        page = context.new_page()
        page.goto(url, timeout=RUN_ALL_TIMEOUT * 1000)
        page.wait_for_selector("img.widget-image", timeout=RUN_ALL_TIMEOUT * 1000)
        wait_for(lambda: "Loading widget" not in page.inner_text("body"), 120, "widgets to load under Voila")
        norm = lambda: " ".join(page.inner_text("body").split())                                 # noqa: E731
        if expect["last"]:       # Voila shows a cell once every cell above it ran: the page is complete
            wait_for(lambda: expect["last"] in norm(), RUN_ALL_TIMEOUT, f"the last cell ({expect['last'][:40]}...)")
        text = page.inner_text("body")
        if "Error displaying widget" in text or "No module named" in text:
            failures.append(f"voila {nb}: widget error")
        if "There was an error when executing cell" in text or "Traceback" in text:
            failures.append(f"voila {nb}: a cell failed on the page (an exercise check?)")
        shown = [f for f in expect["forbidden"] if f in norm()]
        if shown:
            failures.append(f"voila {nb}: {len(shown)} answer / solution text(s) on the page, e.g. {shown[0][:70]!r}")
        answered = norm().count(expect["answered_text"])
        if answered != expect["answered"]:
            failures.append(f"voila {nb}: {answered} '(answered in class)' on the page, expected {expect['answered']}")
        rows.append((f"voila {nb.split('_')[0]}", "answers hidden", "-",
                     f"{len(expect['forbidden'])} answer/solution texts absent, {answered} answered in class"
                     if not shown and answered == expect["answered"] else "FAILED"))
        if page.locator(".jp-InputArea-editor:visible").count():
            failures.append(f"voila {nb}: code is shown")
        root = page.locator("img.widget-image").first.locator(
            "xpath=ancestor::div[contains(@class,'jp-OutputArea-output')][1]")
        before = root.evaluate(PICTURE_JS)
        handle = root.locator(".noUi-handle, select").first
        t0 = time.perf_counter()
        if handle.evaluate("e => e.tagName") == "SELECT":
            handle.select_option(index=1)
        else:
            handle.focus()
            handle.press("ArrowRight")
        changed = wait_for(lambda: (root.evaluate(PICTURE_JS) or before) != before, UPDATE_TIMEOUT,
                           "the picture to change under Voila", interval=0.05)
        rows.append((f"voila {nb.split('_')[0]}", "first control", f"{(time.perf_counter() - t0) * 1000:.0f}",
                     "explorer live, code hidden" if changed else ""))
        if shots:
            root.scroll_into_view_if_needed()
            page.screenshot(path=str(Path(shots) / f"voila_{nb.replace('.ipynb', '')}.png"), full_page=False)
    except Failure as err:
        failures.append(f"voila {nb}: {err}")
    finally:
        if page is not None:
            page.close()
        server.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notebooks", nargs="*", help="chapter prefixes, e.g. 01 06 (default: all)")
    ap.add_argument("--shots", help="save screenshots to this folder")
    ap.add_argument("--skip-voila", action="store_true")
    ap.add_argument("--voila-only", action="store_true", help="only the Voila check")
    ap.add_argument("--root", type=Path, default=ROOT, help="the folder holding notebooks/ (default: this project)")
    ap.add_argument("--voila-chapter", default="01", help="the chapter served with Voila (default 01)")
    ap.add_argument("--voila-instructor", action="store_true",
                    help="serve the instructor version instead of the lecture one (what make present served before "
                         "issue 18): the answer check must then fail")
    args = ap.parse_args(argv)

    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if not Path(CHROMIUM).exists():
        msg = f"no browser at {CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM=/path)"
        print(("FAILED: " if ci else "SKIPPED: ") + msg)
        return 1 if ci else 0
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("FAILED: the playwright package is missing: pip install -e '.[browser]' (no `playwright install` needed)")
        return 1

    notebooks = sorted(p.name for p in (args.root / "notebooks").glob("*.ipynb"))
    if args.notebooks:
        notebooks = [n for n in notebooks if any(n.startswith(p) for p in args.notebooks)]
    if args.shots:
        Path(args.shots).mkdir(parents=True, exist_ok=True)
    rows, failures = [], []
    tmp = Path(tempfile.mkdtemp(prefix="vizlab-browser-"))
    site = copy_project(tmp, args.root)
    env = server_env(tmp)
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={site}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.expose_app_in_browser=True"]          # window.jupyterapp: the page can watch the kernel
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    lab = Server(cmd, site, env, f"{base}/api/status?token={token}", tmp / "lab.log")
    t_start = time.time()
    try:
        lab.wait_ready()
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                viewport=VIEWPORT)
            try:
                for nb in [] if args.voila_only else notebooks:
                    check_chapter(context, base, token, nb, rows, failures, args.shots)
                lab.stop()           # one kernel-heavy server at a time
                every = sorted(p.name for p in (args.root / "notebooks").glob("*.ipynb"))
                voila = [n for n in every if n.startswith(args.voila_chapter)] or notebooks[:1]
                if not args.skip_voila and voila:
                    instructor = site / "notebooks" / voila[0]
                    served = instructor
                    if not args.voila_instructor:     # what make present serves
                        run = subprocess.run([sys.executable, str(ROOT / "course" / "lecture.py"), str(instructor),
                                              "--out", str(site / "lecture")], capture_output=True, text=True)
                        if run.returncode:
                            raise Failure(f"course/lecture.py failed: {run.stderr[-1000:]}")
                        served = Path(run.stdout.strip())
                    check_voila(context, served, instructor, env, tmp, rows, failures, args.shots)
            finally:
                context.close()
    except Failure as err:
        failures.append(str(err))
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{'where':10s} {'control':28s} {'update ms':>9s}  result")
    for where, name, ms, result in rows:
        print(f"{where:10s} {name[:28]:28s} {ms:>9s}  {result}")
    print(f"\n{len(notebooks)} chapter(s), {len(rows)} control move(s), {time.time() - t_start:.0f} s in all")
    if failures:
        print("\nFAILED:")
        for f in failures:
            print(" -", f)
        return 1
    print("browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
