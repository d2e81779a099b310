//! The JWT verifier on any bytes.
//!
//! Input: one byte choosing the mode, then the rest.
//! - Mode even: the rest is a token, verified as it is against a verifier
//!   with an HMAC secret and the RFC 7515/8037 example keys.
//! - Mode odd: the rest is a payload, signed here with HS256 under a fixed
//!   header, so that the fuzzer reaches the claims checks.
//!
//! Oracles beyond "never panics": a refusal is a `jwt_*` reason; an
//! accepted token has one spelling (its parts re-encode to the input),
//! claims that are a strict JSON object with an integer `exp`, and is
//! refused as `replayed` the second time through a verifier.
#![no_main]

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use token_auth::error::Reason;
use token_auth::jwt::{self, compact, Jwt};
use token_auth::scheme::{Options, Verifier};

const SECRET: &[u8] = b"a fuzzing secret of thirty-two bytes, at least";
const NOW: u64 = 1_700_000_000;
const KEYS: &str = r#"{"keys":[
 {"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
 {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
 {"kty":"RSA","kid":"rsa","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}
]}"#;

fn options() -> jwt::Options {
    jwt::Options { keys: Some(KEYS.into()), secrets: vec![SECRET.to_vec()], ..jwt::Options::default() }
}

fn hs256(payload: &[u8]) -> Vec<u8> {
    let input = format!("{}.{}", BASE64URL_NOPAD.encode(br#"{"alg":"HS256"}"#), BASE64URL_NOPAD.encode(payload));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("any length");
    mac.update(input.as_bytes());
    format!("{input}.{}", BASE64URL_NOPAD.encode(&mac.finalize().into_bytes())).into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let token = if mode % 2 == 0 { rest.to_vec() } else { hs256(rest) };
    let verifier = Jwt::new(&options()).expect("valid").expect("configured");
    match verifier.verify_claims(&token, NOW) {
        Err(reason) => assert!(reason.code().starts_with("jwt_"), "{reason:?}"),
        Ok(verified) => {
            let parts: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
            assert_eq!(parts.len(), 3);
            for part in &parts {
                let decoded = BASE64URL_NOPAD.decode(part).expect("accepted parts decode");
                assert_eq!(BASE64URL_NOPAD.encode(&decoded).as_bytes(), *part, "a second spelling was accepted");
            }
            let claims = compact::object(&BASE64URL_NOPAD.decode(parts[1]).expect("decodes")).expect("an object");
            assert!(claims.get("exp").and_then(|exp| exp.as_u64()).is_some());
            assert_eq!(claims, verified.claims);
            assert!(verified.dead_at > NOW);
            let mut stateful =
                Verifier::new(&Options { jwt: options(), ..Options::default() }).expect("valid");
            assert!(stateful.verify_jwt(&token, NOW).is_ok());
            assert_eq!(stateful.verify_jwt(&token, NOW).map(|_| ()), Err(Reason::Replayed));
        }
    }
});
