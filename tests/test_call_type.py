"""``callType`` of every way a leg is made (gws-calls.md §3): Internal between two devices of the
switch, Inbound from an outside number, Outbound to one, Consult for a consult's legs."""

from __future__ import annotations

import pytest

from callstate import CallType, Projection, Switch, User


def world() -> tuple[Switch, Projection]:
    switch = Switch(seed=5)
    for dn in ("15000", "15001", "15002"):
        switch.add_device(dn)
    projection = Projection()
    switch.subscribe(projection)
    return switch, projection


def shown(projection: Projection, dn: str, call_id: str) -> str:
    return str(projection.get_call(User.agent(dn), call_id)["call"]["callType"])


@pytest.mark.parametrize("number", ["+14155550100", "5551234", "19999"])
def test_an_outside_caller_is_inbound_whatever_its_number_looks_like(number: str) -> None:
    switch, projection = world()
    leg = switch.external_call(number, to="15000")
    assert leg.call_type is CallType.INBOUND
    assert shown(projection, "15000", leg.id) == "Inbound"


@pytest.mark.parametrize(
    ("number", "expected"),
    [("15001", "Internal"), ("+14155550100", "Outbound"), ("19999", "Outbound")],
)
def test_a_dial_is_internal_only_to_a_device_of_the_switch(number: str, expected: str) -> None:
    switch, projection = world()
    leg = switch.device("15000").dial(number)
    assert shown(projection, "15000", leg.id) == expected
    if number == "15001":
        assert shown(projection, "15001", switch.device("15001").calls[0].id) == "Internal"


def test_consults_and_single_steps() -> None:
    switch, projection = world()
    agent = switch.device("15000")
    inbound = switch.external_call("5551234", to="15000")
    agent.perform(inbound.id, "Answer")
    consult = agent.perform(inbound.id, "InitiateTransfer", destination={"phoneNumber": "15001"})
    assert shown(projection, "15000", consult.id) == "Consult"
    assert shown(projection, "15001", switch.device("15001").calls[0].id) == "Consult"
    agent.perform(consult.id, "Hangup")
    agent.perform(inbound.id, "Retrieve")
    # a single-step conference: the new leg was brought by an agent of the switch
    agent.perform(inbound.id, "SingleStepConference", destination={"phoneNumber": "15002"})
    [conferenced] = switch.device("15002").calls
    assert shown(projection, "15002", conferenced.id) == "Internal"
    # a single-step transfer hands the outside caller on: the leg it rings is Inbound
    switch2, projection2 = world()
    leg = switch2.external_call("5551234", to="15000")
    switch2.device("15000").perform(leg.id, "Answer")
    switch2.device("15000").perform(
        leg.id, "SingleStepTransfer", destination={"phoneNumber": "15001"}
    )
    [rung] = switch2.device("15001").calls
    assert shown(projection2, "15001", rung.id) == "Inbound"
