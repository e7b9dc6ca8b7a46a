"""Peak memory of one kernel running a chapter top to bottom, per chapter and per cell (issue 23 item 3).

    .venv/bin/python benchmarks/kernel_memory.py [06 00 ...] [--top 5] [--interval 0.2] [--timeout 1800]

Each chapter runs in its own fresh kernel (nbclient, the venv's python3 kernel, from notebooks/ so it reads what the
chapter reads). A thread samples the kernel's process tree every --interval seconds (/proc through psutil): RSS, the
resident memory a student's server is charged for (a container's memory limit counts it), and USS, the pages no
other process shares. Per chapter it prints the peak RSS and USS, the RSS at the end, and the --top cells with the
highest peak, each with the RSS before it and after it: a cell whose peak is far above its "after" allocates
transiently (a batch, a gradient graph); a cell whose "after" stays high keeps what it allocated (a model, a cache).

Nothing is written: the notebooks are executed in memory. To measure a fix without editing a chapter, --insert runs
extra code after a cell (e.g. --insert "8:del vgg") and --trim returns the allocator's free memory after every cell. Without arguments every chapter runs, one after the other
(about 10-20 minutes on 2 cores). The target (issue 23): no chapter above 1.5 GB, so a 64 GB node holds 40 students.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
GB = 1024 ** 3
TARGET_GB = 1.5


def tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, USS) in bytes of a process and its children; (0, 0) when it is gone."""
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0, 0
    rss = uss = 0
    for p in procs:
        try:
            info = p.memory_full_info()
            rss += info.rss
            uss += info.uss
        except psutil.Error:
            pass
    return rss, uss


class Sampler(threading.Thread):
    """Samples the kernel tree; keeps the peak overall and per running cell."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval = interval
        self.pid: int | None = None
        self.cell: int | None = None             # index of the cell now running
        self.peak_rss = self.peak_uss = 0
        self.cell_peak: dict[int, int] = {}
        self.stop_event = threading.Event()
        self.lock = threading.Lock()

    def sample(self) -> int:
        if self.pid is None:
            return 0
        rss, uss = tree_memory(self.pid)
        with self.lock:
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_uss = max(self.peak_uss, uss)
            if self.cell is not None:
                self.cell_peak[self.cell] = max(self.cell_peak.get(self.cell, 0), rss)
        return rss

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()


def first_line(cell) -> str:
    src = cell.source if isinstance(cell.source, str) else "".join(cell.source)
    lines = [ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    text = lines[0] if lines else "(comment only)"
    return text[:70]


TRIM = "import ctypes as _c, gc as _gc; _gc.collect(); _c.CDLL('libc.so.6').malloc_trim(0)"


def run_chapter(path: Path, interval: float, timeout: int, inserts: dict[int, list[str]] | None = None,
                trim: bool = False, replaces: dict[int, list[tuple[str, str]]] | None = None) -> dict:
    """Run one notebook in a fresh kernel; `inserts` {cell index: [code]}, `replaces` {cell index: [(old, new)]} and
    `trim` (free the allocator's cache after every cell) change the in-memory copy only, to try a fix without
    editing the chapter."""
    nb = nbformat.read(path, as_version=4)
    for i, pairs in (replaces or {}).items():
        for old, new in pairs:
            if old not in nb.cells[i].source:
                raise SystemExit(f"--replace: {old!r} is not in cell {i} of {path.name}")
            nb.cells[i].source = nb.cells[i].source.replace(old, new)
    label: list[str] = []                     # for every cell run: its index in the chapter, or "+N" when inserted
    cells = []
    for i, cell in enumerate(nb.cells):
        cells.append(cell)
        label.append(str(i))
        extra = list((inserts or {}).get(i, []))
        if trim and cell.cell_type == "code":
            extra.append(TRIM)
        for code in extra:
            cells.append(nbformat.v4.new_code_cell(code))
            label.append(f"+{i}")
    nb.cells = cells
    sampler = Sampler(interval)
    before: dict[int, int] = {}
    after: dict[int, int] = {}
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})

    def on_cell_start(cell, cell_index):
        if cell.cell_type != "code":
            return
        if sampler.pid is None:
            sampler.pid = client.km.provisioner.process.pid
        before[cell_index] = sampler.sample()
        with sampler.lock:
            sampler.cell = cell_index

    def on_cell_executed(cell, cell_index, execute_reply):
        after[cell_index] = sampler.sample()
        with sampler.lock:
            sampler.cell = None

    client.on_cell_start = on_cell_start
    client.on_cell_executed = on_cell_executed
    sampler.start()
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as exc:                    # a failing chapter still reports what it reached
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        sampler.stop_event.set()
        sampler.join()
    seconds = time.perf_counter() - start
    # the cells that add the most memory while they run (peak minus the RSS before them)
    cells = sorted(sampler.cell_peak.items(), key=lambda kv: -(kv[1] - before.get(kv[0], 0)))
    return {"chapter": path.stem, "seconds": seconds, "peak_rss": sampler.peak_rss, "peak_uss": sampler.peak_uss,
            "end_rss": after[max(after)] if after else 0,
            "cells": [(label[i], peak, before.get(i, 0), after.get(i, 0), first_line(nb.cells[i]))
                      for i, peak in cells],
            "error": error}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter numbers, e.g. 06 06b 00 (default: all)")
    parser.add_argument("--top", type=int, default=5, help="cells with the highest peak to list per chapter")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run")
    parser.add_argument("--insert", action="append", default=[], metavar="N:CODE",
                        help="run CODE after cell N (in memory only), e.g. 8:'del vgg' -- to measure a proposed fix")
    parser.add_argument("--trim", action="store_true",
                        help="after every code cell: gc.collect() and glibc malloc_trim(0) (what is live vs cached)")
    parser.add_argument("--replace", action="append", default=[], metavar="N:OLD=>NEW",
                        help="replace text in cell N (in memory only), e.g. '29:n_samples=8,=>n_samples=8, batch_size=2,'")
    args = parser.parse_args(argv)
    replaces: dict[int, list[tuple[str, str]]] = {}
    for item in args.replace:
        index, _, pair = item.partition(":")
        old, sep, new = pair.partition("=>")
        if not sep:
            parser.error("--replace N:OLD=>NEW")
        replaces.setdefault(int(index), []).append((old, new))
    inserts: dict[int, list[str]] = {}
    for item in args.insert:
        index, _, code = item.partition(":")
        inserts.setdefault(int(index), []).append(code)
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.chapters:
        paths = [p for p in paths if p.stem.split("_")[0] in args.chapters]
        if not paths:
            parser.error(f"no notebooks/<{'|'.join(args.chapters)}>_*.ipynb")
    rows = []
    for path in paths:
        r = run_chapter(path, args.interval, args.timeout, inserts, args.trim, replaces)
        rows.append(r)
        print(f"== {r['chapter']}: peak RSS {r['peak_rss'] / GB:.2f} GB (USS {r['peak_uss'] / GB:.2f} GB), "
              f"end {r['end_rss'] / GB:.2f} GB, {r['seconds']:.0f} s" + (f"  FAILED {r['error']}" if r['error'] else ""))
        for i, peak, b, a, text in r["cells"][:args.top]:
            print(f"   cell {i:>4}: +{(peak - b) / GB:.2f} GB  (before {b / GB:.2f}, peak {peak / GB:.2f}, "
                  f"after {a / GB:.2f})  | {text}")
        sys.stdout.flush()
    print("\nchapter                               peak RSS GB  peak USS GB  end RSS GB  run s")
    for r in rows:
        flag = "  > 1.5 GB" if r["peak_rss"] > TARGET_GB * GB else ""
        print(f"{r['chapter']:<38}{r['peak_rss'] / GB:>11.2f}{r['peak_uss'] / GB:>13.2f}{r['end_rss'] / GB:>12.2f}"
              f"{r['seconds']:>7.0f}{flag}" + ("  FAILED" if r["error"] else ""))
    worst = max(rows, key=lambda r: r["peak_rss"])
    print(f"largest: {worst['chapter']} {worst['peak_rss'] / GB:.2f} GB; target <= {TARGET_GB} GB per kernel")
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
