"""The "another framework" example of ``docs/server.md`` runs as written."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from callstate.api import Api
from callstate.config import load

DOC = Path(__file__).resolve().parents[1] / "docs" / "server.md"


@pytest.mark.skipif(not DOC.exists(), reason="docs/ are not beside these tests")
def test_the_standard_library_example_serves_the_api() -> None:
    code = DOC.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    config = {
        "devices": [{"dn": "15000"}],
        "users": [{"username": "agent1", "password": "pw", "role": "agent", "dn": "15000"}],
    }
    api = Api.from_config(load(config), seed=1)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), namespace["handler"](api))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/api/v2/me/devices/15000/calls"
    auth = "Basic " + base64.b64encode(b"agent1:pw").decode()
    body = json.dumps({"operationName": "Dial", "destination": {"phoneNumber": "15001"}})
    try:
        request = urllib.request.Request(url, body.encode(), {"Authorization": auth})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == {"statusCode": 0}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, body.encode()), timeout=5)
        assert refused.value.code == 401
        assert json.loads(refused.value.read())["statusCode"] == 20
        refused.value.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [c.state for c in api.switch.device("15000").calls] == ["Dialing"]
