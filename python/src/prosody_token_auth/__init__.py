"""Mint one-time login tokens for Prosody's token authentication.

A token is what the community module `mod_auth_token` checks, and what
prosody-token-auth's native verifier checks::

    <OTP><nonce> <base64(HMAC-SHA256(token_secret, OTP + nonce + user@host))>

The web application mints one for the logged-in user and hands it to the
user's XMPP client, which presents it as its password (PLAIN) or over
X-TOKEN. Prosody checks it with no call back to the application::

    from prosody_token_auth import make_token, bare_jid

    token = make_token("alice", "example.com", OTP_SEED, TOKEN_SECRET)
    jid = bare_jid("alice", "example.com")   # what the client logs in as

The options must match the server's (`token_otp_digits`,
`token_otp_period`, `token_otp_algorithm`, `token_nonce_length`).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import math
import secrets
import time
from typing import Optional, Sequence, Union

import pyotp

from ._prep import InvalidDomain, InvalidUsername, nameprep, nodeprep

__all__ = [
    "ALGORITHMS",
    "DIGITS",
    "InvalidDomain",
    "InvalidUsername",
    "MAX_SECRETS",
    "MIN_SECRET_BYTES",
    "MIN_SEED_BYTES",
    "NONCE_LENGTHS",
    "PERIODS",
    "UnpreparedDomain",
    "UnpreparedUsername",
    "bare_jid",
    "make_token",
    "nameprep",
    "new_nonce",
    "nodeprep",
    "sign",
]

__version__ = "0.1.0"

# The ranges the server accepts (prosody-token-auth's option checks); a value
# outside them is refused here, since the server would refuse to load with it.
DIGITS = range(6, 11)
PERIODS = range(1, 3601)
NONCE_LENGTHS = range(8, 129)
ALGORITHMS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
MIN_SECRET_BYTES = 16
MAX_SECRETS = 8
MIN_SEED_BYTES = 10  # 80 bits, the 16-character seeds of older setups

Secret = Union[str, bytes]
Time = Union[int, float, datetime.datetime]


class _HOTP(pyotp.HOTP):
    # pyotp 2.12 refuses seeds under 112 bits; the server accepts 80, so the
    # 16-character seeds of existing setups keep minting here.
    min_secret_length_bits = MIN_SEED_BYTES * 8


def _seed(otp_seed: str) -> str:
    # The server's base32 decoder upper-cases the seed and ignores '=' anywhere;
    # anything else outside the alphabet (spaces included) is an error.
    if not isinstance(otp_seed, str):
        raise TypeError("otp_seed must be a str (base32)")
    seed = otp_seed.replace("=", "").upper()
    try:
        decoded = base64.b32decode(seed + "=" * (-len(seed) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("otp_seed is not base32 (RFC 4648)") from None
    if len(decoded) < MIN_SEED_BYTES:
        raise ValueError(f"otp_seed must hold at least {MIN_SEED_BYTES * 8} bits")
    return seed


def _secret(token_secret: Union[Secret, Sequence[Secret]]) -> bytes:
    # A list is the server's rotation: every entry verifies, the first signs.
    # Each is checked as the server checks it, so that a list the server
    # would refuse to load is refused here too.
    listed = [token_secret] if isinstance(token_secret, (str, bytes)) else list(token_secret)
    if not 1 <= len(listed) <= MAX_SECRETS:
        raise ValueError(f"token_secret must list 1 to {MAX_SECRETS} secrets")
    keys = []
    for secret in listed:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")  # the bytes of the config string
        if not isinstance(secret, bytes):
            raise TypeError("token_secret must be a str, bytes, or a list of them")
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"each token_secret must have at least {MIN_SECRET_BYTES} bytes")
        keys.append(secret)
    return keys[0]


def _unix_time(now: Optional[Time]) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime.datetime):
        # A naive datetime has no zone: its Unix time depends on the host's
        # clock zone, the bug of the original generator.
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be Unix seconds or a timezone-aware datetime, not a naive one")
        return now.timestamp()
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now) or now < 0:
        raise ValueError("now must be non-negative Unix seconds")
    return float(now)


class UnpreparedUsername(InvalidUsername):
    """The username is valid but nodeprep changes it (case, width, ignorable
    characters): Prosody would log in the prepared name, perhaps someone else's."""

    def __init__(self, given: str, prepared: str) -> None:
        super().__init__(
            f"username {ascii(given)} is {ascii(prepared)} after nodeprep, the account Prosody logs in; "
            f"mint for {ascii(prepared)} if that account is this user's, or pass fold_names=True")
        self.given, self.prepared = given, prepared


class UnpreparedDomain(InvalidDomain):
    """The domain is valid but nameprep changes it."""

    def __init__(self, given: str, prepared: str) -> None:
        super().__init__(
            f"domain {ascii(given)} is {ascii(prepared)} after nameprep, the host Prosody serves; "
            f"mint for {ascii(prepared)}, or pass fold_names=True")
        self.given, self.prepared = given, prepared


def _check(name: str, value: int, allowed: range) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ValueError(f"{name} must be an integer from {allowed.start} to {allowed.stop - 1}")


def new_nonce(length: int = 32) -> str:
    """Return `length` random decimal digits from the OS's CSPRNG (`secrets`)."""
    _check("nonce_length", length, NONCE_LENGTHS)
    return "".join(secrets.choice("0123456789") for _ in range(length))


def bare_jid(username: str, domain: str) -> str:
    """Return `user@host` as the server sees it (nodeprepped user, nameprepped host).

    Give this JID to the client together with the token.

    Raises:
        InvalidUsername, InvalidDomain: as `nodeprep` and `nameprep` do.
    """
    return f"{nodeprep(username)}@{nameprep(domain)}"


def sign(otp: str, nonce: str, jid: str, token_secret: Union[Secret, Sequence[Secret]]) -> str:
    """Return the token for an OTP code, a nonce and a prepared bare JID.

    The byte string signed is UTF-8 of `otp + nonce + jid`, the key the bytes
    of the first secret; the signature is standard base64 with padding.
    `make_token` is this with the code, nonce and JID computed for you.
    """
    message = (otp + nonce + jid).encode("utf-8")
    signature = hmac.new(_secret(token_secret), message, hashlib.sha256).digest()
    return f"{otp}{nonce} {base64.b64encode(signature).decode('ascii')}"


def make_token(
    username: str,
    domain: str,
    otp_seed: str,
    token_secret: Union[Secret, Sequence[Secret]],
    *,
    digits: int = 8,
    period: int = 30,
    algorithm: str = "SHA1",
    nonce_length: int = 32,
    now: Optional[Time] = None,
    nonce: Optional[str] = None,
    fold_names: bool = False,
) -> str:
    """Mint a one-time token that logs `username@domain` in to Prosody.

    Args:
        username: the account's localpart as Prosody keys it: already
            nodeprepped (`alice`, not `Alice`, `ＡＬＩＣＥ` or `ali\u00adce`).
        domain: the Prosody VirtualHost, already nameprepped.
        otp_seed: the server's `otp_seed` (base32, any case, '=' ignored).
        token_secret: the server's `token_secret` (the bytes of the string,
            not base32-decoded), or its list: the first one signs.
        digits, period, algorithm, nonce_length: the server's
            `token_otp_digits`, `token_otp_period`, `token_otp_algorithm`
            and `token_nonce_length` (6-10, 1-3600 s, SHA1/SHA256/SHA512,
            8-128 digits).
        now: Unix seconds (or a timezone-aware datetime) to mint for;
            the system clock by default. Naive datetimes are refused.
        nonce: the nonce digits; random (CSPRNG) by default. Fixed nonces
            are for tests and worked examples only: a nonce must never repeat.
        fold_names: accept a username or domain that nodeprep or nameprep
            changes and sign the prepared form. Off by default: names that
            differ only in case, width or invisible characters are one
            account to Prosody, so an application that checks only
            exact-string uniqueness would hand out someone else's account.

    Returns:
        The token, e.g. `"28470195" + 32 nonce digits + " " + 44 base64 characters`.
        It is accepted once, within the server's window around `now`.

    Raises:
        InvalidUsername: the username is empty or nodeprep refuses it;
            UnpreparedUsername (a subclass) when nodeprep changes it and
            fold_names is false.
        InvalidDomain: the domain is empty or nameprep refuses it;
            UnpreparedDomain when nameprep changes it and fold_names is false.
        ValueError: an option outside the server's range, a bad seed or
            secret, a naive datetime, a nonce of the wrong length.
        TypeError: an argument of the wrong type.
    """
    _check("digits", digits, DIGITS)
    _check("period", period, PERIODS)
    _check("nonce_length", nonce_length, NONCE_LENGTHS)
    if not isinstance(algorithm, str) or algorithm.upper() not in ALGORITHMS:
        raise ValueError("algorithm must be one of " + ", ".join(ALGORITHMS))
    if nonce is None:
        nonce = new_nonce(nonce_length)
    elif not isinstance(nonce, str) or len(nonce) != nonce_length or not nonce.isascii() or not nonce.isdigit():
        raise ValueError(f"nonce must be {nonce_length} decimal digits")
    user, host = nodeprep(username), nameprep(domain)
    if not fold_names and user != username:
        raise UnpreparedUsername(username, user)
    if not fold_names and host != domain:
        raise UnpreparedDomain(domain, host)
    jid = f"{user}@{host}"
    # The OTP is HOTP at step floor(Unix time / period), T0 = 0 (RFC 6238):
    # computed from the step, so no datetime (and no clock zone) is involved.
    step = math.floor(_unix_time(now) / period)
    hotp = _HOTP(_seed(otp_seed), digits=digits, digest=ALGORITHMS[algorithm.upper()])
    return sign(hotp.at(step), nonce, jid, token_secret)
