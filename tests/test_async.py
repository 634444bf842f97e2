"""asyncio delivery: event streams, async subscribers, serialised async requests, back-pressure
and overflow; and that a failing subscriber, sync or async, stops nothing.

Every await that could hang is bounded by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

from callstate import (
    Call,
    CallEvent,
    EventOverflowError,
    EventStream,
    InvalidParameterError,
    OperationNotAvailableError,
    Projection,
    State,
    Switch,
    User,
)

T = TypeVar("T")
TIMEOUT = 5.0
CUSTOMER = "+14155550100"
OTHER = "+442071234567"


async def bounded(awaitable: Awaitable[T], timeout: float = TIMEOUT) -> T:
    return await asyncio.wait_for(awaitable, timeout)


async def collect(stream: AsyncIterator[CallEvent]) -> list[CallEvent]:
    return [event async for event in stream]


async def bounded_iter(stream: EventStream) -> AsyncIterator[CallEvent]:
    while True:
        try:
            event = await bounded(stream.__anext__())
        except StopAsyncIteration:
            return
        yield event


async def until_overflow(stream: EventStream) -> tuple[list[CallEvent], EventOverflowError]:
    """Consume ``stream``; it must end with an ``EventOverflowError``."""
    got: list[CallEvent] = []
    try:
        async for event in bounded_iter(stream):
            got.append(event)
    except EventOverflowError as error:
        return got, error
    raise AssertionError(f"no EventOverflowError after {len(got)} events")


def make_switch(**kwargs: Any) -> tuple[Switch, list[CallEvent]]:
    switch = Switch(seed=4, **kwargs)
    seen: list[CallEvent] = []
    switch.subscribe(seen.append)
    switch.add_device("15000", features=["mute", "recording"])
    switch.add_device("15001")
    switch.add_device("15002", features=["mute"])
    return switch, seen


def busy_day(switch: Switch) -> None:
    """A synchronous flow touching every device: consult transfer, conference, hangups."""
    a, b, c = (switch.device(dn) for dn in ("15000", "15001", "15002"))
    customer = switch.external_call(CUSTOMER, to="15000", user_data={"k": "v"})
    customer.perform("Answer")
    customer.perform("MuteCall")
    customer.perform("InitiateTransfer", destination={"phoneNumber": "15001"})
    (ringing,) = b.calls
    ringing.perform("Answer")
    assert customer.consult is not None
    a.perform(customer.consult.id, "CompleteTransfer")
    ringing.perform("SingleStepConference", destination={"phoneNumber": "15002"})
    (third,) = c.calls
    third.perform("Answer")
    third.perform("SendDtmf", digits="9")
    outbound = c.dial(OTHER)
    switch.external_answer(outbound)
    ringing.perform("ClearCall")
    switch.external_hangup(OTHER)


# -- streams carry what a sync subscriber saw ----------------------------------------------------
@pytest.mark.asyncio
async def test_switch_stream_yields_the_sync_order() -> None:
    switch, seen = make_switch()
    stream = switch.events()
    start = len(seen)
    busy_day(switch)
    stream.close()
    got = await bounded(collect(stream))
    assert got == seen[start:]
    assert len(got) > 20


@pytest.mark.asyncio
async def test_a_stream_consumed_while_requests_run_yields_the_sync_order() -> None:
    switch, seen = make_switch()
    start = len(seen)
    stream = switch.events()
    consumer = asyncio.create_task(collect(stream))
    agent = switch.device("15000")
    call = await agent.adial("15001")
    (ringing,) = switch.device("15001").calls
    await switch.device("15001").aperform(ringing.id, "Answer")
    for op in ("Hold", "Retrieve", "StartCallRecording", "PauseCallRecording", "Hangup"):
        await agent.aperform(call.id, op)
        await asyncio.sleep(0)
    stream.close()
    assert await bounded(consumer) == seen[start:]


@pytest.mark.asyncio
async def test_device_streams_carry_only_their_device() -> None:
    switch, seen = make_switch()
    start = len(seen)
    streams = {dn: switch.device(dn).events() for dn in ("15000", "15001", "15002")}
    everything = switch.events()
    busy_day(switch)
    for stream in [*streams.values(), everything]:
        stream.close()
    assert await bounded(collect(everything)) == seen[start:]
    for dn, stream in streams.items():
        got = await bounded(collect(stream))
        assert got
        assert all(event.call.device == dn for event in got)
        assert got == [e for e in seen[start:] if e.call.device == dn]


@pytest.mark.asyncio
async def test_async_subscribers_see_the_sync_order_and_a_raising_one_stops_nothing() -> None:
    errors: list[tuple[Exception, CallEvent | None]] = []
    switch, seen = make_switch(on_subscriber_error=lambda e, ev: errors.append((e, ev)))
    start = len(seen)
    good: list[CallEvent] = []
    bad_seen: list[CallEvent] = []
    raised: list[Exception] = []

    async def good_subscriber(event: CallEvent) -> None:
        await asyncio.sleep(0)
        good.append(event)

    async def bad_subscriber(event: CallEvent) -> None:
        bad_seen.append(event)
        await asyncio.sleep(0)
        if len(bad_seen) % 3 == 1:
            error = RuntimeError(f"boom {len(bad_seen)}")
            raised.append(error)
            raise error

    first = switch.subscribe_async(good_subscriber)
    second = switch.subscribe_async(bad_subscriber)
    third_seen: list[CallEvent] = []

    async def third(event: CallEvent) -> None:
        third_seen.append(event)

    last = switch.subscribe_async(third)
    busy_day(switch)
    await asyncio.sleep(0)
    busy_day(switch)
    for subscription in (first, second, last):
        await bounded(subscription.wait_closed())
    expected = seen[start:]
    assert good == expected
    assert bad_seen == expected
    assert third_seen == expected
    assert [e for e, _ in errors] == raised
    assert [ev for _, ev in errors] == [expected[i] for i in range(0, len(expected), 3)]
    assert switch.calls == ()


@pytest.mark.asyncio
async def test_async_subscriber_handles_everything_buffered_before_wait_closed_returns() -> None:
    switch, seen = make_switch()
    start = len(seen)
    handled: list[CallEvent] = []

    async def slow(event: CallEvent) -> None:
        await asyncio.sleep(0.001)
        handled.append(event)

    subscription = switch.subscribe_async(slow)
    busy_day(switch)
    await bounded(subscription.wait_closed())
    assert handled == seen[start:]
    assert subscription.task.done()
    # closed: later events are not handled
    switch.external_call(CUSTOMER, to="15000")
    await asyncio.sleep(0.01)
    assert handled == seen[start:-1]


def test_a_raising_sync_subscriber_stops_nothing_and_corrupts_nothing() -> None:
    errors: list[tuple[Exception, CallEvent | None]] = []
    switch = Switch(seed=8, on_subscriber_error=lambda e, ev: errors.append((e, ev)))
    before: list[CallEvent] = []
    after: list[CallEvent] = []
    raised: list[tuple[Exception, CallEvent]] = []

    def flaky(event: CallEvent) -> None:
        if event.call.state in (State.RINGING, State.HELD) or len(raised) % 2:
            error = ValueError(f"flaky on {event.call.id}")
            raised.append((error, event))
            raise error

    projection = Projection()
    switch.subscribe(before.append)
    switch.subscribe(flaky)
    switch.subscribe(after.append)
    switch.subscribe(projection)
    switch.add_device("15000", features=["mute", "recording"])
    switch.add_device("15001")
    switch.add_device("15002", features=["mute"])
    busy_day(switch)
    assert raised
    assert errors == raised  # the handler gets the very exception and the event
    assert before == after
    assert len(after) > 20
    assert switch.calls == ()
    assert projection.snapshots == ()
    # the switch goes on working as if nothing had happened
    call = switch.external_call(CUSTOMER, to="15001")
    call.perform("Answer")
    call.perform("Hold")
    assert (call.state, after[-1].call.state) == (State.HELD, State.HELD)
    assert [c.id for c in switch.calls] == [c.id for c in projection.snapshots] == [call.id]
    assert projection.get_calls(User.admin())["calls"][0]["state"] == "Held"


@pytest.mark.asyncio
async def test_an_error_handler_that_raises_stops_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def broken_handler(error: Exception, event: CallEvent | None) -> None:
        raise KeyError("handler bug")

    switch, seen = make_switch(on_subscriber_error=broken_handler)
    after: list[CallEvent] = []
    handled: list[CallEvent] = []

    def failing(event: CallEvent) -> None:
        raise ValueError("subscriber bug")

    async def failing_async(event: CallEvent) -> None:
        handled.append(event)
        raise ValueError("async subscriber bug")

    switch.subscribe(failing)
    switch.subscribe(after.append)
    subscription = switch.subscribe_async(failing_async)
    start = len(seen)
    call = switch.external_call(CUSTOMER, to="15000")
    call.perform("Answer")
    await bounded(subscription.wait_closed())
    assert after == seen[start:]
    assert handled == seen[start:]
    assert call.state is State.ESTABLISHED
    messages = [r.getMessage() for r in caplog.records]
    assert sum("on_subscriber_error failed" in m for m in messages) == 4
    assert sum(m.startswith("subscriber failed on") for m in messages) == 4


def test_a_raising_subscriber_that_made_a_request_keeps_the_order() -> None:
    errors: list[tuple[Exception, CallEvent | None]] = []
    switch = Switch(seed=8, on_subscriber_error=lambda e, ev: errors.append((e, ev)))
    seen: list[CallEvent] = []
    switch.subscribe(seen.append)
    switch.add_device("15000")

    def answer_then_fail(event: CallEvent) -> None:
        if event.call.state is State.RINGING:
            switch.device("15000").perform(event.call.id, "Answer")
            raise RuntimeError("after answering")

    switch.subscribe(answer_then_fail)
    call = switch.external_call(CUSTOMER, to="15000")
    assert call.state is State.ESTABLISHED
    assert [e.call.state for e in seen] == [State.RINGING, State.ESTABLISHED]
    assert [ev for _, ev in errors] == [seen[0]]


# -- serialised async requests -------------------------------------------------------------------
async def answered_call(switch: Switch) -> Call:
    call = switch.external_call(CUSTOMER, to="15000")
    await switch.device("15000").aperform(call.id, "Answer")
    return call


@pytest.mark.asyncio
async def test_two_concurrent_holds_one_succeeds_one_is_refused() -> None:
    switch, _ = make_switch()
    call = await answered_call(switch)
    agent = switch.device("15000")
    results = await bounded(
        asyncio.gather(
            agent.aperform(call.id, "Hold"), agent.aperform(call.id, "Hold"), return_exceptions=True
        )
    )
    assert results[0] is call  # the call it acted on
    assert isinstance(results[1], OperationNotAvailableError)
    assert results[1].status_code == 2
    assert call.state is State.HELD


@pytest.mark.asyncio
async def test_concurrent_requests_are_judged_in_arrival_order() -> None:
    switch, seen = make_switch()
    call = await answered_call(switch)
    agent = switch.device("15000")
    start = len(seen)
    results = await bounded(
        asyncio.gather(agent.aperform(call.id, "Hold"), agent.aperform(call.id, "Retrieve"))
    )
    assert results == [call, call]  # each returns the call it acted on
    assert [e.call.state for e in seen[start:]] == [State.HELD, State.ESTABLISHED]
    # the other way round: Retrieve comes first and is refused, Hold then succeeds
    results = await bounded(
        asyncio.gather(
            agent.aperform(call.id, "Retrieve"),
            agent.aperform(call.id, "Hold"),
            return_exceptions=True,
        )
    )
    assert isinstance(results[0], OperationNotAvailableError)
    assert results[1] is call
    assert call.state is State.HELD


@pytest.mark.asyncio
async def test_serialisation_holds_while_requests_wait_for_a_slow_stream() -> None:
    """Each request waits on back-pressure; the next is still judged after it."""
    switch, seen = make_switch()
    call = await answered_call(switch)
    agent = switch.device("15000")
    stream = switch.events(maxsize=2)
    got: list[CallEvent] = []

    async def slow_consumer() -> None:
        async for event in stream:
            await asyncio.sleep(0.002)
            got.append(event)

    consumer = asyncio.create_task(slow_consumer())
    start = len(seen)
    ops = ["Hold", "Hold", "Retrieve", "Retrieve", "Hold", "Retrieve", "MuteCall", "MuteCall"]
    results = await bounded(
        asyncio.gather(*(agent.aperform(call.id, op) for op in ops), return_exceptions=True)
    )
    ok = [r is call for r in results]
    assert ok == [True, False, True, False, True, True, True, False]
    for result in results:
        if result is not call:
            assert isinstance(result, OperationNotAvailableError)
    stream.close()
    await bounded(consumer)
    assert got == seen[start:]


@pytest.mark.asyncio
async def test_adial_and_aperform_interleave_in_order() -> None:
    switch, seen = make_switch()
    a, b = switch.device("15000"), switch.device("15001")
    start = len(seen)
    first, second = await bounded(asyncio.gather(a.adial("15001"), a.adial("15002")))
    assert first.id != second.id
    (ringing,) = b.calls
    await bounded(b.aperform(ringing.id, "Answer"))
    assert first.state is State.ESTABLISHED
    assert second.state is State.DIALING
    assert [e.call.id for e in seen[start:]][:2] == [first.id, ringing.id]


# -- back-pressure ------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("maxsize", [2, 4, 8])
async def test_back_pressure_lets_a_slow_consumer_keep_up(maxsize: int) -> None:
    switch, seen = make_switch()
    call = await answered_call(switch)
    agent = switch.device("15000")
    stream = switch.events(maxsize=maxsize)
    device_stream = agent.events(maxsize=maxsize)
    got: list[CallEvent] = []
    got_device: list[CallEvent] = []

    async def consume(source: EventStream, into: list[CallEvent], pause: float) -> None:
        async for event in source:
            await asyncio.sleep(pause)
            into.append(event)

    consumers = [
        asyncio.create_task(consume(stream, got, 0.001)),
        asyncio.create_task(consume(device_stream, got_device, 0.0005)),
    ]
    start = len(seen)
    high_water = 0
    for i in range(40):
        op = "Hold" if call.state is State.ESTABLISHED else "Retrieve"
        await bounded(agent.aperform(call.id, op))
        if i % 5 == 0:
            await bounded(agent.aperform(call.id, "UpdateUserData", userData={"i": i}))
        # back-pressure: once a request returns, every stream is at most half full
        assert stream.pending <= maxsize // 2
        assert device_stream.pending <= maxsize // 2
        high_water = max(high_water, stream.pending)
    await bounded(agent.aperform(call.id, "Hangup"))
    stream.close()
    device_stream.close()
    await bounded(asyncio.gather(*consumers))  # no EventOverflowError
    produced = seen[start:]
    assert len(produced) == 40 + 8 + 1
    assert got == produced
    assert got_device == produced
    assert high_water <= maxsize // 2


@pytest.mark.asyncio
async def test_back_pressure_with_multi_event_requests() -> None:
    """Requests that emit several events each (internal calls, transfers) and a stream whose
    half is larger than any one request's events: nothing overflows, nothing is lost."""
    switch, seen = make_switch()
    stream = switch.events(maxsize=16)
    got: list[CallEvent] = []

    async def consume() -> None:
        async for event in stream:
            await asyncio.sleep(0.001)
            got.append(event)

    consumer = asyncio.create_task(consume())
    start = len(seen)
    a, b, c = (switch.device(dn) for dn in ("15000", "15001", "15002"))
    for _ in range(5):
        call = await bounded(a.adial("15001"))
        (ringing,) = b.calls
        await bounded(b.aperform(ringing.id, "Answer"))
        await bounded(
            a.aperform(call.id, "InitiateConference", destination={"phoneNumber": "15002"})
        )
        (third,) = c.calls
        await bounded(c.aperform(third.id, "Answer"))
        assert call.consult is not None
        await bounded(a.aperform(call.consult.id, "CompleteConference"))
        await bounded(a.aperform(call.id, "ClearCall"))
        assert stream.pending <= 8
    assert switch.calls == ()
    stream.close()
    await bounded(consumer)
    assert got == seen[start:]


@pytest.mark.asyncio
async def test_a_consumer_may_drive_calls_from_inside_its_own_async_for() -> None:
    """A softphone that answers and hangs up in reaction to its own stream's events never
    waits for that stream to drain (it could not: it is the one reading it)."""
    switch, seen = make_switch()
    agent = switch.device("15000")
    stream = agent.events(maxsize=8)  # room for its own 6 requests; half of it is not
    start = len(seen)

    async def softphone() -> list[State]:
        states = []
        async for event in stream:
            states.append(event.call.state)
            call = event.call
            if call.state is State.RINGING:
                await agent.aperform(call.id, "Answer")
                for op in ("Hold", "Retrieve", "Hold", "Retrieve"):
                    await agent.aperform(call.id, op)
                await agent.aperform(call.id, "Hangup")
            elif call.state is State.RELEASED:
                stream.close()
        return states

    task = asyncio.create_task(softphone())
    switch.external_call(CUSTOMER, to="15000")
    states = await bounded(task)
    assert states == [e.call.state for e in seen[start:]]
    assert states[0] is State.RINGING
    assert states[-1] is State.RELEASED
    assert len(states) == 7


@pytest.mark.asyncio
async def test_a_request_waiting_on_a_stream_does_not_block_that_streams_reader() -> None:
    """Task A's request waits for stream S; S's reader (task B) makes a request of its own,
    which does not queue behind A's: B goes on reading, and A's request then runs."""
    switch, seen = make_switch()
    call = await answered_call(switch)
    agent = switch.device("15000")
    stream = switch.events(maxsize=4)
    gate = asyncio.Event()
    got: list[CallEvent] = []

    async def reader() -> None:
        async for event in stream:
            got.append(event)
            if len(got) == 1:
                await gate.wait()
                await agent.aperform(call.id, "UpdateUserData", userData={"x": 4})
                assert call.state is State.ESTABLISHED  # A's Hold is still waiting
            if len(got) == 6:
                stream.close()

    reading = asyncio.create_task(reader())
    call.perform("UpdateUserData", userData={"x": 0})
    await asyncio.sleep(0.01)  # B holds the first event and waits at the gate
    for i in (1, 2, 3):
        call.perform("UpdateUserData", userData={"x": i})
    assert stream.full
    waiting = asyncio.create_task(agent.aperform(call.id, "Hold"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert call.state is State.ESTABLISHED
    gate.set()
    await bounded(asyncio.gather(waiting, reading))
    assert call.state is State.HELD
    assert got == seen[-6:]
    assert [dict(e.call.user_data)["x"] for e in got[:5]] == [0, 1, 2, 3, 4]


@pytest.mark.asyncio
async def test_requests_that_wait_for_room_keep_their_order() -> None:
    """T1 asks first and waits for room; T2 asks later: T1 is judged first even if room
    appears before T2 asks."""
    switch, _ = make_switch()
    call = await answered_call(switch)
    agent = switch.device("15000")
    stream = switch.events(maxsize=2)
    reading = asyncio.Event()

    async def slow_reader() -> None:
        async for _ in stream:
            await reading.wait()

    consumer = asyncio.create_task(slow_reader())
    call.perform("UpdateUserData", userData={"x": 0})
    await asyncio.sleep(0.01)  # the reader holds the first event and stops
    call.perform("UpdateUserData", userData={"x": 1})
    call.perform("UpdateUserData", userData={"x": 2})  # two buffered: full
    assert stream.full
    order: list[tuple[str, str]] = []

    async def request(op: str) -> None:
        try:
            await agent.aperform(call.id, op)
        except OperationNotAvailableError:
            order.append((op, "refused"))
        else:
            order.append((op, "ok"))

    first = asyncio.create_task(request("Hold"))
    await asyncio.sleep(0.01)
    reading.set()  # room appears ...
    second = asyncio.create_task(request("Hangup"))  # ... as a later request arrives
    await bounded(asyncio.gather(first, second))
    assert order == [("Hold", "ok"), ("Hangup", "ok")]
    stream.close()
    await bounded(consumer)


def test_one_switch_serves_requests_from_one_event_loop_after_another() -> None:
    """Waiting requests queue on a lock bound to the loop; a later ``asyncio.run`` gets its own."""
    switch, _ = make_switch()
    call = switch.external_call(CUSTOMER, to="15000")
    call.perform("Answer")

    async def crowded(round_: int) -> list[object]:
        stream = switch.events(maxsize=4)

        async def slow_reader() -> None:
            async for _ in stream:
                await asyncio.sleep(0.001)

        reader = asyncio.create_task(slow_reader())
        for i in range(3):
            call.perform("UpdateUserData", userData={"fill": i})
        assert stream.full
        agent = switch.device("15000")
        writes = [
            agent.aperform(call.id, "UpdateUserData", userData={f"r{round_}": i}) for i in range(4)
        ]
        done = await bounded(asyncio.gather(*writes))
        stream.close()
        await bounded(reader)
        return done

    for round_ in range(2):
        assert asyncio.run(crowded(round_)) == [call] * 4
    assert call.user_data["r1"] == 3


@pytest.mark.asyncio
async def test_two_softphones_driving_calls_from_their_subscribers_do_not_wait_for_each_other() -> (
    None
):
    """Each async subscriber answers, holds, retrieves and hangs up its own device's call; a
    consumer never waits for streams, so neither waits for the other."""
    switch, seen = make_switch()

    def softphone(dn: str) -> Callable[[CallEvent], Awaitable[None]]:
        async def on_event(event: CallEvent) -> None:
            if event.call.device == dn and event.call.state is State.RINGING:
                for op in ("Answer", "Hold", "Retrieve", "Hangup"):
                    await switch.device(dn).aperform(event.call.id, op)

        return on_event

    # 8: room for all 10 events, but each stream is past half while its phone works
    phones = [switch.subscribe_async(softphone(dn), maxsize=8) for dn in ("15000", "15001")]
    start = len(seen)
    switch.external_call(CUSTOMER, to="15000")
    switch.external_call(OTHER, to="15001")
    for _ in range(200):
        await asyncio.sleep(0.005)
        if not switch.calls:
            break
    assert switch.calls == ()
    await bounded(asyncio.gather(*(phone.wait_closed() for phone in phones)))
    assert len(seen) - start == 10


@pytest.mark.asyncio
async def test_a_task_may_make_requests_before_it_reads_the_stream_it_opened() -> None:
    switch, seen = make_switch()
    agent = switch.device("15000")
    start = len(seen)
    async with agent.events(maxsize=4) as stream:
        call = await bounded(agent.adial("15001"))
        for i in range(3):
            await bounded(agent.aperform(call.id, "UpdateUserData", userData={"k": i}))
        stream.close()
        got = await bounded(collect(stream))
    assert got == [e for e in seen[start:] if e.call.device == "15000"]
    assert len(got) == 4


@pytest.mark.asyncio
async def test_a_cancelled_async_subscriber_holds_nothing_back() -> None:
    switch, _ = make_switch()
    call = await answered_call(switch)
    blocked = asyncio.Event()

    async def stuck(event: CallEvent) -> None:
        await blocked.wait()

    subscription = switch.subscribe_async(stuck, maxsize=2)
    for i in range(3):
        call.perform("UpdateUserData", userData={"x": i})
    await asyncio.sleep(0.01)
    subscription.task.cancel()
    await asyncio.sleep(0.01)
    assert switch.streams == frozenset()
    for op in ["Hold", "Retrieve"] * 5:
        await bounded(switch.device("15000").aperform(call.id, op), timeout=1)


@pytest.mark.asyncio
async def test_every_task_waiting_on_one_stream_is_woken() -> None:
    switch, _ = make_switch()
    call = await answered_call(switch)
    stream = switch.events(maxsize=4)
    for i in range(3):
        call.perform("UpdateUserData", userData={"x": i})
    waiting = [asyncio.create_task(stream.drained()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in waiting)
    await bounded(stream.__anext__())
    await bounded(asyncio.gather(*waiting))
    assert stream.pending == 2


def test_subscribe_async_without_a_running_loop_subscribes_nothing() -> None:
    switch, seen = make_switch()

    async def subscriber(event: CallEvent) -> None:
        raise AssertionError("never called")

    with pytest.raises(InvalidParameterError, match="running event loop"):
        switch.subscribe_async(subscriber)
    assert switch.streams == frozenset()
    switch.external_call(CUSTOMER, to="15000")
    assert len(seen) == 1


# -- overflow -----------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("maxsize", [1, 3, 10])
async def test_a_sync_flood_overflows_with_the_count_of_missed_events(maxsize: int) -> None:
    switch, seen = make_switch()
    stream = switch.events(maxsize=maxsize)
    start = len(seen)
    busy_day(switch)
    produced = seen[start:]
    assert len(produced) > maxsize
    got, error = await until_overflow(stream)
    assert got == produced[:maxsize]
    assert error.missed == len(produced) - maxsize
    assert error.status_code == 4
    assert str(len(produced) - maxsize) in str(error)
    # the stream no longer listens: later events are not counted
    switch.external_call(CUSTOMER, to="15000")
    assert stream not in switch.streams
    assert stream.pending == 0


@pytest.mark.asyncio
async def test_a_device_stream_counts_only_its_own_missed_events() -> None:
    switch, seen = make_switch()
    stream = switch.device("15002").events(maxsize=2)
    start = len(seen)
    busy_day(switch)
    mine = [e for e in seen[start:] if e.call.device == "15002"]
    got, error = await until_overflow(stream)
    assert got == mine[:2]
    assert error.missed == len(mine) - 2


@pytest.mark.asyncio
async def test_overflow_after_partial_consumption() -> None:
    """Events consumed before the flood are not counted; the flood beyond the room is."""
    switch, seen = make_switch()
    stream = switch.events(maxsize=4)
    call = switch.external_call(CUSTOMER, to="15000")
    first = await bounded(stream.__anext__())
    assert first.call.id == call.id
    start = len(seen)
    for _ in range(3):
        call.perform("UpdateUserData", userData={"x": 1})
    # 3 buffered; the next 5 requests: one fits, four are missed
    for _ in range(5):
        call.perform("UpdateUserData", userData={"x": 2})
    got, error = await until_overflow(stream)
    assert got == seen[start : start + 4]
    assert error.missed == 4


@pytest.mark.asyncio
async def test_an_async_subscriber_that_overflows_reports_it() -> None:
    errors: list[tuple[Exception, CallEvent | None]] = []
    switch, seen = make_switch(on_subscriber_error=lambda e, ev: errors.append((e, ev)))
    handled: list[CallEvent] = []

    async def subscriber(event: CallEvent) -> None:
        handled.append(event)

    start = len(seen)
    subscription = switch.subscribe_async(subscriber, maxsize=3)
    busy_day(switch)
    await bounded(subscription.wait_closed())
    produced = seen[start:]
    assert handled == produced[:3]
    ((error, _),) = errors
    assert isinstance(error, EventOverflowError)
    assert error.missed == len(produced) - 3


@pytest.mark.asyncio
async def test_after_the_overflow_error_the_stream_ends() -> None:
    switch, _ = make_switch()
    stream = switch.events(maxsize=1)
    busy_day(switch)
    await until_overflow(stream)
    assert await bounded(collect(stream)) == []


# -- closing ------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_close_wakes_a_waiting_consumer_and_ends_iteration() -> None:
    switch, _ = make_switch()
    stream = switch.events()
    consumer = asyncio.create_task(collect(stream))
    await asyncio.sleep(0.01)
    assert not consumer.done()
    call = switch.external_call(CUSTOMER, to="15000")
    await asyncio.sleep(0.01)
    stream.close()
    got = await bounded(consumer)
    assert [e.call.id for e in got] == [call.id]
    stream.close()  # twice is fine
    assert await bounded(collect(stream)) == []


@pytest.mark.asyncio
async def test_close_keeps_the_buffered_events_and_stops_listening() -> None:
    switch, seen = make_switch()
    start = len(seen)
    stream = switch.events()
    busy_day(switch)
    stream.close()
    switch.external_call(CUSTOMER, to="15000")  # after close: not in the stream
    assert await bounded(collect(stream)) == seen[start:-1]
    assert stream not in switch.streams


@pytest.mark.asyncio
async def test_async_with_closes_the_stream() -> None:
    switch, seen = make_switch()
    start = len(seen)
    async with switch.device("15000").events() as stream:
        call = switch.external_call(CUSTOMER, to="15000")
        first = await bounded(stream.__anext__())
        call.perform("Answer")
    call.perform("Hold")  # after the block: not in the stream
    rest = await bounded(collect(stream))
    assert [first, *rest] == seen[start:-1]
    # a closed stream does not hold requests back
    agent = switch.device("15000")
    for op in ["Retrieve", "Hold"] * 10:
        await bounded(agent.aperform(call.id, op), timeout=1)


@pytest.mark.asyncio
async def test_break_out_of_async_with_ends_cleanly() -> None:
    switch, _ = make_switch()
    async with switch.events() as stream:
        switch.external_call(CUSTOMER, to="15000")
        switch.external_call(OTHER, to="15001")
        async for event in stream:
            assert event.call.device == "15000"
            break
    assert stream.pending == 1
    assert [e.call.device for e in await bounded(collect(stream))] == ["15001"]
    assert switch.streams == frozenset()


def test_maxsize_must_be_positive() -> None:
    switch = Switch(seed=1)
    with pytest.raises(ValueError, match="maxsize"):
        switch.events(maxsize=0)


# -- a reader that goes away holds nobody back ---------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["cancelled", "raises", "breaks"])
async def test_a_request_waiting_for_room_goes_on_when_the_reader_goes_away(how: str) -> None:
    switch, _ = make_switch()
    call = await answered_call(switch)
    stream = switch.events(maxsize=4)
    first, go_away, never = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def reader() -> None:
        async for _event in stream:
            first.set()
            if how == "breaks":
                await go_away.wait()
                break
            await go_away.wait()
            if how == "raises":
                raise RuntimeError("the reader fails")
        await never.wait()  # after a break the task lives on, reading no more

    task = asyncio.create_task(reader())
    call.perform("UpdateUserData", userData={"x": 0})
    await bounded(first.wait())
    for i in range(1, 4):  # the stream is now more than half full
        call.perform("UpdateUserData", userData={"x": i})
    assert stream.full
    waiting = asyncio.create_task(switch.device("15000").aperform(call.id, "Hold"))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # back-pressure: the reader is alive and slow
    if how == "cancelled":
        task.cancel()
    else:
        go_away.set()
    await bounded(waiting, timeout=1)
    assert call.state is State.HELD
    task.cancel()
    with pytest.raises((asyncio.CancelledError, RuntimeError)):
        await task


# -- cancelling an async request -------------------------------------------------------------------
async def slow_reader(switch: Switch, maxsize: int) -> tuple[EventStream, asyncio.Task[None]]:
    """A stream read by a live task that has read one event and now reads nothing."""
    stream = switch.events(maxsize=maxsize)
    first, never = asyncio.Event(), asyncio.Event()

    async def reader() -> None:
        async for _event in stream:
            first.set()
            await never.wait()

    task = asyncio.create_task(reader())
    switch.external_call(OTHER, to="15002")
    await bounded(first.wait())
    return stream, task


@pytest.mark.asyncio
async def test_a_request_cancelled_while_it_waits_for_room_did_not_happen() -> None:
    switch, _ = make_switch()
    call = await answered_call(switch)
    stream, reader = await slow_reader(switch, maxsize=4)
    for i in range(3):
        call.perform("UpdateUserData", userData={"x": i})
    assert stream.full
    waiting = asyncio.create_task(switch.device("15000").aperform(call.id, "Hold"))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert call.state is State.ESTABLISHED  # not held: the request never ran
    reader.cancel()


@pytest.mark.asyncio
@pytest.mark.parametrize("request_kind", ["aperform", "adial"])
async def test_a_request_cancelled_after_it_ran_returns_its_result(request_kind: str) -> None:
    switch, _ = make_switch()
    call = await answered_call(switch)
    stream, reader = await slow_reader(switch, maxsize=4)
    assert not stream.full  # room: the request runs at once, then waits for room again
    phone = switch.device("15000")
    for i in range(2):  # half full: one more event fills it
        call.perform("UpdateUserData", userData={"x": i})
    if request_kind == "aperform":
        task: asyncio.Task[Any] = asyncio.create_task(phone.aperform(call.id, "Hold"))
    else:
        task = asyncio.create_task(phone.adial(OTHER))
    await asyncio.sleep(0.01)
    assert stream.full
    assert not task.done()  # it ran, and waits for the slow reader
    task.cancel()
    result = await bounded(task)
    if request_kind == "aperform":
        assert result is call  # the call it acted on
        assert call.state is State.HELD
    else:
        assert isinstance(result, Call)
        assert result in phone.calls  # the call it made is handed back, not lost
    reader.cancel()


@pytest.mark.asyncio
async def test_a_consumer_may_bound_its_own_requests_with_wait_for_or_gather() -> None:
    switch, _ = make_switch()
    phone = switch.device("15000")
    call = await answered_call(switch)
    stream = phone.events(maxsize=4)
    call.perform("MuteCall")
    call.perform("UnmuteCall")
    call.perform("UpdateUserData", userData={"a": 1})  # more than half full
    done: list[str] = []

    async def consumer() -> None:
        async for _event in stream:
            if not done:  # inside its own loop, its requests run in tasks of their own
                await asyncio.wait_for(
                    phone.aperform(call.id, "AttachUserData", userData={"k": 1}), 2
                )
                await asyncio.gather(phone.aperform(call.id, "UpdateUserData", userData={"g": 2}))
                done.append("both")
                stream.close()

    await bounded(consumer())
    assert done == ["both"]
    assert call.user_data["k"] == 1
