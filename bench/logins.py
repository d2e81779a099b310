#!/usr/bin/python3
"""Login throughput against a running Prosody with X-TOKEN, for `make bench`.

A light client on raw non-blocking sockets (no XMPP library, no XML parser:
fixed byte strings out, substring checks in), so that the server, not the
client, is what gets measured. One login is a whole session:

    connect, stream header, wait for features,
    <auth mechanism='X-TOKEN'> (authzid NUL user NUL token), wait for <success/>,
    stream restart, wait for features, resource bind, wait for the result,
    </stream:stream>, wait for the server to close.

Tokens are minted before each phase as the README tells users to (pyotp +
hmac-sha256), each with a fresh nonce, for users user0 .. user999.

    /usr/bin/python3 bench/logins.py --port N --host bench.test --server-pid PID \\
        --secrets-file F [--seconds 5] [--runs 3] [--concurrency 50] [--also PORT:PID:PREFIX ...]

--also names another server of the same host and secrets (the same Prosody
with another replay store, say): each phase of each run goes to every server
in turn, so that a busy machine's swings fall on all of them alike; its
figures are named logins_PREFIX_*.

Prints `name<TAB>value<TAB>unit` lines: logins per second (median of the
runs), the server's CPU time per login (utime + stime of --server-pid from
/proc), the client's own CPU per login, and the median login latency.
F holds the otp_seed and the token_secret, one a line; they are never printed.
"""

import argparse
import base64
import hashlib
import hmac
import os
import secrets
import selectors
import socket
import statistics
import sys
import time

import pyotp

TICKS = os.sysconf("SC_CLK_TCK")
USERS = 1000


def mint_tokens(seed, secret, host, count):
    """`count` (username, sasl_payload_b64) pairs, valid now."""
    otp = pyotp.TOTP(seed, digits=8, interval=30).now()
    key = secret.encode()
    out = []
    for i in range(count):
        user = f"user{i % USERS}"
        nonce = f"{secrets.randbelow(10 ** 32):032d}"
        msg = (otp + nonce + f"{user}@{host}").encode()
        sig = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
        token = f"{otp}{nonce} {sig}"
        payload = base64.b64encode(b"\0" + user.encode() + b"\0" + token.encode())
        out.append(payload)
    return out


def server_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


class Login:
    """One login in flight: a small state machine over a non-blocking socket."""

    __slots__ = ("sock", "state", "buffer", "payload", "started", "out")

    def __init__(self, address, payload, header):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect_ex(address)
        self.state = 0
        self.buffer = b""
        self.payload = payload
        self.started = time.perf_counter()
        self.out = header


def run_phase(address, host, tokens, concurrency, seconds):
    """Logs in with up to `concurrency` sessions at once for `seconds`.
    Returns (successes, failures, elapsed, latencies)."""
    header = (f"<?xml version='1.0'?><stream:stream to='{host}' xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>").encode()
    auth_open = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'>"
    bind = b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
    close = b"</stream:stream>"

    selector = selectors.DefaultSelector()
    next_token = 0
    successes = failures = 0
    latencies = []
    start = time.perf_counter()
    deadline = start + seconds
    in_flight = 0

    def begin():
        nonlocal next_token, in_flight
        login = Login(address, tokens[next_token], header)
        next_token += 1
        in_flight += 1
        selector.register(login.sock, selectors.EVENT_WRITE, login)

    def finish(login, ok):
        nonlocal successes, failures, in_flight
        selector.unregister(login.sock)
        login.sock.close()
        in_flight -= 1
        if ok:
            successes += 1
            latencies.append(time.perf_counter() - login.started)
        else:
            failures += 1
        if time.perf_counter() < deadline and next_token < len(tokens):
            begin()

    for _ in range(min(concurrency, len(tokens))):
        begin()
    while in_flight:
        for key, _ in selector.select(timeout=5):
            login = key.data
            sock = login.sock
            if login.out:
                try:
                    sent = sock.send(login.out)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    finish(login, False)
                    continue
                login.out = login.out[sent:]
                if not login.out:
                    selector.modify(sock, selectors.EVENT_READ, login)
                continue
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                finish(login, False)
                continue
            if not data:
                # The server closed: the end of a good session (state 4), or a failure.
                finish(login, login.state == 4)
                continue
            buffer = login.buffer + data
            state = login.state
            send = None
            if state == 0 and b"</stream:features>" in buffer:
                send, state, buffer = auth_open + login.payload + b"</auth>", 1, b""
            elif state == 1 and (b"<success" in buffer or b"<failure" in buffer):
                if b"<failure" in buffer:
                    send, state = close, 5
                else:
                    send, state, buffer = header, 2, b""
            elif state == 2 and b"</stream:features>" in buffer:
                send, state, buffer = bind, 3, b""
            elif state == 3 and b"</iq>" in buffer:
                ok = b"type='result'" in buffer or b'type="result"' in buffer
                send, state = close, 4 if ok else 5
            login.buffer = buffer
            login.state = state
            if send:
                login.out = send
                selector.modify(sock, selectors.EVENT_WRITE, login)
        if time.perf_counter() > deadline + 30:
            break  # something hangs: give up rather than wait forever
    elapsed = time.perf_counter() - start
    selector.close()
    return successes, failures, elapsed, latencies


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--secrets-file", required=True, help="otp_seed and token_secret, one a line")
    p.add_argument("--also", action="append", default=[], help="PORT:PID:PREFIX of another server, interleaved")
    args = p.parse_args(argv)
    with open(args.secrets_file) as f:
        seed, secret = f.read().split()[:2]
    targets = [("", args.port, args.server_pid)]
    for also in args.also:
        port, pid, prefix = also.split(":", 2)
        targets.append((prefix + "_", int(port), int(pid)))

    # Warm-up: the first logins load code paths and grow Prosody's tables.
    for _, port, _ in targets:
        run_phase(("127.0.0.1", port), args.host, mint_tokens(seed, secret, args.host, 300), 10, 1.0)

    results = {}
    for run in range(args.runs):
        for name, concurrency in (("sequential", 1), ("concurrent", args.concurrency)):
            for prefix, port, pid in targets:
                tokens = mint_tokens(seed, secret, args.host, 40000)
                cpu_server = server_cpu(pid)
                cpu_client = time.process_time()
                ok, bad, elapsed, latencies = run_phase(("127.0.0.1", port), args.host, tokens, concurrency,
                                                        args.seconds)
                cpu_server = server_cpu(pid) - cpu_server
                cpu_client = time.process_time() - cpu_client
                entry = results.setdefault(prefix + name,
                                           {"rate": [], "server": [], "client": [], "latency": [], "failed": 0})
                entry["rate"].append(ok / elapsed)
                entry["server"].append(cpu_server / max(ok, 1) * 1e6)
                entry["client"].append(cpu_client / max(ok, 1) * 1e6)
                entry["latency"].append(statistics.median(latencies) * 1e3 if latencies else float("nan"))
                entry["failed"] += bad
                print(f"logins: run {run + 1} {prefix}{name}: {ok} logins, {bad} failed, {ok / elapsed:.0f}/s, "
                      f"server {cpu_server / elapsed * 100:.0f}% CPU", file=sys.stderr)
    for name, entry in results.items():
        print(f"logins_{name}_rate\t{statistics.median(entry['rate']):.1f}\tper_s")
        print(f"logins_{name}_server_cpu\t{statistics.median(entry['server']):.1f}\tus")
        print(f"logins_{name}_client_cpu\t{statistics.median(entry['client']):.1f}\tus")
        print(f"logins_{name}_latency\t{statistics.median(entry['latency']):.3f}\tms")
        print(f"logins_{name}_failed\t{entry['failed']}\tcount")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
