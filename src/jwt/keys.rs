//! Keys and key sets: a JWKS (RFC 7517), a single JWK, PEM public keys,
//! and HMAC secrets from the configuration.
//!
//! Every key carries the one algorithm it serves, fixed when it is
//! loaded: from the JWK's `alg`, else from its curve (P-256 -> ES256,
//! P-384 -> ES384, Ed25519 -> EdDSA), else RS256 for an RSA key; a
//! configured secret serves the configured HS algorithm. A token's `alg`
//! only selects among keys, so it can never make a public key into an
//! HMAC secret. HMAC keys never come from a key set: an `oct` JWK (or a
//! private key) in a set refuses the whole set.

use data_encoding::BASE64URL_NOPAD;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};

use super::alg::{Alg, Material};
use super::compact;

/// A key set file larger than this is refused (a JWKS of 64 RSA-4096
/// keys is about 50 KiB).
pub const MAX_KEY_SET_BYTES: usize = 1024 * 1024;
/// More keys than this in one set is refused: a token without `kid` is
/// tried against every key of its algorithm.
pub const MAX_KEYS: usize = 64;
/// RSA moduli below this are refused (RFC 7518 section 3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// RSA moduli above this are refused (verification cost).
pub const MAX_RSA_BITS: usize = 8192;

/// Why a key or key set cannot be used. The text never holds key bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError(pub String);

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

fn fail<T>(problem: impl Into<String>) -> Result<T, KeyError> {
    Err(KeyError(problem.into()))
}

/// One verifying key.
#[derive(Clone, Debug)]
pub struct Key {
    /// Its `kid`, if it has one: a key without one is a candidate for any token.
    pub kid: Option<String>,
    /// The one algorithm it serves.
    pub alg: Alg,
    /// The key itself.
    pub material: Material,
}

/// A set of keys, as loaded.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    /// The usable keys.
    pub keys: Vec<Key>,
    /// JWKs passed over: encryption keys (`use` other than `sig`), and
    /// algorithms or curves this verifier does not implement.
    pub skipped: usize,
}

impl KeySet {
    /// Reads a JWKS (`{"keys": [...]}`), a single JWK, or PEM public keys
    /// (`PUBLIC KEY` and `RSA PUBLIC KEY` blocks), whichever `text` is.
    ///
    /// # Errors
    /// [`KeyError`] saying what is wrong: no usable key at all, an HMAC or
    /// private key, a malformed key of a supported kind, too many keys.
    pub fn parse(text: &[u8]) -> Result<KeySet, KeyError> {
        if text.len() > MAX_KEY_SET_BYTES {
            return fail("is larger than 1 MiB");
        }
        let trimmed = text.trim_ascii_start();
        let set = if trimmed.starts_with(b"{") {
            let Some(object) = compact::object(trimmed) else {
                return fail("is not a JSON object (or names a member twice)");
            };
            match object.get("keys") {
                Some(Value::Array(list)) => from_jwks(list)?,
                Some(_) => return fail("has a \"keys\" member that is not a list"),
                None => from_jwks(&[Value::Object(object)])?,
            }
        } else if trimmed.starts_with(b"-----BEGIN") {
            from_pem(trimmed)?
        } else {
            return fail("is neither a JWKS, a JWK nor PEM public keys");
        };
        if set.keys.is_empty() {
            return fail("holds no usable signing key");
        }
        if set.keys.len() > MAX_KEYS {
            return fail(format!("holds more than {MAX_KEYS} keys"));
        }
        Ok(set)
    }
}

fn from_jwks(list: &[Value]) -> Result<KeySet, KeyError> {
    let mut set = KeySet::default();
    if list.len() > MAX_KEYS * 4 {
        return fail(format!("lists more than {} keys", MAX_KEYS * 4));
    }
    for (index, jwk) in list.iter().enumerate() {
        let Value::Object(jwk) = jwk else {
            return fail(format!("key {} is not a JSON object", index + 1));
        };
        match from_jwk(jwk).map_err(|KeyError(problem)| KeyError(format!("key {}: {problem}", index + 1)))? {
            Some(key) => set.keys.push(key),
            None => set.skipped += 1,
        }
    }
    Ok(set)
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, KeyError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => fail(format!("\"{name}\" is not a string")),
    }
}

fn bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyError> {
    let Some(text) = member(jwk, name)? else {
        return fail(format!("has no \"{name}\""));
    };
    BASE64URL_NOPAD.decode(text.as_bytes()).or_else(|_| fail(format!("\"{name}\" is not unpadded base64url")))
}

/// One JWK: `Some(key)`, `None` when it is not for us (skipped), or an
/// error when it is a kind we take but cannot be used.
fn from_jwk(jwk: &Map<String, Value>) -> Result<Option<Key>, KeyError> {
    let kty = member(jwk, "kty")?.ok_or_else(|| KeyError("has no \"kty\"".into()))?;
    if kty == "oct" {
        return fail("is an HMAC (oct) key: HMAC secrets come from the configuration only, never from a key set");
    }
    if jwk.contains_key("d") {
        return fail("is a private key: publish public keys only");
    }
    if member(jwk, "use")?.is_some_and(|usage| usage != "sig") {
        return Ok(None);
    }
    if let Some(ops) = jwk.get("key_ops") {
        let Value::Array(ops) = ops else { return fail("\"key_ops\" is not a list") };
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(None);
        }
    }
    let kid = member(jwk, "kid")?.map(str::to_owned);
    let alg = match member(jwk, "alg")? {
        Some(name) => match Alg::parse(name.as_bytes()) {
            Some(alg) => Some(alg),
            // RSA-OAEP and the like: not a signing algorithm of ours.
            None => return Ok(None),
        },
        None => None,
    };
    let (material, natural) = match kty {
        "RSA" => (Material::Rsa(Box::new(rsa_key(jwk)?)), Alg::Rs256),
        "EC" => match member(jwk, "crv")? {
            Some("P-256") => (Material::P256(ec_p256(jwk)?), Alg::Es256),
            Some("P-384") => (Material::P384(ec_p384(jwk)?), Alg::Es384),
            _ => return Ok(None),
        },
        "OKP" => match member(jwk, "crv")? {
            Some("Ed25519") => (Material::Ed25519(ed25519(jwk)?), Alg::EdDsa),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let alg = alg.unwrap_or(natural);
    if !material.serves(alg) {
        return fail(format!("says \"alg\": \"{}\", which its kind of key cannot serve", alg.name()));
    }
    Ok(Some(Key { kid, alg, material }))
}

fn rsa_checked(key: RsaPublicKey) -> Result<RsaPublicKey, KeyError> {
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return fail(format!("is an RSA key of {bits} bits; at least {MIN_RSA_BITS} are required"));
    }
    Ok(key)
}

fn rsa_key(jwk: &Map<String, Value>) -> Result<RsaPublicKey, KeyError> {
    let n = bytes(jwk, "n")?;
    let e = bytes(jwk, "e")?;
    // RFC 7518 section 6.3.1.1: no leading zero octets.
    if n.first() == Some(&0) || e.first() == Some(&0) {
        return fail("has an RSA \"n\" or \"e\" with a leading zero octet");
    }
    let n = BigUint::from_bytes_be(&n);
    if n.bits() < MIN_RSA_BITS {
        return fail(format!("is an RSA key of {} bits; at least {MIN_RSA_BITS} are required", n.bits()));
    }
    RsaPublicKey::new_with_max_size(n, BigUint::from_bytes_be(&e), MAX_RSA_BITS)
        .or_else(|_| fail("is not a usable RSA public key (modulus or exponent refused)"))
}

fn coordinates(jwk: &Map<String, Value>, size: usize) -> Result<Vec<u8>, KeyError> {
    let x = bytes(jwk, "x")?;
    let y = bytes(jwk, "y")?;
    if x.len() != size || y.len() != size {
        return fail(format!("has EC coordinates that are not {size} bytes each"));
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

fn ec_p256(jwk: &Map<String, Value>) -> Result<p256::ecdsa::VerifyingKey, KeyError> {
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&coordinates(jwk, 32)?).or_else(|_| fail("is not a point on P-256"))
}

fn ec_p384(jwk: &Map<String, Value>) -> Result<p384::ecdsa::VerifyingKey, KeyError> {
    p384::ecdsa::VerifyingKey::from_sec1_bytes(&coordinates(jwk, 48)?).or_else(|_| fail("is not a point on P-384"))
}

fn ed25519(jwk: &Map<String, Value>) -> Result<ed25519_dalek::VerifyingKey, KeyError> {
    let x = bytes(jwk, "x")?;
    let Ok(x) = <[u8; 32]>::try_from(x.as_slice()) else {
        return fail("has an Ed25519 \"x\" that is not 32 bytes");
    };
    ed25519_dalek::VerifyingKey::from_bytes(&x).or_else(|_| fail("is not an Ed25519 public key"))
}

/// PEM blocks, each `-----BEGIN LABEL-----` to `-----END LABEL-----`.
fn from_pem(text: &[u8]) -> Result<KeySet, KeyError> {
    let Ok(text) = core::str::from_utf8(text) else {
        return fail("is not text");
    };
    let mut set = KeySet::default();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else { return fail("has a PEM block without its label's end") };
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = rest[start..].find(&end_marker) else {
            return fail(format!("has a PEM block \"{label}\" without its END line"));
        };
        let block = &rest[start..start + end + end_marker.len()];
        rest = &rest[start + end + end_marker.len()..];
        if set.keys.len() >= MAX_KEYS {
            return fail(format!("holds more than {MAX_KEYS} keys"));
        }
        let (material, alg) = match label {
            "PUBLIC KEY" => pem_public_key(block)?,
            "RSA PUBLIC KEY" => (
                Material::Rsa(Box::new(rsa_checked(
                    RsaPublicKey::from_pkcs1_pem(block).or_else(|_| fail("has an unreadable RSA PUBLIC KEY"))?,
                )?)),
                Alg::Rs256,
            ),
            other if other.contains("PRIVATE") => return fail("holds a private key: give the public key only"),
            other => return fail(format!("holds a PEM block \"{other}\"; only PUBLIC KEY blocks are read")),
        };
        set.keys.push(Key { kid: None, alg, material });
    }
    Ok(set)
}

fn pem_public_key(block: &str) -> Result<(Material, Alg), KeyError> {
    use p256::pkcs8::DecodePublicKey as _;
    if let Ok(key) = RsaPublicKey::from_public_key_pem(block) {
        return Ok((Material::Rsa(Box::new(rsa_checked(key)?)), Alg::Rs256));
    }
    if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(block) {
        return Ok((Material::P256(key), Alg::Es256));
    }
    if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_pem(block) {
        return Ok((Material::P384(key), Alg::Es384));
    }
    if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(block) {
        return Ok((Material::Ed25519(key), Alg::EdDsa));
    }
    fail("has a PUBLIC KEY that is not RSA, P-256, P-384 or Ed25519")
}

/// A configured HMAC secret for `alg`.
///
/// # Errors
/// [`KeyError`] when `alg` is not HMAC or the secret is shorter than
/// the hash's output.
pub fn secret(bytes: &[u8], alg: Alg) -> Result<Key, KeyError> {
    if !alg.is_hmac() {
        return fail(format!("{} is not an HMAC algorithm", alg.name()));
    }
    if bytes.len() < alg.min_secret_bytes() {
        return fail(format!("is shorter than {} bytes, the least {} takes", alg.min_secret_bytes(), alg.name()));
    }
    Ok(Key { kid: None, alg, material: Material::Hmac(bytes.to_vec()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 appendix A.2's RSA key, public half.
    pub const RFC7515_RSA_JWK: &str = r#"{"kty":"RSA",
      "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
      "e":"AQAB"}"#;

    #[test]
    fn a_jwks_yields_its_signing_keys_with_their_algorithms() {
        let jwks = format!(
            r#"{{"keys":[
              {{"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}},
              {{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}},
              {{"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}},
              {{"kty":"RSA","use":"enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}},
              {}
            ]}}"#,
            RFC7515_RSA_JWK.replacen('{', r#"{"kid":"rsa","alg":"PS256","use":"sig","#, 1)
        );
        let set = KeySet::parse(jwks.as_bytes()).expect("parses");
        let got: Vec<_> = set.keys.iter().map(|k| (k.kid.clone().unwrap_or_default(), k.alg)).collect();
        assert_eq!(got, [("ec".into(), Alg::Es256), ("ed".into(), Alg::EdDsa), ("rsa".into(), Alg::Ps256)]);
        assert_eq!(set.skipped, 2);
        let single = KeySet::parse(RFC7515_RSA_JWK.as_bytes()).expect("one JWK");
        assert_eq!(single.keys[0].alg, Alg::Rs256);
    }

    #[test]
    fn hmac_and_private_keys_never_come_from_a_set() {
        let oct = r#"{"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]}"#;
        assert!(KeySet::parse(oct.as_bytes()).expect_err("oct").0.contains("HMAC"));
        let private = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        assert!(KeySet::parse(private.as_bytes()).expect_err("private").0.contains("private"));
        // A key whose alg its kind cannot serve is refused, not re-bound.
        let confused = RFC7515_RSA_JWK.replacen('{', r#"{"alg":"HS256","#, 1);
        assert!(KeySet::parse(confused.as_bytes()).is_err());
        let confused = RFC7515_RSA_JWK.replacen('{', r#"{"alg":"ES256","#, 1);
        assert!(KeySet::parse(confused.as_bytes()).is_err());
    }

    #[test]
    fn bad_sets_say_why() {
        for (text, want) in [
            ("", "neither"),
            ("{", "JSON"),
            (r#"{"keys":{}}"#, "not a list"),
            (r#"{"keys":[]}"#, "no usable"),
            (r#"{"keys":[1]}"#, "key 1"),
            (r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#, "32 bytes"),
            (r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#, "bits"),
            (r#"{"kty":"RSA","n":"AAEC","e":"AQAB"}"#, "leading zero"),
            (r#"{"kty":"RSA","n":"AQ==","e":"AQAB"}"#, "base64url"),
            ("-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n", "private"),
            ("-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n", "CERTIFICATE"),
            ("-----BEGIN PUBLIC KEY-----\nAA\n", "END"),
        ] {
            let err = KeySet::parse(text.as_bytes()).expect_err(text);
            assert!(err.0.contains(want), "{text}: {err}");
        }
        let many: Vec<String> =
            (0..=MAX_KEYS).map(|n| RFC7515_RSA_JWK.replacen('{', &format!(r#"{{"kid":"{n}","#), 1)).collect();
        let many = format!(r#"{{"keys":[{}]}}"#, many.join(","));
        assert!(KeySet::parse(many.as_bytes()).expect_err("many").0.contains("more than"));
    }

    #[test]
    fn secrets_must_be_as_long_as_the_hash() {
        assert!(secret(&[7; 32], Alg::Hs256).is_ok());
        assert!(secret(&[7; 31], Alg::Hs256).is_err());
        assert!(secret(&[7; 47], Alg::Hs384).is_err());
        assert!(secret(&[7; 64], Alg::Hs512).is_ok());
        assert!(secret(&[7; 64], Alg::Rs256).is_err());
    }
}
