"""Tokens minted by the package verify in the native module (build/lua54/token_auth.so).

Every option combination the server accepts (digits 6-10, periods from 1 s
to an hour, the three algorithms, nonce lengths at the ends and the default,
rotated secrets) is minted here and checked by one lua5.4 process, through
`verify_token` and through a verifier (which must then refuse the replay).
"""

import base64
import itertools
import random
import re

import pytest

from conftest import REPO

from prosody_token_auth import ALGORITHMS, DIGITS, NONCE_LENGTHS, PERIODS, make_token

SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
NEW, OLD, OTHER = "the new token secret", "the old token secret", "an unrelated token secret"

# Reads: user, host, token, digits, period, algorithm, nonce_length, time, seed, hex secrets joined by ",".
# Prints: verify_token's verdict, a fresh verifier's, and that verifier's on the same token again.
VERIFY = r"""
local function unhex(s) return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end)) end
for line in io.lines() do
	local f = {}
	for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
	local secrets = {}
	for hex in f[10]:gmatch("[^,]+") do secrets[#secrets + 1] = unhex(hex) end
	local config = { otp_seed = f[9], token_secret = secrets, digits = tonumber(f[4]), period = tonumber(f[5]),
		algorithm = f[6], nonce_length = tonumber(f[7]) }
	local verifier = assert(token_auth.new_verifier(config))
	config.time = tonumber(f[8])
	local ok, reason = token_auth.verify_token(f[1], f[2], f[3], config)
	local first, why1 = verifier:verify(f[1], f[2], f[3], config.time)
	local again, why2 = verifier:verify(f[1], f[2], f[3], config.time)
	print(table.concat({ ok and "ok" or reason, first and "ok" or why1, again and "ok" or why2 }, " "))
end
"""


def line(user, host, token, o, time, server_secrets, seed=SEED):
    hexes = ",".join(s.encode().hex() for s in server_secrets)
    return "\t".join([user, host, token, str(o["digits"]), str(o["period"]), o["algorithm"],
                      str(o["nonce_length"]), repr(time), seed, hexes])


def grid():
    rng = random.Random(13)
    for digits, period, algorithm, nonce_length in itertools.product(
            DIGITS, (1, 30, 61, 3600), ALGORITHMS, (8, 32, 128)):
        # Fractional times, some right at a step boundary.
        time = rng.choice([rng.uniform(1e9, 2e9), float(rng.randrange(10**6, 10**7) * period)])
        yield {"digits": digits, "period": period, "algorithm": algorithm, "nonce_length": nonce_length}, time


def test_every_option_combination_verifies_once(native):
    cases = list(grid())
    assert len(cases) == 5 * 4 * 3 * 3
    lines = [line("alice", "example.com", make_token("alice", "example.com", SEED, NEW, now=t, **o), o, t, [NEW])
             for o, t in cases]
    assert native(VERIFY, "\n".join(lines) + "\n") == ["ok ok replayed"] * len(cases)


def test_rotation(native):
    o = {"digits": 8, "period": 30, "algorithm": "SHA1", "nonce_length": 32}
    t = 1_700_000_000.5
    new_signs = make_token("alice", "example.com", SEED, [NEW, OLD], now=t)
    old_signs = make_token("alice", "example.com", SEED, [OLD], now=t)
    eight = [f"rotated secret number {i}" for i in range(8)]
    last_of_eight = make_token("alice", "example.com", SEED, eight[7:], now=t)
    lines = [
        line("alice", "example.com", new_signs, o, t, [NEW, OLD]),
        line("alice", "example.com", old_signs, o, t, [NEW, OLD]),   # still accepted while listed
        line("alice", "example.com", new_signs, o, t, [OLD]),        # the server has not moved yet
        line("alice", "example.com", old_signs, o, t, [NEW]),        # dropped
        line("alice", "example.com", last_of_eight, o, t, eight),
        line("alice", "example.com", new_signs, o, t, [OTHER] * 8),
    ]
    assert native(VERIFY, "\n".join(lines) + "\n") == [
        "ok ok replayed", "ok ok replayed", "bad_signature bad_signature bad_signature",
        "bad_signature bad_signature bad_signature", "ok ok replayed",
        "bad_signature bad_signature bad_signature",
    ]


def test_refusals_say_why(native):
    # The cross-check can fail: a token is bound to its user, host, time and options.
    o = {"digits": 8, "period": 30, "algorithm": "SHA1", "nonce_length": 32}
    t = 1_700_000_000
    token = make_token("alice", "example.com", SEED, NEW, now=t)
    lines = [
        line("alice2", "example.com", token, o, t, [NEW]),
        line("alice", "example.org", token, o, t, [NEW]),
        line("alice", "example.com", token, o, t + 95, [NEW]),
        line("alice", "example.com", token, dict(o, nonce_length=31), t, [NEW]),
        line("alice", "example.com", token, dict(o, algorithm="SHA256"), t, [NEW]),
        line("alice", "example.com", token, o, t + 25, [NEW]),  # one step later: within the window
    ]
    out = native(VERIFY, "\n".join(lines) + "\n")
    assert [row.split()[0] for row in out] == [
        "bad_signature", "bad_signature", "otp_mismatch", "nonce_length", "otp_mismatch", "ok"]


def test_prepared_names_verify_as_the_server_sees_them(native):
    o = {"digits": 8, "period": 30, "algorithm": "SHA1", "nonce_length": 32}
    t = 1_700_000_000
    lines = [line("strasse", "example.com", make_token("Stra\u00dfe", "Example.COM", SEED, NEW, now=t,
                                                                        fold_names=True), o, t, [NEW]),
             line("j\u00fcrgen", "b\u00fccher.example", make_token("J\u00dcRGEN", "B\u00dcCHER.example", SEED, NEW,
                                                                     now=t, fold_names=True), o, t, [NEW])]
    assert native(VERIFY, "\n".join(lines) + "\n") == ["ok ok replayed"] * 2


# The package refuses exactly what the server's option check refuses.
@pytest.mark.parametrize("key,values", [
    ("digits", [min(DIGITS) - 1, min(DIGITS), max(DIGITS), max(DIGITS) + 1]),
    ("period", [min(PERIODS) - 1, min(PERIODS), max(PERIODS), max(PERIODS) + 1]),
    ("nonce_length", [min(NONCE_LENGTHS) - 1, min(NONCE_LENGTHS), max(NONCE_LENGTHS), max(NONCE_LENGTHS) + 1]),
    ("algorithm", ["SHA1", "SHA256", "SHA512", "MD5", "SHA384"]),
])
def test_ranges_match_the_server(native, key, values):
    script = "".join(
        f"print(token_auth.new_verifier({{ otp_seed = '{SEED}', token_secret = '{NEW}', {key} = {v!r} }}) "
        f"and 'accepts' or 'refuses')\n".replace("'", '"') for v in values)
    server = native(script)
    ours = []
    for v in values:
        try:
            make_token("alice", "example.com", SEED, NEW, **{key: v})
            ours.append("accepts")
        except ValueError:
            ours.append("refuses")
    assert ours == server


def readme_example():
    text = (REPO / "doc" / "minting.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- worked example: checked by python/tests/test_native.py -->\s*```\n(.*?)```", text,
                      re.S)
    assert block, "doc/minting.md's worked example is missing"
    fields = dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", block.group(1), re.M))
    return fields


def test_readme_worked_example(native):
    ex = readme_example()
    # The README lists the intermediate values too; each is recomputed here.
    user, host = ex["username"], ex["host"]
    script = (
        f"local c = {{ otp_seed = {ex['otp_seed']}, token_secret = {ex['token_secret']}, "
        f"time = {ex['time']}, nonce = {ex['nonce']} }}\n"
        f"print(token_auth.totp({ex['otp_seed']}, {{ time = {ex['time']} }}))\n"
        f"print(token_auth.generate_token({user}, {host}, c))\n"
        f"c.nonce = nil\n"
        f"print(tostring(token_auth.verify_token({user}, {host}, {ex['token']}, c)))\n"
    )
    otp, token, verdict = native(script)
    unquote = lambda s: s.strip('"')  # noqa: E731
    assert otp == unquote(ex["otp"])
    assert token == unquote(ex["token"])
    assert verdict == "true"
    assert unquote(ex["signed"]) == otp + unquote(ex["nonce"]) + unquote(user) + "@" + unquote(host)
    ours = make_token(unquote(user), unquote(host), unquote(ex["otp_seed"]), unquote(ex["token_secret"]),
                      now=int(ex["time"]), nonce=unquote(ex["nonce"]))
    assert ours == token
    signature = base64.b64decode(token.split(" ")[1], validate=True)
    assert signature.hex() == unquote(ex["hmac_hex"])
