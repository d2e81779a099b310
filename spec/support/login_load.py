#!/usr/bin/python3
"""Keep a Prosody busy with token logins on several hosts at once, for the
Redis outage specs and benchmarks: one thread per host, each running
bench/logins.py's raw-socket client (X-TOKEN, fresh README-style tokens)
with --concurrency sessions for --seconds; with --rate, one login at a time
per host, started --rate times a second (an open load: the same logins per
second whether they succeed or fail fast).

    login_load.py --port N --hosts a.test,b.test --secrets-file F
                  [--concurrency 2 | --rate 20 [--timeline]] [--seconds 3]

Prints one line: `successes failures` over all hosts; with --timeline
(--rate only), then one line per second of the run: `second successes
failures` of the logins that ended in it.
F holds the otp_seed and the token_secret, one a line.
"""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))

import logins  # noqa: E402  (bench/logins.py)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hosts", required=True)
    p.add_argument("--secrets-file", required=True)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--rate", type=float, help="logins started per second per host")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--timeline", action="store_true")
    p.add_argument("--tokens", type=int, default=2000, help="tokens minted per host")
    args = p.parse_args(argv)
    with open(args.secrets_file) as f:
        seed, secret = f.read().split("\n")[:2]
    hosts = args.hosts.split(",")
    tokens = {host: logins.mint_tokens(seed, secret, host, args.tokens) for host in hosts}
    results = {}

    address = ("127.0.0.1", args.port)
    begun = time.monotonic()
    timeline = {}
    lock = threading.Lock()

    def run(host):
        if not args.rate:
            results[host] = logins.run_phase(address, host, tokens[host], args.concurrency, args.seconds)
            return
        ok = failed = 0
        started = time.monotonic()
        for i, token in enumerate(tokens[host]):
            due = started + i / args.rate
            if due > started + args.seconds:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            _, good, bad, _ = logins.run_phase(address, host, [token], 1, 0)
            ok, failed = ok + good, failed + bad
            with lock:
                counts = timeline.setdefault(int(time.monotonic() - begun), [0, 0])
                counts[0] += good
                counts[1] += bad
        results[host] = (ok, ok, failed, [])

    threads = [threading.Thread(target=run, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(sum(r[1] for r in results.values()), sum(r[2] for r in results.values()))
    if args.timeline:
        for second in sorted(timeline):
            print(second, *timeline[second])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
