"""The OpenAPI 3.1 document of the served API (``GET /api/v2/openapi.json``): one operation per
entry of ``callstate.routes.ROUTES``, its bodies the JSON Schemas pydantic makes of the route's
models (their ``$defs`` hoisted into ``components/schemas``), its refusals the ones the route's
shape allows (``Route.errors``), each a ``{statusCode, statusMessage}`` body.

Decisions: the document is served without credentials, like ``/simulator/health`` — it tells
nothing about the center's users or calls, and tools (code generators, schemathesis, a browser)
fetch it before they know any password. A wrong method on a known path answers 405 with
``Allow``; the operations do not list it (no documented method gets it), ``info`` and
``components/responses/MethodNotAllowed`` say it.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from typing import Any, Final, Literal

from pydantic import BaseModel, TypeAdapter

from .models import ErrorResponse
from .routes import ROUTES, Route
from .users import API_VERSION

__all__ = ["OPENAPI", "document", "encoded", "server_url"]

#: the OpenAPI version written
OPENAPI: Final = "3.1.0"
_REF: Final = "#/components/schemas/{model}"
_JSON: Final = "application/json"
_ERROR: Final = {"$ref": _REF.format(model="ErrorResponse")}

_TAGS: Final = (
    ("user", "The user, its channels and skills; log in and out of the contact center"),
    ("calls", "Calls and their operations"),
    ("devices", "The user's device: its operations and agent state"),
    ("settings", "Settings a client reads at login"),
    ("notifications", "CometD (Bayeux 1.0 long-polling): call, device and channel messages"),
    ("simulator", "The simulator's own routes (outside GWS)"),
    ("meta", "This description"),
    ("web", "The web page and its files (no credentials)"),
)


def _error(description: str, header: tuple[str, str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {_JSON: {"schema": _ERROR}},
    }
    if header is not None:
        name, about = header
        response["headers"] = {
            name: {"description": about, "required": True, "schema": {"type": "string"}}
        }
    return response


#: the refusals, by HTTP status (``gws-server.md`` §1)
_RESPONSES: Final = {
    "BadRequest": _error(
        "statusCode 1: the body is not a JSON object, or a parameter is missing; "
        "statusCode 2: a parameter is invalid, or the operation cannot be done now"
    ),
    "Unauthorized": _error(
        "statusCode 20: no user (HTTP Basic credentials or a live session cookie)",
        ("WWW-Authenticate", 'Basic realm="callstate"'),
    ),
    "Forbidden": _error(
        "statusCode 3: a change without the session's CSRF token (when protection is on); "
        "statusCode 5: this user may not do it"
    ),
    "NotFound": _error("statusCode 6: no such resource (or someone else's)"),
    "MethodNotAllowed": _error(
        "statusCode 3: the path takes other methods", ("Allow", "the methods the path takes")
    ),
    "PayloadTooLarge": _error("statusCode 2: the body is over 64 KiB"),
}
_NAMES: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
}
_ABOUT: Final = """\
The Genesys Web Services 8.5 Calls API as callstate serves it, with CometD notifications and
the simulator's own routes. Every body is JSON; every refusal is `{statusCode, statusMessage}`
with the HTTP status of its statusCode (1, 2: 400; 3, 5: 403; 6: 404; 20: 401). A known path
with another method answers 405, statusCode 3, with `Allow`. A path may end with one `/`.
Users authenticate with HTTP Basic; the answer sets a `JSESSIONID` cookie that authenticates
later requests on its own."""


class _Schemas:
    """``components/schemas``, filled as the routes' bodies are converted."""

    def __init__(self) -> None:
        self.found: dict[str, Any] = {"ErrorResponse": self._plain(ErrorResponse, "serialization")}

    def of(self, kind: Any, mode: Literal["validation", "serialization"]) -> dict[str, Any]:
        """The schema of ``kind`` (a model: a ``$ref`` to it)."""
        schema = TypeAdapter(kind).json_schema(ref_template=_REF, mode=mode)
        for name, found in schema.pop("$defs", {}).items():
            self._add(name, found)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            self._add(kind.__name__, schema)
            return {"$ref": _REF.format(model=kind.__name__)}
        return schema

    def _plain(self, kind: type[BaseModel], mode: Literal["validation", "serialization"]) -> Any:
        return kind.model_json_schema(ref_template=_REF, mode=mode)

    def _add(self, name: str, schema: dict[str, Any]) -> None:
        known = self.found.setdefault(name, schema)
        if known != schema:  # two models of one name: the document would lie about one
            raise ValueError(f"two different schemas are named {name}")


def _operation(route: Route, schemas: _Schemas) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation,
        "tags": [route.tag],
        "summary": route.summary,
    }
    if route.forbidden is not None:
        operation["description"] = f"Refused to {route.forbidden} (403, statusCode 5)."
    if route.public:
        operation["security"] = []
    parameters = [_path_parameter(route, name) for name in route.params]
    parameters += [
        {"name": name, "in": "query", "required": False, "description": about,
         "schema": {"type": "string"}}
        for name, about in route.query.items()
    ]  # fmt: skip
    if parameters:
        operation["parameters"] = parameters
    if route.request is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {_JSON: {"schema": schemas.of(route.request, "validation")}},
        }
    body = schemas.of(route.response, "serialization")
    ok = {"description": "Done", "content": {kind: {"schema": body} for kind in route.types}}
    operation["responses"] = {
        "200": ok,
        **{
            str(status): {"$ref": f"#/components/responses/{_NAMES[status]}"}
            for status in route.errors
        },
    }
    return operation


def _path_parameter(route: Route, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if name in route.enums:
        schema = {"type": "string", "enum": list(route.enums[name])}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def server_url(base_uri: str) -> str:
    """The origin of the API's base URI (the routes' paths start with ``/api/v2``)."""
    parts = urllib.parse.urlsplit(base_uri)
    return f"{parts.scheme}://{parts.netloc}"


def document(base_uri: str, routes: Iterable[Route] = ROUTES) -> dict[str, Any]:
    """The OpenAPI document of ``routes``, served at ``base_uri``'s origin."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": OPENAPI,
        "info": {"title": "callstate", "version": API_VERSION, "description": _ABOUT},
        "servers": [{"url": server_url(base_uri)}],
        "tags": [{"name": name, "description": about} for name, about in _TAGS],
        "security": [{"basicAuth": []}, {"sessionCookie": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.found.items())),
            "responses": _RESPONSES,
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "JSESSIONID"},
            },
        },
    }


def encoded(base_uri: str) -> bytes:
    """``document(base_uri)`` as the bytes served."""
    return json.dumps(document(base_uri), indent=1).encode()
