//! The JWS compact serialization (RFC 7515 section 7.1), read strictly:
//! exactly three non-empty parts, each canonical unpadded base64url, a
//! header and claims that are JSON objects without duplicate members.

use core::fmt;

use data_encoding::BASE64URL_NOPAD;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::Reason;

/// Tokens longer than this are refused before any decoding: identity
/// providers' access tokens with many roles stay well below it.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The encoded header is small (`alg`, `kid`, `typ`): more is refused.
pub const MAX_HEADER_CHARS: usize = 2048;
/// The largest signature: RSA with an 8192-bit modulus.
pub const MAX_SIGNATURE_BYTES: usize = 1024;

/// Does `token` have the shape of a JWT rather than of a
/// mod_auth_token token? Those are `<digits> <base64>` and never hold a
/// dot; every compact JWS holds two.
#[must_use]
pub fn looks_like_jwt(token: &[u8]) -> bool {
    token.contains(&b'.') && !token.contains(&b' ')
}

/// A token split and decoded, not yet verified.
#[derive(Debug)]
pub struct Compact<'a> {
    /// `BASE64URL(header) . BASE64URL(payload)`: what was signed.
    pub signing_input: &'a [u8],
    /// The header's `alg`.
    pub alg: String,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// The decoded payload (JSON, parsed once the signature verified).
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

fn decode(part: &[u8]) -> Result<Vec<u8>, Reason> {
    // BASE64URL_NOPAD refuses padding, the standard alphabet's `+/` and
    // non-zero trailing bits: one encoding per value.
    BASE64URL_NOPAD.decode(part).map_err(|_| Reason::JwtBadEncoding)
}

/// Splits and decodes a compact JWS; parses its header.
///
/// # Errors
/// [`Reason::JwtTooLarge`], [`Reason::JwtMalformed`],
/// [`Reason::JwtBadEncoding`], [`Reason::JwtBadHeader`] or
/// [`Reason::JwtAlgNone`] (unsigned: `alg` is `none`, in any case).
pub fn parse(token: &[u8]) -> Result<Compact<'_>, Reason> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Reason::JwtTooLarge);
    }
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reason::JwtMalformed);
    };
    if header.is_empty() || payload.is_empty() {
        return Err(Reason::JwtMalformed);
    }
    if header.len() > MAX_HEADER_CHARS || signature.len() > (MAX_SIGNATURE_BYTES * 4).div_ceil(3) {
        return Err(Reason::JwtTooLarge);
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let header_json = decode(header)?;
    let payload = decode(payload)?;
    let signature = decode(signature)?;
    let header_object = object(&header_json).ok_or(Reason::JwtBadHeader)?;
    // No extension is understood: a token that needs one is refused
    // (RFC 7515 section 4.1.11).
    if header_object.contains_key("crit") {
        return Err(Reason::JwtBadHeader);
    }
    let alg = match header_object.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(Reason::JwtBadHeader),
    };
    // An unsigned token says so, whatever else is wrong with it.
    if alg.eq_ignore_ascii_case("none") {
        return Err(Reason::JwtAlgNone);
    }
    if signature.is_empty() {
        return Err(Reason::JwtMalformed);
    }
    let kid = match header_object.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(Reason::JwtBadHeader),
    };
    Ok(Compact { signing_input, alg, kid, payload, signature })
}

/// A JSON object, strictly: valid UTF-8 JSON, an object at the top, no
/// member name twice at any depth (RFC 7515 section 5.2 allows refusing
/// them, and two readers that pick different duplicates disagree about
/// what was signed). `None` for anything else.
#[must_use]
pub fn object(json: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Strict>(json) {
        Ok(Strict(Value::Object(map))) => Some(map),
        _ => None,
    }
}

/// A JSON value read with duplicate members refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(value)))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Strict, E> {
        Number::from_f64(value).map(|n| Strict(Value::Number(n))).ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(value)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom("a member name appears twice"));
            }
            let Strict(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(Strict(Value::Object(members)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        BASE64URL_NOPAD.encode(text.as_bytes())
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    #[test]
    fn the_shape_tells_the_formats_apart() {
        assert!(looks_like_jwt(b"eyJhbGciOiJIUzI1NiJ9.e30.c2ln"));
        assert!(!looks_like_jwt(b"1234567801234567890123456789012345678901 ABCD+/=="));
        assert!(!looks_like_jwt(b"junk"));
    }

    #[test]
    fn a_good_token_splits_into_its_parts() {
        let text = token(r#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#, r#"{"sub":"alice"}"#);
        let parsed = parse(text.as_bytes()).expect("parses");
        assert_eq!(parsed.alg, "HS256");
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.payload, br#"{"sub":"alice"}"#);
        assert_eq!(parsed.signature, b"sig");
        assert_eq!(parsed.signing_input, text.rsplit_once('.').expect("dot").0.as_bytes());
    }

    #[test]
    fn every_structural_fault_has_its_reason() {
        let good_header = b64(r#"{"alg":"HS256"}"#);
        for (text, want) in [
            ("a.b".to_owned(), Reason::JwtMalformed),
            ("a.b.c.d".to_owned(), Reason::JwtMalformed),
            (format!("{good_header}..c2ln"), Reason::JwtMalformed),
            (format!("{good_header}.e30."), Reason::JwtMalformed),
            (format!("{good_header}=.e30.c2ln"), Reason::JwtBadEncoding),
            (format!("{good_header}.e30=.c2ln"), Reason::JwtBadEncoding),
            (format!("{good_header}.e30.c2l+"), Reason::JwtBadEncoding),
            // "e31" decodes to the same bytes as "e30" with a trailing bit set.
            (format!("{good_header}.e31.c2ln"), Reason::JwtBadEncoding),
            (token("[]", "{}"), Reason::JwtBadHeader),
            (token(r#"{"alg":1}"#, "{}"), Reason::JwtBadHeader),
            (token(r#"{"typ":"JWT"}"#, "{}"), Reason::JwtBadHeader),
            (token(r#"{"alg":"HS256","kid":7}"#, "{}"), Reason::JwtBadHeader),
            (token(r#"{"alg":"HS256","alg":"none"}"#, "{}"), Reason::JwtBadHeader),
            (token(r#"{"alg":"HS256","crit":["b64"],"b64":false}"#, "{}"), Reason::JwtBadHeader),
            (token(r#"{"alg":"HS256"} x"#, "{}"), Reason::JwtBadHeader),
            (format!("{}.e30.", b64(r#"{"alg":"none"}"#)), Reason::JwtAlgNone),
            (token(r#"{"alg":"NONE","kid":7}"#, "{}"), Reason::JwtAlgNone),
            (format!("{}.e30.c2ln", "a".repeat(MAX_HEADER_CHARS + 1)), Reason::JwtTooLarge),
            (format!("{good_header}.{}.c2ln", "a".repeat(MAX_TOKEN_BYTES)), Reason::JwtTooLarge),
        ] {
            assert_eq!(parse(text.as_bytes()).map(|_| ()), Err(want), "{text}");
        }
    }

    #[test]
    fn objects_are_read_strictly() {
        assert!(object(br#"{"a":{"b":1,"c":[1,2,{"d":null}]}}"#).is_some());
        assert!(object(br#"{"a":{"b":1,"b":2}}"#).is_none());
        assert!(object(br#"{"a":[{"x":1,"x":1}]}"#).is_none());
        assert!(object(b"[1]").is_none());
        assert!(object(b"{\"a\":\"\\ud800\"}").is_none());
        assert!(object(b"{\"a\":1} ").is_some());
        assert!(object(b"{\"a\":1}{}").is_none());
        assert!(object(b"\xff").is_none());
    }
}
