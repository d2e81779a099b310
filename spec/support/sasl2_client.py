#!/usr/bin/python3
"""Log in to an XMPP server over SASL2 (XEP-0388) with Bind2 (XEP-0386) and FAST
(XEP-0484) and report the outcome as JSON lines.

slixmpp 1.8 speaks no SASL2, so this is a small client on a raw socket and the
standard library (ssl, xml.etree's pull parser). It sends the mechanism it is
told to even when the server does not offer it, and with --tls none it sends it
without TLS: that is how the specs show what a server refuses.

    /usr/bin/python3 spec/support/sasl2_client.py --port N --jid user@host \\
        --mech X-TOKEN|PLAIN|HT-SHA-256-NONE|HT-SHA-256-EXPR|HT-SHA-256-UNIQ \\
        (--password TOKEN | --fast-token T) \\
        [--tls none|starttls|direct --ca-file CA.pem [--tls-max 1.2]] [--sasl1] \\
        [--request-token MECH] [--client-id ID] [--bad-channel-binding] \\
        [--hold SECONDS] [--timeout 10]

TLS: --tls starttls negotiates STARTTLS (RFC 6120) on the plain port, --tls
direct speaks TLS from the first byte (Prosody's c2s_direct_tls_ports or
legacy_ssl_ports); both verify the server's certificate for the JID's host
against --ca-file. --tls-max 1.2 keeps the client to TLS 1.2 (else 1.3).

X-TOKEN and PLAIN send authzid NUL authcid NUL password. The HT-SHA-256-*
mechanisms send authcid NUL HMAC-SHA-256(fast token, "Initiator" + channel
binding) with <fast/>, as a FAST client does with a token it got earlier for
the same --client-id. The channel binding is nothing (NONE), tls-exporter
(EXPR, RFC 9266, for TLS 1.3) or tls-unique (UNIQ, RFC 5929, for TLS 1.2) of
this connection; the server proves it saw the same binding with
HMAC-SHA-256(token, "Responder" + binding), checked here ("server_proof").
--bad-channel-binding hashes zero bytes in place of the binding, as a login
relayed from another connection would. --sasl1 sends an RFC 6120 <auth/>
instead of SASL2's <authenticate/> (no Bind2, no FAST).

Output, one JSON line when the login is decided:
    {"ok": true, "jid": "<full jid from Bind2>", "bound": true, "tls": "TLSv1.3",
     "features": [...], "mechanisms": [...], "fast_mechanisms": [...],
     "fast_token": "<only when the server gave one>", "server_proof": true (HT-*)}
    {"ok": false, "condition": "<sasl condition>", "text": "...", "tls": null,
     "features": [...], "mechanisms": [...]}
"features" names the stream features offered where the login was sent (after
STARTTLS, when it was negotiated); "tls" is the TLS version, or null.
With --hold S after a success: a second line when the server closes the
session or S seconds pass: {"closed": true, "condition": "<stream error>", "text": "..."}
or {"closed": false}.
Exit status: 0 when the server answered; 1 when it did not (condition
"timeout", "disconnected", "stream-error", "connection-failed", "tls-failed",
"starttls-not-offered"); 2 for a crash.
"""

import argparse
import base64
import ctypes
import hashlib
import hmac
import json
import socket
import ssl
import sys
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL2 = "urn:xmpp:sasl:2"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND2 = "urn:xmpp:bind:0"
NS_FAST = "urn:xmpp:fast:0"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"

# The channel binding each FAST mechanism hashes in (XEP-0484).
FAST_BINDINGS = {"HT-SHA-256-NONE": None, "HT-SHA-256-EXPR": "tls-exporter", "HT-SHA-256-UNIQ": "tls-unique"}


class Closed(Exception):
    """The server closed the stream or the connection, or TLS could not start."""

    def __init__(self, condition, text=""):
        super().__init__(condition)
        self.condition = condition
        self.text = text


def local_name(tag):
    return tag.rpartition("}")[2]


class Stream:
    """One XML stream over a socket (TLS or not): sends text, yields top-level elements."""

    def __init__(self, args, deadline):
        self.deadline = deadline
        self.jid = args.jid
        self.host = args.jid.partition("@")[2]
        self.context = None
        if args.tls != "none":
            self.context = ssl.create_default_context(cafile=args.ca_file)
            if args.tls_max == "1.2":
                self.context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.sock = socket.create_connection((args.address, args.port), timeout=max(0.1, deadline - time.time()))
        if args.tls == "direct":
            self._wrap()
        self._open()

    def _wrap(self):
        self.sock.settimeout(max(0.1, self.deadline - time.time()))
        try:
            self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)
        except (ssl.SSLError, ssl.CertificateError) as e:
            raise Closed("tls-failed", str(e)) from e

    def _open(self):
        """Starts a stream: at first, and again after STARTTLS."""
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.ready = []
        # from: mod_sasl2_fast offers FAST only when it knows the user.
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to=%s from=%s>"
                  % (quoteattr(self.host), quoteattr(self.jid)))

    def starttls(self):
        """RFC 6120 STARTTLS: <starttls/>, <proceed/>, the handshake, a new stream."""
        features = self.next()
        if features.find("{%s}starttls" % NS_TLS) is None:
            raise Closed("starttls-not-offered", " ".join(local_name(f.tag) for f in features))
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        answer = self.next()
        if answer.tag != "{%s}proceed" % NS_TLS:
            raise Closed("tls-failed", "the server answered <%s/> to <starttls/>" % local_name(answer.tag))
        self._wrap()
        self._open()

    def tls_version(self):
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

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
            condition = next((local_name(c.tag) for c in element if c.tag.startswith("{%s}" % NS_STREAMS_ERR)
                              and not c.tag.endswith("}text")), "undefined-condition")
            raise Closed(condition, element.findtext("{%s}text" % NS_STREAMS_ERR) or "")
        return element


def tls_exporter(sock):
    """RFC 9266 tls-exporter: 32 bytes exported with the label EXPORTER-Channel-Binding
    and no context. Python's ssl does not offer it, so SSL_export_keying_material is
    called through ctypes on the connection's SSL object, from the libssl that
    Python's _ssl module runs on."""
    import _ssl  # pylint: disable=import-outside-toplevel
    lib = ctypes.CDLL(getattr(_ssl, "__file__", None))  # dlsym searches its dependencies: its libssl
    lib.SSL_get_fd.argtypes = [ctypes.c_void_p]
    lib.SSL_get_fd.restype = ctypes.c_int
    lib.SSL_export_keying_material.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                               ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.SSL_export_keying_material.restype = ctypes.c_int
    # CPython's _ssl._SSLSocket starts with PyObject_HEAD, then the weak
    # reference to its socket, then the SSL pointer.
    ssl_obj = sock._sslobj  # pylint: disable=protected-access
    pointer = ctypes.c_void_p.from_address(id(ssl_obj) + object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p)).value
    if not pointer or lib.SSL_get_fd(pointer) != sock.fileno():
        raise RuntimeError("could not find the connection's SSL object")
    label = b"EXPORTER-Channel-Binding"
    out = ctypes.create_string_buffer(32)
    if lib.SSL_export_keying_material(pointer, out, 32, label, len(label), None, 0, 0) != 1:
        raise RuntimeError("SSL_export_keying_material failed")
    return out.raw


def channel_binding(args, stream):
    kind = FAST_BINDINGS.get(args.mech)
    if kind is None:
        return b""
    if not isinstance(stream.sock, ssl.SSLSocket):
        raise RuntimeError("%s needs TLS (--tls starttls or direct)" % args.mech)
    data = tls_exporter(stream.sock) if kind == "tls-exporter" else stream.sock.get_channel_binding("tls-unique")
    if not data:
        raise RuntimeError("no %s channel binding on this connection" % kind)
    return bytes(len(data)) if args.bad_channel_binding else data


def texts(element, path):
    return [e.text or "" for e in element.findall(path)] if element is not None else []


def initial_response(args, user, binding):
    if args.mech in FAST_BINDINGS:
        digest = hmac.new(args.fast_token.encode("utf-8"), b"Initiator" + binding, hashlib.sha256).digest()
        return user.encode("utf-8") + b"\0" + digest
    return args.authzid.encode("utf-8") + b"\0" + user.encode("utf-8") + b"\0" + args.password.encode("utf-8")


def failure_of(answer, ns_text, result):
    # The condition is in the SASL namespace, or (mod_sasl2_fast's "FAST is
    # not available") in SASL2's.
    result.update({"ok": False, "condition": next((local_name(c.tag) for c in answer
                                                   if local_name(c.tag) not in ("text", "additional-data")), "unknown"),
                   "text": answer.findtext("{%s}text" % ns_text) or ""})
    return result, 0


def authenticate_sasl1(args, stream, user, features, result):
    """RFC 6120 SASL: one <auth/> with the initial response; <success/> or <failure/>."""
    result["mechanisms"] = sorted(texts(features.find("{%s}mechanisms" % NS_SASL), "{%s}mechanism" % NS_SASL))
    message = base64.b64encode(initial_response(args, user, b"")).decode() or "="
    stream.send("<auth xmlns='%s' mechanism=%s>%s</auth>" % (NS_SASL, quoteattr(args.mech), message))
    answer = stream.next()
    if answer.tag == "{%s}success" % NS_SASL:
        result.update({"ok": True, "jid": args.jid, "bound": False})
        return result, 0
    if answer.tag == "{%s}failure" % NS_SASL:
        return failure_of(answer, NS_SASL, result)
    result.update({"ok": False, "condition": "unexpected-answer", "text": answer.tag})
    return result, 1


def authenticate(args, stream, user, result):
    if args.tls == "starttls":
        stream.starttls()
    features = stream.next()
    result["tls"] = stream.tls_version()
    result["features"] = sorted(local_name(f.tag) for f in features)
    if args.sasl1:
        return authenticate_sasl1(args, stream, user, features, result)
    auth = features.find("{%s}authentication" % NS_SASL2)
    offered = sorted(texts(auth, "{%s}mechanism" % NS_SASL2))
    fast = auth.find("{%s}inline/{%s}fast" % (NS_SASL2, NS_FAST)) if auth is not None else None
    result.update({"mechanisms": offered, "fast_mechanisms": sorted(texts(fast, "{%s}mechanism" % NS_FAST))})
    if auth is None and args.tls != "none":
        result.update({"ok": False, "condition": "sasl2-not-offered", "text": "no <authentication/> in the features"})
        return result, 0
    # Without TLS the client sends <authenticate/> even when it is not
    # offered: the server must refuse it.
    binding = channel_binding(args, stream)
    parts = ["<authenticate xmlns='%s' mechanism=%s>" % (NS_SASL2, quoteattr(args.mech)),
             "<initial-response>%s</initial-response>"
             % base64.b64encode(initial_response(args, user, binding)).decode(),
             "<user-agent id=%s><software>prosody-token-auth tests</software></user-agent>" % quoteattr(args.client_id),
             "<bind xmlns='%s'><tag>sasl2-client</tag></bind>" % NS_BIND2]
    if args.mech in FAST_BINDINGS:
        parts.append("<fast xmlns='%s'/>" % NS_FAST)
    if args.request_token:
        parts.append("<request-token xmlns='%s' mechanism=%s/>" % (NS_FAST, quoteattr(args.request_token)))
    parts.append("</authenticate>")
    stream.send("".join(parts))

    answer = stream.next()
    if answer.tag == "{%s}success" % NS_SASL2:
        token = answer.find("{%s}token" % NS_FAST)
        result.update({"ok": True, "jid": answer.findtext("{%s}authorization-identifier" % NS_SASL2),
                       "bound": answer.find("{%s}bound" % NS_BIND2) is not None})
        if args.mech in FAST_BINDINGS:
            proof = base64.b64decode(answer.findtext("{%s}additional-data" % NS_SASL2) or "")
            expected = hmac.new(args.fast_token.encode("utf-8"), b"Responder" + binding, hashlib.sha256).digest()
            result["server_proof"] = hmac.compare_digest(proof, expected)
        if token is not None:
            result["fast_token"] = token.get("token")
        return result, 0
    if answer.tag == "{%s}failure" % NS_SASL2:
        return failure_of(answer, NS_SASL2, result)
    if answer.tag == "{%s}challenge" % NS_SASL2:
        result.update({"ok": False, "condition": "unexpected-challenge", "text": ""})
        return result, 0
    result.update({"ok": False, "condition": "unexpected-answer", "text": answer.tag})
    return result, 1


def hold(stream, seconds):
    """After a login: wait for the server to close the session."""
    deadline = time.time() + seconds
    try:
        while True:
            stream.next(deadline)  # stream features after SASL2 success, and anything else
    except Closed as closed:
        return {"closed": True, "condition": closed.condition, "text": closed.text}
    except (socket.timeout, OSError):
        return {"closed": False}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--jid", required=True, help="user@host")
    p.add_argument("--mech", required=True, choices=["X-TOKEN", "PLAIN", *FAST_BINDINGS])
    p.add_argument("--password", help="the token (X-TOKEN, PLAIN)")
    p.add_argument("--fast-token", help="a FAST token the server gave (HT-SHA-256-*)")
    p.add_argument("--authzid", default="")
    p.add_argument("--tls", choices=["none", "starttls", "direct"], default="none")
    p.add_argument("--ca-file", help="the CA that signed the server's certificate (PEM)")
    p.add_argument("--tls-max", choices=["1.2", "1.3"], default="1.3")
    p.add_argument("--sasl1", action="store_true", help="send an RFC 6120 SASL <auth/> instead")
    p.add_argument("--request-token", help="ask for a FAST token for this mechanism")
    p.add_argument("--client-id", default="2d0a1b7e-6c1f-4c53-9d38-9f3f1b5c0a11",
                   help="the user-agent id FAST tokens are bound to")
    p.add_argument("--bad-channel-binding", action="store_true", help="hash zero bytes in place of the binding")
    p.add_argument("--hold", type=float, default=0.0, help="after a success, wait this long for the server to close")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args(argv)
    if args.mech in FAST_BINDINGS and args.fast_token is None:
        p.error("%s needs --fast-token" % args.mech)
    if args.mech not in FAST_BINDINGS and args.password is None:
        p.error("%s needs --password" % args.mech)
    if args.tls != "none" and args.ca_file is None:
        p.error("--tls %s needs --ca-file" % args.tls)
    if args.sasl1 and (args.mech in FAST_BINDINGS or args.request_token):
        p.error("--sasl1 has no FAST")
    return args


def main(argv):
    args = parse_args(argv)
    user = args.jid.partition("@")[0]
    deadline = time.time() + args.timeout
    result = {"tls": None}
    try:
        stream = Stream(args, deadline)
    except Closed as closed:
        print(json.dumps({"ok": False, "condition": closed.condition, "text": closed.text}), flush=True)
        return 1
    except OSError as e:
        print(json.dumps({"ok": False, "condition": "connection-failed", "text": str(e)}), flush=True)
        return 1
    try:
        result, status = authenticate(args, stream, user, result)
    except Closed as closed:
        condition = closed.condition if closed.condition in ("tls-failed", "starttls-not-offered") else "stream-error"
        result.update({"ok": False, "condition": condition, "text": "%s %s" % (closed.condition, closed.text)})
        status = 1
    except socket.timeout:
        result.update({"ok": False, "condition": "timeout", "text": "no answer within %gs" % args.timeout})
        status = 1
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
