"""The web example's token endpoint (examples/web/server.py) over real HTTP on 127.0.0.1.

What a browser test does not show: the response headers, the refusals, and
that the files it serves stay inside Converse's directory.
"""

import http.client
import importlib.util
import json
import threading

import pytest

from conftest import REPO

SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
SECRET = "a token secret for the endpoint"


def load_server():
    spec = importlib.util.spec_from_file_location("web_example_server", REPO / "examples" / "web" / "server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def endpoint():
    server = load_server()
    args = server.parse_args(["--port", "0", "--quiet", "--domain", "Example.COM", "--user", "Alice",
                              "--websocket-url", "ws://127.0.0.1:1/xmpp-websocket"])
    app = server.App(("127.0.0.1", 0), args, SEED, SECRET)
    thread = threading.Thread(target=app.serve_forever, daemon=True)
    thread.start()
    yield app
    app.shutdown()
    app.server_close()


def get(app, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", app.server_port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_token_is_fresh_uncacheable_and_for_the_prepared_jid(endpoint, native):
    first, body1 = get(endpoint, "/token", {"Origin": "https://elsewhere.example"})
    _, body2 = get(endpoint, "/token")
    assert first.status == 200
    assert first.getheader("Content-Type") == "application/json"
    assert first.getheader("Cache-Control") == "no-store"
    assert first.getheader("Access-Control-Allow-Origin") is None  # other sites' pages cannot read it
    one, two = json.loads(body1), json.loads(body2)
    assert one["jid"] == "alice@example.com"
    assert one["password"] != two["password"]
    script = (f'local c = {{ otp_seed = "{SEED}", token_secret = "{SECRET}" }}\n'
              f'print(tostring(token_auth.verify_token("alice", "example.com", "{one["password"]}", c)))\n')
    assert native(script) == ["true"]


def test_no_logged_in_user_no_token(endpoint):
    user, endpoint.demo_user = endpoint.demo_user, None
    try:
        response, body = get(endpoint, "/token")
        assert response.status == 401
        assert b"password" not in body
    finally:
        endpoint.demo_user = user


def test_page_and_config(endpoint):
    response, body = get(endpoint, "/")
    assert response.status == 200 and b"/app.js" in body
    response, body = get(endpoint, "/config.json")
    assert json.loads(body)["websocket_url"] == "ws://127.0.0.1:1/xmpp-websocket"


@pytest.mark.parametrize("path", ["/converse/../server.py", "/converse/%2e%2e/server.py", "/converse/../../README.md",
                                  "/server.py", "/converse/", "/tokens"])
def test_serves_nothing_outside_converse(endpoint, path):
    response, _ = get(endpoint, path)
    assert response.status == 404
