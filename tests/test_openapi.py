"""The OpenAPI document: valid OpenAPI 3.1, one operation per route of the table ``Api`` routes
by, and served at ``/api/v2/openapi.json`` to anyone, the same bytes each time."""

from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from test_api import CONFIG, basic

from callstate.api import Api
from callstate.config import load
from callstate.openapi import document
from callstate.routes import ROUTES, Route, Router

BASE = "http://127.0.0.1:8080/api/v2"
#: what a path parameter is given when a route is tried
SAMPLE = "x"


@pytest.fixture
def api() -> Api:
    return Api.from_config(load(CONFIG), seed=1, form="8.5.2")


def test_the_document_is_valid_openapi_3_1() -> None:
    described = document(BASE)
    validate(described)  # the OpenAPI 3.1 schema, and every $ref resolves
    assert described["openapi"] == "3.1.0"
    assert described["servers"] == [{"url": "http://127.0.0.1:8080"}]
    schemes = described["components"]["securitySchemes"]
    assert schemes["basicAuth"] == {"type": "http", "scheme": "basic"}
    assert schemes["sessionCookie"]["name"] == "JSESSIONID"


def test_a_broken_document_is_caught() -> None:
    described = document(BASE)
    del described["paths"]["/api/v2/me"]["get"]["responses"]["200"]["description"]
    with pytest.raises(OpenAPIValidationError, match="description"):
        validate(described)


def test_every_route_is_one_operation() -> None:
    described = document(BASE)
    operations = {
        (method.upper(), path): operation["operationId"]
        for path, methods in described["paths"].items()
        for method, operation in methods.items()
    }
    assert operations == {(r.method, r.path): r.operation for r in ROUTES}
    assert len({r.operation for r in ROUTES}) == len(ROUTES)  # operation ids are unique


def test_bodies_come_from_the_models() -> None:
    described = document(BASE)
    schemas = described["components"]["schemas"]
    paths = described["paths"]
    ok = paths["/api/v2/me/calls/{callId}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CallResponse"
    }
    assert {"CallResource", "LegacyCallResource", "DialRequest", "ErrorResponse"} <= set(schemas)
    post = paths["/api/v2/me/calls/{callId}"]["post"]["requestBody"]["content"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in post["application/json"]["schema"]["oneOf"]}
    assert {"AnswerRequest", "HoldRequest", "SingleStepTransferRequest"} <= names
    assert "DialRequest" not in names  # Dial has its own route
    assert "$defs" not in json.dumps(described)  # hoisted into components/schemas


def test_each_operation_lists_the_refusals_of_its_route() -> None:
    paths = document(BASE)["paths"]
    statuses = {
        (method.upper(), path): " ".join(sorted(operation["responses"]))
        for path, methods in paths.items()
        for method, operation in methods.items()
    }
    assert statuses["GET", "/simulator/health"] == "200"
    assert statuses["GET", "/api/v2/me/calls"] == "200 401"
    assert statuses["GET", "/api/v2/me/calls/{callId}"] == "200 401 404"
    assert statuses["POST", "/api/v2/me/calls/{callId}"] == "200 400 401 403 404 413"
    assert statuses["POST", "/simulator/far-end"] == "200 400 401 403 404 413"
    assert statuses["POST", "/api/v2/notifications"] == "200 400 401 413"
    # an unknown message type after the CometD path is Api's to answer: 404, or 403 for a
    # change without its CSRF token
    assert statuses["POST", "/api/v2/notifications/{messageType}"] == "200 400 401 403 404 413"
    assert paths["/simulator/health"]["get"]["security"] == []
    challenge = document(BASE)["components"]["responses"]["Unauthorized"]["headers"]
    assert challenge["WWW-Authenticate"]["required"] is True


def _concrete(route: Route) -> str:
    return re.sub(r"\{[^}]+\}", SAMPLE, route.path)


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.served == "api"], ids=lambda r: f"{r.method} {r.path}"
)
@pytest.mark.parametrize("user", ["agent1", "admin"])
def test_api_answers_each_route_of_the_table(api: Api, route: Route, user: str) -> None:
    reply = api.handle(route.method, _concrete(route), b"{}", basic(user))
    answer = json.loads(reply.body)
    assert reply.status != 405
    assert "no route" not in str(answer.get("statusMessage")), answer
    assert reply.status == 200 or reply.status in route.errors, (reply.status, answer)


def test_api_answers_no_route_outside_the_table(api: Api) -> None:
    """Each path of the table with each method: 405 (with ``Allow``: the table's methods on
    that path) unless the table has that method there; a path beside them: 404."""
    served = [r for r in ROUTES if r.served == "api"]
    by_path: dict[str, set[str]] = {}
    for route in served:
        by_path.setdefault(_concrete(route), set()).add(route.method)
    for path, methods in by_path.items():
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            reply = api.handle(method, path, b"{}", basic("admin"))
            if method in methods:
                assert reply.status != 405, (method, path)
            else:
                assert reply.status == 405, (method, path)
                allowed = dict(reply.headers)["allow"]
                assert set(allowed.split(", ")) == methods, (method, path, allowed)
        assert api.handle("GET", f"{path}/{SAMPLE}/more", b"", basic("admin")).status == 404


def test_the_document_is_served_to_anyone_the_same_each_time(api: Api) -> None:
    first = api.handle("GET", "/api/v2/openapi.json")
    again = api.handle("GET", "/api/v2/openapi.json/?pretty", b"", basic("agent1", "wrong"))
    assert first.status == again.status == 200
    assert first.body is again.body  # built once
    assert json.loads(first.body) == json.loads(json.dumps(document(BASE)))
    assert first.headers == ()  # no session for nobody
    assert api.handle("POST", "/api/v2/openapi.json").status == 401
    refused = api.handle("POST", "/api/v2/openapi.json", b"{}", basic("agent1"))
    assert (refused.status, dict(refused.headers)["allow"]) == (405, "GET")


def test_the_router_prefers_a_literal_path_to_a_template() -> None:
    router = Router(ROUTES)
    found = router.find("/api/v2/settings/agent-states")
    assert found is not None
    assert found[0]["GET"].operation == "getAgentStates"
    found = router.find("/api/v2/settings/interaction-workspace")
    assert found is not None
    assert (found[0]["GET"].operation, found[1]) == (
        "getSettingsSection",
        {"name": "interaction-workspace"},
    )
    assert router.find("/api/v2/me/calls/") is None  # a parameter is never empty
    assert router.find("/api/v2/me/calls/a/b") is None


def test_the_page_routes_are_described_with_the_types_their_files_have() -> None:
    from callstate import web

    paths = document(BASE)["paths"]
    page = paths["/"]["get"]["responses"]["200"]["content"]
    files = paths["/web/{file}"]["get"]["responses"]["200"]["content"]
    assert list(page) == [web.FILES["index.html"]]
    assert set(files) == set(web.FILES.values())
    assert paths["/web/{file}"]["get"]["security"] == []
    assert "404" in paths["/web/{file}"]["get"]["responses"]
