"""CometD sessions without HTTP: handshake, connect, subscriptions, delivery, drops, shutdown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from callstate import ManualClock
from callstate.api import Api
from callstate.bayeux import Bayeux
from callstate.config import Account, CometdSettings, ConfigError, UserRole, load

CONFIG = {
    "devices": [{"dn": "15000"}, {"dn": "15001"}],
    "users": [
        {"username": "agent1", "password": "pw", "role": "agent", "dn": "15000"},
        {"username": "agent2", "password": "pw", "role": "agent", "dn": "15001"},
        {"username": "admin", "password": "pw", "role": "admin"},
    ],
}


class World:
    def __init__(self, settings: CometdSettings | None = None) -> None:
        self.api = Api.from_config(load(CONFIG), seed=3)
        self.clock = ManualClock()
        self.bayeux = Bayeux(self.api.projection, settings, clock=self.clock)
        self.api.switch.subscribe(self.bayeux.publish)

    def account(self, name: str) -> Account:
        return self.api.accounts[name]

    async def send(self, user: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
        body = await self.bayeux.handle(self.account(user), list(messages))
        replies: list[dict[str, Any]] = json.loads(body)
        return replies

    async def join(self, user: str, channel: str = "/v2/me/calls") -> str:
        [hello] = await self.send(
            user,
            {
                "channel": "/meta/handshake",
                "version": "1.0",
                "supportedConnectionTypes": ["long-polling"],
                "id": "1",
            },
        )
        assert hello["successful"]
        assert hello["id"] == "1"
        client = str(hello["clientId"])
        [sub] = await self.send(
            user, {"channel": "/meta/subscribe", "clientId": client, "subscription": channel}
        )
        assert sub["successful"], sub
        [first] = await self.send(user, connect(client))  # the first connect answers at once
        assert first["successful"]
        return client

    async def poll(self, user: str, client: str, timeout: float = 0) -> list[dict[str, Any]]:
        message = connect(client)
        if timeout == 0:
            message["advice"] = {"timeout": 0}
        return await self.send(user, message)

    def dial(self) -> str:
        return self.api.switch.device("15000").dial("15001").id


def connect(client: str) -> dict[str, Any]:
    return {"channel": "/meta/connect", "clientId": client, "connectionType": "long-polling"}


def states(replies: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["data"]["phoneNumber"], r["data"]["call"]["state"]) for r in replies if "data" in r]


@pytest.mark.asyncio
async def test_each_agent_gets_its_own_legs_and_the_admin_every_leg() -> None:
    world = World()
    one, two, boss = [await world.join(u) for u in ("agent1", "agent2", "admin")]
    world.dial()
    assert states(await world.poll("agent1", one)) == [("15000", "Dialing")]
    assert states(await world.poll("agent2", two)) == [("15001", "Ringing")]
    assert states(await world.poll("admin", boss)) == [("15000", "Dialing"), ("15001", "Ringing")]
    assert states(await world.poll("agent1", one)) == []  # delivered once


@pytest.mark.asyncio
async def test_a_held_connect_returns_as_soon_as_a_message_is_queued() -> None:
    world = World()
    client = await world.join("agent1")
    held = asyncio.ensure_future(world.poll("agent1", client, timeout=25))
    await asyncio.sleep(0.01)
    assert not held.done()
    world.dial()
    replies = await asyncio.wait_for(held, 1)
    assert states(replies) == [("15000", "Dialing")]
    assert replies[-1]["channel"] == "/meta/connect"
    assert replies[-1]["successful"]


@pytest.mark.asyncio
async def test_a_held_connect_times_out_empty() -> None:
    world = World(CometdSettings(timeout=0.05))
    client = await world.join("agent1")
    replies = await asyncio.wait_for(world.poll("agent1", client, timeout=1), 1)
    assert [r["channel"] for r in replies] == ["/meta/connect"]
    assert replies[0]["advice"]["reconnect"] == "retry"


@pytest.mark.asyncio
async def test_a_newer_connect_answers_the_held_one() -> None:
    world = World()
    client = await world.join("agent1")
    first = asyncio.ensure_future(world.poll("agent1", client, timeout=25))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(world.poll("agent1", client, timeout=25))
    await asyncio.sleep(0.01)
    assert first.done()
    assert not second.done()
    world.dial()
    assert states(await asyncio.wait_for(second, 1)) == [("15000", "Dialing")]


@pytest.mark.asyncio
async def test_a_client_id_belongs_to_its_user() -> None:
    world = World()
    client = await world.join("agent1")
    world.dial()
    [reply] = await world.send("agent2", connect(client))
    assert not reply["successful"]
    assert reply["error"].startswith("402::")
    assert reply["advice"]["reconnect"] == "handshake"
    [sub] = await world.send(
        "agent2", {"channel": "/meta/subscribe", "clientId": client, "subscription": "/v2/me/calls"}
    )
    assert sub["error"].startswith("402::")
    assert states(await world.poll("agent1", client)) == [("15000", "Dialing")]  # still its own


@pytest.mark.parametrize(
    "channel",
    [
        "/meta/connect",
        "/meta/**",
        "/service/x",
        "/foo/bar",
        "/v2",
        "/v2/",
        "/v2//calls",
        "/v2/me/*/calls",
        "/v2/me/ca*",
        "/v2/me/***",
        "v2/me/calls",
        5,
        None,
        [],
        ["/v2/me/calls", "/meta/connect"],
    ],
)
@pytest.mark.asyncio
async def test_only_channels_under_v2_and_the_root_wildcards_can_be_subscribed(
    channel: Any,
) -> None:
    world = World()
    [hello] = await world.send("agent1", {"channel": "/meta/handshake"})
    [reply] = await world.send(
        "agent1",
        {"channel": "/meta/subscribe", "clientId": hello["clientId"], "subscription": channel},
    )
    assert not reply["successful"]
    assert reply["error"] == "403::subscription denied"


@pytest.mark.asyncio
async def test_publishing_and_unknown_meta_channels_are_refused() -> None:
    world = World()
    [hello] = await world.send("agent1", {"channel": "/meta/handshake"})
    client = hello["clientId"]
    [pub, meta, bad, nothing] = await world.send(
        "agent1",
        {"channel": "/v2/me/calls", "clientId": client, "data": {}},
        {"channel": "/meta/whatever", "clientId": client},
        {"channel": 7, "clientId": client},
        "not a message",  # type: ignore[arg-type]
    )
    assert pub["error"] == "403::publish denied"
    assert meta["error"].startswith("404::")
    assert bad["error"].startswith("400::")
    assert nothing["error"].startswith("400::")


@pytest.mark.asyncio
async def test_a_handshake_without_long_polling_is_refused() -> None:
    world = World()
    [reply] = await world.send(
        "agent1", {"channel": "/meta/handshake", "supportedConnectionTypes": ["websocket"]}
    )
    assert not reply["successful"]
    assert world.bayeux.clients == 0


@pytest.mark.asyncio
async def test_unsubscribe_stops_delivery() -> None:
    world = World()
    client = await world.join("agent1")
    [reply] = await world.send(
        "agent1",
        {"channel": "/meta/unsubscribe", "clientId": client, "subscription": ["/v2/me/calls"]},
    )
    assert reply["successful"]
    assert reply["subscription"] == ["/v2/me/calls"]
    world.dial()
    assert states(await world.poll("agent1", client)) == []


@pytest.mark.asyncio
async def test_overflow_drops_the_client_and_says_handshake() -> None:
    world = World(CometdSettings(queue_limit=3))
    client = await world.join("agent1")
    device = world.api.switch.device("15000")
    for _ in range(4):
        device.dial("+14155550100")
    assert world.bayeux.clients == 0
    [reply] = await world.poll("agent1", client)
    assert not reply["successful"]
    assert "overflow" in reply["error"]
    assert reply["advice"]["reconnect"] == "handshake"
    again = await world.join("agent1")  # a new session, then GET /me/calls
    device.dial("+14155550100")
    assert states(await world.poll("agent1", again)) == [("15000", "Dialing")]


@pytest.mark.asyncio
async def test_overflow_while_a_connect_is_held_answers_it_with_handshake() -> None:
    world = World(CometdSettings(queue_limit=2))
    client = await world.join("agent1")
    held = asyncio.ensure_future(world.poll("agent1", client, timeout=25))
    await asyncio.sleep(0.01)
    for _ in range(3):  # one burst: the held connect has no turn in between
        world.api.switch.device("15000").dial("+14155550100")
    [reply] = await asyncio.wait_for(held, 1)
    assert reply["advice"]["reconnect"] == "handshake"
    assert not reply["successful"]


@pytest.mark.asyncio
async def test_a_client_that_stops_polling_is_dropped() -> None:
    world = World(CometdSettings(max_interval=10))
    quiet = await world.join("agent1")
    busy = await world.join("agent2")
    held = asyncio.ensure_future(world.poll("agent2", busy, timeout=25))
    await asyncio.sleep(0.01)
    world.clock.now += 11
    assert world.bayeux.sweep() == 1  # the held one is polling
    [reply] = await world.poll("agent1", quiet)
    assert reply["advice"]["reconnect"] == "handshake"
    held.cancel()


@pytest.mark.asyncio
async def test_close_answers_held_connects_with_handshake() -> None:
    world = World()
    client = await world.join("agent1")
    held = asyncio.ensure_future(world.poll("agent1", client, timeout=25))
    await asyncio.sleep(0.01)
    world.bayeux.close()
    replies = await asyncio.wait_for(held, 1)
    assert replies[-1]["successful"]
    assert replies[-1]["advice"]["reconnect"] == "handshake"
    [hello] = await world.send("agent1", {"channel": "/meta/handshake"})
    assert not hello["successful"]


@pytest.mark.asyncio
async def test_disconnect_ends_the_session() -> None:
    world = World()
    client = await world.join("agent1")
    [bye] = await world.send("agent1", {"channel": "/meta/disconnect", "clientId": client, "id": 9})
    assert bye["successful"]
    assert bye["id"] == 9
    assert world.bayeux.clients == 0
    world.dial()
    [reply] = await world.poll("agent1", client)
    assert reply["error"] == "402::disconnected"
    assert reply["advice"]["reconnect"] == "none"
    [again] = await world.poll("agent1", client)
    assert again["error"] == "402::unknown client"


@pytest.mark.asyncio
async def test_one_message_object_is_shared_by_every_session() -> None:
    world = World()
    boxes: list[Any] = []
    for _ in range(3):
        await world.join("agent1")
    world.dial()
    for session in world.bayeux._sessions.values():
        boxes.extend(session.queue)
    assert len(boxes) == 3
    assert all(b is boxes[0] for b in boxes)


@pytest.mark.asyncio
async def test_a_batch_is_answered_in_order_with_ids_echoed() -> None:
    world = World()
    [hello] = await world.send(
        "agent1", {"channel": "/meta/handshake", "id": 12345678901234567890123}
    )
    client = hello["clientId"]
    replies = await world.send(
        "agent1",
        {
            "channel": "/meta/subscribe",
            "clientId": client,
            "subscription": "/v2/me/calls",
            "id": "a",
        },
        {**connect(client), "id": "b"},
    )
    assert [r["id"] for r in replies] == ["a", "b"]
    assert hello["id"] == 12345678901234567890123


@pytest.mark.asyncio
async def test_a_superseded_connect_takes_no_message() -> None:
    """A connect woken by a newer one of the same client answers empty: its client may be gone,
    and the newer connect is the one that delivers."""
    world = World()
    client = await world.join("agent1")
    first = asyncio.ensure_future(world.poll("agent1", client, timeout=25))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(world.poll("agent1", client, timeout=25))
    world.dial()  # published before the first one had its turn to answer
    assert states(await asyncio.wait_for(first, 1)) == []
    assert states(await asyncio.wait_for(second, 1)) == [("15000", "Dialing")]


@pytest.mark.asyncio
async def test_one_post_holds_at_most_one_connect() -> None:
    world = World(CometdSettings(timeout=0.3))
    client = await world.join("agent1")
    replies = await asyncio.wait_for(  # one hold of 0.3 s, not three
        world.send("agent1", connect(client), connect(client), connect(client)), 0.6
    )
    assert [r["channel"] for r in replies] == ["/meta/connect"] * 3


@pytest.mark.asyncio
async def test_why_a_client_was_dropped_is_told_to_its_own_user_only() -> None:
    world = World(CometdSettings(queue_limit=1))
    client = await world.join("agent1")
    for _ in range(2):
        world.api.switch.device("15000").dial("+14155550100")
    [stranger] = await world.poll("agent2", client)
    assert stranger["error"] == "402::unknown client"
    [owner] = await world.poll("agent1", client)
    assert "overflow" in owner["error"]


@pytest.mark.asyncio
async def test_a_held_connect_of_a_client_that_went_away_takes_nothing() -> None:
    world = World()
    client = await world.join("agent1")
    left = asyncio.Event()

    async def gone() -> None:
        await left.wait()

    held = asyncio.ensure_future(
        world.bayeux.handle(world.account("agent1"), [connect(client)], gone)
    )
    await asyncio.sleep(0.01)
    left.set()
    assert await asyncio.wait_for(held, 1) is None
    world.dial()
    assert states(await world.poll("agent1", client)) == [("15000", "Dialing")]


def test_accounts_are_bound_to_roles() -> None:
    config = load(CONFIG)
    assert [a.role for a in config.users] == [UserRole.AGENT, UserRole.AGENT, UserRole.ADMIN]
    assert "pw" not in repr(config.users[0])


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("not json", "not JSON"),
        ([], "JSON object"),
        ({"devices": []}, "'users'"),
        ({"devices": [], "users": []}, "no users"),
        ({"devices": [{"dn": "x"}], "users": []}, "digits"),
        ({"devices": [{"dn": "1"}, {"dn": "1"}], "users": []}, "twice"),
        ({"devices": [{"dn": "1", "features": ["fly"]}], "users": []}, "fly"),
        (
            {
                "devices": [{"dn": "1"}],
                "users": [{"username": "a", "password": "p", "role": "agent"}],
            },
            "dn",
        ),
        ({"devices": [], "users": [{"username": "a", "password": "p", "role": "king"}]}, "role"),
        (
            {"devices": [], "users": [{"username": "a", "password": "", "role": "admin"}]},
            "password",
        ),
        ({"devices": [], "users": [{"username": "a:b", "password": "p", "role": "admin"}]}, "':'"),
        (
            {
                "devices": [{"dn": "1"}],
                "users": [{"username": "a", "password": "p", "role": "admin", "dn": "1"}],
            },
            "admin owns",
        ),
        (
            {"devices": [], "users": [{"username": "a", "password": "p", "role": "admin"}] * 2},
            "twice",
        ),
        ({"devices": [], "users": [], "extra": 1}, "unknown key"),
        (
            {
                "devices": [],
                "users": [{"username": "a", "password": "p", "role": "admin"}],
                "cometd": {"timeout": 0},
            },
            "timeout",
        ),
        (
            {
                "devices": [],
                "users": [{"username": "a", "password": "p", "role": "admin"}],
                "cometd": {"queueLimit": 1.5},
            },
            "queueLimit",
        ),
        (
            {
                "devices": [],
                "users": [{"username": "a", "password": "p", "role": "admin"}],
                "cometd": {"maxInterval": True},
            },
            "maxInterval",
        ),
    ],
)
def test_a_bad_config_is_refused_in_one_line(config: Any, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(config if isinstance(config, str) else json.dumps(config))
    message = str(refused.value)
    assert says in message
    assert "\n" not in message


@pytest.mark.asyncio
async def test_device_messages_go_to_the_devices_own_user() -> None:
    world = World()
    mine = await world.join("agent1", "/v2/me/devices")
    calls_only = await world.join("agent1")
    other = await world.join("agent2", "/v2/me/devices")
    admin = await world.join("admin", "/v2/me/devices")
    world.api.switch.device("15000").operate("Ready")
    [message, _] = await world.poll("agent1", mine)
    assert message["channel"] == "/v2/me/devices"
    assert message["data"]["devices"][0]["userState"]["state"] == "Ready"
    assert len(await world.poll("agent1", calls_only)) == 1  # the connect reply alone
    assert len(await world.poll("agent2", other)) == 1
    assert len(await world.poll("admin", admin)) == 1  # an admin owns no device


def channels(replies: list[dict[str, Any]]) -> list[str]:
    return [r["channel"] for r in replies if "data" in r]


@pytest.mark.parametrize(
    ("subscriptions", "topics"),
    [
        (["/**"], {"/v2/me/calls", "/v2/me/devices", "/v2/me/channels"}),
        (["/v2/**"], {"/v2/me/calls", "/v2/me/devices", "/v2/me/channels"}),
        (["/v2/me/*"], {"/v2/me/calls", "/v2/me/devices", "/v2/me/channels"}),
        (
            ["/v2/me/**", "/v2/me/calls", "/**"],
            {"/v2/me/calls", "/v2/me/devices", "/v2/me/channels"},
        ),
        (["/*"], set()),
        (["/v2/*"], set()),
        (["/v2/me/chats", "/v2/me/emails", "/v2/me/workitems", "/v2/me/interactions"], set()),
        (["/v2/me/channels"], {"/v2/me/channels"}),
    ],
)
@pytest.mark.asyncio
async def test_wildcards_deliver_each_message_once(
    subscriptions: list[str], topics: set[str]
) -> None:
    world = World()
    client = await world.join("agent1", subscriptions[0])
    for extra in subscriptions[1:]:
        [sub] = await world.send(
            "agent1", {"channel": "/meta/subscribe", "clientId": client, "subscription": extra}
        )
        assert sub["successful"], sub
    world.dial()  # agent1's call, and agent2's (not agent1's to see)
    world.api.switch.device("15000").operate("Ready")
    world.api.switch.device("15001").operate("Ready")
    got = channels(await world.poll("agent1", client))
    expected = [t for t in ("/v2/me/calls", "/v2/me/devices", "/v2/me/channels") if t in topics]
    assert got == expected  # one call message, one device message, one channel message


@pytest.mark.asyncio
async def test_unsubscribing_one_pattern_keeps_what_another_matches() -> None:
    world = World()
    client = await world.join("agent1", "/v2/me/*")
    await world.send(
        "agent1", {"channel": "/meta/subscribe", "clientId": client, "subscription": "/v2/me/calls"}
    )
    await world.send(
        "agent1", {"channel": "/meta/unsubscribe", "clientId": client, "subscription": "/v2/me/*"}
    )
    world.dial()
    world.api.switch.device("15000").operate("Ready")
    assert channels(await world.poll("agent1", client)) == ["/v2/me/calls"]
    await world.send(
        "agent1",
        {"channel": "/meta/unsubscribe", "clientId": client, "subscription": "/v2/me/calls"},
    )
    world.api.switch.device("15000").operate("NotReady")
    world.dial()
    assert channels(await world.poll("agent1", client)) == []


@pytest.mark.asyncio
async def test_the_voice_channel_tells_agent_state_and_do_not_disturb_only() -> None:
    world = World()
    client = await world.join("agent1", "/v2/me/channels")
    device = world.api.switch.device("15000")
    device.operate("Ready")
    device.operate("Ready")  # set again: told again, as on /v2/me/devices
    device.operate("ForwardCallsOn", forwardTo="15001")  # not the channel's news
    device.operate("DoNotDisturbOn")
    device.operate("AuxWork")
    replies = [r for r in await world.poll("agent1", client) if "data" in r]
    assert [r["data"]["messageType"] for r in replies] == ["ChannelStateChangeMessageV2"] * 4
    shown = [r["data"]["channels"] for r in replies]
    assert [c[0]["userState"]["state"] for c in shown] == ["Ready", "Ready", "Ready", "NotReady"]
    assert [c[0]["dndState"] for c in shown] == ["Off", "Off", "On", "On"]
    assert shown[-1] == [
        {
            "channel": "voice",
            "phoneNumber": "15000",
            "dndState": "On",
            "userState": {
                "id": "2B36138D-C564-4562-A8CB-3C32D564F296",
                "displayName": "AuxWork",
                "state": "NotReady",
                "workMode": "AuxWork",
            },
        }
    ]


@pytest.mark.asyncio
async def test_an_admin_on_every_topic_sees_every_call_and_no_device() -> None:
    world = World()
    client = await world.join("admin", "/**")
    world.dial()
    world.api.switch.device("15000").operate("Ready")
    got = channels(await world.poll("admin", client))
    assert got == ["/v2/me/calls", "/v2/me/calls"]  # both legs, nobody's device


@pytest.mark.asyncio
async def test_a_user_past_its_session_cap_loses_its_oldest_session() -> None:
    world = World(CometdSettings(sessions_per_user=2))
    first = await world.join("agent1")
    second = await world.join("agent1")
    other = await world.join("agent2")
    third = await world.join("agent1")
    assert world.bayeux.clients == 3
    [reply] = await world.poll("agent1", first)
    assert reply["error"] == "402::too many sessions of this user: the oldest was dropped"
    assert reply["advice"]["reconnect"] == "handshake"
    world.dial()
    for user, client in (("agent1", second), ("agent1", third), ("agent2", other)):
        assert len(states(await world.poll(user, client))) == 1


@pytest.mark.asyncio
async def test_a_session_whose_unread_bytes_pass_the_bound_is_dropped() -> None:
    world = World(CometdSettings(queue_bytes=3000))
    client = await world.join("agent1")
    device = world.api.switch.device("15000")
    call = world.dial()
    device.perform(call, "AttachUserData", userData={"k": "v" * 200})
    assert world.bayeux.clients == 1  # two messages: under the bound
    for i in range(10):
        device.perform(call, "UpdateUserData", userData={"k": str(i) * 300})
    assert world.bayeux.clients == 0
    [reply] = await world.poll("agent1", client)
    assert reply["error"].startswith("402::queue overflow")
    assert reply["advice"]["reconnect"] == "handshake"


@pytest.mark.parametrize(
    ("cometd", "words"),
    [
        ({"sessionsPerUser": 0}, "cometd.sessionsPerUser must be an integer from 1"),
        ({"queueBytes": 10}, "cometd.queueBytes must be an integer from 1024"),
        ({"queueBytes": 2.5e6}, "cometd.queueBytes must be an integer"),
    ],
)
def test_bad_session_bounds_are_refused(cometd: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load({**CONFIG, "cometd": cometd})


@pytest.mark.asyncio
async def test_a_forwarding_change_alone_is_not_the_channels_news_even_first() -> None:
    world = World()
    client = await world.join("agent1", "/v2/me/**")
    world.api.switch.device("15000").operate("ForwardCallsOn", forwardTo="15001")
    assert channels(await world.poll("agent1", client)) == ["/v2/me/devices"]


@pytest.mark.asyncio
async def test_a_session_subscribes_to_at_most_256_channels() -> None:
    world = World()
    client = await world.join("agent1", "/v2/me/calls")
    many = [f"/v2/me/x{i}" for i in range(255)]
    [ok] = await world.send(
        "agent1", {"channel": "/meta/subscribe", "clientId": client, "subscription": many}
    )
    assert ok["successful"]
    [refused] = await world.send(
        "agent1", {"channel": "/meta/subscribe", "clientId": client, "subscription": "/v2/me/y"}
    )
    assert refused["error"] == "403::subscription denied: at most 256 channels a session"
    [again] = await world.send(
        "agent1", {"channel": "/meta/subscribe", "clientId": client, "subscription": "/v2/me/x0"}
    )
    assert again["successful"]  # one already held


@pytest.mark.asyncio
async def test_a_first_held_connect_ends_within_the_timeout_and_later_ones_near_it() -> None:
    world = World(CometdSettings(timeout=0.4))
    clients = [await world.join("agent1") for _ in range(8)]
    loop = asyncio.get_running_loop()

    async def hold(client: str) -> float:
        started = loop.time()
        await world.poll("agent1", client, timeout=1)
        return loop.time() - started

    # sessions that began together spread over one timeout (at least a tenth of it)...
    first = await asyncio.gather(*(hold(c) for c in clients))
    assert all(0.035 <= t <= 0.45 for t in first), first
    assert max(first) - min(first) > 0.05
    # ...and each later connect is held the timeout, less up to a tenth
    later = await asyncio.gather(*(hold(c) for c in clients))
    assert all(0.35 <= t <= 0.45 for t in later), later
    assert max(later) - min(later) > 0.002  # not all in the same instant


async def _parked(
    world: World, user: str, *messages: dict[str, Any]
) -> tuple[bool, asyncio.Future[bytes | None], asyncio.Future[None]]:
    """``Bayeux.park``: whether it took the messages, the answer it gives, the client's going."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes | None] = loop.create_future()
    gone: asyncio.Future[None] = loop.create_future()
    took = world.bayeux.park(world.account(user), list(messages), gone, answer.set_result)
    return took, answer, gone


@pytest.mark.asyncio
async def test_a_parked_poll_ends_as_a_held_connect_does() -> None:
    world = World(CometdSettings(timeout=5))
    client = await world.join("agent1")
    # a message: the parked connect answers with it, then its own reply
    took, answer, _ = await _parked(world, "agent1", connect(client))
    assert took
    call_id = world.dial()
    replies = json.loads(await asyncio.wait_for(answer, 1))
    assert states(replies) == [("15000", "Dialing")]
    assert replies[-1]["channel"] == "/meta/connect"
    assert replies[-1]["successful"]
    # a newer connect answers the parked one, without messages; the newer one takes them
    took, first, _ = await _parked(world, "agent1", connect(client))
    assert took
    newer = asyncio.ensure_future(world.send("agent1", connect(client)))
    [superseded] = json.loads(await asyncio.wait_for(first, 1))
    assert superseded["successful"]
    world.api.switch.call(call_id).perform("Hangup")
    assert states(await asyncio.wait_for(newer, 1)) == [("15000", "Released")]
    # the client goes: nothing is answered, its messages stay queued for its next connect
    took, lost, gone = await _parked(world, "agent1", connect(client))
    gone.set_result(None)
    assert await asyncio.wait_for(lost, 1) is None
    # dropped while parked (a disconnect): the connect says so
    took, dropped, _ = await _parked(world, "agent1", connect(client))
    await world.send("agent1", {"channel": "/meta/disconnect", "clientId": client})
    [why] = json.loads(await asyncio.wait_for(dropped, 1))
    assert why["error"] == "402::disconnected"
    # shutdown answers a parked connect at once, with advice handshake
    again = await world.join("agent1")
    took, stopping, _ = await _parked(world, "agent1", connect(again))
    world.bayeux.close()
    [last] = json.loads(await asyncio.wait_for(stopping, 1))
    assert last["advice"]["reconnect"] == "handshake"


@pytest.mark.asyncio
async def test_park_takes_only_a_lone_connect_that_would_wait() -> None:
    world = World(CometdSettings(timeout=5))
    client = await world.join("agent1")
    assert not (await _parked(world, "agent1", connect(client), connect(client)))[0]
    assert not (await _parked(world, "agent2", connect(client)))[0]  # another user's client
    quick = {**connect(client), "advice": {"timeout": 0}}
    assert not (await _parked(world, "agent1", quick))[0]
    world.dial()  # a message waits: answered at once by handle
    assert not (await _parked(world, "agent1", connect(client)))[0]
    fresh = await world.send(
        "agent1", {"channel": "/meta/handshake", "supportedConnectionTypes": ["long-polling"]}
    )
    assert not (await _parked(world, "agent1", connect(fresh[0]["clientId"])))[0]  # first
