"""Delivery: a request's events, in order, to every subscriber that wants them.

The bus knows nothing of calls but the DN of the device an event belongs to. A subscriber is
either switch-wide or for one device; each event goes to the switch-wide subscribers and to the
subscribers of its own device, in the order they subscribed. Subscribers of other devices cost
nothing (one dictionary lookup per event, however many there are).

Events of one request are handed over once the request is done. A subscriber may itself make
requests: their events are queued behind the ones being delivered, so every subscriber sees
every event in the order the events happened.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable

from .events import Event

__all__ = ["Bus", "ErrorHandler", "Subscriber", "Subscription", "log_subscriber_error"]

Subscriber = Callable[[Event], object]
ErrorHandler = Callable[[Exception, Event | None], object]

_LOG = logging.getLogger("callstate")


def log_subscriber_error(error: Exception, event: Event | None) -> None:
    """The default ``on_subscriber_error``: log it on the ``callstate`` logger."""
    _LOG.error("subscriber failed on %r", event, exc_info=error)


class Subscription:
    """Handle returned by ``subscribe``; call it (or ``close()``) to unsubscribe."""

    __slots__ = ("_bus", "_callback", "_device")

    def __init__(self, bus: Bus, callback: Subscriber, device: str | None) -> None:
        self._bus = bus
        self._callback = callback
        self._device = device

    def close(self) -> None:
        self._bus.unsubscribe(self._callback, self._device)

    __call__ = close

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus:
    """Subscribers, switch-wide or per device, and in-order delivery to them."""

    __slots__ = ("_delivering", "_order", "_queue", "_routes", "_wide", "on_error")

    def __init__(self, on_error: ErrorHandler | None = None) -> None:
        self.on_error: ErrorHandler = on_error or log_subscriber_error
        #: every subscription in the order it was made: (callback, device or None)
        self._order: list[tuple[Subscriber, str | None]] = []
        #: switch-wide subscribers, and per device DN: the subscribers its events go to
        self._wide: tuple[Subscriber, ...] = ()
        self._routes: dict[str, tuple[Subscriber, ...]] = {}
        self._queue: deque[Event] = deque()
        self._delivering = False

    def subscribe(self, callback: Subscriber, device: str | None = None) -> Subscription:
        """Deliver every future event (of ``device`` only, if given) to ``callback``."""
        self._order.append((callback, device))
        self._reroute()
        return Subscription(self, callback, device)

    def unsubscribe(self, callback: Subscriber, device: str | None = None) -> None:
        for i, (subscribed, where) in enumerate(self._order):
            if subscribed is callback and where == device:
                del self._order[i]
                self._reroute()
                return

    def _reroute(self) -> None:
        self._wide = tuple(callback for callback, device in self._order if device is None)
        devices = {device for _, device in self._order if device is not None}
        self._routes = {
            dn: tuple(c for c, device in self._order if device is None or device == dn)
            for dn in devices
        }

    def publish(self, events: Iterable[Event]) -> None:
        """Deliver ``events`` in order, then whatever subscribers' own requests queued meanwhile;
        during a delivery, queue them behind the events being delivered."""
        queue = self._queue
        if self._delivering:
            queue.extend(events)
            return
        self._delivering = True
        try:
            while True:
                for event in events:
                    routes = self._routes  # read per event: a subscriber may subscribe others
                    # a call event's leg and a device event's device both name their DN
                    subscribers = routes.get(event[0].device, self._wide) if routes else self._wide
                    for subscriber in subscribers:
                        try:
                            subscriber(event)
                        except Exception as error:
                            self.report(error, event)
                if not queue:
                    return
                events = list(queue)
                queue.clear()
        finally:
            self._delivering = False

    def report(self, error: Exception, event: Event | None) -> None:
        """Hand a subscriber's error to ``on_error``; if that fails too, log both."""
        try:
            self.on_error(error, event)
        except Exception as handler_error:
            _LOG.error("on_subscriber_error failed on %r", error, exc_info=handler_error)
            log_subscriber_error(error, event)
