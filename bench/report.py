#!/usr/bin/python3
"""Turns the `name<TAB>value<TAB>unit` lines of one `make bench` run into the
Markdown tables for the README: the machine and versions, per-call costs,
the ratios against the targets, the replay cache and Prosody logins.

    /usr/bin/python3 bench/report.py RESULTS_FILE
"""

import os
import re
import subprocess
import sys


def command_output(*argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "?"


def package_version(name):
    return command_output("dpkg-query", "-W", "-f", "${Version}", name)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def mlua_version(repo):
    try:
        with open(os.path.join(repo, "Cargo.lock")) as f:
            match = re.search(r'name = "mlua"\nversion = "([^"]+)"', f.read())
            return match.group(1) if match else "?"
    except OSError:
        return "?"


def load(path):
    values = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                try:
                    values[parts[0]] = float(parts[1])
                except ValueError:
                    pass
    return values


def fmt(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


def extauth_section(w, get):
    """`token-auth extauth`, pipelined, beside the bare Lua loop (bench/extauth.lua)."""
    if get("lua54_extauth_ejabberd_rate") is None:
        w("")
        w("token-auth extauth: not measured in this run.")
        return
    w("")
    w("`token-auth extauth`, pipelined (every request written before the first answer is read), valid tokens, "
      "requests per second; the bare loop reads buffered, verifies with the same module and flushes after each answer:")
    w("")
    w("| Interpreter | Protocol | token-auth extauth | Bare Lua loop | Bare / ours | Answers right | Target |")
    w("|---|---|---:|---:|---:|---|---|")
    for lua, label in (("lua54", "Lua 5.4"), ("luajit", "LuaJIT")):
        for protocol in ("ejabberd", "generic"):
            ours = get(f"{lua}_extauth_{protocol}_rate")
            bare = get(f"{lua}_extauth_bare_{protocol}_rate")
            if ours is None:
                continue
            ok = get(f"{lua}_extauth_{protocol}_answers_ok")
            slower = None if not ours or bare is None else bare / ours
            target = ""
            if lua == "lua54" and protocol == "ejabberd":
                met = ours >= 100000 and slower is not None and slower <= 3
                target = f"at least 100,000/s and within 3x of the bare loop: {'met' if met else '**missed**'}"
            w(f"| {label} | {protocol} | {ours:,.0f} | {'n/a' if bare is None else f'{bare:,.0f}'} | "
              f"{'n/a' if slower is None else f'{slower:.2f}'} | {'yes' if ok == 1 else '**no**'} | {target} |")


def redis_report(w, get, ratio, verdict):
    """The Redis replay store: per-call wall time, logins, memory, extauth."""
    if get("redis_verify_store") is None:
        w("Redis replay store: not measured in this run.")
        return
    version = command_output("redis-server", "--version")
    match = re.search(r"v=([0-9.]+)", version)
    w(f"Replay store shared through Redis ({'Redis ' + match.group(1) if match else version}, "
      "a throwaway `redis-server` on 127.0.0.1, no persistence), wall time per call in microseconds "
      "(Lua 5.4, the same verifier shape as above):")
    w("")
    local_us, store_us, ping_us = get("redis_verify_local"), get("redis_verify_store"), get("redis_ping")
    overhead = None if local_us is None or store_us is None else store_us - local_us
    w("| Call | us |")
    w("|---|---:|")
    w(f"| `verifier:verify()`, valid, in-process cache | {fmt(local_us, 2)} |")
    w(f"| `verifier:verify()`, valid, Redis store (one claim `EVAL`) | {fmt(store_us, 2)} |")
    w(f"| `verifier:verify()`, valid, the same over TLS (`rediss://`) | {fmt(get('redis_verify_store_tls'), 2)} |")
    w(f"| `verifier:verify()`, replay refused by the Redis store | {fmt(get('redis_verify_store_replayed'), 2)} |")
    w(f"| one bare round trip: `PING` on the store's connection | {fmt(ping_us, 2)} |")
    w(f"| the same after 2 ms of quiet (as between one client's logins) | {fmt(get('redis_ping_idle'), 2)} |")
    w(f"| the store's cost per verification (Redis - in-process) | {fmt(overhead, 2)} |")
    w("")
    per_trip = ratio(overhead, ping_us)
    w(f"Store overhead / one bare round trip: {fmt(per_trip)} "
      f"(target at most 2: {verdict(None if per_trip is None else per_trip <= 2)}).")
    w("")
    if get("logins_sequential_rate") is not None and get("logins_redis_sequential_rate") is not None:
        w("Logins through Prosody with either store, and a third server the same as the first as the control "
          "(same client, same run, in interleaved slices; the range is the lowest and highest of the per-round "
          "ratios):")
        w("")
        w("| Clients | Logins/s, in-process | Logins/s, Redis | Redis / in-process | per round (range) "
          "| Control / in-process | Target |")
        w("|---|---:|---:|---:|---|---:|---|")
        for name, label in (("sequential", "1 (sequential)"), ("concurrent", "50 concurrent")):
            mine, shared = get(f"logins_{name}_rate"), get(f"logins_redis_{name}_rate")
            control = ratio(get(f"logins_control_{name}_rate"), mine)
            share = ratio(shared, mine)
            failed = get(f"logins_redis_{name}_failed")
            note = f" ({int(failed)} failed)" if failed else ""
            low, mid, high = (get(f"logins_redis_{name}_ratio{suffix}") for suffix in ("_low", "", "_high"))
            rounds = "n/a" if mid is None else f"median {mid * 100:.0f}% ({low * 100:.0f}% to {high * 100:.0f}%)"
            w(f"| {label} | {fmt(mine, 0)} | {fmt(shared, 0)}{note} | "
              f"{'n/a' if share is None else f'{share * 100:.0f}%'} | {rounds} | "
              f"{'n/a' if control is None else f'{control * 100:.0f}%'} | "
              f"at least 95%: {verdict(None if share is None else share >= 0.95)} |")
        w("")
        rate, idle = get("logins_sequential_rate"), get("redis_ping_idle")
        if rate and idle:
            w(f"One client logging in back to back waits one round trip more per login: at "
              f"{fmt(rate, 0)} logins/s in-process and {fmt(idle, 0)} us per round trip after a quiet spell, "
              f"that wait alone would keep 1 / (1 + rate x round trip) = "
              f"{100 / (1 + rate * idle * 1e-6):.1f}% of the in-process rate.")
            w("")
        w("Login latency (median) and the server's CPU time per login, in-process / Redis: " + "; ".join(
            f"{label} {fmt(get(f'logins_{name}_latency'), 2)} / {fmt(get(f'logins_redis_{name}_latency'), 2)} ms, "
            f"{fmt(get(f'logins_{name}_server_cpu'), 0)} / {fmt(get(f'logins_redis_{name}_server_cpu'), 0)} us"
            for name, label in (("sequential", "sequential"), ("concurrent", "50 concurrent"))) + ".")
        w("")
    else:
        w("Logins through Prosody with the Redis store: not measured in this run.")
        w("")
    w(f"Redis memory per live token: {fmt(get('redis_bytes_per_token'), 0)} bytes "
      f"(growth of INFO memory's used_memory over the tokens of one run, key dictionary and expiry table included); "
      f"`MEMORY USAGE` of one key: {fmt(get('redis_memory_usage_key'), 0)} bytes; "
      f"key length {fmt(get('redis_key_length'), 0)} bytes (`token_auth:bench.test:` + 32 hex digits).")
    w("")
    w(f"`token-auth extauth` (generic protocol, requests from a file, start-up taken out): "
      f"{fmt(get('redis_extauth_local_rate'), 0)} requests/s with the in-process cache, "
      f"{fmt(get('redis_extauth_store_rate'), 0)} requests/s with the Redis store.")
    w("")
    redis_ha_report(w, get)


def redis_ha_report(w, get):
    """bench/redis_ha.lua: Prosody while Redis is stopped, and through a failover."""
    if get("redis_outage_1_hosts_answering_median") is None:
        w("Redis outage and failover: not measured in this run.")
        return
    w("An unrelated client's wait for stream features (ms) while Redis answers and while it is stopped "
      "(SIGSTOP), in interleaved slices, 20 token logins a second per host, one store with a password "
      "and a database for every host:")
    w("")
    w("| Hosts | Redis | median | p90 | max |")
    w("|---:|---|---:|---:|---:|")
    for hosts in (1, 10):
        for state in ("answering", "stopped"):
            values = [get(f"redis_outage_{hosts}_hosts_{state}_{what}") for what in ("median", "p90", "max")]
            w(f"| {hosts} | {state} | " + " | ".join(fmt(v, 1) for v in values) + " |")
    w("")
    if get("redis_failover_kill_second") is None:
        return
    kill = int(get("redis_failover_kill_second"))
    seconds = []
    second = 0
    while get(f"redis_failover_second_{second:02d}_ok") is not None:
        seconds.append((second, get(f"redis_failover_second_{second:02d}_ok"),
                        get(f"redis_failover_second_{second:02d}_refused")))
        second += 1
    w("Logins per second through Prosody (100 a second offered) with the store found through Sentinel "
      "(a master, two replicas, three sentinels, `down-after-milliseconds` 1000, "
      f"`token_replay_store_replicas = 1`); the master is killed (SIGKILL) at second {kill}:")
    w("")
    w("| Second | " + " | ".join(str(s) for s, _, _ in seconds) + " |")
    w("|---|" + "---:|" * len(seconds))
    w("| accepted | " + " | ".join(fmt(ok, 0) for _, ok, _ in seconds) + " |")
    w("| refused | " + " | ".join(fmt(bad, 0) for _, _, bad in seconds) + " |")
    w("")
    back = get("redis_failover_back_after")
    w(f"Logins accepted again {fmt(back, 0)} s after the kill (whole seconds of the timeline).")


def main(argv):
    values = load(argv[1])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    get = values.get

    def us(name):
        value = get(name)
        return None if value is None else value

    def ns_to_us(name):
        value = get(name)
        return None if value is None else value / 1000

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    def verdict(ok):
        return "n/a" if ok is None else ("met" if ok else "**missed**")

    out = []
    w = out.append
    w(f"Machine: {cpu_model()}, {os.cpu_count()} cores, Linux {os.uname().release}. "
      f"Versions: {command_output('lua5.4', '-v').split('  ')[0]}, {command_output('luajit', '-v').split(' -- ')[0]}, "
      f"{command_output('rustc', '--version')}, mlua {mlua_version(repo)}, Prosody {package_version('prosody')}, "
      f"lua-luaossl {package_version('lua-luaossl')}.")
    w("Each figure is the median of several runs in one `make bench` run (CPU time for the Lua figures).")
    w("")
    w("Per-call cost, microseconds (a 32-character seed, 8 digits, window 1, 32-digit nonces):")
    w("")
    w("| Call | Lua 5.4 | LuaJIT |")
    w("|---|---:|---:|")
    rows = [
        ("`verifier:verify()`, valid token (fresh each call)", "verifier_valid"),
        ("`verifier:verify()`, bad signature", "verifier_bad_signature"),
        ("`verifier:verify()`, wrong OTP (3 steps tried)", "verifier_otp_mismatch"),
        ("`verifier:verify()`, replayed", "verifier_replayed"),
        ("`verify_token()` one-shot, valid", "verify_token_valid"),
        ("pure-Lua way (luaossl HMAC, base32 in Lua, `==`), valid", "pure_lua_valid"),
        ("pure-Lua way, bad signature", "pure_lua_bad_signature"),
        ("pure-Lua way, wrong OTP", "pure_lua_otp_mismatch"),
        ("empty Lua-to-C method call, same arguments", "empty_c_call"),
    ]
    for label, key in rows:
        w(f"| {label} | {fmt(us('lua54_' + key), 3)} | {fmt(us('luajit_' + key), 3)} |")
    floor = ns_to_us("floor_total")
    w(f"| Rust floor: HMAC-SHA1 + HMAC-SHA256 (pre-keyed) + base64 decode, no Lua | {fmt(floor, 3)} | |")
    w(f"| Rust core: `Verifier::verify`, valid, no Lua | {fmt(ns_to_us('core_verifier_verify_valid'), 3)} | |")
    w("")
    w("Ratios, measured in the same run:")
    w("")
    w("| Ratio | Lua 5.4 | LuaJIT | Target (Lua 5.4) |")
    w("|---|---:|---:|---|")
    cells = {}
    for lua in ("lua54", "luajit"):
        valid = us(f"{lua}_verifier_valid")
        call = us(f"{lua}_empty_c_call")
        floor_call = None if floor is None or call is None else floor + call
        cells[lua] = {
            "valid": valid,
            "speedup": ratio(us(f"{lua}_pure_lua_valid"), valid),
            "vs_floor": ratio(valid, floor_call),
            "best_speedup": ratio(us(f"{lua}_pure_lua_valid"), floor_call),
        }
    c54, cjit = cells["lua54"], cells["luajit"]
    w(f"| valid verification through a verifier, us | {fmt(c54['valid'], 3)} | {fmt(cjit['valid'], 3)} | "
      f"at most 1.0: {verdict(None if c54['valid'] is None else c54['valid'] <= 1.0)} |")
    w(f"| pure-Lua way / ours (times faster) | {fmt(c54['speedup'], 1)} | {fmt(cjit['speedup'], 1)} | "
      f"at least 50: {verdict(None if c54['speedup'] is None else c54['speedup'] >= 50)} |")
    w(f"| ours / (Rust floor + one empty Lua-to-C call) | {fmt(c54['vs_floor'])} | {fmt(cjit['vs_floor'])} | "
      f"at most 1.5: {verdict(None if c54['vs_floor'] is None else c54['vs_floor'] <= 1.5)} |")
    w(f"| pure-Lua way / (Rust floor + one call): the best any binding could do | {fmt(c54['best_speedup'], 1)} | "
      f"{fmt(cjit['best_speedup'], 1)} | |")
    w("")
    w("Replay cache (Rust, `ReplayCache`), nanoseconds per operation:")
    w("")
    w("| Live entries | Bytes per entry | Insert | Lookup (replay) | Expiry, per entry | Steady state, insert + expiry | Longest single operation |")
    w("|---:|---:|---:|---:|---:|---:|---:|")
    for label in ("10k", "100k", "1M"):
        p = f"replay_{label}_"
        pause = get(p + "worst_pause")
        w(f"| {label} | {fmt(get(p + 'bytes'), 0)} | {fmt(get(p + 'insert'), 0)} | {fmt(get(p + 'lookup'), 0)} | "
          f"{fmt(get(p + 'expire'), 0)} | {fmt(get(p + 'steady'), 0)} | "
          f"{'n/a' if pause is None else f'{pause / 1000:.2f} ms'} |")
    w("")
    if get("logins_sequential_rate") is not None:
        verify_us = us("lua54_verifier_valid")
        w("Logins through Prosody (X-TOKEN over plain TCP on 127.0.0.1: connect, SASL, bind, close):")
        w("")
        w("| Clients | Logins/s | Server CPU per login, us | Verification's share of it | Median login latency, ms | Client CPU per login, us |")
        w("|---|---:|---:|---:|---:|---:|")
        for name, label in (("sequential", "1 (sequential)"), ("concurrent", "50 concurrent")):
            p = f"logins_{name}_"
            server = get(p + "server_cpu")
            share = ratio(verify_us, server)
            failed = get(p + "failed")
            note = f" ({int(failed)} failed)" if failed else ""
            w(f"| {label} | {fmt(get(p + 'rate'), 0)}{note} | {fmt(server, 0)} | "
              f"{'n/a' if share is None else f'{share * 100:.2f}%'} | {fmt(get(p + 'latency'), 2)} | "
              f"{fmt(get(p + 'client_cpu'), 0)} |")
        w("")
        w("Verification's share = the Lua 5.4 valid-verification cost above / the server's CPU time "
          "(utime + stime) per login.")
    else:
        w("Logins through Prosody: not measured in this run.")
    extauth_section(w, get)
    w("")
    redis_report(w, get, ratio, verdict)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
