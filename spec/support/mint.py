#!/usr/bin/python3
"""Mint a token the way the README tells users to: pyotp + hmac, Python 3.

    otp = pyotp.TOTP(OTP_SEED, digits=8, interval=30).now()
    nonce = "".join(secrets.choice("0123456789") for _ in range(32))
    msg = (otp + nonce + f"{username}@{domain}").encode()
    sig = base64.b64encode(hmac.new(TOKEN_SECRET.encode(), msg, hashlib.sha256).digest()).decode()
    token = f"{otp}{nonce} {sig}"

Usage:
    mint.py --user alice --host example.com        (OTP_SEED, TOKEN_SECRET from the environment)
    mint.py --user alice --host example.com --seed S --secret K
            [--time UNIX_SECONDS] [--nonce DIGITS]
            [--digits 8] [--period 30] [--algorithm SHA1] [--nonce-length 32]
    mint.py --new-seed | --new-secret        print a fresh base32 value (pyotp.random_base32)

--time, --nonce and the OTP options exist for tests (tokens from another
step, chosen nonces, non-default servers); --time accepts fractions.
The token goes to stdout, nothing else is printed.
"""

import argparse
import base64
import hashlib
import hmac
import os
import secrets
import sys

import pyotp

DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def mint(seed, secret, username, domain, now=None, nonce=None,
         digits=8, period=30, algorithm="SHA1", nonce_length=32):
    totp = pyotp.TOTP(seed, digits=digits, interval=period, digest=DIGESTS[algorithm.upper()])
    otp = totp.now() if now is None else totp.at(int(now))
    if nonce is None:
        nonce = "".join(secrets.choice("0123456789") for _ in range(nonce_length))
    msg = (otp + nonce + f"{username}@{domain}").encode()
    sig = base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()
    return f"{otp}{nonce} {sig}"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--new-seed", action="store_true")
    p.add_argument("--new-secret", action="store_true")
    p.add_argument("--user")
    p.add_argument("--host")
    p.add_argument("--seed", default=os.environ.get("OTP_SEED"))
    p.add_argument("--secret", default=os.environ.get("TOKEN_SECRET"))
    p.add_argument("--time", type=float)
    p.add_argument("--nonce")
    p.add_argument("--digits", type=int, default=8)
    p.add_argument("--period", type=int, default=30)
    p.add_argument("--algorithm", default="SHA1", choices=sorted(DIGESTS) + [a.lower() for a in DIGESTS])
    p.add_argument("--nonce-length", type=int, default=32)
    args = p.parse_args(argv)

    if args.new_seed or args.new_secret:
        print(pyotp.random_base32(32))
        return 0
    missing = [name for name in ("user", "host", "seed", "secret") if getattr(args, name) is None]
    if missing:
        p.error("missing: " + ", ".join("--" + m for m in missing) + " (or OTP_SEED / TOKEN_SECRET)")
    print(mint(args.seed, args.secret, args.user, args.host, now=args.time, nonce=args.nonce,
               digits=args.digits, period=args.period, algorithm=args.algorithm,
               nonce_length=args.nonce_length))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
