"""callstate benchmark: the performance targets, then creation, memory, lookups; one table.

Run from the repository root::

    python bench/run.py                 # full run, < 5 minutes on 2 cores
    python bench/run.py --quick         # smoke run, < 60 s (20,000 / 10,000 calls, fewer reps)
    python bench/run.py --only live     # one section (repeatable); see --help for the names

Every timing is the median of N repetitions (N is printed next to it). Comparisons (callstate
against a bare ``transitions.Machine``, the ``minimal`` engine, a plain dict; with and without
streams or a log) are interleaved repetition by repetition in this one process, and each ratio is
the median of the per-repetition ratios, so machine noise hits both sides of a ratio alike. The
target sections are in ``targets.py``; docs/performance.md lists the targets and the figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import subprocess
import sys
import time
import timeit
import tracemalloc
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from harness import CLOCK, FULL, QUICK, Config, Report, cpu_name, median
from targets import (
    CALLER_DN,
    DEVICES,
    FAR_END,
    NUMBERS,
    SECTIONS,
    BareLeg,
    bare_machine,
)

import callstate
from callstate import Projection, Switch, User


# -- creation of many concurrent calls ------------------------------------------------------
def new_switch(*, projection: bool = False) -> tuple[Switch, list[Any], Projection | None]:
    sw = Switch(seed=1)
    devices = [sw.add_device(str(16000 + i)) for i in range(DEVICES)]
    proj = None
    if projection:
        proj = Projection()
        sw.subscribe(proj)
    return sw, devices, proj


def create_calls(devices: list[Any], n: int) -> None:
    """Dial ``n`` outside numbers, round-robin over the devices; the switch keeps them alive."""
    k = len(devices)
    for i in range(n):
        devices[i % k].dial(NUMBERS[i % k])


def timed_creation(n: int) -> float:
    sw, devices, _ = new_switch()
    gc.collect()
    t0 = CLOCK()
    create_calls(devices, n)
    elapsed = CLOCK() - t0
    assert len(sw.calls) == n
    del sw, devices
    gc.collect()
    return elapsed


def bench_creation(cfg: Config, report: Report) -> None:
    sizes = (10_000, 100_000)
    totals: dict[int, list[float]] = {s: [] for s in sizes}
    for i in range(max(cfg.creation_reps)):  # interleaved
        for size, reps in zip(sizes, cfg.creation_reps, strict=True):
            if i < reps:
                totals[size].append(timed_creation(size))
    report.section("creation: concurrent calls dialed to outside numbers from 100 devices, no sub")
    per_call = {}
    for size, reps in zip(sizes, cfg.creation_reps, strict=True):
        total = median(totals[size])
        per_call[size] = total / size * 1e6
        report.add(f"create {size:,} live calls (total)", total, "s", reps, digits=2)
        report.add(f"  per call at {size:,}", per_call[size], "us", reps, digits=1)
    ratio = per_call[100_000] / per_call[10_000]
    report.add("per-call(100k) / per-call(10k)", ratio, "x", "", "<= 1.5", ratio <= 1.5, digits=2)


def bench_bare_scaling(cfg: Config, report: Report) -> None:
    """add_model checks ``model not in machine.models`` (a list scan); remove_model scans too."""
    report.section("bare transitions: add_model/remove_model cost vs live models (list scans)")
    batch = 100 if cfg.quick else 500
    marginal: dict[int, tuple[float, float]] = {}
    for live in (10_000, 100_000):
        adds, removes = [], []
        for _ in range(3 if cfg.quick else 5):
            machine = bare_machine()
            machine.models.extend(BareLeg() for _ in range(live))  # placeholders: only scanned
            legs = [BareLeg() for _ in range(batch)]
            t0 = CLOCK()
            for leg in legs:
                machine.add_model(leg, initial="Dialing")
            t1 = CLOCK()
            for leg in legs:
                machine.remove_model(leg)
            t2 = CLOCK()
            adds.append((t1 - t0) / batch * 1e6)
            removes.append((t2 - t1) / batch * 1e6)
            del machine, legs
        marginal[live] = (median(adds), median(removes))
        reps = len(adds)
        report.add(f"add_model with {live:,} live models", marginal[live][0], "us", reps, digits=1)
        report.add(f"remove_model with {live:,} live", marginal[live][1], "us", reps, digits=1)
    report.add(
        "add_model per model 100k / 10k live", marginal[100_000][0] / marginal[10_000][0], "x", 1
    )
    if cfg.bare_cap_seconds <= 0:
        return
    fill = {}
    for size in (10_000, 100_000):
        machine = bare_machine()
        gc.collect()
        t0 = CLOCK()
        done = 0
        while done < size and CLOCK() - t0 < cfg.bare_cap_seconds:
            for _ in range(1000):
                machine.add_model(BareLeg(), initial="Dialing")
            done += 1000
        elapsed = CLOCK() - t0
        del machine
        gc.collect()
        if done == size:
            fill[size] = elapsed / size * 1e6
            report.add(f"add_model {size:,} models from empty", elapsed, "s", 1, digits=2)
            report.add(f"  per model at {size:,}", fill[size], "us", 1, digits=1)
            continue
        # each add scans the list: the time to fill grows with the square of the size
        estimate = elapsed * (size / done) ** 2
        report.add(f"add_model {size:,} models from empty", f"~{estimate:,.0f}", "s", 1)
        report.add(
            f"  (capped: {done:,} models in {elapsed:.0f} s; n^2 estimate)",
            estimate / size * 1e6,
            "us/model",
            1,
        )
        fill[size] = estimate / size * 1e6
    report.add("per model 100k / 10k (from empty)", fill[100_000] / fill[10_000], "x", 1, digits=1)


# -- memory --------------------------------------------------------------------------------
def dict_tables(sw: Switch, proj: Projection | None) -> int:
    """Bytes held by the id -> leg dicts (they keep their size after entries are deleted)."""
    tables = [getattr(sw, "_calls", {})]
    tables += [getattr(d, "_calls", {}) for d in sw.devices]
    if proj is not None:
        tables.append(getattr(proj, "_calls", {}))
    return sum(sys.getsizeof(t) for t in tables)


def measure_memory(n: int, *, projection: bool) -> dict[str, float]:
    warm, devices, _ = new_switch(projection=projection)  # lazy imports, caches
    create_calls(devices, 200)
    for call in warm.calls:
        call.device.perform(call.id, "Hangup")
    del warm, devices
    gc.collect()
    tracemalloc.start()
    try:
        sw, devices, proj = new_switch(projection=projection)
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        tables0 = dict_tables(sw, proj)
        blocks0 = sys.getallocatedblocks()
        create_calls(devices, n)
        gc.collect()
        live = tracemalloc.get_traced_memory()[0]
        blocks_live = sys.getallocatedblocks()
        for call in sw.calls:  # release every call through the public API
            call.device.perform(call.id, "Hangup")
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tables1 = dict_tables(sw, proj)
        blocks1 = sys.getallocatedblocks()
        assert not sw.calls
        assert proj is None or not proj.snapshots
    finally:
        tracemalloc.stop()
    return {
        "per_call": (live - start) / n,
        "start": start,
        "residual": after - start,
        "tables": tables1 - tables0,
        "blocks": blocks1 - blocks0,
        "blocks_per_call": (blocks_live - blocks0) / n,
    }


def bench_memory(cfg: Config, report: Report) -> None:
    n = cfg.memory_calls
    core = measure_memory(n, projection=False)
    proj = measure_memory(n, projection=True)
    report.section(f"memory (tracemalloc) per live call at {n:,} concurrent calls")
    c, p = core["per_call"], proj["per_call"]
    report.add("core alone (no subscriber)", c, "B/call", 1, "<= 1024 B", c <= 1024)
    report.add("core + Projection", p, "B/call", 1, "<= 4096 B", p <= 4096)
    report.add("  allocations per live call (core)", core["blocks_per_call"], "blocks", 1, digits=1)
    report.add(
        "  allocations per live call (+ Projection)", proj["blocks_per_call"], "blocks", 1, digits=1
    )
    report.section(f"memory after creating and releasing {n:,} calls (Hangup each)")
    for label, m in (("core", core), ("core + Projection", proj)):
        residual, tables = m["residual"], m["tables"]
        report.add(f"{label}: traced at start", m["start"], "B", 1)
        report.add(
            f"{label}: after release - start",
            residual,
            "B",
            1,
            "<= 10% start",
            residual <= 0.1 * m["start"],
        )
        report.add("  of which emptied id->leg dict tables", tables, "B", 1)
        objects = residual - tables
        report.add(
            "  the rest (objects kept)",
            objects,
            "B",
            1,
            "<= 10% start",
            objects <= 0.1 * m["start"],
        )
        report.add("  allocations kept (<= 0: none)", m["blocks"], "blocks", 1)


def distinct_numbers(n: int) -> list[str]:
    """``n`` public numbers no other section dials (each is parsed and geocoded once)."""
    return [f"+1212{2_000_000 + i:07d}" for i in range(n)]


def measure_number_caches(n: int, *, notify: bool) -> dict[str, float]:
    """Calls to ``n`` distinct numbers, released: what the per-number caches keep, and after
    ``clear_caches()``. With ``notify``, every event's CometD message is built (as a server would),
    which fills the projection's per-number caches too."""
    numbers = distinct_numbers(n)
    # warm up: lazy imports, phonenumbers metadata
    warm, devices, proj = new_switch(projection=True)
    assert proj is not None
    warm.subscribe(proj.notification)
    for i in range(800):
        devices[i % len(devices)].dial(f"+1212{9_000_000 + i:07d}")  # same area as measured
    for call in warm.calls:
        call.device.perform(call.id, "Hangup")
    del warm, devices, proj
    callstate.numbers.clear_caches()
    gc.collect()
    tracemalloc.start()
    try:
        sw, devices, proj = new_switch(projection=True)
        assert proj is not None
        if notify:
            sw.subscribe(proj.notification)
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        k = len(devices)
        for i, number in enumerate(numbers):
            devices[i % k].dial(number)
        for call in sw.calls:
            call.device.perform(call.id, "Hangup")
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - start
        callstate.numbers.clear_caches()
        gc.collect()
        cleared = tracemalloc.get_traced_memory()[0] - start
        assert not sw.calls
        assert not proj.snapshots
    finally:
        tracemalloc.stop()
    return {"start": start, "kept": kept, "cleared": cleared}


def first_sight_us(n: int) -> tuple[float, float]:
    """Median ``get_call`` (8.5.0 form, with ``participantsInfo``) of a call to a number never
    seen before, and of the same call asked again."""
    callstate.numbers.clear_caches()
    _, devices, proj = new_switch(projection=True)
    assert proj is not None
    admin, first, again = User.admin(), [], []
    for i, number in enumerate(distinct_numbers(n)):
        call = devices[i % len(devices)].dial(number)
        for times in (first, again):
            t0 = CLOCK()
            proj.get_call(admin, call.id, "8.5.0")
            times.append(CLOCK() - t0)
        call.device.perform(call.id, "Hangup")
    callstate.numbers.clear_caches()
    return median(first) * 1e6, median(again) * 1e6


def bench_number_caches(cfg: Config, report: Report) -> None:
    n, notified = cfg.memory_calls, cfg.memory_calls // 5
    report.section("phone-number caches: calls to distinct numbers, released")
    report.add("numbers each cache keeps at most (CACHE_SIZE)", callstate.numbers.CACHE_SIZE)
    core = measure_number_caches(n, notify=False)
    half = measure_number_caches(notified // 2, notify=True)
    full = measure_number_caches(notified, notify=True)
    for label, m, calls in (
        ("core + Projection", core, n),
        ("  + every notification built", full, notified),
    ):
        report.add(f"{label}: {calls:,} numbers, kept", m["kept"], "B", 1)
        report.add("  per number kept (cached, bounded)", m["kept"] / calls, "B", 1)
        report.add("  after clear_caches() - start", m["cleared"], "B", 1)
    ok = core["cleared"] <= 0.1 * core["start"]
    report.add("core + Projection: cleared - start", core["cleared"], "B", 1, "<= 10% start", ok)
    # building notifications leaves a fixed residue (lazily loaded data): it must not grow
    grown = full["cleared"] - half["cleared"]
    ok = grown <= 0.1 * full["start"]
    label = f"+ notifications: residue growth {notified // 2:,} -> {notified:,} numbers"
    report.add(label, grown, "B", 1, "<= 10% start", ok)
    samples = 200 if cfg.quick else 2000
    first, again = first_sight_us(samples)
    report.add("get_call (8.5.0), first sight of a number", first, "us", samples, digits=1)
    ok = again < 50
    report.add("get_call (8.5.0), same call again", again, "us", samples, "< 50 us", ok, digits=1)


# -- lookups and projection ---------------------------------------------------------------------
def per_call_ns(stmt: str, env: dict[str, Any], reps: int, number: int) -> float:
    timer = timeit.Timer(stmt, timer=CLOCK, globals=env)
    return median(t / number * 1e9 for t in timer.repeat(repeat=reps, number=number))


def bench_lookups(cfg: Config, report: Report) -> None:
    sw = Switch(seed=1)
    dev = sw.add_device(CALLER_DN)
    proj = Projection()
    sw.subscribe(proj)
    events: list[Any] = []
    sw.subscribe(events.append)
    call = dev.dial(FAR_END)
    sw.external_answer(call)
    event = events[-1]
    env = {"call": call, "proj": proj, "event": event, "admin": User.admin(), "cid": call.id}
    reps = cfg.reps
    report.section("lookups on an Established call, projection cost per call")
    big = 200_000 if cfg.quick else 1_000_000
    for label, stmt in (
        ("call.capabilities", "call.capabilities"),
        ('"Hold" in call.capabilities', '"Hold" in call.capabilities'),
        ('"Answer" in call.capabilities (absent)', '"Answer" in call.capabilities'),
    ):
        ns = per_call_ns(stmt, env, reps, big)
        report.add(label, ns, "ns", reps, "< 1000 ns", ns < 1000)
    small = 1000 if cfg.quick else 3000
    for label, stmt in (
        ("projection.get_call(User.admin(), id)", "proj.get_call(admin, cid)"),
        ("projection.notification(event)", "proj.notification(event)"),
    ):
        us = per_call_ns(stmt, env, reps, small) / 1000
        report.add(label, us, "us", reps, "< 50 us", us < 50, digits=1)


ALL_SECTIONS: dict[str, Callable[[Config, Report], Any]] = {
    **SECTIONS,
    "lookups": bench_lookups,
    "creation": bench_creation,
    "memory": bench_memory,
    "numbers": bench_number_caches,
    "bare": bench_bare_scaling,
}


# -- main ----------------------------------------------------------------------------------------
def describe_machine() -> str:
    cpu = cpu_name()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    packages = ", ".join(f"{p} {version(p)}" for p in ("transitions", "pydantic", "phonenumbers"))
    return (
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs ({cpu}), load {load:.2f}; {packages}"
    )


def revision() -> str:
    """Where ``callstate`` was imported from, and its git revision."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(callstate.__file__)))
    try:
        out = subprocess.run(
            ["git", "-C", root, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return root
    return f"{root} {out.stdout.strip()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (< 60 s)")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(ALL_SECTIONS),
        metavar="SECTION",
        help=f"run only this section (repeatable): {', '.join(ALL_SECTIONS)}",
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    report = Report()
    t0 = time.perf_counter()
    for name, section in ALL_SECTIONS.items():
        if args.only is None or name in args.only:
            section(cfg, report)
            gc.collect()  # what a section built is gone before the next starts
    took = time.perf_counter() - t0
    mode = "quick" if cfg.quick else "full"
    print(f"callstate benchmark ({mode}, {took:.0f} s), callstate at {revision()}")
    print(describe_machine())
    print(
        "times are process CPU time (time.process_time), medians of N repetitions, except the "
        "CLI's (wall time); [k] marks the rows of target k"
    )
    print(report.render())
    passed, judged = report.verdicts()
    print(f"targets: {passed} of {judged} pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
