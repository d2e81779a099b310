#!/usr/bin/env python3
"""A minimal web application that lets Converse.js log in to Prosody with one-time tokens.

    OTP_SEED=... TOKEN_SECRET=... python3 server.py --domain example.com \\
        --websocket-url ws://127.0.0.1:5280/xmpp-websocket --bosh-url http://127.0.0.1:5280/http-bind

Routes:
    GET /             the chat page (index.html), which loads Converse.js
    GET /config.json  where the page finds Prosody (WebSocket and BOSH URLs)
    GET /token        {"jid": ..., "password": <a fresh token>}: Converse's credentials_url
    GET /converse/... Converse.js's files (node_modules/converse.js/dist, from `npm ci`)

Converse fetches /token before every login, including each reconnection, so a
token is never used twice: Prosody refuses a replayed one.

THIS EXAMPLE HAS NO LOGIN. In a real application /token sits behind the
application's own login (its session cookie) and mints only for the user
that session belongs to; it never takes the username from the request. Here
`current_user()` stands in for that and returns the one user named on the
command line. Serve it over HTTPS, and keep the response uncacheable (it is a
credential); no CORS headers are sent, so other sites' pages cannot read it.

Standard library only, plus the prosody-token-auth package (pip install ./python).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from prosody_token_auth import bare_jid, make_token, nameprep, nodeprep

HERE = pathlib.Path(__file__).resolve().parent
CONVERSE_DIST = HERE / "node_modules" / "converse.js" / "dist"
PAGES = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8")}
TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".wasm": "application/wasm",
         ".svg": "image/svg+xml", ".png": "image/png", ".woff": "font/woff", ".woff2": "font/woff2",
         ".ttf": "font/ttf", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".map": "application/json"}


class Handler(BaseHTTPRequestHandler):
    server: "App"

    def current_user(self) -> Optional[str]:
        """The logged-in user of this request: in a real application, from its session."""
        return self.server.demo_user

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        path = self.path.split("?", 1)[0]
        if path == "/token":
            self.token()
        elif path == "/config.json":
            self.send_json(self.server.page_config)
        elif path in PAGES:
            name, content_type = PAGES[path]
            self.send_file(HERE / name, content_type)
        elif path.startswith("/converse/"):
            self.converse_file(path[len("/converse/"):])
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def token(self) -> None:
        user = self.current_user()
        if user is None:
            self.send_error(HTTPStatus.UNAUTHORIZED)  # not logged in to the application
            return
        app = self.server
        token = make_token(user, app.domain, app.otp_seed, app.token_secret, **app.token_options)
        # Logged without the token: a token is a password until it is used.
        self.log_message("minted a token for %s", bare_jid(user, app.domain))
        self.send_json({"jid": bare_jid(user, app.domain), "password": token})

    def converse_file(self, relative: str) -> None:
        target = (CONVERSE_DIST / relative).resolve()
        if CONVERSE_DIST.resolve() not in target.parents or not target.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self.send_file(target, TYPES.get(target.suffix, "application/octet-stream"), cache=True)

    def send_json(self, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def send_file(self, path: pathlib.Path, content_type: str, cache: bool = False) -> None:
        try:
            body = path.read_bytes()
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "run `npm ci` in examples/web first")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the http.server API)
        if not self.server.quiet or format.startswith("minted"):
            sys.stderr.write("web: " + (format % args) + "\n")
            sys.stderr.flush()


class App(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], args: argparse.Namespace, otp_seed: str, token_secret: str):
        super().__init__(address, Handler)
        # The names as Prosody keys them. A real application prepares a user's
        # name once, when it creates the account, and keeps it unique in that
        # form: make_token refuses a name that nodeprep would change.
        self.demo_user: Optional[str] = nodeprep(args.user)
        self.domain: str = nameprep(args.domain)
        self.otp_seed = otp_seed
        self.token_secret = token_secret
        self.quiet: bool = args.quiet
        # Must match the server's token_otp_* and token_nonce_length options.
        self.token_options = {"digits": args.digits, "period": args.period, "algorithm": args.algorithm,
                              "nonce_length": args.nonce_length}
        self.page_config = {"domain": args.domain, "websocket_url": args.websocket_url,
                            "bosh_service_url": args.bosh_url}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Token endpoint and Converse.js page (OTP_SEED, TOKEN_SECRET from the "
                                            "environment)")
    p.add_argument("--listen", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--domain", required=True, help="the Prosody VirtualHost")
    p.add_argument("--user", default="demo", help="the user this example mints for (it has no login)")
    p.add_argument("--websocket-url")
    p.add_argument("--bosh-url")
    p.add_argument("--digits", type=int, default=8)
    p.add_argument("--period", type=int, default=30)
    p.add_argument("--algorithm", default="SHA1")
    p.add_argument("--nonce-length", type=int, default=32)
    p.add_argument("--quiet", action="store_true", help="log only the mints, not every request")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    otp_seed, token_secret = os.environ.get("OTP_SEED"), os.environ.get("TOKEN_SECRET")
    if not otp_seed or not token_secret:
        print("server.py: set OTP_SEED and TOKEN_SECRET (Prosody's otp_seed and token_secret)", file=sys.stderr)
        return 2
    # Fail now, not at the first request, on a bad seed, secret, option or name.
    make_token(nodeprep(args.user), nameprep(args.domain), otp_seed, token_secret, digits=args.digits, period=args.period,
               algorithm=args.algorithm, nonce_length=args.nonce_length)
    app = App((args.listen, args.port), args, otp_seed, token_secret)
    print(f"listening on http://{args.listen}:{app.server_port}/", flush=True)
    try:
        app.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
