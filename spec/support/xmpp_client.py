#!/usr/bin/python3
"""Log in to an XMPP server once and report the outcome as one JSON line.

Used by the end-to-end specs (Prosody, ejabberd) and scripts/demo. The normal
path is slixmpp, a real client library: PLAIN is slixmpp's own mechanism and
X-TOKEN is registered as a custom slixmpp SASL mechanism
(authzid NUL authcid NUL token, credentials SASLprepped like PLAIN).
--token-hex and --raw-sasl-hex bypass the client-side SASLprep so that tests can
send NUL bytes, invalid UTF-8 and trailing fields; they still go through
slixmpp's stream and SASL machinery.

    /usr/bin/python3 spec/support/xmpp_client.py --port N --jid user@host \\
        --mech X-TOKEN|PLAIN|OAUTHBEARER \\
        (--password TOKEN | --token-hex HEX | --password-file F | --raw-sasl-hex HEX) \\
        [--tls none|starttls|direct --ca-file CA.pem] \\
        [--authzid A] [--address 127.0.0.1] [--timeout 10] [--hold SECONDS]

--tls starttls upgrades the connection with STARTTLS (a login that ends up
without TLS is reported as condition "tls-not-used"); --tls direct speaks TLS from the first byte (Prosody's
c2s_direct_tls_ports / legacy_ssl_ports); either verifies the server's
certificate for the JID's host against --ca-file. --tls none (the default)
never starts TLS and lets slixmpp send PLAIN unencrypted.

Output, exactly one line on stdout:
    {"ok": true, "jid": "<bound full jid>", "tls": "TLSv1.3" (null without TLS)}
    {"ok": false, "condition": "<sasl condition>", "text": "..."}
Exit status: 0 when the server answered (success, or SASL <failure/>, or the
mechanism was not offered: condition "mechanism-not-offered", with the offered
"mechanisms"); 1 when no answer came (condition "timeout", "disconnected",
"stream-error", "connection-failed", "tls-not-used"), 2 for bad arguments or a client crash.
With --hold S after a success: a second line when the server closes the
session or S seconds pass: {"closed": true, "condition": "<stream error>", "text": "..."}
or {"closed": false}.
"""

import argparse
import asyncio
import json
import logging
import ssl
import sys
from pathlib import Path

from slixmpp import ClientXMPP
from slixmpp.util.sasl.client import Mech, sasl_mech, MECHANISMS

# slixmpp picks the highest score among offered mechanisms; --mech limits the
# choice to one anyway.
@sasl_mech(50)
class XToken(Mech):
    """X-TOKEN: exactly like PLAIN on the wire: authzid NUL authcid NUL token."""

    name = "X-TOKEN"
    required_credentials = {"username", "password"}
    optional_credentials = {"authzid"}
    security = {"encrypted", "unencrypted_plain"}

    def process(self, challenge=b""):
        creds = self.credentials
        return creds["authzid"] + b"\x00" + creds["username"] + b"\x00" + creds["password"]


@sasl_mech(50)
class OAuthBearer(Mech):
    """OAUTHBEARER (RFC 7628): a GS2 header, then auth=Bearer TOKEN; to an
    error challenge it answers the single byte 0x01, as the RFC says."""

    name = "OAUTHBEARER"
    required_credentials = {"password"}
    optional_credentials = {"authzid"}
    security = {"encrypted", "unencrypted_plain"}

    def process(self, challenge=b""):
        if challenge:
            return b"\x01"
        authzid = self.credentials["authzid"]
        header = b"n,a=" + authzid + b"," if authzid else b"n,,"
        return header + b"\x01auth=Bearer " + self.credentials["password"] + b"\x01\x01"


class RawMessage(Mech):
    """Sends a prepared SASL message byte for byte (tests of malformed input)."""

    required_credentials = {"raw_sasl"}

    def process(self, challenge=b""):
        return self.credentials["raw_sasl"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--jid", required=True, help="user@host (a resource is chosen by the server)")
    p.add_argument("--mech", required=True, choices=["X-TOKEN", "PLAIN", "OAUTHBEARER"])
    secret = p.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password", help="the token (or password), as text")
    secret.add_argument("--token-hex", help="the token as hex bytes, sent without SASLprep")
    secret.add_argument("--password-file", help="read the token from this file (one trailing newline is dropped)")
    secret.add_argument("--raw-sasl-hex", help="the whole SASL message as hex bytes")
    p.add_argument("--authzid", default="", help="authorization identity (default empty)")
    p.add_argument("--tls", choices=["none", "starttls", "direct"], default="none")
    p.add_argument("--ca-file", help="the CA that signed the server's certificate (PEM)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--hold", type=float, default=0.0, help="after a success, wait this long for the server to close")
    p.add_argument("--debug", action="store_true", help="slixmpp debug log on stderr")
    args = p.parse_args(argv)
    if args.tls != "none" and args.ca_file is None:
        p.error("--tls %s needs --ca-file" % args.tls)
    return args


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL,
                        format="%(levelname)s %(name)s %(message)s", stream=sys.stderr)

    password = args.password
    if args.password_file is not None:
        with open(args.password_file, encoding="utf-8") as f:
            password = f.read()
        if password.endswith("\n"):
            password = password[:-1]

    raw = None
    if args.raw_sasl_hex is not None:
        raw = bytes.fromhex(args.raw_sasl_hex)
    elif args.token_hex is not None:
        user = args.jid.split("@", 1)[0]
        raw = args.authzid.encode() + b"\x00" + user.encode() + b"\x00" + bytes.fromhex(args.token_hex)

    mech_name = args.mech
    if raw is not None:
        # Replace the mechanism under this name for this process only.
        MECHANISMS[mech_name] = type("Raw" + mech_name.replace("-", ""), (RawMessage,), {"name": mech_name})

    xmpp = ClientXMPP(args.jid, password if password is not None else "")
    if raw is not None:
        xmpp.credentials["raw_sasl"] = raw
    if args.authzid:
        xmpp.credentials["authzid"] = args.authzid
    mechanisms = xmpp["feature_mechanisms"]
    mechanisms.use_mech = mech_name
    if args.tls == "none":
        mechanisms.unencrypted_plain = True  # what the server accepts is for the server to say
    else:
        xmpp.ca_certs = Path(args.ca_file)

    loop = asyncio.get_event_loop()
    done = loop.create_future()
    closed = loop.create_future()  # after a success, with --hold
    def finish(result, status):
        if not done.done():
            done.set_result((result, status))
        elif result.get("condition") in ("stream-error", "disconnected") and not closed.done():
            text = result.get("text", "")
            closed.set_result({"closed": True, "condition": text.split(" ")[0] if text else result["condition"],
                               "text": text.partition(" ")[2]})

    def tls_version():
        transport = xmpp.transport
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        return tls.version() if isinstance(tls, (ssl.SSLObject, ssl.SSLSocket)) else None

    def on_bind(jid):
        tls = tls_version()
        if tls is None and args.tls != "none":  # slixmpp goes on in the clear when STARTTLS is not offered
            finish({"ok": False, "condition": "tls-not-used", "text": "logged in without TLS"}, 1)
        else:
            finish({"ok": True, "jid": str(jid), "tls": tls}, 0)

    def on_failed_auth(stanza):
        finish({"ok": False, "condition": stanza["condition"], "text": stanza["text"]}, 0)

    def on_failed_all(_event=None):
        finish({"ok": False, "condition": "mechanism-not-offered",
                "text": "%s not offered" % mech_name, "mechanisms": sorted(mechanisms.mech_list)}, 0)

    def on_stream_error(stanza):
        finish({"ok": False, "condition": "stream-error",
                "text": "%s %s" % (stanza["condition"], stanza["text"])}, 1)

    def on_disconnected(reason=None):
        finish({"ok": False, "condition": "disconnected", "text": str(reason or "")}, 1)

    def on_connection_failed(error=None):
        finish({"ok": False, "condition": "connection-failed", "text": str(error or "")}, 1)

    xmpp.add_event_handler("session_bind", on_bind)
    xmpp.add_event_handler("failed_auth", on_failed_auth)
    xmpp.add_event_handler("failed_all_auth", on_failed_all)
    xmpp.add_event_handler("stream_error", on_stream_error)
    xmpp.add_event_handler("disconnected", on_disconnected)
    xmpp.add_event_handler("connection_failed", on_connection_failed)

    xmpp.connect((args.address, args.port), use_ssl=args.tls == "direct",
                 force_starttls=args.tls == "starttls", disable_starttls=args.tls != "starttls")
    try:
        result, status = loop.run_until_complete(asyncio.wait_for(done, args.timeout))
    except asyncio.TimeoutError:
        result, status = {"ok": False, "condition": "timeout",
                          "text": "no answer within %gs" % args.timeout}, 1
    print(json.dumps(result), flush=True)
    if result.get("ok") and args.hold > 0:
        try:
            held = loop.run_until_complete(asyncio.wait_for(closed, args.hold))
        except asyncio.TimeoutError:
            held = {"closed": False}
        print(json.dumps(held), flush=True)
    try:
        xmpp.abort()  # drop the TCP connection: nothing more to say
        loop.run_until_complete(asyncio.sleep(0))
    except Exception:
        pass
    return status


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SystemExit:
        raise
    except BaseException as e:  # the client itself broke
        print(json.dumps({"ok": False, "condition": "client-error", "text": repr(e)}), flush=True)
        sys.exit(2)
