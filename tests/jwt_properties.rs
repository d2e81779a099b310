//! Properties of the JWT verifier over generated claims, times, leeways,
//! lifetimes and mutations. Tokens are signed here with the `hmac` crate
//! and `data-encoding`, independently of the verifier's own code paths.

// Helpers of a test may panic: a panic is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;
use token_auth::error::Reason;
use token_auth::jwt::{self, Jwt};

const SECRET: &[u8] = b"a property-test secret of 32 bytes or more";

fn sign(header: &str, claims: &str) -> String {
    let input = format!("{}.{}", BASE64URL_NOPAD.encode(header.as_bytes()), BASE64URL_NOPAD.encode(claims.as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", BASE64URL_NOPAD.encode(&mac.finalize().into_bytes()))
}

fn verifier(leeway: u64, max_lifetime: u64) -> Jwt {
    Jwt::new(&jwt::Options {
        secrets: vec![SECRET.to_vec()],
        leeway: Some(i64::try_from(leeway).unwrap()),
        max_lifetime: Some(i64::try_from(max_lifetime).unwrap()),
        ..jwt::Options::default()
    })
    .unwrap()
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Accepted exactly when the time rules say so, whatever the numbers.
    #[test]
    fn the_time_rules_hold(
        now in 0u64..4_000_000_000,
        exp_delta in -1000i64..100_000,
        iat_delta in proptest::option::of(-100_000i64..1000),
        nbf_delta in proptest::option::of(-1000i64..1000),
        leeway in 0u64..=600,
        max_lifetime in 60u64..=100_000,
    ) {
        let at = |delta: i64| now.checked_add_signed(delta);
        let (Some(exp), iat, nbf) = (at(exp_delta), iat_delta.map(at), nbf_delta.map(at)) else { return Ok(()) };
        if iat == Some(None) || nbf == Some(None) { return Ok(()) }
        let (iat, nbf) = (iat.flatten(), nbf.flatten());
        let mut claims = format!(r#"{{"sub":"alice","exp":{exp}"#);
        if let Some(iat) = iat { claims += &format!(r#","iat":{iat}"#); }
        if let Some(nbf) = nbf { claims += &format!(r#","nbf":{nbf}"#); }
        claims.push('}');
        let want = if now >= exp + leeway {
            Err(Reason::JwtExpired)
        } else if nbf.is_some_and(|nbf| nbf > now + leeway) {
            Err(Reason::JwtNotYetValid)
        } else if iat.is_some_and(|iat| iat > now + leeway) {
            Err(Reason::JwtIssuedInFuture)
        } else if exp.saturating_sub(iat.unwrap_or(now)) > max_lifetime {
            Err(Reason::JwtLifetimeTooLong)
        } else {
            Ok(exp + leeway)
        };
        let got = verifier(leeway, max_lifetime).verify_claims(sign(r#"{"alg":"HS256"}"#, &claims).as_bytes(), now);
        prop_assert_eq!(got.map(|v| v.dead_at), want, "{}", claims);
    }

    /// Every change of one character of a valid token is refused: the
    /// encoding has one spelling and the signature covers the rest.
    #[test]
    fn every_one_character_change_is_refused(position in any::<prop::sample::Index>(), replacement in any::<u8>()) {
        let token = sign(r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"sub":"alice","exp":1700000100,"jti":"p"}"#);
        let verifier = verifier(60, 3600);
        prop_assert!(verifier.verify_claims(token.as_bytes(), 1_700_000_000).is_ok());
        let mut bytes = token.into_bytes();
        let index = position.index(bytes.len());
        prop_assume!(bytes[index] != replacement);
        bytes[index] = replacement;
        let got = verifier.verify_claims(&bytes, 1_700_000_000);
        prop_assert!(got.is_err(), "{:?} accepted", String::from_utf8_lossy(&bytes));
    }

    /// Any bytes: a jwt_* reason, never a panic, never an acceptance.
    #[test]
    fn any_bytes_are_refused_with_a_jwt_reason(token in proptest::collection::vec(any::<u8>(), 0..600)) {
        let reason = verifier(60, 3600).verify_claims(&token, 1_700_000_000).map(|_| ()).unwrap_err();
        prop_assert!(reason.code().starts_with("jwt_"), "{:?}", reason);
    }
}

/// A token at the size bound costs no more than a small one by much: the
/// bound is checked before decoding, and decoding is linear.
#[test]
fn a_huge_token_is_refused_cheaply() {
    let verifier = verifier(60, 3600);
    let huge = vec![b'a'; 10 * 1024 * 1024];
    let started = Instant::now();
    for _ in 0..100 {
        assert_eq!(verifier.verify_claims(&huge, 1_700_000_000).map(|_| ()), Err(Reason::JwtTooLarge));
    }
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}
