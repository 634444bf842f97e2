"""asyncio delivery: awaitable event streams, async subscribers, and back-pressure.

The switch itself is synchronous: a request runs to completion and queues its events, and the
events are handed to every subscriber in order. An ``EventStream`` is such a subscriber that
buffers events for ``async for`` (all of a switch's, or one device's), in the order they happened.

Its buffer is bounded (``maxsize``). A slow consumer never loses an event silently:

* requests made through the async API (``Device.aperform``, ``Device.adial``) are admitted one
  at a time, first come first served, each once every stream that a live task reads is at most
  half full; after it runs, the next is admitted once there is room again — back-pressure.
* a **consumer** — a task reading a stream of this switch (an ``async for`` loop, an async
  subscriber's task) — is admitted at once and never waits: it could be waiting for itself, or
  for another consumer waiting for it. Its requests, like a synchronous caller's, can fill a
  stream; a stream nobody has read yet, or whose reader has gone (its task finished, raised or was
  cancelled, or it left its ``async for``), holds nobody back either: waiting requests go on.
* a synchronous caller cannot be made to wait, so if it (or a consumer) fills a stream, the
  stream stops buffering, hands out what it holds, and then raises ``EventOverflowError`` naming
  how many events were missed. The stream is then closed; re-read the calls with a GET to
  resynchronise. Give streams read by busy consumers room (``maxsize``) for the bursts they see.

A request runs whole, with no await between its checks and its changes, so concurrent requests
are judged one after the other: the second of two requests on one call is judged against the
capabilities the first one left. Requests that wait keep their order; a consumer's request,
admitted at once, may come before them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

from .bus import Bus
from .errors import CallStateError, InvalidParameterError, shown
from .events import Event

if TYPE_CHECKING:  # at run time asyncio is imported by whoever runs the loop, when it is used
    import asyncio

__all__ = ["AsyncSubscriber", "AsyncSubscription", "EventOverflowError", "EventStream", "Streams"]

AsyncSubscriber = Callable[[Event], Awaitable[object]]
_T = TypeVar("_T")
#: ids of the streams the current task reads — or that the task which started it read: a
#: consumer's request run in a task of its own (``asyncio.wait_for``, ``gather``) is still the
#: consumer's, and must not wait for the stream the consumer drains
_CONSUMING: ContextVar[frozenset[int]] = ContextVar("callstate_consuming", default=frozenset())


class Streams:
    """The open event streams of one switch, and the admission of async requests to it."""

    __slots__ = ("_admission", "bus", "open")

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        #: streams that receive events (a closed stream leaves this set)
        self.open: set[EventStream] = set()
        self._admission: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    async def drained(self) -> None:
        """See ``Switch.drained``."""
        import asyncio

        me = asyncio.current_task()
        yielded = False
        while True:
            unread, blocking = False, None
            for stream in self.open:
                if stream.full:
                    if not stream.reading:
                        unread = True
                    elif stream.reader is not me:
                        blocking = stream
                        break
            if blocking is not None:
                await blocking.drained()
            elif unread and not yielded:
                yielded = True
                await asyncio.sleep(0)
            else:
                return

    async def admit(self, request: Callable[[], _T]) -> _T:
        """Run ``request`` for a coroutine, with back-pressure (see the module doc).

        A consumer (a task reading a stream of this switch) runs it at once: it must never wait
        for streams, or two consumers could wait for each other. Other tasks are admitted one at
        a time, first come first served, each once every read stream has room; the next waits
        until the one before has run and the streams have room again.

        Cancelling the coroutine has one meaning: cancelled before the request ran (waiting for
        its turn or for room), the request did not happen and ``CancelledError`` is raised;
        once it has run, it happened, and its result is returned even if the cancellation comes
        while it waits for the streams afterwards.
        """
        import asyncio

        me = asyncio.current_task()
        consuming = _CONSUMING.get()
        if any(stream.reader is me or id(stream) in consuming for stream in self.open):
            return request()
        loop = asyncio.get_running_loop()
        if self._admission is None or self._admission[0] is not loop:  # a lock serves one loop
            self._admission = (loop, asyncio.Lock())
        async with self._admission[1]:
            await self.drained()
            result = request()
            try:
                await self.drained()
            except asyncio.CancelledError:  # it has happened: the result must not be lost
                if me is not None:
                    me.uncancel()
            return result


class EventOverflowError(CallStateError):
    """A stream's consumer fell ``missed`` events behind a synchronous producer.

    Not a refused request (nothing was refused, and the switch is unharmed): the stream raises it
    to its consumer. It is a ``CallStateError`` so that one ``except`` covers the library, with
    ``statusCode`` 4 (GWS "internal error") for a front end that must answer something.
    """

    status_code = 4

    def __init__(self, missed: int) -> None:
        self.missed = missed
        super().__init__(f"{missed} events were missed")

    @property
    def status_message(self) -> str:
        return f"event stream overflowed: {self.reason}"


class EventStream:
    """``async for event in stream``: the switch's (or one device's) events, in order."""

    def __init__(self, streams: Streams, *, maxsize: int = 1024, device: str | None = None):
        if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 1:
            raise InvalidParameterError(
                f"maxsize must be an integer of at least 1, not {shown(maxsize)}",
                operation="events",
            )
        self.maxsize = maxsize
        self.device = device
        self._streams = streams
        self._events: deque[Event] = deque()
        self._missed = 0
        self._closed = False
        self._waiters: list[asyncio.Future[None]] = []  # readers waiting for an event
        self._space: list[asyncio.Future[None]] = []  # requests waiting for room
        self.reader: asyncio.Task[object] | None = None  # the task that last read
        self._gone = False  # that task has left: finished, cancelled, or out of its async for
        self._subscription = streams.bus.subscribe(self._put, device)
        streams.open.add(self)

    def _put(self, event: Event) -> None:
        if self._closed:
            return
        if self._missed or len(self._events) >= self.maxsize:
            self._missed += 1
        else:
            self._events.append(event)
        _wake(self._waiters)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._read()

    async def _read(self) -> AsyncIterator[Event]:
        """What ``async for`` runs: when the loop is left — finished, broken out of, or by an
        exception or a cancellation — the stream's reader is gone and holds nobody back."""
        try:
            while True:
                try:
                    event = await self.__anext__()
                except StopAsyncIteration:
                    return
                yield event
        finally:
            self._leave()

    async def __anext__(self) -> Event:
        import asyncio

        task = asyncio.current_task()
        if task is not self.reader:
            self.reader = task
            if task is not None:
                task.add_done_callback(self._reader_done)
        consuming = _CONSUMING.get()
        if id(self) not in consuming:  # tasks the reader starts from now on consume it too
            _CONSUMING.set(consuming | {id(self)})
        self._gone = False
        while True:
            if self._events:
                event = self._events.popleft()
                if not self.full:
                    _wake(self._space)
                return event
            if self._missed:
                missed, self._missed = self._missed, 0
                self.close()
                raise EventOverflowError(missed)
            if self._closed:
                raise StopAsyncIteration
            await _wait(self._waiters)

    def _reader_done(self, task: asyncio.Task[object]) -> None:
        if task is self.reader:
            self._leave()

    def _leave(self) -> None:
        """The reader has gone: requests waiting for room go on."""
        self._gone = True
        _wake(self._space)

    @property
    def reading(self) -> bool:
        """A live task reads this stream: it has read from it and has not left."""
        return self.reader is not None and not self._gone and not self.reader.done()

    @property
    def pending(self) -> int:
        """Events buffered and not yet consumed."""
        return len(self._events)

    @property
    def full(self) -> bool:
        """More than half of the buffer is in use: async requests wait (see the module doc)."""
        return not self._closed and len(self._events) > self.maxsize // 2

    async def drained(self) -> None:
        """Wait until the buffer is at most half full, the stream is closed, or its reader has
        gone (see ``reading``)."""
        while self.full and not self._gone:
            await _wait(self._space)

    def close(self) -> None:
        """Stop receiving; ``async for`` ends once the buffered events are consumed."""
        if not self._closed:
            self._closed = True
            self._subscription.close()
            self._streams.open.discard(self)
            _wake(self._waiters)
            _wake(self._space)

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


async def _wait(waiters: list[asyncio.Future[None]]) -> None:
    """Wait until ``_wake(waiters)``; any number of tasks may wait on one list."""
    import asyncio

    future = asyncio.get_running_loop().create_future()
    waiters.append(future)
    try:
        await future
    finally:
        if future in waiters:
            waiters.remove(future)


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for future in waiters:
        if not future.done():
            future.set_result(None)
    waiters.clear()


class AsyncSubscription:
    """An async subscriber's pump task; ``close()`` stops it after the buffered events."""

    def __init__(self, streams: Streams, callback: AsyncSubscriber, maxsize: int) -> None:
        import asyncio

        try:  # first: without a loop, nothing is subscribed
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise InvalidParameterError(
                "an async subscriber needs a running event loop", operation="subscribe_async"
            ) from None
        self._stream = EventStream(streams, maxsize=maxsize)
        self._bus = streams.bus
        self._callback = callback
        self.task = loop.create_task(self._pump())

    async def _pump(self) -> None:
        event: Event | None = None
        try:
            async for event in self._stream:
                try:
                    await self._callback(event)
                except Exception as error:
                    self._bus.report(error, event)
        except EventOverflowError as error:
            self._bus.report(error, event)
        finally:  # also when the task is cancelled: a dead subscriber holds nothing back
            self._stream.close()

    def close(self) -> None:
        self._stream.close()

    async def wait_closed(self) -> None:
        """Close and wait until every buffered event has been handled."""
        self.close()
        await self.task
