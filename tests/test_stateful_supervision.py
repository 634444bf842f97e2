"""A stateful hypothesis run with a supervisor in the mix: the kit's ``SwitchMachine``
(``callstate.testing``) on three devices without features, seeded 8, with an event log. Agents
call each other and the far end, a supervisor monitors them in every mode, scope and monitoring
mode, and every leg and device is asked what it offers and what it does not (here a supervisor's
leg also starts and completes transfers).

Invariants after every step (the kit's): an operation, on a call or a device, succeeds if and
only if it is offered (listed, or one of the documented unlisted ones), a refusal changes
nothing — calls, devices, and here the projection too — and emits nothing, supervisors' legs
show their monitored call's parties, the monitored agent's flags match the joined supervisors,
and the projection agrees with the switch (here in the 8.5.2 form, its resources showing those
flags). Added here: a supervisor's device always offers ListenIn, Coach and BargeIn; and at the
end a restore from the log gives the same switch.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant

from callstate import DeviceOperation, Operation, SupervisionMode, Switch, User
from callstate.projection import Form
from callstate.testing import SwitchMachine

O = Operation
D = DeviceOperation


class Supervised(SwitchMachine):
    devices: ClassVar[dict[str, tuple[str, ...]]] = {"5000": (), "5001": (), "5002": ()}
    seed: ClassVar[int] = 8
    form: ClassVar[Form] = "8.5.2"
    performed: ClassVar[set[Operation]] = set()
    operated: ClassVar[set[DeviceOperation]] = set()
    joined: ClassVar[set[SupervisionMode]] = set()

    def make_switch(self) -> Switch:
        self.folder = Path(tempfile.mkdtemp(prefix="callstate-supervised-"))
        return Switch(seed=self.seed, log=self.folder / "log")

    def observe(self) -> tuple[Any, ...]:
        return (*super().observe(), self.projection.snapshots)

    @invariant()
    def projection_agrees(self) -> None:
        """The kit's check (the listing has the switch's legs and states), and the listing's
        resources show the supervision flags their snapshots have (which the kit's
        ``monitored_flags_match_the_joined_supervisors`` checks against the switch)."""
        listed = self.projection.get_calls(User.admin())["calls"]
        assert [(c["id"], c["state"]) for c in listed] == [
            (c.id, c.state.value) for c in self.switch.calls
        ]
        shown = {snapshot.id: snapshot for snapshot in self.projection.snapshots}
        for resource in listed:
            snapshot = shown[resource["id"]]
            assert resource["monitoring"] is snapshot.monitoring
            assert resource["supervisorListeningIn"] is snapshot.supervisor_listening_in
            assert resource["monitoredUserMuted"] is snapshot.monitored_user_muted

    @invariant()
    def a_supervisor_may_always_supervise(self) -> None:
        for device in self.supervisor_devices:
            assert {D.LISTEN_IN, D.COACH, D.BARGE_IN} <= set(device.snapshot().capabilities)

    def teardown(self) -> None:
        try:
            self.switch.close_log()
            restored, _ = Switch.restore(self.folder / "log")
            assert [(c.id, c.state, c.participants) for c in restored.calls] == [
                (c.id, c.state, c.participants) for c in self.switch.calls
            ]
            for device in self.switch.devices:
                assert restored.device(device.dn).snapshot() == device.snapshot()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


Supervised.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSupervised = Supervised.TestCase
