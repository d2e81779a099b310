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
        --secrets-file F [--rounds 8] [--slice 1.0] [--concurrency 50] [--also PORT:PID:PREFIX ...]

--also names another server of the same host and secrets (the same Prosody
with another replay store, or an identical one as a control); its figures
are named logins_PREFIX_*. A virtual machine's speed swings by tens of
percent from one second to the next (steal time), so servers are compared
in short slices: each round gives every server one slice, in an order
rotated from round to round, and a server's rate is its logins completed
inside its slices over their total length. A slice is --settle seconds of
logins not counted (the pipeline filling: with 50 clients the first
completions take a login's latency to come), then --slice seconds counted;
the logins still in flight when it ends are finished before the next slice
begins, and not counted either. For each --also server, logins_PREFIX_MODE_ratio is the median
over the rounds of its rate / the first server's rate in the same round,
with the lowest and highest as _ratio_low and _ratio_high.

Prints `name<TAB>value<TAB>unit` lines: logins per second, the server's CPU
time per login (utime + stime of its PID from /proc), the client's own CPU
per login, the median login latency, the ratios.
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


def run_phase(address, host, tokens, concurrency, seconds, settle=0.0):
    """Logs in with up to `concurrency` sessions at once for `settle` +
    `seconds`, then lets the sessions in flight finish. Only the logins
    completed in the last `seconds` count as inside the window: the first
    `settle` seconds fill the pipeline, which a busy server takes a login's
    latency to do. Returns (successes inside the window, successes in all,
    failures, latencies)."""
    header = (f"<?xml version='1.0'?><stream:stream to='{host}' xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>").encode()
    auth_open = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'>"
    bind = b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
    close = b"</stream:stream>"

    selector = selectors.DefaultSelector()
    next_token = 0
    successes = failures = in_window = 0
    latencies = []
    start = time.perf_counter()
    window_start = start + settle
    deadline = window_start + seconds
    in_flight = 0

    def begin():
        nonlocal next_token, in_flight
        login = Login(address, tokens[next_token], header)
        next_token += 1
        in_flight += 1
        selector.register(login.sock, selectors.EVENT_WRITE, login)

    def finish(login, ok):
        nonlocal successes, failures, in_flight, in_window
        selector.unregister(login.sock)
        login.sock.close()
        in_flight -= 1
        if ok:
            successes += 1
            now = time.perf_counter()
            latencies.append(now - login.started)
            if window_start <= now <= deadline:
                in_window += 1
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
    selector.close()
    return in_window, successes, failures, latencies


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--slice", type=float, default=0.5, help="seconds counted per server per round")
    p.add_argument("--settle", type=float, default=0.3, help="seconds before each slice, not counted")
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
    # Enough tokens for a slice at several times the rates seen here.
    per_slice = int((args.settle + args.slice) * 3000) + args.concurrency

    # Warm-up: the first logins load code paths and grow Prosody's tables.
    for _, port, _ in targets:
        run_phase(("127.0.0.1", port), args.host, mint_tokens(seed, secret, args.host, 300), 10, 1.0)

    for name, concurrency in (("sequential", 1), ("concurrent", args.concurrency)):
        totals = {prefix: {"ok": 0, "all": 0, "seconds": 0.0, "server": 0.0, "client": 0.0,
                           "latency": [], "failed": 0, "rates": []}
                  for prefix, _, _ in targets}
        for round_number in range(args.rounds):
            shift = round_number % len(targets)
            for prefix, port, pid in targets[shift:] + targets[:shift]:
                tokens = mint_tokens(seed, secret, args.host, per_slice)
                cpu_server = server_cpu(pid)
                cpu_client = time.process_time()
                in_window, ok, bad, latencies = run_phase(("127.0.0.1", port), args.host, tokens, concurrency,
                                                          args.slice, args.settle)
                entry = totals[prefix]
                entry["server"] += server_cpu(pid) - cpu_server
                entry["client"] += time.process_time() - cpu_client
                entry["ok"] += in_window
                entry["all"] += ok
                entry["seconds"] += args.slice
                entry["latency"] += latencies
                entry["failed"] += bad
                entry["rates"].append(in_window / args.slice)
            line = ", ".join(f"{prefix or 'first_'}{totals[prefix]['rates'][-1]:.0f}/s" for prefix, _, _ in targets)
            print(f"logins: {name} round {round_number + 1}: {line}", file=sys.stderr)
        first = totals[""]
        for prefix, entry in totals.items():
            key = f"logins_{prefix}{name}"
            print(f"{key}_rate\t{entry['ok'] / entry['seconds']:.1f}\tper_s")
            print(f"{key}_server_cpu\t{entry['server'] / max(entry['all'], 1) * 1e6:.1f}\tus")
            print(f"{key}_client_cpu\t{entry['client'] / max(entry['all'], 1) * 1e6:.1f}\tus")
            latency = statistics.median(entry["latency"]) * 1e3 if entry["latency"] else float("nan")
            print(f"{key}_latency\t{latency:.3f}\tms")
            print(f"{key}_failed\t{entry['failed']}\tcount")
            if prefix:
                ratios = [mine / theirs for mine, theirs in zip(entry["rates"], first["rates"]) if theirs > 0]
                if ratios:
                    print(f"{key}_ratio\t{statistics.median(ratios):.4f}\tratio")
                    print(f"{key}_ratio_low\t{min(ratios):.4f}\tratio")
                    print(f"{key}_ratio_high\t{max(ratios):.4f}\tratio")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
