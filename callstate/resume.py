"""Serving a switch again from its event log: restore, check against the config, append.

``restore`` rebuilds the served switch of an existing log. A *checkpoint* beside the log
(``LOG.checkpoint``: the switch and its projection as ``Switch.save_state`` writes them, with
where the log stood) makes that fast: only the requests logged after it are run again. A
checkpoint that is missing, damaged or of another log is passed over, and the whole log is run
again — slower, same result. ``write_checkpoint`` writes one
atomically (a new file renamed over the old, so a crash mid-way leaves the previous one).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final, NamedTuple

from .api import Api
from .config import Config, ConfigError
from .log import LogReader
from .projection import DEFAULT_FORM, Form, Projection
from .switch import Switch

__all__ = [
    "CHECKPOINT",
    "Restored",
    "add_devices",
    "check_config",
    "checkpoint_path",
    "restore",
    "write_checkpoint",
]

#: what a checkpoint's file name adds to its log's
CHECKPOINT: Final = ".checkpoint"


class Restored(NamedTuple):
    """A restored served switch, the reader of the log lines run again, and whether a
    checkpoint spared running the earlier ones (else why not, if one was there)."""

    api: Api
    reader: LogReader
    from_checkpoint: bool
    passed_over: str | None


def checkpoint_path(log: str | Path) -> Path:
    path = Path(log)
    return path.with_name(path.name + CHECKPOINT)


def restore(
    config: Config,
    log: str,
    *,
    form: Form = DEFAULT_FORM,
    base_uri: str = "http://127.0.0.1:8080/api/v2",
) -> Restored:
    """The switch of an existing event log ``log``, served again: restored (devices, calls,
    states, ids), checked against ``config``, then appending to it. Raises ``LogError`` for a
    damaged log and ``ConfigError`` for a log of another center, before the file is touched.
    The log's devices must be the config's, with the same features and roles; devices the
    config adds are added (and logged). Ids and the seed are the log's."""
    passed_over = None
    projection: Projection | None = None
    checkpoint = checkpoint_path(log)
    if checkpoint.exists():
        try:
            switch, reader, extra = Switch.restore_checkpoint(checkpoint, log)
            [projection] = extra
            if not isinstance(projection, Projection):
                raise ValueError("no projection saved with it")
            if (projection.base_uri, projection.form) != (base_uri.rstrip("/"), form):
                projection = projection.rebased(base_uri, form)  # served at another address
        except (OSError, ValueError) as error:
            passed_over = " ".join(str(error).split())
            projection = None
    if projection is None:
        switch, reader = Switch.restore(log)
        projection = Projection(base_uri, form)
    check_config(config, switch)
    switch.resume_log(log, reader)
    for event in reader.events:
        projection.apply(event)
    add_devices(config, switch)
    for device in switch.devices:
        projection.know(device.snapshot())
    switch.subscribe(projection)
    api = Api(switch, projection, config.users, http=config.http, settings=config.settings)
    return Restored(api, reader, passed_over is None and checkpoint.exists(), passed_over)


def add_devices(config: Config, switch: Switch) -> None:
    """Add the devices of ``config`` that ``switch`` (restored) does not have yet."""
    known = {device.dn for device in switch.devices}
    for dn, features in config.devices:
        if dn not in known:
            switch.add_device(dn, features=features, role=config.device_role(dn))


def check_config(config: Config, switch: Switch) -> None:
    """``ConfigError`` unless every device of ``switch`` (restored) is one of ``config``, with
    the same features and role."""
    wanted = dict(config.devices)
    for device in switch.devices:
        if device.dn not in wanted:
            raise ConfigError(f"device {device.dn} of the log is not in the config")
        role = config.device_role(device.dn)
        if (device.features, device.role.value) != (wanted[device.dn], role):
            raise ConfigError(f"device {device.dn} has other features or another role")


def write_checkpoint(api: Api, log: str | Path) -> Path:
    """Save ``api``'s switch and projection beside ``log`` (between requests); the file."""
    path = checkpoint_path(log)
    fresh = path.with_name(path.name + ".new")
    try:
        with open(fresh, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            api.switch.save_state(file, api.projection)
            file.flush()
            os.fsync(file.fileno())
        os.replace(fresh, path)
    except BaseException:  # leave no half file (on a full disk, it would hold the last room)
        with contextlib.suppress(OSError):
            os.unlink(fresh)
        raise
    return path
