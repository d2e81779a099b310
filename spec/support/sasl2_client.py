#!/usr/bin/python3
"""Log in to an XMPP server over SASL2 (XEP-0388) with Bind2 (XEP-0386) and FAST
(XEP-0484) and report the outcome as JSON lines.

slixmpp 1.8 speaks no SASL2, so this is a small client on a raw socket and the
standard library (xml.etree's pull parser): no TLS, for test servers on
127.0.0.1. It sends the mechanism it is told to even when the server does not
offer it (that is how a client gets PLAIN past mod_sasl2 without TLS).

    /usr/bin/python3 spec/support/sasl2_client.py --port N --jid user@host \\
        --mech X-TOKEN|PLAIN|HT-SHA-256-NONE (--password TOKEN | --fast-token T) \\
        [--request-token HT-SHA-256-NONE] [--client-id ID] [--hold SECONDS] [--timeout 10]

X-TOKEN and PLAIN send authzid NUL authcid NUL password; HT-SHA-256-NONE sends
authcid NUL HMAC-SHA-256(fast token, "Initiator") with <fast/>, as a FAST
client does with a token it got earlier for the same --client-id.

Output, one JSON line when the login is decided:
    {"ok": true, "jid": "<full jid from Bind2>", "bound": true, "mechanisms": [...],
     "fast_mechanisms": [...], "fast_token": "<only when the server gave one>"}
    {"ok": false, "condition": "<sasl condition>", "text": "...", "mechanisms": [...]}
With --hold S after a success: a second line when the server closes the
session or S seconds pass: {"closed": true, "condition": "<stream error>", "text": "..."}
or {"closed": false}.
Exit status: 0 when the server answered; 1 when it did not (condition
"timeout", "disconnected", "stream-error", "connection-failed"); 2 for a crash.
"""

import argparse
import base64
import hashlib
import hmac
import json
import socket
import sys
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_SASL2 = "urn:xmpp:sasl:2"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND2 = "urn:xmpp:bind:0"
NS_FAST = "urn:xmpp:fast:0"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"


class Closed(Exception):
    """The server closed the stream or the connection."""

    def __init__(self, condition, text=""):
        super().__init__(condition)
        self.condition = condition
        self.text = text


class Stream:
    """One XML stream over a socket: sends text, yields top-level elements."""

    def __init__(self, address, port, jid, deadline):
        self.deadline = deadline
        self.sock = socket.create_connection((address, port), timeout=max(0.1, deadline - time.time()))
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.ready = []
        # from: mod_sasl2_fast offers FAST only when it knows the user.
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to=%s from=%s>"
                  % (quoteattr(jid.partition("@")[2]), quoteattr(jid)))

    def send(self, text):
        self.sock.sendall(text.encode("utf-8"))

    def _feed(self, data):
        self.parser.feed(data)
        for event, element in self.parser.read_events():
            if event == "start":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.ready.append(element)
                elif self.depth == 0:
                    self.ready.append(None)  # </stream:stream>

    def next(self, deadline=None):
        """The next top-level element; raises Closed or socket.timeout."""
        deadline = deadline or self.deadline
        while not self.ready:
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise Closed("disconnected", "connection closed")
            self._feed(data)
        element = self.ready.pop(0)
        if element is None:
            raise Closed("stream-closed", "the server closed the stream")
        if element.tag == "{%s}error" % NS_STREAM:
            condition = next((c.tag.split("}")[1] for c in element if c.tag.startswith("{%s}" % NS_STREAMS_ERR)
                              and not c.tag.endswith("}text")), "undefined-condition")
            raise Closed(condition, element.findtext("{%s}text" % NS_STREAMS_ERR) or "")
        return element


def texts(element, path):
    return [e.text or "" for e in element.findall(path)] if element is not None else []


def initial_response(args, user):
    if args.mech == "HT-SHA-256-NONE":
        digest = hmac.new(args.fast_token.encode("utf-8"), b"Initiator", hashlib.sha256).digest()
        return user.encode("utf-8") + b"\0" + digest
    return args.authzid.encode("utf-8") + b"\0" + user.encode("utf-8") + b"\0" + args.password.encode("utf-8")


def authenticate(args, stream, user):
    features = stream.next()
    auth = features.find("{%s}authentication" % NS_SASL2)
    offered = sorted(texts(auth, "{%s}mechanism" % NS_SASL2))
    fast = auth.find("{%s}inline/{%s}fast" % (NS_SASL2, NS_FAST)) if auth is not None else None
    fast_offered = sorted(texts(fast, "{%s}mechanism" % NS_FAST))
    if auth is None:
        return {"ok": False, "condition": "sasl2-not-offered", "text": "no <authentication/> in the features",
                "mechanisms": offered}, 0
    parts = ["<authenticate xmlns='%s' mechanism=%s>" % (NS_SASL2, quoteattr(args.mech)),
             "<initial-response>%s</initial-response>" % base64.b64encode(initial_response(args, user)).decode(),
             "<user-agent id=%s><software>prosody-token-auth tests</software></user-agent>" % quoteattr(args.client_id),
             "<bind xmlns='%s'><tag>sasl2-client</tag></bind>" % NS_BIND2]
    if args.mech == "HT-SHA-256-NONE":
        parts.append("<fast xmlns='%s'/>" % NS_FAST)
    if args.request_token:
        parts.append("<request-token xmlns='%s' mechanism=%s/>" % (NS_FAST, quoteattr(args.request_token)))
    parts.append("</authenticate>")
    stream.send("".join(parts))

    answer = stream.next()
    if answer.tag == "{%s}success" % NS_SASL2:
        token = answer.find("{%s}token" % NS_FAST)
        result = {"ok": True, "jid": answer.findtext("{%s}authorization-identifier" % NS_SASL2),
                  "bound": answer.find("{%s}bound" % NS_BIND2) is not None, "mechanisms": offered,
                  "fast_mechanisms": fast_offered}
        if token is not None:
            result["fast_token"] = token.get("token")
        return result, 0
    if answer.tag == "{%s}failure" % NS_SASL2:
        # The condition is in the SASL namespace, or (mod_sasl2_fast's
        # "FAST is not available") in SASL2's.
        condition = next((c.tag.split("}")[1] for c in answer if c.tag != "{%s}text" % NS_SASL2
                          and c.tag != "{%s}additional-data" % NS_SASL2), "unknown")
        return {"ok": False, "condition": condition, "text": answer.findtext("{%s}text" % NS_SASL2) or "",
                "mechanisms": offered, "fast_mechanisms": fast_offered}, 0
    if answer.tag == "{%s}challenge" % NS_SASL2:
        return {"ok": False, "condition": "unexpected-challenge", "text": "", "mechanisms": offered}, 0
    return {"ok": False, "condition": "unexpected-answer", "text": answer.tag, "mechanisms": offered}, 1


def hold(stream, seconds):
    """After a login: wait for the server to close the session."""
    deadline = time.time() + seconds
    try:
        while True:
            stream.next(deadline)  # stream features after SASL2 success, and anything else
    except Closed as closed:
        return {"closed": True, "condition": closed.condition, "text": closed.text}
    except socket.timeout:
        return {"closed": False}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--jid", required=True, help="user@host")
    p.add_argument("--mech", required=True, choices=["X-TOKEN", "PLAIN", "HT-SHA-256-NONE"])
    p.add_argument("--password", help="the token (X-TOKEN, PLAIN)")
    p.add_argument("--fast-token", help="a FAST token the server gave (HT-SHA-256-NONE)")
    p.add_argument("--authzid", default="")
    p.add_argument("--request-token", help="ask for a FAST token for this mechanism")
    p.add_argument("--client-id", default="2d0a1b7e-6c1f-4c53-9d38-9f3f1b5c0a11",
                   help="the user-agent id FAST tokens are bound to")
    p.add_argument("--hold", type=float, default=0.0, help="after a success, wait this long for the server to close")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args(argv)
    if args.mech == "HT-SHA-256-NONE" and args.fast_token is None:
        p.error("HT-SHA-256-NONE needs --fast-token")
    if args.mech != "HT-SHA-256-NONE" and args.password is None:
        p.error("%s needs --password" % args.mech)
    return args


def main(argv):
    args = parse_args(argv)
    user = args.jid.partition("@")[0]
    deadline = time.time() + args.timeout
    try:
        stream = Stream(args.address, args.port, args.jid, deadline)
    except OSError as e:
        print(json.dumps({"ok": False, "condition": "connection-failed", "text": str(e)}), flush=True)
        return 1
    try:
        result, status = authenticate(args, stream, user)
    except Closed as closed:
        result, status = {"ok": False, "condition": "stream-error",
                          "text": "%s %s" % (closed.condition, closed.text)}, 1
    except socket.timeout:
        result, status = {"ok": False, "condition": "timeout", "text": "no answer within %gs" % args.timeout}, 1
    print(json.dumps(result), flush=True)
    if result.get("ok") and args.hold > 0:
        print(json.dumps(hold(stream, args.hold)), flush=True)
    try:
        stream.send("</stream:stream>")
        stream.sock.close()
    except OSError:
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
