"""`token-auth extauth` under a pseudo-terminal, started as Prosody's
mod_auth_external_insecure starts it through lpty (spec/support/lpty_host.py):
standard input, output and error on one terminal, echo off, the master end
leaked into the helper, one read() per answer.

Run: .venv/bin/python -m pytest -q spec/pty  (after `make build-lua54`;
TOKEN_AUTH_LUA picks another interpreter, e.g. luajit).
"""

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "spec", "support"))

from lpty_host import PtyHost, process_gone  # noqa: E402
from mint import mint  # noqa: E402

LUA = os.environ.get("TOKEN_AUTH_LUA", "lua5.4")
BUILD = {"lua5.4": "lua54", "lua5.1": "lua51", "luajit": "luajit"}[LUA]
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SECRET = "extauth-pty-secret-0123456789"
YES, NO = b"\0\2\0\1", b"\0\2\0\0"
# Bytes a terminal in line mode acts on: ^C ^D LF CR ^Q ^S ^Z DEL.
SPECIAL = [0x03, 0x04, 0x0A, 0x0D, 0x11, 0x13, 0x1A, 0x7F]


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="token-auth-pty.") as path:
        yield path


@pytest.fixture(scope="module")
def config(workdir):
    # Debian's default config has a VirtualHost "localhost" with no token
    # options: the helper notes at start-up that it is not served.
    path = os.path.join(workdir, "prosody.cfg.lua")
    with open(path, "w") as f:
        f.write(f'token_secret = "{SECRET}"\notp_seed = "{SEED}"\n'
                'VirtualHost "a.test"\n'
                'VirtualHost "off.test"\n\tenabled = false\n')
    return path


# The checkout whose helper runs (another one to compare an older helper).
HELPER_REPO = os.environ.get("TOKEN_AUTH_HELPER_REPO", REPO)


def env():
    e = dict(os.environ)
    e.pop("LUA_CPATH_5_4", None)
    e["LUA_CPATH"] = os.path.join(HELPER_REPO, "build", BUILD, "?.so") + ";;"
    return e


def helper(config, *args):
    return [LUA, os.path.join(HELPER_REPO, "bin", "token-auth"), "extauth", "--config", config, "--timeout", "2",
            *args]


def frame(request):
    return len(request).to_bytes(2, "big") + request


def token(user, host="a.test", **kw):
    return mint(SEED, SECRET, user, host, **kw).encode()


@pytest.fixture
def hosts():
    started = []

    def start(argv, **kw):
        host = PtyHost(argv, env(), **kw)
        started.append(host)
        return host

    yield start
    for host in started:
        host.close()


def log_lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n").split(" ", 1)[1] for line in f]


def test_start_up_notes_and_refusals_never_reach_the_answer_channel(hosts, config):
    # No --log: standard error is the terminal standard output answers on,
    # so the notes go to syslog, never to the terminal.
    host = hosts(helper(config))
    valid = token("alice")
    assert host.request(b"auth:alice:a.test:" + valid + b"\n") == b"1\n"
    assert host.request(b"auth:alice:a.test:" + valid + b"\n") == b"0\n"   # replayed
    assert host.request(b"auth:eve:nowhere.test:junk\n") == b"0\n"
    assert host.request(b"isuser:alice:a.test\n") == b"1\n"
    assert host.read_once(timeout=0.3) == b""


@pytest.mark.parametrize("args", [["--bogus"], ["--timeout"]])
def test_a_wrong_option_is_not_said_on_the_answer_channel_either(hosts, config, args):
    # The helper stops before it settles where diagnostics go (its arguments
    # are wrong): standard error is the terminal, so the error goes to
    # syslog, and the host reads nothing it could take for an answer.
    host = hosts(helper(config, *args), wait_raw=False)
    assert host.wait() == 2
    assert host.read_once(timeout=0.3) == b""


def test_logs_to_the_log_file_every_refusal_kind_and_the_start_up_note(hosts, config, workdir):
    log = os.path.join(workdir, "refusals.log")
    host = hosts(helper(config, "--log", log))
    t = token("bob")
    cases = [
        (b"auth:bob:a.test:" + t, b"1\n", None),
        (b"auth:bob:a.test:" + t, b"0\n", "auth for bob@a.test failed: replayed"),
        (b"auth:bob", b"0\n", "auth failed: bad_request"),
        (b"auth:bob:nowhere.test:" + t, b"0\n", "auth for bob@nowhere.test failed: unknown_host"),
        (b"auth:bob:off.test:" + t, b"0\n", "auth for bob@off.test failed: unknown_host"),
        (b"auth:b\x7fb:a.test:" + t, b"0\n", "auth for b\\x7fb@a.test failed: invalid_jid"),
        (b"auth:carol:a.test:" + t, b"0\n", "auth for carol@a.test failed: bad_signature"),
        (b"auth:bob:a.test:12345678 abc", b"0\n", "auth for bob@a.test failed: nonce_length"),
        (b"auth:bob:a.test:junk", b"0\n", "auth for bob@a.test failed: malformed"),
        (b"auth:bob:a.test:" + t.split(b" ")[0] + b" not-base64", b"0\n", "auth for bob@a.test failed: bad_encoding"),
        (b"auth:dave:a.test:" + token("dave", now=time.time() - 3600), b"0\n",
         "auth for dave@a.test failed: otp_mismatch"),
        (b"isuser:bob", b"0\n", "isuser failed: bad_request"),
        (b"isuser:bob:nowhere.test", b"0\n", "isuser for bob@nowhere.test failed: unknown_host"),
        (b"setpass:bob:a.test:x", b"0\n", "setpass failed: not_supported"),
        (b"launch:rockets", b"0\n", "request failed: unknown_command (command launch)"),
        (b"auth:bob:a.test:" + b"9" * 5000, b"0\n", "request failed: request_too_long"),
    ]
    for request, answer, _ in cases:
        assert host.request(request + b"\n") == answer, request[:40]
    assert host.read_once(timeout=0.3) == b""
    os.kill(host.pid, signal.SIGTERM)
    assert host.wait() == 0
    lines = log_lines(log)
    assert lines[0] == "token-auth: extauth: host off.test is disabled (enabled = false): not served"
    wanted = ["token-auth: extauth: " + want for _, _, want in cases if want]
    assert len(lines) == 1 + len(wanted) + 1
    for line, want in zip(lines[1:], wanted):
        assert line == want or line.startswith(want + " ("), (line, want)
    assert lines[-1] == "token-auth: extauth: stopped by a signal: exiting"
    with open(log, "rb") as f:
        text = f.read()
    assert t not in text and t.split(b" ")[1] not in text


@pytest.mark.parametrize("text, note", [
    # Debian's default config: VirtualHost "localhost" with no token options.
    (f'VirtualHost "localhost"\nVirtualHost "a.test"\n\ttoken_secret = "{SECRET}"\n\totp_seed = "{SEED}"\n',
     "host localhost has no token_secret or otp_seed: not served"),
    (f'token_secret = "{SECRET}"\notp_seed = "{SEED}"\n',
     "no VirtualHost in {path}: the global options serve every host"),
    (f'token_secret = "{SECRET}"\notp_seed = "{SEED}"\nVirtualHost "a.test"\nVirtualHost "off.test"\n'
     '\tenabled = false\n', "host off.test is disabled (enabled = false): not served"),
])
def test_every_start_up_note_goes_to_the_log_and_the_first_answer_is_exact(hosts, workdir, text, note):
    path = os.path.join(workdir, f"notes-{abs(hash(note))}.cfg.lua")
    with open(path, "w") as f:
        f.write(text)
    log = path + ".log"
    host = hosts(helper(path, "--log", log))
    assert host.request(b"auth:first:a.test:" + token("first") + b"\n") == b"1\n"
    assert host.read_once(timeout=0.3) == b""
    os.kill(host.pid, signal.SIGTERM)
    assert host.wait() == 0
    assert log_lines(log) == ["token-auth: extauth: " + note.format(path=path),
                              "token-auth: extauth: stopped by a signal: exiting"]


def test_logs_on_standard_error_when_it_is_a_channel_of_its_own(hosts, config, workdir):
    path = os.path.join(workdir, "stderr.txt")
    with open(path, "wb") as err:
        host = hosts(helper(config), stderr_fd=err.fileno())
    assert host.request(b"auth:zed:a.test:junk\n") == b"0\n"
    os.kill(host.pid, signal.SIGTERM)
    assert host.wait() == 0
    with open(path) as f:
        assert f.read().splitlines() == [
            "token-auth: extauth: host off.test is disabled (enabled = false): not served",
            "token-auth: extauth: auth for zed@a.test failed: malformed",
            "token-auth: extauth: stopped by a signal: exiting"]


def test_ejabberd_frames_whose_length_bytes_a_terminal_would_act_on(hosts, config, workdir):
    # Lengths whose high or low byte is special: isuser with a padded
    # username answers 1; past 4096 bytes the frame is skipped by its
    # length and answered 0.
    host = hosts(helper(config, "--protocol", "ejabberd", "--log", os.path.join(workdir, "frames.log")))
    lengths = sorted({b for b in SPECIAL} | {0x100 + b for b in SPECIAL} | {b << 8 for b in SPECIAL}
                     | {(b << 8) | b for b in SPECIAL})
    answered = 0
    for length in lengths:
        head = b"isuser:"
        tail = b":a.test"
        user_length = length - len(head) - len(tail)
        if user_length < 1:
            request = (b"isuser:" + b"x" * length)[:length]
            want = NO
        else:
            request = head + b"u" * user_length + tail
            want = YES if length <= 4096 else NO
        assert len(request) == length
        assert host.request(frame(request)) == want, f"length {length:#06x}"
        # Still in step: the next frame gets its own answer.
        assert host.request(frame(b"auth:u" + str(length).encode() + b":a.test:" + token(f"u{length}"))) == YES
        answered += 2
    assert answered == 2 * len(lengths)
    assert host.read_once(timeout=0.3) == b""


def test_generic_lines_with_bytes_a_terminal_would_act_on_and_over_4095_bytes(hosts, config, workdir):
    host = hosts(helper(config, "--log", os.path.join(workdir, "lines.log")))
    for b in SPECIAL:
        if b == 0x0A:
            continue  # the line end itself
        assert host.request(b"auth:x:a.test:ab" + bytes([b]) + b"cd\n") == b"0\n", hex(b)
        assert host.request(b"isuser:x" + str(b).encode() + b":a.test\n") == b"1\n"
    # A CR LF line end is one line end; a line longer than a terminal's
    # 4095-byte line buffer arrives whole and is refused once.
    assert host.request(b"isuser:crlf:a.test\r\n") == b"1\n"
    assert host.request(b"auth:long:a.test:" + b"7" * 4090 + b"\n") == b"0\n"
    assert host.request(b"isuser:after:a.test\n") == b"1\n"
    assert host.read_once(timeout=0.3) == b""


def workload(count, seed):
    rng = random.Random(seed)
    requests, answers = [], []
    issued = []
    for i in range(count):
        kind = rng.randrange(8)
        user = f"user{i}"
        if kind in (0, 1):
            t = token(user)
            issued.append((user, t))
            requests.append(b"auth:%s:a.test:%s" % (user.encode(), t))
            answers.append(True)
        elif kind == 2:
            requests.append(b"auth:%s:a.test:%s" % (user.encode(), token("other" + user)))
            answers.append(False)
        elif kind == 3 and issued:
            replay_user, replay = issued[rng.randrange(len(issued))]
            requests.append(b"auth:%s:a.test:%s" % (replay_user.encode(), replay))
            answers.append(False)
        elif kind == 4:
            served = rng.random() < 0.5
            requests.append(b"isuser:%s:%s" % (user.encode(), b"a.test" if served else b"nowhere.test"))
            answers.append(served)
        elif kind == 5:
            requests.append(b"auth:%s:a.test:%s" % (user.encode(), b"5" * rng.randrange(4100, 6000)))
            answers.append(False)
        elif kind == 6:
            junk = bytes(rng.choice([b for b in SPECIAL if b != 0x0A]) for _ in range(rng.randrange(1, 40)))
            requests.append(b"auth:%s:a.test:%s" % (user.encode(), junk))
            answers.append(False)
        else:
            # Length bytes vary: pad the username so frames take every size up to ~1 KB.
            requests.append(b"isuser:%s:a.test" % (user.encode() + b"p" * rng.randrange(0, 1000)))
            answers.append(True)
    return requests, answers


@pytest.mark.parametrize("protocol", ["generic", "ejabberd"])
def test_a_thousand_mixed_requests_each_answered_for_itself(hosts, config, workdir, protocol):
    requests, answers = workload(1000, 17 if protocol == "generic" else 18)
    args = ["--log", os.path.join(workdir, f"mixed-{protocol}.log")]
    if protocol == "ejabberd":
        args += ["--protocol", "ejabberd"]
    host = hosts(helper(config, *args))
    right = 0
    started = time.monotonic()
    for request, want in zip(requests, answers):
        if protocol == "generic":
            got, expected = host.request(request + b"\n"), (b"1\n" if want else b"0\n")
        else:
            got, expected = host.request(frame(request)), (YES if want else NO)
        assert got == expected, request[:60]
        right += 1
    seconds = time.monotonic() - started
    assert host.read_once(timeout=0.3) == b""
    print(f"\n{protocol}: {right} of {len(requests)} answers right in {seconds:.2f} s under a pty "
          f"({sum(answers)} accepted, {len(answers) - sum(answers)} refused)")
    assert right == 1000


def test_restores_the_terminal_on_sigterm(hosts, config):
    host = hosts(helper(config))
    before = host.attrs()
    assert not before[3] & termios.ICANON and not before[1] & termios.OPOST
    os.kill(host.pid, signal.SIGTERM)
    assert host.wait() == 0
    after = host.attrs()
    assert after[3] & termios.ICANON and after[3] & termios.ISIG and after[1] & termios.OPOST
    assert not after[3] & termios.ECHO   # as the host left it


def test_exits_when_the_terminal_hangs_up(hosts, config):
    # The helper closed the master end it inherited: when the host closes
    # its own, the terminal hangs up and the helper exits.
    host = hosts(helper(config))
    os.close(host.master)
    host.master = None
    assert host.wait(timeout=2) == 0


def start_hosted_helper(config, workdir, name):
    """Starts the host script (which starts the helper); returns the
    host's Popen, the helper's PID and the pty's master end."""
    master, slave = os.openpty()
    pidfile = os.path.join(workdir, name + ".pid")
    host = subprocess.Popen([sys.executable, os.path.join(REPO, "spec", "support", "lpty_host.py"),
                             str(master), str(slave), pidfile, "--", *helper(config)],
                            pass_fds=(master, slave), env=env())
    os.close(slave)
    deadline = time.monotonic() + 10
    while not os.path.exists(pidfile):
        assert time.monotonic() < deadline, "the host never started the helper"
        time.sleep(0.01)
    with open(pidfile) as f:
        pid = int(f.read())
    while termios.tcgetattr(master)[3] & termios.ICANON:
        assert time.monotonic() < deadline, "the helper never made its terminal raw"
        time.sleep(0.005)
    return host, pid, master


def seconds_until_gone(pid, limit=5.0):
    started = time.monotonic()
    while not process_gone(pid):
        if time.monotonic() - started > limit:
            os.kill(pid, signal.SIGKILL)
            return None
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.mark.parametrize("master_held_elsewhere", [False, True])
def test_exits_within_a_second_of_its_parent_being_killed(config, workdir, master_held_elsewhere):
    # held elsewhere: the terminal never hangs up, only watching the parent helps.
    host, pid, master = start_hosted_helper(config, workdir, f"killed-{master_held_elsewhere}")
    try:
        os.write(master, b"isuser:alice:a.test\n")
        assert os.read(master, 4096) == b"1\n"
        if not master_held_elsewhere:
            os.close(master)
            master = None
        host.kill()
        host.wait()
        gone = seconds_until_gone(pid)
        print(f"\nhelper gone {gone:.3f} s after its parent was killed "
              f"(master end {'held elsewhere' if master_held_elsewhere else 'closed'})")
        assert gone is not None and gone < 1.0
    finally:
        if master is not None:
            os.close(master)


def test_logs_to_syslog_when_standard_error_is_the_answer_channel(hosts, config, workdir):
    # A /dev of our own in a private mount namespace, its /dev/log a socket
    # this test reads: the helper's syslog(3) lines arrive there.
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("no private mount namespace here (unshare --mount needs root)")
    fake_dev = os.path.join(workdir, "dev")
    os.mkdir(fake_dev)
    for name in ("null", "zero", "urandom", "random"):
        real = os.stat("/dev/" + name)
        os.mknod(os.path.join(fake_dev, name), real.st_mode, real.st_rdev)
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(os.path.join(fake_dev, "log"))
    log.settimeout(5)
    try:
        # The terminal is open already: the helper needs no /dev/pts.
        host = hosts(["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /dev && exec "$@"', fake_dev,
                      *helper(config)])
        assert host.request(b"auth:mallory:a.test:junk\n") == b"0\n"
        got = [log.recv(4096) for _ in range(2)]
    finally:
        log.close()
    assert got[0].startswith(b"<36>") and got[0].endswith(
        b": extauth: host off.test is disabled (enabled = false): not served")   # auth.warning
    assert got[1].startswith(b"<38>") and got[1].endswith(
        b": extauth: auth for mallory@a.test failed: malformed")   # auth.info
    assert b"token-auth[" in got[1]
    assert host.read_once(timeout=0.3) == b""


def test_a_garbage_password_right_after_a_valid_login_is_refused_on_every_start(hosts, workdir):
    # Issue 17's measurement, with Debian's default VirtualHost "localhost"
    # (a start-up note) and no --log: 20 fresh helpers, each asked for a
    # victim's valid login and then an attacker's garbage password for admin.
    path = os.path.join(workdir, "debian-like.cfg.lua")
    with open(path, "w") as f:
        f.write(f'VirtualHost "localhost"\nVirtualHost "a.test"\n\ttoken_secret = "{SECRET}"\n\totp_seed = "{SEED}"\n')
    accepted = 0
    for i in range(20):
        host = hosts(helper(path))
        assert host.request(b"auth:victim%d:a.test:%s\n" % (i, token(f"victim{i}"))) == b"1\n"
        answer = host.request(b"auth:admin:a.test:garbage\n")
        assert answer == b"0\n"
        accepted += answer == b"1\n"
        host.close()
    assert accepted == 0
