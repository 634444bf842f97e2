"""Where the time and the bytes go: the public-API call cycle under cProfile, and tracemalloc.

Run from the repository root::

    python bench/hotspots.py                  # per-operation cProfile + allocations per call
    python bench/hotspots.py --pyinstrument   # also a pyinstrument tree (pip install pyinstrument)

The cycle is the one ``bench/run.py`` times: dial, far end answers, Hold, Retrieve, Hangup, with a
no-op subscriber and a ``Projection`` subscribed. Each operation gets its own profiler, so the
tables show what one Hold costs, not the whole cycle mixed.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from callstate import Projection, Switch

OPS = ("dial", "answer", "hold", "retrieve", "hangup")
GROUPS = (
    ("transitions", "/transitions/"),
    ("pydantic", "/pydantic"),
    ("phonenumbers", "/phonenumbers/"),
    ("callstate", "/callstate/"),
    ("logging", "/logging/"),
    ("enum", "/enum.py"),
)


def cycle_steps(sw: Switch) -> tuple[Callable[..., Any], ...]:
    dev = sw.add_device("15000")
    box: list[Any] = []

    def dial() -> None:
        box.append(dev.dial("+14155550100"))

    def answer() -> None:
        sw.external_answer(box[-1])

    def hold() -> None:
        dev.perform(box[-1].id, "Hold")

    def retrieve() -> None:
        dev.perform(box[-1].id, "Retrieve")

    def hangup() -> None:
        dev.perform(box.pop().id, "Hangup")

    return dial, answer, hold, retrieve, hangup


def group_of(filename: str) -> str:
    for name, needle in GROUPS:
        if needle in filename:
            return name
    return "builtins" if filename == "~" else "other stdlib"


def profile_operations(cycles: int, top: int) -> None:
    sw = Switch(seed=1)
    sw.subscribe(lambda event: None)
    sw.subscribe(Projection())
    steps = cycle_steps(sw)
    for _ in range(200):  # warm caches
        for step in steps:
            step()
    profilers = [cProfile.Profile() for _ in steps]
    for _ in range(cycles):
        for profiler, step in zip(profilers, steps, strict=True):
            profiler.enable()
            step()
            profiler.disable()
    for name, profiler in zip(OPS, profilers, strict=True):
        stats = pstats.Stats(profiler)
        raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
        calls = sum(nc for (_cc, nc, _tt, _ct, _callers) in raw.values())
        by_group: dict[str, float] = defaultdict(float)
        for (filename, _line, _func), (_cc, _nc, tt, _ct, _callers) in raw.items():
            by_group[group_of(filename)] += tt
        print(f"\n=== {name}: {total / cycles * 1e6:.1f} us and {calls / cycles:.0f} calls per op")
        print("   (under cProfile; without it the op is 3-4x faster)")
        shares = sorted(by_group.items(), key=lambda kv: -kv[1])
        print("   own time by package: " + ", ".join(f"{g} {t / total:.0%}" for g, t in shares))
        rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
        print(f"   {'own %':>6} {'cum %':>6} {'calls/op':>8}  function")
        for (filename, line, func), (_cc, nc, tt, ct, _callers) in rows:
            where = filename.split("site-packages/")[-1].split("/work/main/")[-1]
            print(
                f"   {tt / total:6.1%} {ct / total:6.1%} {nc / cycles:8.1f}  "
                f"{func} ({where}:{line})"
            )


def run_pyinstrument(cycles: int) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("\npyinstrument is not installed (pip install pyinstrument)")
        return
    sw = Switch(seed=1)
    sw.subscribe(lambda event: None)
    sw.subscribe(Projection())
    steps = cycle_steps(sw)
    profiler = Profiler(interval=0.0001)
    profiler.start()
    for _ in range(cycles):
        for step in steps:
            step()
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def allocations(n: int, top: int, *, projection: bool) -> None:
    sw = Switch(seed=1)
    devices = [sw.add_device(str(16000 + i)) for i in range(100)]
    if projection:
        sw.subscribe(Projection())
    numbers = [f"+1415555{i:04d}" for i in range(100)]
    for i in range(200):  # warm lazy imports and caches, then release
        devices[i % 100].dial(numbers[i % 100])
    for call in sw.calls:
        call.device.perform(call.id, "Hangup")
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    for i in range(n):
        devices[i % 100].dial(numbers[i % 100])
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    own = tracemalloc.Filter(False, tracemalloc.__file__)
    diff = [
        d
        for d in after.filter_traces([own]).compare_to(before.filter_traces([own]), "lineno")
        if d.size_diff / n >= 0.5
    ]
    total = sum(d.size_diff for d in diff)
    label = "core + Projection" if projection else "core alone"
    print(f"\n=== bytes per live call, {label}: {total / n:.0f} B ({n:,} live calls)")
    print(f"   {'B/call':>7} {'allocs/call':>11}  allocated at")
    for d in diff[:top]:
        frame = d.traceback[0]
        where = frame.filename.split("site-packages/")[-1].split("/work/main/")[-1]
        line = _source_line(frame.filename, frame.lineno)
        print(f"   {d.size_diff / n:7.1f} {d.count_diff / n:11.2f}  {where}:{frame.lineno}  {line}")


def _source_line(filename: str, lineno: int) -> str:
    try:
        with open(filename) as f:
            for i, text in enumerate(f, 1):
                if i == lineno:
                    return text.strip()[:70]
    except OSError:
        pass
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=3000, help="call cycles to profile")
    parser.add_argument("--calls", type=int, default=20_000, help="live calls for tracemalloc")
    parser.add_argument("--top", type=int, default=12, help="rows per table")
    parser.add_argument(
        "--pyinstrument", action="store_true", help="also print a pyinstrument tree"
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    profile_operations(args.cycles, args.top)
    if args.pyinstrument:
        run_pyinstrument(args.cycles)
    allocations(args.calls, args.top, projection=False)
    allocations(args.calls, args.top, projection=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
