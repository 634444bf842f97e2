"""Restore benchmark: how long ``serve --log`` takes to come back on a log of N requests.

Run from the repository root::

    python bench/restore.py             # 1,000,000 requests (a few minutes: writing the log
                                        # and running it whole take most of them)
    python bench/restore.py --quick     # 100,000 requests

A served switch (``Api.from_config`` of the demo center's shape, 50 agents) takes N requests in
cycles of Dial, Answer, Hold, Retrieve, Hangup, and one call in ten stays up, so the log ends with
thousands of live calls. A checkpoint is written every ``CHECKPOINT_BYTES`` of log, as ``serve``
does; the run stops at the worst moment for a crash: just before the next checkpoint is due, so
the longest tail ``serve`` can meet is run again. Then, each timed (wall clock, best of
``--reps``):

- ``restore`` from the checkpoint and the tail, as ``serve`` does after a crash;
- the whole log run again, as without a checkpoint (``Switch.restore``) — once, as it is long.

Printed: the sizes, both times, and the requests per second each stands for (N / time).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from callstate.api import Api
from callstate.config import load
from callstate.resume import checkpoint_path, restore, write_checkpoint
from callstate.server import CHECKPOINT_BYTES
from callstate.switch import Switch

AGENTS = 50
CONFIG = {
    "devices": [{"dn": str(15000 + i), "features": ["mute"]} for i in range(AGENTS)],
    "users": [
        {"username": f"agent{i}", "password": "pw", "role": "agent", "dn": str(15000 + i)}
        for i in range(AGENTS)
    ],
}


def write_log(path: Path, requests: int) -> tuple[int, int, int]:
    """The log of ``requests`` requests or a little more (until a checkpoint is almost due):
    (requests, checkpoints written, requests after the last one)."""
    api = Api.from_config(load(CONFIG), seed=1, log=str(path))
    devices = api.switch.devices
    count, checkpoints, since, last = AGENTS, 0, 0, 0
    i = 0
    while True:
        a, b = devices[i % AGENTS], devices[(i + 7) % AGENTS]
        i += 1
        call = a.dial(b.dn)
        b.perform(b.calls[-1].id, "Answer")
        a.perform(call.id, "Hold")
        a.perform(call.id, "Retrieve")
        count += 4
        since += 4
        if i % 10:
            a.perform(call.id, "Hangup")
            count += 1
            since += 1
        mark = api.switch.log_mark
        assert mark is not None
        if mark[0] - last >= CHECKPOINT_BYTES:
            write_checkpoint(api, path)
            checkpoints, since, last = checkpoints + 1, 0, mark[0]
        line = mark[0] / max(1, count)
        if count >= requests and mark[0] - last + 6 * line >= CHECKPOINT_BYTES:
            break
    api.switch.close_log()
    return count, checkpoints, since


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 requests")
    parser.add_argument("--requests", type=int, default=None, help="requests in the log")
    parser.add_argument("--reps", type=int, default=3, help="timings of the checkpoint restore")
    args = parser.parse_args()
    requests = args.requests or (100_000 if args.quick else 1_000_000)
    folder = Path(tempfile.mkdtemp(prefix="callstate-restore-"))
    try:
        log = folder / "calls.log"
        started = time.perf_counter()
        count, checkpoints, tail = write_log(log, requests)
        wrote = time.perf_counter() - started
        size = log.stat().st_size
        print(f"log: {count:,} requests, {size / 2**20:.0f} MiB, written in {wrote:.1f} s")
        saved = checkpoint_path(log).stat().st_size / 2**20
        print(f"checkpoints: {checkpoints}, one every {CHECKPOINT_BYTES / 2**20:.0f} MiB of log;")
        print(f"  the last one {saved:.1f} MiB, {tail:,} requests after it")
        pristine = log.read_bytes()
        times = []
        for _ in range(args.reps):
            log.write_bytes(pristine)  # restore appends to the log: start each from the same
            started = time.perf_counter()
            restored = restore(load(CONFIG), str(log))
            times.append(time.perf_counter() - started)
            assert restored.from_checkpoint, restored.passed_over
            live = len(restored.api.projection.snapshots)
            restored.api.switch.close_log()
        best = min(times)
        print(
            f"restore from the checkpoint: {best:.2f} s (best of {args.reps}; {live:,} live legs)"
            f" = {count / best:,.0f} requests/s of log"
        )
        log.write_bytes(pristine)
        started = time.perf_counter()
        switch, reader = Switch.restore(log)
        whole = time.perf_counter() - started
        assert len(switch.calls) == live
        print(
            f"the whole log run again: {whole:.1f} s = {len(reader.entries) / whole:,.0f} "
            f"requests/s ({whole / best:.1f} x the checkpoint restore)"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
