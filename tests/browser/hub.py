"""One chapter through JupyterHub as a student opens it: login, spawn, Run All, an explorer control (issue 23 item 4).

    .venv/bin/python tests/browser/hub.py [--chapter 05] [--time-limit 900]

(`make browser` runs it after tests/browser/run.py; it needs the [hub] extra and configurable-http-proxy:
`make build/hub/node_modules/.bin/configurable-http-proxy`, which needs npm.)

What it does, with deploy/jupyterhub_config.py as `make hub` runs it, everything on 127.0.0.1:
  1. builds a course of one chapter in a temporary directory and releases it to nbgrader's exchange there;
  2. starts the hub on four free consecutive localhost ports (hub, proxy API, hub API, formgrader);
  3. in headless Chromium, as a student: the hub's login form with the class password, the spawn page, JupyterLab;
     checks the student's JupyterLab does not offer formgrader; fetches the released chapter (nbgrader
     fetch_assignment in the student's server), opens it, Run All (it stops at the first unanswered exercise;
     everything above it must run without an error), and moves every control of the chapter's first explorer: at
     least one move must change the explorer's picture (tests/browser/run.py's checks and their waits);
  4. stops everything it started -- on success, on a failure, on Ctrl-C or SIGTERM, and at --time-limit: the
     student's server and kernels (API), the hub (SIGTERM), then SIGKILL to every process seen under the hub and to
     the browser; a process still alive after that is a failure. The temporary directory is deleted.

A missing prerequisite (jupyterhub, the proxy, Chromium, playwright, nbgrader) skips the test with a message, except
under CI (CI=true), where it is a failure. It prints how long each step took; no timing is asserted.
"""
from __future__ import annotations

import _thread
import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHP = ROOT / "build" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
HARD_GRACE = 90                   # s after --time-limit: kill everything and exit, whatever the main thread does
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_prerequisites() -> list[str]:
    """What this test needs and does not find, each with how to get it."""
    import importlib.util
    import run as lab_check                                   # tests/browser/run.py: CHROMIUM
    missing = []
    for exe in ("jupyterhub", "jupyterhub-singleuser"):
        if not (BIN / exe).exists():
            missing.append(f"{exe} (pip install -e '.[hub]')")
    for module, how in (("jupyterhub_idle_culler", "the [hub] extra"), ("nbgrader", "the [hub] extra"),
                        ("playwright", "the [browser] extra"), ("websocket", "websocket-client, the [hub] extra")):
        if importlib.util.find_spec(module) is None:
            missing.append(f"the {module} package ({how})")
    if not CHP.exists() and not shutil.which("configurable-http-proxy"):
        missing.append("configurable-http-proxy (make build/hub/node_modules/.bin/configurable-http-proxy; "
                       "needs npm: apt-get install npm)")
    if not Path(lab_check.CHROMIUM).exists():
        missing.append(f"a browser at {lab_check.CHROMIUM} (apt-get install chromium, or set CHROMIUM=/path)")
    return missing


def free_port_block(n: int = 4, candidates=None) -> int:
    """A port p such that p .. p+n-1 are all free on 127.0.0.1 (the hub's config uses PORT .. PORT+3).
    `candidates` (for tests) replaces the ports the system proposes."""
    def proposed():
        for _ in range(100):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            yield port                                        # closed first: the block is tried unheld
    for base in candidates if candidates is not None else proposed():
        if base + n - 1 > 65535:
            continue
        held = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports on 127.0.0.1")


def chapters() -> list[str]:
    return sorted(p.name.split("_")[0] for p in (ROOT / "notebooks").glob("[0-9]*_*.ipynb"))


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapter", default="05", help="the chapter the student opens (default 05: an explorer above "
                                                    "its exercises)")
    ap.add_argument("--time-limit", type=float, default=900, help="seconds for the whole test, then stop (default 900)")
    args = ap.parse_args(argv)
    if not 30 <= args.time_limit <= 3600:
        ap.error("--time-limit: 30 .. 3600 seconds")
    if args.chapter not in chapters():
        ap.error(f"--chapter {args.chapter!r}: no notebooks/{args.chapter}_*.ipynb; chapters: {' '.join(chapters())}")
    return args


def descendants() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def alive(procs) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def stop_everything(run, extra=()) -> list[int]:
    """The hub and all it started (hub_load.Run.stop_all), then the browser and any other child of this process.
    Returns the pids still alive afterwards (should be none)."""
    run.stop_all()
    for p in alive(list(extra) + descendants()):
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive(list(extra) + descendants()), timeout=10)
    return [p.pid for p in alive(list(run.seen.values()) + list(extra) + descendants())]


def main(argv=None) -> int:
    args = parse_args(argv)
    missing = missing_prerequisites()
    if missing:
        word = "FAILED" if is_ci() else "SKIPPED"
        print(f"{word}: the hub browser test needs " + "; ".join(missing))
        return 1 if is_ci() else 0
    import hub_load                                          # benchmarks/hub_load.py: the hub, the browser student

    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="vizlab-hub-browser-"))
    port = free_port_block(4)
    run = hub_load.Run(argparse.Namespace(time_limit=args.time_limit, port=port, browser=True, work=tmp / "work",
                                          memory_floor=0.0))
    run.work.mkdir(parents=True)
    stopped = threading.Event()

    def hard_stop():                                         # the main thread is stuck: stop from here and leave
        if stopped.is_set():
            return
        print(f"FAILED: still running {HARD_GRACE} s after the time limit: stopping everything", flush=True)
        stop_everything(run)
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(1)

    soft = threading.Timer(args.time_limit + 5, _thread.interrupt_main)
    hard = threading.Timer(args.time_limit + HARD_GRACE, hard_stop)
    for timer in (soft, hard):
        timer.daemon = True
        timer.start()
    previous = signal.signal(signal.SIGTERM, lambda *a: _thread.interrupt_main())

    def watch():                                             # remember every process under the hub, to stop them
        while not run.abort.is_set():
            run.scan()
            time.sleep(1)

    failures = []
    try:
        t0 = time.monotonic()
        aid, notebook_name, _ = hub_load.prepare_course(run, args.chapter)
        print(f"course: {aid} ({notebook_name}) released [{time.monotonic() - t0:.0f} s]", flush=True)
        t0 = time.monotonic()
        run.start_hub()
        print(f"hub: up on 127.0.0.1:{port}..{port + 3} [{time.monotonic() - t0:.0f} s]", flush=True)
        threading.Thread(target=watch, daemon=True).start()
        failures += hub_load.browser_student(run, aid, notebook_name)
    except (KeyboardInterrupt, hub_load.Aborted) as exc:
        failures.append(f"stopped ({type(exc).__name__} {exc}) at the time limit of {args.time_limit:.0f} s")
    except Exception as exc:                                 # noqa: BLE001 -- reported, then everything is stopped
        failures.append(f"{type(exc).__name__}: {str(exc)[:500]}")
    finally:
        run.abort.set()
        soft.cancel()
        t0 = time.monotonic()
        still = stop_everything(run)
        stopped.set()
        hard.cancel()
        signal.signal(signal.SIGTERM, previous)
        print(f"hub, servers, kernels and browser stopped [{time.monotonic() - t0:.0f} s]", flush=True)
        if still:
            failures.append(f"processes still running after the stop: {still}")
        if failures and (tmp / "work" / "hub.log").exists():
            print("hub log (last lines):\n" + (tmp / "work" / "hub.log").read_text()[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"hub browser test: {time.monotonic() - t_start:.0f} s in all")
    if failures:
        print("FAILED:" + "".join(f"\n - {f}" for f in failures))
        return 1
    print("hub browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
