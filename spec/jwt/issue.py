"""Issues JWTs with PyJWT, for the JWT specs: an independent issuer.

    issue.py OUTDIR SECRET < requests > tokens

Makes a fresh key pair for every asymmetric algorithm and writes their
public halves to OUTDIR/py.jwks.json (kid "py-<ALG>", with alg and use),
the same set without the RS256 key to OUTDIR/py.jwks.minus.json, and the
ES256 and RS256 public keys as PEM to OUTDIR/py-ES256.pem and
OUTDIR/py-RS256.pem. Each request line is tab-separated:

    name  alg  claims-json  header-json  signer

signer: "key" (the algorithm's key), "secret" (SECRET, HS*), "none"
(unsigned), "confusion" (HS256 keyed with the RS256 public key's PEM,
made by hand: PyJWT rightly refuses), "stranger" (a key not in the
set). Each answer line is "name<TAB>token".
"""

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]


def new_key(alg: str):
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    return ed25519.Ed25519PrivateKey.generate()


def public_jwk(alg: str, key) -> dict:
    algorithm = get_default_algorithms()[alg]
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    jwk.update({"kid": f"py-{alg}", "alg": alg, "use": "sig"})
    return jwk


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    out, secret = Path(sys.argv[1]), sys.argv[2].encode()
    keys = {alg: new_key(alg) for alg in ASYMMETRIC}
    strangers = {}  # made when first asked for
    jwks = [public_jwk(alg, key) for alg, key in keys.items()]
    (out / "py.jwks.json").write_text(json.dumps({"keys": jwks}))
    (out / "py.jwks.minus.json").write_text(json.dumps({"keys": jwks[1:]}))
    pem = {}
    for alg in ("ES256", "RS256"):
        pem[alg] = keys[alg].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (out / f"py-{alg}.pem").write_bytes(pem[alg])
    for line in sys.stdin:
        name, alg, claims, header, signer = line.rstrip("\n").split("\t")
        claims, header = json.loads(claims), json.loads(header)
        if signer == "confusion":
            header = {"alg": alg, "typ": "JWT", **header}
            signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
            mac = hmac.new(pem["RS256"], signing_input.encode(), hashlib.sha256).digest()
            token = signing_input + "." + b64(mac)
        elif signer == "none":
            token = jwt.encode(claims, None, algorithm="none", headers=header)
        else:
            key = secret
            if signer == "key":
                key = keys[alg]
            elif signer == "stranger":
                key = strangers.setdefault(alg, new_key(alg))
            if signer in ("key", "stranger"):
                header.setdefault("kid", f"py-{alg}")
            token = jwt.encode(claims, key, algorithm=alg, headers=header)
        print(f"{name}\t{token}", flush=True)


if __name__ == "__main__":
    main()
