"""What every benchmark section shares: the run's size, the clock, interleaved timing, the table.

Comparisons are interleaved repetition by repetition (in rotated order) in one process and a
ratio is the median of the per-repetition ratios, so machine noise hits both sides alike.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

#: CPU time of this process: other processes on a busy machine do not count against us
CLOCK = time.process_time


@dataclass(frozen=True)
class Config:
    quick: bool
    reps: int  # repetitions of each timing
    rep_seconds: float  # target length of one throughput repetition
    creation_reps: tuple[int, int]  # repetitions at 10k and at 100k
    memory_calls: int
    bare_cap_seconds: float  # cap for filling a bare machine with add_model (0: skip)
    live_calls: int  # live calls of other devices behind the GET and GC targets
    get_seconds: float  # time budget of each admin GET series (at least 3 repetitions)
    cli_reps: int  # subprocess runs of each command line


QUICK = Config(True, 5, 0.08, (3, 1), 10_000, 0.0, 20_000, 2.0, 5)
FULL = Config(False, 15, 0.15, (5, 3), 100_000, 15.0, 100_000, 8.0, 10)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(a: list[float], b: list[float]) -> float:
    """The median of the per-repetition ratios a/b."""
    return median(x / y for x, y in zip(a, b, strict=True))


def calibrate(fn: Callable[[], object], seconds: float) -> int:
    """How many calls of ``fn`` make one repetition of about ``seconds``."""
    n = 1
    while True:
        t0 = CLOCK()
        for _ in range(n):
            fn()
        elapsed = CLOCK() - t0
        if elapsed >= seconds / 4:
            return max(1, int(n * seconds / elapsed))
        n *= 4


def time_cycles(fn: Callable[[], object], n: int) -> float:
    t0 = CLOCK()
    for _ in range(n):
        fn()
    return CLOCK() - t0


def interleaved(
    variants: Mapping[str, Callable[[], object]], reps: int, seconds: float
) -> dict[str, list[float]]:
    """Seconds per call of each variant, one sample per repetition; every repetition runs every
    variant (about ``seconds`` each), in an order rotated from one repetition to the next."""
    sizes = {name: calibrate(fn, seconds) for name, fn in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for i in range(reps):
        for name in order[i % len(order) :] + order[: i % len(order)]:
            times[name].append(time_cycles(variants[name], sizes[name]) / sizes[name])
    return times


@dataclass
class Row:
    label: str
    value: str = ""
    unit: str = ""
    n: str = ""
    target: str = ""
    verdict: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.rows.append(Row(f"-- {title}"))

    def add(
        self,
        label: str,
        value: float | str,
        unit: str = "",
        n: int | str = "",
        target: str = "",
        ok: bool | None = None,
        digits: int = 0,
    ) -> None:
        text = value if isinstance(value, str) else f"{value:,.{digits}f}"
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        self.rows.append(Row(label, text, unit, str(n), target, verdict))
        print(f"  .. {label}: {text} {unit} {verdict}", file=sys.stderr, flush=True)

    def render(self) -> str:
        header = Row("metric", "median", "unit", "N", "target", "")
        rows = [header, *self.rows]
        body = [r for r in rows if not r.label.startswith("-- ")]
        w = [max(len(getattr(r, a)) for r in body) for a in ("label", "value", "unit", "n")]
        lines = []
        for r in rows:
            if r.label.startswith("-- "):
                lines.append(r.label)
                continue
            lines.append(
                f"{r.label:<{w[0]}}  {r.value:>{w[1]}}  {r.unit:<{w[2]}}  {r.n:>{w[3]}}"
                f"  {r.target:<12} {r.verdict}".rstrip()
            )
        return "\n".join(lines)

    def verdicts(self) -> tuple[int, int]:
        """How many target rows passed, and how many there are."""
        judged = [r for r in self.rows if r.verdict]
        return sum(r.verdict == "PASS" for r in judged), len(judged)


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine()
