from callstate import State, Switch


def test_internal_call_has_a_leg_on_each_device() -> None:
    switch = Switch(seed=1)
    alice, bob = switch.add_device("15000"), switch.add_device("15001")
    call = alice.dial("15001")
    (ringing,) = bob.calls
    assert (call.state, ringing.state) == (State.DIALING, State.RINGING)
    bob.perform(ringing.id, "Answer")
    assert (call.state, ringing.state) == (State.ESTABLISHED, State.ESTABLISHED)
    alice.perform(call.id, "Hangup")
    assert (call.state, ringing.state) == (State.RELEASED, State.RELEASED)
    assert switch.calls == ()
