"""The package on its own: the token's shape, its inputs, its refusals.

Independent checks use pyotp's TOTP and the standard library directly (the
README's plain recipe), not the package's code paths.
"""

import base64
import datetime
import hashlib
import hmac
import re

import pyotp
import pytest

import prosody_token_auth as pta
from prosody_token_auth import InvalidDomain, InvalidUsername, make_token

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SECRET = "a token secret of some length"
NOW = 1_700_000_000


def recipe(user, host, seed, secret, now, nonce, digits=8, period=30, digest=hashlib.sha1):
    otp = pyotp.TOTP(seed, digits=digits, interval=period, digest=digest).at(now)
    sig = hmac.new(secret.encode(), (otp + nonce + f"{user}@{host}").encode(), hashlib.sha256).digest()
    return f"{otp}{nonce} {base64.b64encode(sig).decode()}"


def test_matches_the_plain_recipe():
    nonce = "0123456789" * 3 + "42"
    assert make_token("alice", "example.com", SEED, SECRET, now=NOW, nonce=nonce) == recipe(
        "alice", "example.com", SEED, SECRET, NOW, nonce
    )


@pytest.mark.parametrize("algorithm,digest", [("SHA256", hashlib.sha256), ("sha512", hashlib.sha512)])
def test_matches_the_recipe_with_other_options(algorithm, digest):
    nonce = "7" * 16
    got = make_token("bob", "example.com", SEED, SECRET, digits=10, period=60, algorithm=algorithm,
                     nonce_length=16, now=NOW, nonce=nonce)
    assert got == recipe("bob", "example.com", SEED, SECRET, NOW, nonce, digits=10, period=60, digest=digest)


def test_shape_defaults():
    token = make_token("alice", "example.com", SEED, SECRET)
    assert re.fullmatch(r"[0-9]{40} [A-Za-z0-9+/]{43}=", token)


def test_nonces_are_fresh():
    nonces = {make_token("alice", "example.com", SEED, SECRET, now=NOW)[8:40] for _ in range(200)}
    assert len(nonces) == 200


def test_periods_beyond_pyotps_totp_limit():
    # pyotp's TOTP stops at 120 s; the server accepts up to 3600.
    token = make_token("alice", "example.com", SEED, SECRET, period=3600, now=NOW, nonce="1" * 32)
    expected = pyotp.HOTP(SEED, digits=8).at(NOW // 3600)
    assert token.startswith(expected + "1" * 32 + " ")


def test_default_time_is_now():
    token = make_token("alice", "example.com", SEED, SECRET)
    assert pyotp.TOTP(SEED, digits=8).verify(token[:8], valid_window=1)


def test_aware_datetime_equals_unix_seconds():
    when = datetime.datetime.fromtimestamp(NOW, tz=datetime.timezone(datetime.timedelta(hours=-7)))
    a = make_token("alice", "example.com", SEED, SECRET, now=when, nonce="5" * 32)
    b = make_token("alice", "example.com", SEED, SECRET, now=NOW, nonce="5" * 32)
    assert a == b


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="naive"):
        make_token("alice", "example.com", SEED, SECRET, now=datetime.datetime(2024, 5, 1, 12))


def test_rotation_first_secret_signs():
    nonce = "3" * 32
    listed = make_token("alice", "example.com", SEED, [SECRET, "the old secret, still accepted"], now=NOW, nonce=nonce)
    assert listed == make_token("alice", "example.com", SEED, SECRET, now=NOW, nonce=nonce)
    assert listed == make_token("alice", "example.com", SEED, (SECRET.encode(),), now=NOW, nonce=nonce)


def test_seed_forms_the_server_accepts():
    nonce = "9" * 32
    base = make_token("alice", "example.com", SEED, SECRET, now=NOW, nonce=nonce)
    assert make_token("alice", "example.com", SEED.lower(), SECRET, now=NOW, nonce=nonce) == base
    assert make_token("alice", "example.com", SEED[:5] + "=" + SEED[5:] + "==", SECRET, now=NOW, nonce=nonce) == base
    # 80-bit seeds of older setups: pyotp's TOTP refuses them, the server does not.
    make_token("alice", "example.com", "XVGR73KMZH2M4XMY", SECRET, now=NOW)


@pytest.mark.parametrize("seed", ["XVGR73KMZH2M4XM", "JBSW Y3DP EHPK 3PXP", "JBSWY3DPEHPK3PX1", ""])
def test_bad_seeds(seed):
    with pytest.raises(ValueError):
        make_token("alice", "example.com", seed, SECRET)


@pytest.mark.parametrize("secret", ["short", b"", [], ["x" * 16] * 9, ["short", "x" * 16], ["x" * 16, "short"]])
def test_bad_secrets(secret):
    with pytest.raises(ValueError):
        make_token("alice", "example.com", SEED, secret)


@pytest.mark.parametrize("options", [
    {"digits": 5}, {"digits": 11}, {"digits": 8.0}, {"digits": True},
    {"period": 0}, {"period": 3601},
    {"nonce_length": 7}, {"nonce_length": 129},
    {"algorithm": "MD5"}, {"algorithm": "SHA-1"},
    {"now": -1}, {"now": float("nan")}, {"now": "1700000000"},
    {"nonce": "12"}, {"nonce": "a" * 32}, {"nonce": "\u0663" * 32},
])
def test_bad_options(options):
    with pytest.raises(ValueError):
        make_token("alice", "example.com", SEED, SECRET, **options)


def test_names_that_prep_changes_are_refused_naming_both_forms():
    with pytest.raises(pta.UnpreparedUsername) as raised:
        make_token("Alice", "example.com", SEED, SECRET)
    assert (raised.value.given, raised.value.prepared) == ("Alice", "alice")
    assert "'Alice'" in str(raised.value) and "'alice'" in str(raised.value)
    assert isinstance(raised.value, InvalidUsername)
    with pytest.raises(pta.UnpreparedDomain) as raised_domain:
        make_token("alice", "Example.COM", SEED, SECRET)
    assert (raised_domain.value.given, raised_domain.value.prepared) == ("Example.COM", "example.com")
    assert isinstance(raised_domain.value, InvalidDomain)


# Issue 18: each of these is admin@ to Prosody.
@pytest.mark.parametrize("username", ["ＡＤＭＩＮ", "ad­min", "Admin️", "ADMIN"])
def test_names_that_fold_into_another_are_refused_unless_asked(username):
    with pytest.raises(pta.UnpreparedUsername) as raised:
        make_token(username, "example.com", SEED, SECRET)
    assert raised.value.prepared == "admin"
    assert ascii(username) in str(raised.value)
    nonce = "4" * 32
    folded = make_token(username, "example.com", SEED, SECRET, now=NOW, nonce=nonce, fold_names=True)
    assert folded == recipe("admin", "example.com", SEED, SECRET, NOW, nonce)


def test_username_is_nodeprepped_with_fold_names():
    nonce = "4" * 32
    token = make_token("Alice", "Example.COM", SEED, SECRET, now=NOW, nonce=nonce, fold_names=True)
    assert token == recipe("alice", "example.com", SEED, SECRET, NOW, nonce)
    assert pta.bare_jid("Stra\u00dfe", "EXAMPLE.com") == "strasse@example.com"
    assert pta.nodeprep("\ufb01ne\u00ad") == "fine"  # ligature folded, soft hyphen dropped


@pytest.mark.parametrize("username", ["", "a b", "a@b", "a/b", "a:b", "a'b", 'a"b', "a&b", "a<b", "a>b",
                                      "\u00a0x", "x\u0000", "\u202ex", "\u05d0a", "a\u05d0", "\u200b", "x\u200by", "\u00ad"])
def test_refused_usernames(username):
    with pytest.raises(InvalidUsername):
        make_token(username, "example.com", SEED, SECRET)


@pytest.mark.parametrize("domain", ["", "a..b", "a@b", "a/b", "x\u0000y"])
def test_refused_domains(domain):
    with pytest.raises(InvalidDomain):
        make_token("alice", domain, SEED, SECRET)


@pytest.mark.parametrize("args", [(1, "example.com", SEED, SECRET), ("alice", None, SEED, SECRET),
                                  ("alice", "example.com", b"seed", SECRET), ("alice", "example.com", SEED, 5)])
def test_wrong_types(args):
    with pytest.raises(TypeError):
        make_token(*args)


def test_is_typed():
    import importlib.resources

    assert importlib.resources.files("prosody_token_auth").joinpath("py.typed").is_file()
