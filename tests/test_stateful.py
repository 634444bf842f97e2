"""Random agents and far ends against a switch, checked step by step against a small model.

The model below is written from the spec (§4 capabilities, §5 effects) and knows nothing of the
library: which parties each connection holds (so every leg's participants are predicted), each
leg's state, pair links, conference owner, user data, mute and recording. Each step checks that
an operation succeeds iff it was listed, that a refusal changes nothing and emits nothing, and
that switch, model and projection (live and replayed) agree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from callstate import (
    CallNotFoundError,
    CallStateError,
    DeviceNotFoundError,
    InvalidParameterError,
    MissingParameterError,
    Operation,
    OperationNotAvailableError,
    Projection,
    State,
    Switch,
    UnknownOperationError,
    User,
)

O = Operation
DIALING, RINGING, ESTABLISHED, HELD, RELEASED = State
DEVICES = {"15000": ("mute", "recording"), "15001": ("mute",), "15002": ()}
OUTSIDE = ("+14155550100", "+442071234567")
NUMBERS = (*DEVICES, *OUTSIDE, "+1 415-555-0100", "19999")  # 19999: a DN with no device
GARBAGE = ("abc", "", "+", "12-34", "+999 1234")
DATA = {O.ATTACH_USER_DATA, O.UPDATE_USER_DATA, O.DELETE_USER_DATA, O.DELETE_USER_DATA_PAIR}
SINGLE = {O.SINGLE_STEP_TRANSFER, O.SINGLE_STEP_CONFERENCE}
INITIATE = {O.INITIATE_TRANSFER, O.INITIATE_CONFERENCE}
BASE = {  # spec §4, base sets by state
    DIALING: {O.HANGUP, O.SEND_DTMF, *DATA},
    RINGING: {O.ANSWER, *DATA},
    ESTABLISHED: {O.HANGUP, O.HOLD, O.SEND_DTMF, *SINGLE, *INITIATE, *DATA},
    HELD: {O.RETRIEVE, O.HANGUP, *SINGLE, *INITIATE, *DATA},
}
RECORDING = {
    "Stopped": {O.START_CALL_RECORDING},
    "Recording": {O.PAUSE_CALL_RECORDING, O.STOP_CALL_RECORDING},
    "Paused": {O.RESUME_CALL_RECORDING, O.STOP_CALL_RECORDING},
}
RECORD_OPS = {
    O.START_CALL_RECORDING: ("Recording", "ON"),
    O.PAUSE_CALL_RECORDING: ("Paused", "PAUSED"),
    O.RESUME_CALL_RECORDING: ("Recording", "ON"),
    O.STOP_CALL_RECORDING: ("Stopped", "OFF"),
}
DEST = ("destination",), ("userData",)
PARAMS = {  # spec §5: operation -> (required, optional)
    O.SEND_DTMF: (("digits",), ()),
    **dict.fromkeys([*SINGLE, *INITIATE], DEST),
    O.COMPLETE_TRANSFER: ((), ("consultCallUri",)),
    O.COMPLETE_CONFERENCE: ((), ("consultCallUri",)),
    O.SWAP_CALLS: ((), ("otherCallUri",)),
    O.REMOVE_PARTICIPANT_FROM_CONFERENCE: (("participant",), ()),
    O.ATTACH_USER_DATA: (("userData",), ()),
    O.UPDATE_USER_DATA: (("userData",), ()),
    O.DELETE_USER_DATA_PAIR: (("key",), ()),
}
#: Operations in the order the machine prefers them (hypothesis favours early choices).
ORDER = [
    O.ANSWER, O.INITIATE_CONFERENCE, O.INITIATE_TRANSFER, O.COMPLETE_CONFERENCE,
    O.COMPLETE_TRANSFER, O.SWAP_CALLS, O.SINGLE_STEP_CONFERENCE, O.SINGLE_STEP_TRANSFER,
    O.REMOVE_PARTICIPANT_FROM_CONFERENCE, O.HOLD, O.RETRIEVE,
    O.MUTE_CALL, O.UNMUTE_CALL, O.HANGUP, O.CLEAR_CALL, *RECORD_OPS, *sorted(DATA),
    O.SEND_DTMF, O.DIAL,
]  # fmt: skip


def rank(op: Operation) -> int:
    return ORDER.index(op) if op in ORDER else len(ORDER)


GOOD_DATA = st.dictionaries(
    st.sampled_from(["k1", "k2", "GSIP_RECORD"]), st.sampled_from(["a", "b", 0, 7]), max_size=2
)
BAD_DATA = st.sampled_from([{"": "x"}, {"k1": True}, {"k1": [1]}, "k1=a", None])


def norm(number: str) -> str:
    return re.sub(r"[\s().\-/]", "", number)


def is_number(value: object) -> bool:
    return isinstance(value, str) and value in NUMBERS


def valid(name: str, value: Any) -> bool:
    if name == "destination":
        return (
            isinstance(value, dict)
            and set(value) == {"phoneNumber"}
            and is_number(value["phoneNumber"])
        )
    if name == "userData":
        return isinstance(value, dict) and all(
            k and isinstance(v, str | int) and not isinstance(v, bool) for k, v in value.items()
        )
    if name == "digits":
        return isinstance(value, str) and re.fullmatch(r"[0-9*#]+", value) is not None
    if name == "participant":
        return is_number(value)
    return isinstance(value, str) and value != ""


@dataclass(eq=False, repr=False)
class Conn:
    parties: list[Leg | str] = field(default_factory=list)
    owner: Leg | None = None


@dataclass(eq=False, repr=False)
class Leg:
    id: str
    dn: str
    state: State
    conn: Conn
    data: dict[str, Any]
    parent: Leg | None = None
    consult: Leg | None = None
    answered: bool = False
    mute: bool = False
    recording: str | None = None

    def __repr__(self) -> str:
        return f"<leg {self.id[-3:]} on {self.dn} {self.state}>"

    def others(self) -> tuple[str, ...]:
        return tuple(p.dn if isinstance(p, Leg) else p for p in self.conn.parties if p is not self)

    def waiting(self) -> bool:
        """Waiting for the far end: dialing, or held before it was answered."""
        return not self.answered and self.state in (DIALING, HELD)

    def caps(self) -> set[Operation]:
        """Spec §4, written out independently of the library's table. Where the spec is
        silent the library's choice is taken: a parent is Dialing only when it was held before
        it was answered and then swapped in; it offers the plain Dialing set. A call held before
        it was answered cannot be transferred, conferenced or recorded."""
        s, caps = self.state, set(BASE[self.state])
        talking = s in (ESTABLISHED, HELD)
        if s is ESTABLISHED and "mute" in DEVICES[self.dn]:
            caps.add(O.UNMUTE_CALL if self.mute else O.MUTE_CALL)
        if talking and not self.answered:  # held before anyone answered: nobody to pass on
            caps -= SINGLE | INITIATE
        elif talking and self.recording is not None:
            caps |= RECORDING[self.recording]
        if self.consult is not None and talking:  # (a dialing parent: see the docstring)
            caps = caps - {O.RETRIEVE} | {O.SWAP_CALLS, O.COMPLETE_TRANSFER}
            if self.consult.answered:
                caps.add(O.COMPLETE_CONFERENCE)
        elif self.parent is not None:
            caps -= INITIATE
            if self.answered:
                caps = caps - {O.RETRIEVE} | {
                    O.SWAP_CALLS,
                    O.COMPLETE_TRANSFER,
                    O.COMPLETE_CONFERENCE,
                }
            elif s is HELD:
                caps = caps - {O.RETRIEVE} | {O.SWAP_CALLS}
        partner = self.consult or self.parent
        if s is HELD and partner is not None and partner.state is HELD:
            caps.add(O.RETRIEVE)  # both legs of the pair held: either may come back
        if talking and self.conn.owner is self and len(self.conn.parties) >= 3:
            caps |= {O.REMOVE_PARTICIPANT_FROM_CONFERENCE, O.CLEAR_CALL}
        return caps


#: the operations this model follows; a disposition (taken on released legs too, never listed)
#: and the supervisor's leg operations have tests of their own (test_disposition, test_devices)
MODELLED = [
    op
    for op in Operation
    if op
    not in {
        Operation.SET_CALL_DISPOSITION,
        Operation.MUTE_MONITORED_USER,
        Operation.UNMUTE_MONITORED_USER,
    }
]


class Model:
    def __init__(self) -> None:
        self.legs: dict[str, Leg] = {}  # live legs, oldest first
        self.released: set[str] = set()
        self.new_ids: list[tuple[str, str]] = []

    def new_leg(self, dn: str, state: State, conn: Conn, data: dict[str, Any], **kw: Any) -> Leg:
        leg_id, leg_dn = self.new_ids.pop(0)
        assert leg_dn == dn, f"new leg on {leg_dn}, expected one on {dn}"
        rec = "Stopped" if "recording" in DEVICES[dn] else None
        leg = Leg(leg_id, dn, state, conn, dict(data), recording=rec, **kw)
        conn.parties.append(leg)
        self.legs[leg_id] = leg
        return leg

    def add_party(self, conn: Conn, number: str, data: dict[str, Any]) -> None:
        if number in DEVICES:
            self.new_leg(number, RINGING, conn, data)
        else:
            conn.parties.append(number)

    def release(self, leg: Leg) -> None:
        leg.state = RELEASED
        del self.legs[leg.id]
        self.released.add(leg.id)
        partner = leg.consult or leg.parent
        if partner is not None:
            partner.parent = partner.consult = leg.parent = leg.consult = None

    def leave(self, conn: Conn, party: Leg | str) -> None:
        conn.parties.remove(party)
        self.settle(conn)

    def settle(self, conn: Conn) -> None:
        if len(conn.parties) < 3 or conn.owner not in conn.parties:
            conn.owner = None
        ringing = all(isinstance(p, Leg) and p.state is RINGING for p in conn.parties)
        if len(conn.parties) < 2 or ringing:  # nobody left who placed or answered the call
            for leg in [p for p in conn.parties if isinstance(p, Leg)]:
                self.release(leg)
                conn.parties.remove(leg)

    def answer(self, conn: Conn, by: Leg | None) -> None:
        """Someone answered: legs waiting for the far end connect (a held one stays held);
        other ringing legs keep ringing."""
        for leg in [p for p in conn.parties if isinstance(p, Leg) and p is not by]:
            if leg.waiting():
                leg.answered = True
                if leg.state is DIALING:
                    leg.state = ESTABLISHED

    def pair(self, leg: Leg) -> tuple[Leg, Leg]:
        parent = leg if leg.consult is not None else leg.parent
        assert parent is not None
        assert parent.consult is not None
        return parent, parent.consult

    def apply(  # noqa: PLR0915 (the model of every operation, one case after another)
        self, leg: Leg, op: Operation, p: dict[str, Any]
    ) -> None:
        carried = {k: v for k, v in leg.data.items() if k != "GSIP_RECORD"}
        conn, data = leg.conn, {**carried, **(p.get("userData") or {})}
        if op is O.ANSWER:
            leg.state, leg.answered = ESTABLISHED, True
            self.answer(conn, by=leg)
        elif op is O.HANGUP:
            self.release(leg)
            self.leave(conn, leg)
        elif op is O.HOLD:
            leg.state = HELD
        elif op is O.RETRIEVE:  # a call held before it was answered goes back to dialing
            leg.state = ESTABLISHED if leg.answered else DIALING
        elif op in (O.MUTE_CALL, O.UNMUTE_CALL):
            leg.mute = op is O.MUTE_CALL
        elif op in (O.ATTACH_USER_DATA, O.UPDATE_USER_DATA):
            leg.data.update(p["userData"])
        elif op is O.DELETE_USER_DATA:
            leg.data.clear()
        elif op is O.DELETE_USER_DATA_PAIR:
            del leg.data[p["key"]]
        elif op in RECORD_OPS:
            leg.recording, leg.data["GSIP_RECORD"] = RECORD_OPS[op]
        elif op is O.SINGLE_STEP_TRANSFER:
            self.release(leg)
            conn.parties.remove(leg)
            self.add_party(conn, p["destination"]["phoneNumber"], data)
            self.settle(conn)
        elif op is O.SINGLE_STEP_CONFERENCE:
            self.add_party(conn, p["destination"]["phoneNumber"], data)
            if conn.owner is None and len(conn.parties) >= 3:
                conn.owner = leg
            self.settle(conn)
        elif op in INITIATE:
            if leg.consult is not None:
                old = leg.consult
                self.release(old)
                self.leave(old.conn, old)
            leg.state, new = HELD, Conn()
            leg.consult = self.new_leg(leg.dn, DIALING, new, data, parent=leg)
            self.add_party(new, p["destination"]["phoneNumber"], data)
        elif op in (O.COMPLETE_TRANSFER, O.COMPLETE_CONFERENCE):
            parent, consult = self.pair(leg)
            transfer = op is O.COMPLETE_TRANSFER
            if transfer:
                self.release(parent)
                parent.conn.parties.remove(parent)
            self.release(consult)
            moved = [x for x in consult.conn.parties if x is not consult]
            consult.conn.parties.clear()
            # a party on both calls is joined once; a device keeps its older leg
            merged: dict[str, Leg | str] = {}
            for x in [*parent.conn.parties, *moved]:
                key = norm(x.dn if isinstance(x, Leg) else x)
                old = merged.get(key)
                if old is None:
                    merged[key] = x
                elif isinstance(x, Leg):
                    if isinstance(old, Leg) and old.id < x.id:
                        self.release(x)
                    else:
                        merged[key] = x
                        if isinstance(old, Leg):
                            self.release(old)
            parent.conn.parties[:] = merged.values()
            for x in parent.conn.parties:
                if isinstance(x, Leg):
                    x.conn = parent.conn
            if not transfer:
                parent.state = ESTABLISHED
                if parent.conn.owner is None and len(parent.conn.parties) >= 3:
                    parent.conn.owner = parent
            self.settle(parent.conn)
        elif op is O.SWAP_CALLS:
            parent, consult = self.pair(leg)
            other = consult if leg is parent else parent
            if leg.state is HELD:
                leg.state = ESTABLISHED if leg.answered else DIALING
                if other.state in (ESTABLISHED, DIALING):
                    other.state = HELD
            else:
                leg.state = HELD
                if other.state is HELD:
                    other.state = ESTABLISHED if other.answered else DIALING
        elif op is O.REMOVE_PARTICIPANT_FROM_CONFERENCE:
            wanted = norm(p["participant"])
            target = next(
                x for x in conn.parties if x is not leg and norm(getattr(x, "dn", x)) == wanted
            )  # type: ignore[arg-type]
            if isinstance(target, Leg):
                self.release(target)
            self.leave(conn, target)
        elif op is O.CLEAR_CALL:
            for x in [x for x in conn.parties if isinstance(x, Leg)]:
                self.release(x)
            conn.parties.clear()

    def refusal(self, leg: Leg, op: Operation, p: dict[str, Any]) -> type[CallStateError] | None:
        """The error a listed operation must raise for these parameters, or None."""
        required, optional = PARAMS.get(op, ((), ()))
        if any(name not in p for name in required):
            return MissingParameterError
        if any(n not in required + optional or not valid(n, v) for n, v in p.items()):
            return InvalidParameterError
        others = {norm(x) for x in leg.others()}
        if "destination" in p and norm(p["destination"]["phoneNumber"]) in {leg.dn} | others:
            return InvalidParameterError
        if op is O.ATTACH_USER_DATA and set(p["userData"]) & set(leg.data):
            return InvalidParameterError
        if op is O.DELETE_USER_DATA_PAIR and p["key"] not in leg.data:
            return InvalidParameterError
        uri = p.get("consultCallUri", p.get("otherCallUri"))
        if uri is not None and not any(uri.endswith(x.id) for x in self.pair(leg)):
            return InvalidParameterError
        if "participant" in p and norm(p["participant"]) not in others:
            return InvalidParameterError
        return None

    def far_end(self, party: Leg | str, to: str | None, unanswered: bool) -> tuple[Leg, str] | None:
        if isinstance(party, Leg):
            candidates = [party] if party.id in self.legs else []
        else:
            candidates = [x for x in reversed(self.legs.values()) if to in (None, x.dn)]
        for leg in candidates:
            for p in leg.conn.parties:
                if isinstance(p, str) and (isinstance(party, Leg) or norm(p) == norm(party)):
                    if not unanswered or leg.waiting():
                        return leg, p
                    break
        return None


class SwitchMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.switch = Switch(seed=5, clock=lambda: 1000.0)
        self.devices = {dn: self.switch.add_device(dn, features=f) for dn, f in DEVICES.items()}
        self.model = Model()
        self.log: list[Any] = []
        self.projection = Projection()
        self.switch.subscribe(self.log.append)
        self.switch.subscribe(self.projection)

    @initialize()
    def calls_in_progress(self) -> None:
        """Start with an answered inbound call on 15000 and an answered call 15001 -> 15002."""
        switch, model = self.switch, self.model
        self.attempt(lambda: switch.external_call(OUTSIDE[0], to="15000"), None)
        self.answer(model.new_leg("15000", RINGING, Conn([OUTSIDE[0]]), {}))
        self.attempt(lambda: self.devices["15001"].dial("15002"), None)
        model.new_leg("15001", DIALING, conn := Conn(), {})
        model.add_party(conn, "15002", {})
        self.answer(model.legs[switch.device("15002").calls[-1].id])

    def answer(self, leg: Leg) -> None:
        self.attempt(lambda: self.devices[leg.dn].perform(leg.id, "Answer"), None)
        self.model.apply(leg, O.ANSWER, {})

    # -- helpers -----------------------------------------------------------------------------------
    def observe(self) -> tuple[Any, ...]:
        legs = tuple(
            (c.id, c.state, c.capabilities, c.participants, c.user_data, c.mute, c.recording_state)
            for c in self.switch.calls
        )
        admin = User.admin()
        return legs, [json.dumps(self.projection.get_calls(admin, f)) for f in ("8.5.0", "8.5.2")]

    def attempt(self, action: Any, refusal: type[CallStateError] | None) -> tuple[Any, bool]:
        """Run ``action``; check it raised ``refusal`` and changed nothing, or succeeded."""
        before, known, events = self.observe(), {c.id for c in self.switch.calls}, len(self.log)
        error: CallStateError | None = None
        try:
            result = action()
        except CallStateError as raised:
            error, result = raised, None
        if error is not None:
            assert refusal is not None, f"refused although it should succeed: {error!r}"
            assert isinstance(error, refusal), f"expected {refusal.__name__}, got {error!r}"
            assert self.observe() == before, "a refused request changed something"
            assert len(self.log) == events, "a refused request emitted events"
            return None, False
        assert refusal is None, f"succeeded although {refusal.__name__} was expected"
        if len(self.log) == events:  # only a request that changed nothing visible may be silent
            assert self.observe() == before, "a successful request changed calls silently"
        # legs this request created, in order; a leg may be created and released at once
        fresh = {e.call.id: e.call.device for e in self.log[events:] if e.call.id not in known}
        self.model.new_ids = list(fresh.items())
        return result, True

    @staticmethod
    def coin(data: Any, odds: int) -> bool:
        """True one time in ``odds`` (drawn so that hypothesis shrinks it to False)."""
        return bool(data.draw(st.sampled_from([False] * (odds - 1) + [True])))

    def pick(self, data: Any, good: list[Any], bad: list[Any], odds: int = 8) -> Any:
        """Mostly one of ``good``; one time in ``odds`` one of ``bad``."""
        worse = not good or (bad and self.coin(data, odds))
        return data.draw(st.sampled_from(bad if worse else good))

    def draw_params(self, data: Any, leg: Leg | None, op: str) -> dict[str, Any]:
        required, optional = PARAMS.get(op, ((), ()))  # type: ignore[call-overload]
        names = [n for n in required if data.draw(st.integers(0, 15)) > 0]
        names += [n for n in optional if data.draw(st.booleans())]
        if data.draw(st.integers(0, 15)) == 0:
            names.append(data.draw(st.sampled_from(["bogus", "digits", "key", "userData"])))
        own = leg.dn if leg else "15000"
        others = list(leg.others()) if leg else []
        pair = [x.id for x in (leg.parent, leg.consult, leg) if x] if leg else []
        ids = [*pair, *pair, *list(self.model.legs)[:2], *list(self.model.released)[:1]]
        base = self.switch.base_uri
        keys = list(leg.data) if leg else []
        fresh = [n for n in NUMBERS if norm(n) not in {norm(x) for x in (own, *others)}]
        draws = {
            "destination": lambda: (
                {"phoneNumber": self.pick(data, fresh, [*GARBAGE, own, *others], 4)}
                if data.draw(st.integers(0, 15))
                else data.draw(st.sampled_from(["15001", {}, {"phoneNumber": "15001", "x": 1}]))
            ),
            "userData": lambda: self.pick(data, [data.draw(GOOD_DATA)], [data.draw(BAD_DATA)], 4),
            "digits": lambda: self.pick(data, ["1", "123#", "*9"], ["12a", "", 5]),
            "key": lambda: self.pick(data, [*keys, "k1", "k2"], ["", None]),
            "participant": lambda: self.pick(data, [*others, own, *NUMBERS], ["abc", "", 3]),
            "consultCallUri": lambda: self.pick(
                data,
                [f"{base}/me/calls/{i}" for i in ids] + [f"/calls/{i}" for i in pair] + pair,
                ["", "nope", f"{base}/me/calls/"],
            ),
            "bogus": lambda: 1,
        }
        draws["otherCallUri"] = draws["consultCallUri"]
        return {n: draws[n]() for n in names}

    # -- rules -------------------------------------------------------------------------------------
    @precondition(lambda self: len(self.model.legs) < 6)
    @rule(data=st.data())
    def dial(self, data: Any) -> None:
        dn = data.draw(st.sampled_from(list(DEVICES)))
        dests = [n for n in NUMBERS if n != dn]
        dest = self.pick(data, [*dests[1:], dests[0]], [*GARBAGE, dn])
        params = {"userData": data.draw(GOOD_DATA)} if data.draw(st.booleans()) else {}
        bad = not is_number(dest) or norm(dest) == dn
        device = self.devices[dn]
        _, ok = self.attempt(
            lambda: device.dial(dest, **params), InvalidParameterError if bad else None
        )
        if ok:
            conn = Conn()
            self.model.new_leg(dn, DIALING, conn, params.get("userData", {}))
            self.model.add_party(conn, dest, params.get("userData", {}))

    @precondition(lambda self: len(self.model.legs) < 6)
    @rule(data=st.data())
    def external_call(self, data: Any) -> None:
        number = self.pick(data, [*OUTSIDE, "+1 415-555-0100", "19999"], ["15001", "abc", ""])
        to = self.pick(data, list(DEVICES), ["18888"])
        user_data = self.pick(data, [data.draw(GOOD_DATA), None], [data.draw(BAD_DATA)])
        refusal = (
            InvalidParameterError
            if not is_number(number) or number in DEVICES
            else DeviceNotFoundError
            if to not in DEVICES
            else InvalidParameterError
            if not valid("userData", user_data or {})
            else None
        )
        switch = self.switch
        _, ok = self.attempt(
            lambda: switch.external_call(number, to=to, user_data=user_data), refusal
        )
        if ok:
            self.model.new_leg(to, RINGING, Conn([number]), user_data or {})

    @precondition(lambda self: self.model.legs)
    @rule(data=st.data())
    def far_end(self, data: Any) -> None:
        outside = [
            x for x in self.model.legs.values() if any(isinstance(p, str) for p in x.conn.parties)
        ]
        waiting = [x for x in outside if x.waiting()]
        kinds = ["answer", "answer", "busy"] if waiting else []
        kind = data.draw(st.sampled_from([*kinds, "hangup", "hangup"]))
        legs = outside if kind == "hangup" else waiting
        present = [p for x in legs for p in x.conn.parties if isinstance(p, str)]
        ids = [x.id for x in legs]
        drawn = self.pick(data, [*present, *ids], [*OUTSIDE, "19999", "abc", *self.model.legs], 5)
        party: Leg | str = self.model.legs.get(drawn, drawn)
        to = None
        if not isinstance(party, Leg) and data.draw(st.integers(0, 3)) == 0:
            to = data.draw(st.sampled_from(list(DEVICES)))
        found = self.model.far_end(party, to, unanswered=kind != "hangup")
        target = self.switch.call(party.id) if isinstance(party, Leg) else party
        action = getattr(self.switch, f"external_{kind}")
        refusal = CallNotFoundError if found is None else None
        result, ok = self.attempt(lambda: action(target, to=to), refusal)
        if not ok:
            return
        leg, number = found  # type: ignore[misc]
        assert result.id == leg.id
        if kind == "answer":
            self.model.answer(leg.conn, by=None)
        elif kind == "busy":
            self.model.release(leg)
            self.model.leave(leg.conn, leg)
        else:
            self.model.leave(leg.conn, number)

    @rule(data=st.data())
    def operate(self, data: Any) -> None:
        """An agent posts an operation on one of its calls (mostly a listed one)."""
        legs = list(self.model.legs.values())
        if legs:
            busy = [x for x in legs if x.parent or x.consult or x.state is RINGING]
            busy += [x for x in legs if len(x.conn.parties) > 2]
            choice = [x.id for x in (busy if busy and self.coin(data, 3) else legs)]
            leg = self.model.legs[data.draw(st.sampled_from(choice))]
            listed = sorted(self.switch.call(leg.id).capabilities, key=rank)
            progress = [o for o in listed if rank(o) < rank(O.MUTE_CALL)]
            pool = data.draw(st.sampled_from(["progress"] * 6 + ["listed"] * 3 + ["any"]))
            ops = {"progress": progress, "listed": listed, "any": [*MODELLED, "Frobnicate"]}[pool]
            op = data.draw(st.sampled_from(ops or listed))
            self.post(data, leg.dn, leg, leg.id, op, listed)

    @rule(data=st.data())
    def operate_more(self, data: Any) -> None:
        self.operate(data)

    @rule(data=st.data())
    def misuse(self, data: Any) -> None:
        """Anything on any id: other agents' calls, released calls, unknown names."""
        dn = data.draw(st.sampled_from(list(DEVICES)))
        ids = [*self.model.legs, *sorted(self.model.released)[-3:], "garbage"]
        call_id = data.draw(st.sampled_from(ids))
        leg = self.model.legs.get(call_id)
        leg = leg if leg is not None and leg.dn == dn else None
        listed = sorted(self.switch.call(call_id).capabilities) if leg else []
        op = data.draw(st.sampled_from([*MODELLED, "Frobnicate", "answer", ""]))
        self.post(data, dn, leg, call_id, op, listed)

    def post(
        self, data: Any, dn: str, leg: Leg | None, call_id: str, op: str, listed: list[Operation]
    ) -> None:
        params = self.draw_params(data, leg, op)
        if op not in set(Operation):
            refusal: type[CallStateError] | None = UnknownOperationError
        elif leg is None:
            refusal = CallNotFoundError
        elif op not in listed:
            refusal = OperationNotAvailableError
        else:
            refusal = self.model.refusal(leg, Operation(op), params)
        device = self.devices[dn]
        _, ok = self.attempt(lambda: device.perform(call_id, op, **params), refusal)
        if ok:
            assert leg is not None
            self.model.apply(leg, Operation(op), params)

    # -- invariants --------------------------------------------------------------------------------
    @invariant()
    def switch_matches_model(self) -> None:
        model, calls = self.model.legs, self.switch.calls
        assert [c.id for c in calls] == list(model)
        for call in calls:
            leg = model[call.id]
            assert call.state is leg.state, call
            assert set(call.capabilities) == leg.caps(), call
            assert call.participants == leg.others(), call
            assert call.user_data == leg.data, call
            assert (call.mute == "On") == leg.mute, call
            assert call.recording_state == leg.recording, call
            assert getattr(call.parent, "id", None) == getattr(leg.parent, "id", None), call
            assert getattr(call.consult, "id", None) == getattr(leg.consult, "id", None), call
            assert not (call.state is ESTABLISHED and not call.participants), call
            assert call.device.dn not in call.participants, call
            assert len(set(call.participants)) == len(call.participants), call

    @invariant()
    def internal_legs_are_symmetric(self) -> None:
        calls = self.switch.calls
        for a in calls:
            for b in calls:
                if a is not b and a.conn_id == b.conn_id:
                    assert b.device.dn in a.participants
                    assert a.device.dn in b.participants
                    assert [p for p in a.participants if p != b.device.dn] == [
                        p for p in b.participants if p != a.device.dn
                    ]
                elif a is not b:
                    assert model_conn(self.model, a.id) is not model_conn(self.model, b.id)

    @invariant()
    def projection_agrees(self) -> None:
        replayed = Projection()
        for event in self.log:
            replayed.apply(event)
        admin = User.admin()
        for form in ("8.5.0", "8.5.2"):
            assert replayed.get_calls(admin, form) == self.projection.get_calls(admin, form)
        projected = {c["id"]: c for c in self.projection.get_calls(admin, "8.5.0")["calls"]}
        assert set(projected) == {c.id for c in self.switch.calls}
        for call in self.switch.calls:
            view = projected[call.id]
            assert view["state"] == call.state
            assert view["capabilities"] == list(call.capabilities)
            assert tuple(view["participants"]) == call.participants
            assert view.get("userData", {}) == call.user_data

    @invariant()
    def released_legs_are_gone(self) -> None:
        live = {c.id for c in self.switch.calls}
        for device in self.switch.devices:
            assert {c.id for c in device.calls} <= live
            assert all(c.device is device for c in device.calls)
        assert live.isdisjoint(self.model.released)
        assert len(live) == sum(len(d.calls) for d in self.switch.devices)


def model_conn(model: Model, call_id: str) -> Conn:
    return model.legs[call_id].conn


TestSwitch = SwitchMachine.TestCase
TestSwitch.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
