"""Independent tokens for spec/crosscheck_spec.lua, made with pyotp and hmac.

Follows the community module's README generator, written for Python 3:

    otp = pyotp.TOTP(seed, digits=8, interval=30).now()
    nonce = 32 random decimal digits
    sig = base64(HMAC-SHA256(secret, otp + nonce + user@host))

Each output line is tab-separated, byte strings in hex so that any byte
survives: seed, secret, user, host, time, digits, period, algorithm,
nonce_length, totp, token.
Usage: pyotp_vectors.py COUNT RANDOM_SEED
"""

import base64
import hashlib
import hmac
import random
import sys

import pyotp

ALGORITHMS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
USER_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789._-" + "\u00e9\u00fc\u4e2d\u0444"


def readme_token(seed, secret, user, host, when, digits=8, period=30, algorithm="SHA1", nonce_length=32, rng=random):
    totp = pyotp.TOTP(seed, digits=digits, interval=period, digest=ALGORITHMS[algorithm])
    otp = totp.at(when)
    nonce = "".join(rng.choice("0123456789") for _ in range(nonce_length))
    msg = (otp + nonce + f"{user}@{host}").encode()
    sig = base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()
    return otp, f"{otp}{nonce} {sig}"


def main():
    count, seed_value = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed_value)
    out = sys.stdout
    for index in range(count):
        # The first half is the README recipe exactly; the rest varies every parameter.
        readme = index < count // 2
        seed = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(32))
        if rng.random() < 0.5:
            secret = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(32))
        else:
            secret = "".join(chr(rng.randrange(33, 127)) for _ in range(rng.randrange(16, 80)))
        user = "".join(rng.choice(USER_ALPHABET) for _ in range(rng.randrange(1, 20)))
        host = rng.choice(["example.com", "localhost", "xmpp.example.org", "b\u00fccher.example"])
        when = rng.randrange(0, 2**34)
        if readme:
            digits, period, algorithm, nonce_length = 8, 30, "SHA1", 32
        else:
            digits = rng.randrange(6, 11)
            period = rng.choice([15, 30, 60, 300])
            algorithm = rng.choice(sorted(ALGORITHMS))
            nonce_length = rng.choice([8, 16, 32, 64])
        otp, token = readme_token(seed, secret, user, host, when, digits, period, algorithm, nonce_length, rng)
        fields = [
            seed,
            secret.encode().hex(),
            user.encode().hex(),
            host.encode().hex(),
            str(when),
            str(digits),
            str(period),
            algorithm,
            str(nonce_length),
            otp,
            token.encode().hex(),
        ]
        out.write("\t".join(fields) + "\n")


if __name__ == "__main__":
    main()
