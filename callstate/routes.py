"""Every route the server answers, one entry each: the table that ``Api`` routes by and that the
OpenAPI document (``callstate.openapi``) describes, so that neither can list a route the other
does not know. Adding a route is adding one ``Route`` here (and, for one ``Api`` answers, its
handler, which ``Api`` finds by the route's ``operation``).

A route names the models of its request and response bodies (``callstate.models``,
``callstate.schema``, and those below where no other module has one); the errors it may answer
follow from its shape (``Route.errors``): 401 unless public, 403 for a change (CSRF) or a role,
404 where the path names a resource, 400 and 413 where there is a body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from . import models
from .enums import AgentState, DeviceOperation, Operation
from .schema import MODELS, Absent

__all__ = [
    "BAYEUX",
    "ROUTES",
    "WEB_TYPES",
    "BayeuxReply",
    "FarEndRequest",
    "FarEndResponse",
    "GcResponse",
    "HealthResponse",
    "Route",
    "Router",
    "SimulatorClearRequest",
    "SimulatorResetRequest",
]

#: who serves a route: ``Api`` (REST), the CometD endpoint (``callstate.bayeux``) or the web
#: page's files (``callstate.web``)
Served = Literal["api", "bayeux", "web"]
#: the types of the web page's files (``callstate.web.FILES``), as its routes answer them
WEB_TYPES: Final = (
    "text/html; charset=utf-8",
    "text/css; charset=utf-8",
    "text/javascript; charset=utf-8",
    "application/json",
)
#: Bayeux's message types, which CometD clients append to the endpoint's path
BAYEUX: Final = ("handshake", "connect", "subscribe", "unsubscribe", "disconnect")


@dataclass(frozen=True, slots=True)
class Route:
    """One method on one path (``{name}``: a path segment, any but empty). ``request`` and
    ``response`` are types pydantic makes a JSON Schema of (a model, or a union of models);
    ``forbidden`` says who gets 403/5 (None: nobody); ``public`` routes need no user; ``query``
    and ``enums`` describe the query parameters and the path parameters of a fixed set."""

    method: str
    path: str
    operation: str
    tag: str
    summary: str
    response: Any
    request: Any = None
    forbidden: str | None = None
    public: bool = False
    #: the body names a resource that may be missing (404 without a path parameter)
    names: bool = False
    query: Mapping[str, str] = field(default_factory=dict)
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    served: Served = "api"
    #: whether a request body must be sent (``reset`` takes none, or ``{}``)
    body_required: bool = True
    #: the media types of a 200's body (the page's files: text; everything else JSON)
    types: tuple[str, ...] = ("application/json",)

    @property
    def params(self) -> tuple[str, ...]:
        """The path's parameters, in order."""
        return tuple(part[1:-1] for part in self.path.split("/") if part.startswith("{"))

    @property
    def errors(self) -> tuple[int, ...]:
        """The HTTP statuses of the refusals this route may answer (besides 405, which another
        method on its path gets)."""
        found: list[int] = []
        if self.request is not None:
            found += [400, 413]
        if not self.public:
            found.append(401)
        # a change without its CSRF token, when protection is on: what ``Api`` answers (a CometD
        # path whose parameter names no message type falls through to it)
        changes = self.method == "POST" and (self.served == "api" or bool(self.params))
        if self.forbidden is not None or (changes and not self.public):
            found.append(403)
        if self.params or self.names:
            found.append(404)
        return tuple(sorted(found))


# -- bodies no other module models -----------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HealthGauges(_Model):
    """The served process's collector (``callstate.server``)."""

    collections: list[int]
    longestMs: list[float]
    collected: list[int]
    frozen: int


class HealthResponse(_Model):
    """``GET /simulator/health``: live legs and live CometD sessions."""

    statusCode: int = 0
    calls: int
    clients: int
    gc: HealthGauges | None = None


class GcResponse(_Model):
    """``POST /simulator/gc``: one full collection."""

    statusCode: int = 0
    ms: float
    tracked: int
    unreachable: int
    frozen: int


class FarEndRequest(_Model):
    """``POST /simulator/far-end``: a scenario's far-end step."""

    # an example that rings the demo center's first agent (schemathesis sends it, so that the
    # call routes answer with real calls too)
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"external": "+14155550100", "event": "Call", "to": "15000"}]
        }
    )

    external: str = Field(min_length=1)
    event: Literal["Call", "Answer", "Hangup", "Busy"]
    to: str | None = None
    userData: dict[str, str | int] | None = Field(None, description="with Call only")


class SimulatorResetRequest(_Model):
    """``POST /simulator/reset``: no parameter (an empty body or ``{}``)."""


class SimulatorClearRequest(_Model):
    """``POST /simulator/calls/{callId}``: the simulator's one call operation."""

    operationName: Literal["ClearCall"]


class FarEndResponse(_Model):
    """The far end did it; ``callId``: the new leg of a ``Call``."""

    statusCode: int = 0
    callId: str | None = None


class BayeuxReply(BaseModel):
    """A Bayeux reply, or a message delivered on a subscribed channel (``data``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    channel: str | None = None
    successful: bool | None = None
    clientId: str | None = None
    error: str | None = None
    advice: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


class _UserOperation(_Model):
    pass


def _no_null(schema: dict[str, Any]) -> None:  # absent, not null: the switch refuses a null
    schema.pop("default", None)


class StartContactCenterSessionRequest(_UserOperation):
    operationName: Literal["StartContactCenterSession"]
    channels: Annotated[list[str] | SkipJsonSchema[None], Field(json_schema_extra=_no_null)] = None
    place: Absent = None
    loginCode: Absent = None
    queue: Absent = None
    devicePath: Absent = None


class EndContactCenterSessionRequest(_UserOperation):
    operationName: Literal["EndContactCenterSession"]


class UserReadyRequest(_UserOperation):
    operationName: Literal["Ready"]


class UserNotReadyRequest(_UserOperation):
    operationName: Literal["NotReady"]
    workMode: Literal["AfterCallWork", "AuxWork"] | None = None  # null: none given


class UserDoNotDisturbRequest(_UserOperation):
    operationName: Literal["DoNotDisturbOn", "DoNotDisturbOff"]


def _one_of(*types: Any) -> Any:
    """The request body that is any one of ``types``, told apart by ``operationName``."""
    if len(types) == 1:
        return types[0]
    union = types[0]
    for kind in types[1:]:
        union = union | kind
    return Annotated[union, Field(discriminator="operationName")]


_CALL_OPERATIONS: Final = _one_of(*(MODELS[o.value] for o in Operation if o is not Operation.DIAL))
_USER_OPERATIONS: Final = Annotated[
    StartContactCenterSessionRequest
    | EndContactCenterSessionRequest
    | UserReadyRequest
    | UserNotReadyRequest
    | UserDoNotDisturbRequest,
    Field(discriminator="operationName"),
]
#: what the CometD endpoint reads: any message object, or a batch of them; a message it cannot
#: take is answered in the reply array (``successful: false``), never by an HTTP error
_BAYEUX_BODY: Final = Annotated[
    dict[str, Any] | list[Any],
    Field(description="A Bayeux message (`channel`, `clientId`, `id`, ...) or an array of them"),
]
_ME, _SIM = "/api/v2/me", "/simulator"
_ADMIN_ONLY, _DEVICE_ONLY = "a user who is not an admin", "an admin (it owns no device)"

#: every route, REST and CometD
# fmt: off
ROUTES: Final[tuple[Route, ...]] = (
    Route(
        "GET", _ME, "getMe", "user", "The user, with the subresources asked for",
        models.UserResponse,
        query={"subresources": "`*` or a comma list of devices, channels, skills, settings, calls"},
    ),
    Route(
        "POST", _ME, "postUserOperation", "user",
        "Log in or out of the contact center, agent state on every channel",
        models.OkResponse, _USER_OPERATIONS, forbidden=_DEVICE_ONLY,
    ),
    Route("GET", f"{_ME}/channels", "getChannels", "user", "The voice channel",
          models.ChannelsResponse),
    Route("GET", f"{_ME}/skills", "getSkills", "user", "The user's skills",
          models.SkillsResponse),
    Route("POST", f"{_ME}/channels/voice", "setAgentState", "devices",
          "Set the agent state", models.OkResponse,
          _one_of(*(MODELS[s.value] for s in AgentState)), forbidden=_DEVICE_ONLY),
    Route("GET", f"{_ME}/calls", "getCalls", "calls", "The calls the user sees",
          models.CallsResponse),
    Route("GET", f"{_ME}/calls/{{callId}}", "getCall", "calls", "One call",
          models.CallResponse),
    Route("POST", f"{_ME}/calls/{{callId}}", "postCallOperation", "calls",
          "An operation on a call", models.OkResponse, _CALL_OPERATIONS,
          forbidden=_DEVICE_ONLY),
    Route("GET", f"{_ME}/devices", "getDevices", "devices", "The user's device",
          models.DevicesResponse),
    Route("GET", "/api/v2/devices", "listDevices", "devices",
          "Every device: their URIs, or with fields=* the devices",
          models.DeviceUrisResponse | models.DevicesResponse, forbidden=_ADMIN_ONLY,
          query={"fields": "`*`: the devices themselves rather than their URIs"}),
    Route("GET", "/api/v2/devices/{deviceId}", "getDevice", "devices",
          "What a deviceUri names: the device (its id or its DN)", models.DeviceResponse),
    Route("POST", f"{_ME}/devices/{{deviceId}}", "postDeviceOperation", "devices",
          "An operation on the user's device", models.OkResponse,
          _one_of(*(MODELS[o.value] for o in DeviceOperation)), forbidden=_DEVICE_ONLY),
    Route("POST", f"{_ME}/devices/{{deviceId}}/calls", "dial", "calls",
          "Dial from the user's device", models.OkResponse, MODELS[Operation.DIAL.value],
          forbidden=_DEVICE_ONLY),
    Route("GET", "/api/v2/settings", "getSettings", "settings", "The settings sections",
          models.SettingsListResponse),
    Route("GET", "/api/v2/settings/agent-states", "getAgentStates", "settings",
          "The agent states a device takes", models.AgentStatesResponse),
    Route("GET", "/api/v2/settings/{name}", "getSettingsSection", "settings",
          "One section of options", models.SettingsSectionResponse),
    Route("GET", "/api/v2/diagnostics/version", "getVersion", "settings",
          "The GWS API version", models.VersionResponse),
    Route("GET", "/api/v2/openapi.json", "getOpenApi", "meta", "This document",
          dict[str, Any], public=True),
    Route("POST", "/api/v2/notifications", "cometd", "notifications",
          "CometD (Bayeux 1.0, long-polling): one message or a batch",
          list[BayeuxReply], _BAYEUX_BODY, served="bayeux"),
    Route("POST", "/api/v2/notifications/{messageType}", "cometdMessage", "notifications",
          "CometD, with the message type after the path (Java and .NET clients)",
          list[BayeuxReply], _BAYEUX_BODY, served="bayeux",
          enums={"messageType": BAYEUX}),
    Route("GET", "/", "getPage", "web", "The web page: softphone, board and call diagram",
          str, public=True, served="web", types=WEB_TYPES[:1]),
    Route("GET", "/web/{file}", "getPageFile", "web",
          "One of the web page's files (another name: 404)", str, public=True, served="web",
          names=True, types=WEB_TYPES),
    Route("GET", f"{_SIM}/health", "getHealth", "simulator", "Live calls and CometD clients",
          HealthResponse, public=True),
    Route("POST", f"{_SIM}/far-end", "farEnd", "simulator", "Drive the far end of a call",
          FarEndResponse, FarEndRequest, forbidden=_ADMIN_ONLY, names=True),
    Route("POST", f"{_SIM}/reset", "reset", "simulator",
          "Clear every call and put every device back as it was added", models.OkResponse,
          SimulatorResetRequest, forbidden=_ADMIN_ONLY, body_required=False),
    Route("POST", f"{_SIM}/calls/{{callId}}", "clearCall", "simulator",
          "Clear a call in any state (every leg released)", models.OkResponse,
          SimulatorClearRequest, forbidden=_ADMIN_ONLY),
    Route("POST", f"{_SIM}/gc", "collectGarbage", "simulator", "Run a full collection",
          GcResponse, forbidden=_ADMIN_ONLY),
)
# fmt: on


class Router:
    """The routes on a path: literal paths by a dictionary look-up, then the templates of as many
    parts, in the table's order (so ``/settings/agent-states`` wins over ``/settings/{name}``)."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._literal: dict[str, dict[str, Route]] = {}
        by_path: dict[str, dict[str, Route]] = {}
        for route in routes:
            table = by_path if route.params else self._literal
            table.setdefault(route.path, {})[route.method] = route
        #: number of parts -> (the literal parts by index, the parameters by index, the routes)
        self._templated: dict[int, list[_Template]] = {}
        for path, methods in by_path.items():
            parts = path.split("/")
            literals = tuple((i, part) for i, part in enumerate(parts) if not part.startswith("{"))
            params = tuple((i, part[1:-1]) for i, part in enumerate(parts) if part.startswith("{"))
            self._templated.setdefault(len(parts), []).append((literals, params, methods))

    def find(self, path: str) -> tuple[Mapping[str, Route], dict[str, str]] | None:
        """The routes on ``path`` by method, and the values of its parameters (none empty);
        None if no route's path is ``path``."""
        found = self._literal.get(path)
        if found is not None:
            return found, {}
        parts = path.split("/")
        for literals, params, methods in self._templated.get(len(parts), ()):
            if all(parts[i] == part for i, part in literals):
                values = {name: parts[i] for i, name in params}
                if all(values.values()):
                    return methods, values
        return None


_Template = tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...], dict[str, Route]]
