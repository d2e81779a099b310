#!/usr/bin/python3
"""Log in to an XMPP server, send messages and subscription requests, and
report what came back as one JSON line (the accounts specs: mail to names
nobody owns must bounce, mail to known users must be kept).

slixmpp, a real client library; PLAIN with the token as the password, as an
ordinary client sends it (test servers on 127.0.0.1; STARTTLS is used when the
server offers it, without checking its test certificate).

    /usr/bin/python3 spec/support/stanza_client.py --port N --jid user@host --password TOKEN \\
        [--message-to a@h,b@h] [--subscribe-to a@h,b@h] [--wait SECONDS] [--timeout 10]

After binding it sends its initial presence (so offline messages arrive), one
chat message to each --message-to JID and a subscription request to each
--subscribe-to JID, then waits until every message has bounced or --wait
seconds passed.

Output, exactly one line on stdout:
    {"ok": true, "jid": "<bound jid>", "bounced": {"<to>": "<error condition>", ...},
     "received": [{"from": "<bare jid>", "body": "..."}, ...]}
    {"ok": false, "condition": "...", "text": "..."}
Exit status: 0 when the server answered, 1 when it did not, 2 for a crash.
"""

import argparse
import asyncio
import json
import logging
import ssl
import sys

from slixmpp import ClientXMPP


def jids(text):
    return [j for j in (text or "").split(",") if j]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True, help="the token, sent over PLAIN")
    p.add_argument("--message-to", default="", help="comma-separated JIDs")
    p.add_argument("--subscribe-to", default="", help="comma-separated JIDs")
    p.add_argument("--wait", type=float, default=3.0, help="how long to wait for bounces and messages")
    p.add_argument("--timeout", type=float, default=10.0, help="how long to wait for the login")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    message_to, subscribe_to = jids(args.message_to), jids(args.subscribe_to)

    xmpp = ClientXMPP(args.jid, args.password)
    xmpp["feature_mechanisms"].use_mech = "PLAIN"
    xmpp["feature_mechanisms"].unencrypted_plain = True
    xmpp.ssl_context.check_hostname = False
    xmpp.ssl_context.verify_mode = ssl.CERT_NONE

    loop = asyncio.get_event_loop()
    bound = loop.create_future()
    all_bounced = loop.create_future()
    bounced, received = {}, []

    def settle(future, value):
        if not future.done():
            future.set_result(value)

    def on_bind(jid):
        settle(bound, {"ok": True, "jid": str(jid)})

    def on_message(msg):
        if msg["type"] == "error":
            bounced[msg["from"].bare] = msg["error"]["condition"]
            if len(bounced) >= len(message_to):
                settle(all_bounced, True)
        elif msg["body"]:
            received.append({"from": msg["from"].bare, "body": msg["body"]})

    def failed(condition):
        def handler(event=None):
            settle(bound, {"ok": False, "condition": condition, "text": str(event or "")})
        return handler

    xmpp.add_event_handler("session_bind", on_bind)
    xmpp.add_event_handler("message", on_message)
    xmpp.add_event_handler("message_error", on_message)
    xmpp.add_event_handler("failed_auth", lambda stanza: settle(bound, {
        "ok": False, "condition": stanza["condition"], "text": stanza["text"]}))
    xmpp.add_event_handler("failed_all_auth", failed("mechanism-not-offered"))
    xmpp.add_event_handler("disconnected", failed("disconnected"))
    xmpp.add_event_handler("connection_failed", failed("connection-failed"))

    xmpp.connect((args.address, args.port), force_starttls=False)
    try:
        result = loop.run_until_complete(asyncio.wait_for(bound, args.timeout))
    except asyncio.TimeoutError:
        result = {"ok": False, "condition": "timeout", "text": "no answer within %gs" % args.timeout}
    status = 0 if result["ok"] or result["condition"] not in ("timeout", "disconnected", "connection-failed") else 1
    if result["ok"]:
        xmpp.send_presence()
        for to in message_to:
            xmpp.send_message(mto=to, mbody="hello " + to, mtype="chat")
        for to in subscribe_to:
            xmpp.send_presence(pto=to, ptype="subscribe")
        if not message_to:
            settle(all_bounced, True)
        try:
            loop.run_until_complete(asyncio.wait_for(asyncio.shield(all_bounced), args.wait))
        except asyncio.TimeoutError:
            pass
        # Whatever else is on its way (offline messages, late bounces).
        loop.run_until_complete(asyncio.sleep(0.3 if message_to else args.wait))
        result["bounced"], result["received"] = bounced, received
    print(json.dumps(result), flush=True)
    try:
        xmpp.abort()
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
