//! The verifier against the RFC examples and HMAC tokens made here.

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;

/// RFC 7515 appendix A: the claims every example signs (exp 1300819380).
const RFC_PAYLOAD: &str =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const RFC_NOW: u64 = 1_300_819_300;
/// A.1: HS256 with this `oct` key.
const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const A1_KEY: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
/// A.2: RS256.
const A2_SIGNATURE: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
/// A.3: ES256 on P-256.
const A3_SIGNATURE: &str = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
/// RFC 8037 appendix A.4: Ed25519 over "Example of Ed25519 signing".
const ED_INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
const ED_SIGNATURE: &str = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
const ED_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

fn rsa_jwk(extra: &str) -> String {
    format!(r#"{{{extra}"kty":"RSA","n":"{A2_N}","e":"AQAB"}}"#)
}

fn a2_token() -> String {
    format!("eyJhbGciOiJSUzI1NiJ9.{RFC_PAYLOAD}.{A2_SIGNATURE}")
}

fn a3_token() -> String {
    format!("eyJhbGciOiJFUzI1NiJ9.{RFC_PAYLOAD}.{A3_SIGNATURE}")
}

fn with_keys(keys: &str) -> Jwt {
    Jwt::new(&Options { keys: Some(keys.into()), ..Options::default() }).expect("valid").expect("configured")
}

fn with_secret(secret: &[u8]) -> Jwt {
    Jwt::new(&Options { secrets: vec![secret.to_vec()], ..Options::default() }).expect("valid").expect("configured")
}

#[test]
fn the_rfc_examples_verify() {
    let a1 = with_secret(&BASE64URL_NOPAD.decode(A1_KEY.as_bytes()).expect("key"));
    let verified = a1.verify_claims(A1_TOKEN.as_bytes(), RFC_NOW).expect("A.1");
    assert_eq!(verified.alg, Alg::Hs256);
    assert_eq!(verified.claims.get("iss").and_then(Value::as_str), Some("joe"));
    assert_eq!(verified.dead_at, 1_300_819_380 + crate::options::JWT_LEEWAY.integer::<u64>(None).expect("a default"));
    assert_eq!(
        with_keys(&rsa_jwk("")).verify_claims(a2_token().as_bytes(), RFC_NOW).map(|v| v.alg).ok(),
        Some(Alg::Rs256)
    );
    assert_eq!(with_keys(A3_JWK).verify_claims(a3_token().as_bytes(), RFC_NOW).map(|v| v.alg).ok(), Some(Alg::Es256));
    let ed = KeySet::parse(ED_JWK.as_bytes()).expect("jwk");
    let signature = BASE64URL_NOPAD.decode(ED_SIGNATURE.as_bytes()).expect("b64");
    assert!(alg::verify(&ed.keys[0].material, Alg::EdDsa, ED_INPUT.as_bytes(), &signature));
    let mut flipped = signature.clone();
    flipped[10] ^= 1;
    assert!(!alg::verify(&ed.keys[0].material, Alg::EdDsa, ED_INPUT.as_bytes(), &flipped));
    // The same signature over other bytes, or as another algorithm: no.
    assert!(!alg::verify(&ed.keys[0].material, Alg::EdDsa, b"eyJhbGciOiJFZERTQSJ9.e30", &signature));
    assert!(!alg::verify(&ed.keys[0].material, Alg::Es256, ED_INPUT.as_bytes(), &signature));
}

#[test]
fn an_rfc_example_fails_once_altered_or_expired() {
    let rsa = with_keys(&rsa_jwk(""));
    let token = a2_token();
    assert_eq!(rsa.verify_claims(token.as_bytes(), 1_300_819_380 + 60).map(|_| ()), Err(Reason::JwtExpired));
    let altered = token.replacen("cC4h", "cC4i", 1);
    assert_eq!(rsa.verify_claims(altered.as_bytes(), RFC_NOW).map(|_| ()), Err(Reason::JwtBadSignature));
    // A PS256 key does not take an RS256 token, even with the same modulus.
    let ps = with_keys(&rsa_jwk(r#""alg":"PS256","#));
    assert_eq!(ps.verify_claims(token.as_bytes(), RFC_NOW).map(|_| ()), Err(Reason::JwtNoKeyForAlg));
    // A signature one byte short of the modulus is refused before any arithmetic.
    let mut short = BASE64URL_NOPAD.decode(A2_SIGNATURE.as_bytes()).expect("b64");
    short.pop();
    let short = format!("eyJhbGciOiJSUzI1NiJ9.{RFC_PAYLOAD}.{}", BASE64URL_NOPAD.encode(&short));
    assert_eq!(rsa.verify_claims(short.as_bytes(), RFC_NOW).map(|_| ()), Err(Reason::JwtBadSignature));
}

/// An HS256 token over `header` and `claims`, signed here.
fn hs256(secret: &[u8], header: &str, claims: &str) -> String {
    let input = format!("{}.{}", BASE64URL_NOPAD.encode(header.as_bytes()), BASE64URL_NOPAD.encode(claims.as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any length");
    mac.update(input.as_bytes());
    format!("{input}.{}", BASE64URL_NOPAD.encode(&mac.finalize().into_bytes()))
}

const SECRET: &[u8] = b"an HMAC secret of thirty-two bytes or more";
const NOW: u64 = 1_700_000_000;

#[test]
fn algorithm_confusion_is_refused_by_construction() {
    // The classic attack: HS256 "signed" with the RSA public key's bytes.
    // Keys carry their algorithm, so no key is an HMAC key here.
    let rsa = with_keys(&rsa_jwk(r#""kid":"k1","#));
    let public_bytes = rsa_jwk("");
    for header in [r#"{"alg":"HS256","kid":"k1"}"#, r#"{"alg":"HS256"}"#] {
        let forged = hs256(public_bytes.as_bytes(), header, r#"{"sub":"alice","exp":1700000100}"#);
        assert_eq!(rsa.verify_claims(forged.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtNoKeyForAlg), "{header}");
    }
    let none = format!("{}.{}.c2ln", BASE64URL_NOPAD.encode(br#"{"alg":"none"}"#), BASE64URL_NOPAD.encode(b"{}"));
    assert_eq!(rsa.verify_claims(none.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtAlgNone));
    let none = none.replacen("bm9uZS", "Tm9uZS", 1); // "None"
    assert_eq!(rsa.verify_claims(none.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtAlgNone));
    let odd = hs256(SECRET, r#"{"alg":"HS1"}"#, "{}");
    assert_eq!(rsa.verify_claims(odd.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtAlgNotAllowed));
}

#[test]
fn the_allowlist_and_kids_select_keys() {
    let jwt = Jwt::new(&Options {
        keys: Some(rsa_jwk(r#""kid":"k1","#).into()),
        secrets: vec![SECRET.to_vec()],
        algorithms: Some(vec![b"RS256".to_vec()]),
        ..Options::default()
    })
    .expect("valid")
    .expect("configured");
    let hs = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":1700000100}"#);
    assert_eq!(jwt.verify_claims(hs.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtAlgNotAllowed));
    let only_rsa = with_keys(&rsa_jwk(r#""kid":"k1","#));
    let unknown = hs256(SECRET, r#"{"alg":"RS256","kid":"k2"}"#, "{}");
    assert_eq!(only_rsa.verify_claims(unknown.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtUnknownKid));
    // Secrets have no kid: they are candidates for any kid.
    let secret = with_secret(SECRET);
    let kid = hs256(SECRET, r#"{"alg":"HS256","kid":"whatever"}"#, r#"{"sub":"alice","exp":1700000100}"#);
    assert!(secret.verify_claims(kid.as_bytes(), NOW).is_ok());
    // An ES256 token with a kid nobody has is a rotation, secrets or not.
    let rotated = hs256(SECRET, r#"{"alg":"ES256","kid":"new"}"#, "{}");
    assert_eq!(secret.verify_claims(rotated.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtUnknownKid));
    assert_eq!(jwt.verify_claims(rotated.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtAlgNotAllowed));
    let wrong = hs256(b"another secret of thirty-two bytes or more", r#"{"alg":"HS256"}"#, r#"{"exp":1700000100}"#);
    assert_eq!(secret.verify_claims(wrong.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtBadSignature));
}

#[test]
fn claims_are_read_only_after_the_signature() {
    let secret = with_secret(SECRET);
    // Bad claims behind a bad signature: the signature is what is reported.
    let mut forged = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"exp":"soon"}"#);
    forged.push('A');
    forged.remove(forged.len() - 2);
    assert_eq!(secret.verify_claims(forged.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtBadSignature));
    let signed = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"exp":"soon"}"#);
    assert_eq!(secret.verify_claims(signed.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtBadClaims));
    let twice = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice","sub":"bob","exp":1700000100}"#);
    assert_eq!(secret.verify_claims(twice.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtBadClaims));
    let no_exp = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice"}"#);
    assert_eq!(secret.verify_claims(no_exp.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtMissingExp));
}

#[test]
fn the_user_is_checked_by_verify() {
    let secret = with_secret(SECRET);
    let token = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":1700000100}"#);
    assert!(secret.verify(b"alice", b"example.com", token.as_bytes(), NOW).is_ok());
    assert_eq!(secret.verify(b"bob", b"example.com", token.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtWrongUser));
}

#[test]
fn replay_ids_follow_the_jti_else_the_signature() {
    let secret = with_secret(SECRET);
    let id = |claims: &str| {
        secret.verify_claims(hs256(SECRET, r#"{"alg":"HS256"}"#, claims).as_bytes(), NOW).expect("ok").replay_id
    };
    let a = id(r#"{"exp":1700000100,"jti":"1"}"#);
    assert_eq!(a, id(r#"{"exp":1700000101,"jti":"1"}"#), "same jti, same token");
    assert_ne!(a, id(r#"{"exp":1700000100,"jti":"1","iss":"x"}"#), "another issuer's jti");
    assert_ne!(id(r#"{"exp":1700000100}"#), id(r#"{"exp":1700000101}"#));
}

#[test]
fn options_are_validated_with_their_names() {
    let check = |options: Options, option: &str| {
        assert_eq!(Jwt::new(&options).map(|_| ()).expect_err(option).option(), option);
    };
    let keyed = || Options { secrets: vec![SECRET.to_vec()], ..Options::default() };
    check(Options { leeway: Some(5), ..Options::default() }, "jwt_keys");
    check(Options { secrets: vec![b"short".to_vec()], ..Options::default() }, "jwt_secret");
    check(Options { secret_algorithm: Some(b"RS256".to_vec()), ..keyed() }, "jwt_secret_algorithm");
    check(Options { secret_algorithm: Some(b"HS512".to_vec()), ..keyed() }, "jwt_secret");
    check(Options { algorithms: Some(vec![b"none".to_vec()]), ..keyed() }, "jwt_algorithms");
    check(Options { algorithms: Some(vec![]), ..keyed() }, "jwt_algorithms");
    check(Options { leeway: Some(601), ..keyed() }, "jwt_leeway");
    check(Options { leeway: Some(-1), ..keyed() }, "jwt_leeway");
    check(Options { max_lifetime: Some(59), ..keyed() }, "jwt_max_lifetime");
    check(Options { username_claim: Some(vec![]), ..keyed() }, "jwt_username_claim");
    check(Options { keys: Some(b"/nonexistent/jwks.json".to_vec()), ..Options::default() }, "jwt_keys");
    check(Options { keys: Some(b"{\"keys\":[]}".to_vec()), ..Options::default() }, "jwt_keys");
    check(Options { keys_url: Some(b"ftp://idp.example/jwks".to_vec()), ..Options::default() }, "jwt_keys_url");
    check(Options { keys_url: Some(b"https://".to_vec()), ..Options::default() }, "jwt_keys_url");
    check(Options { keys_refresh: Some(600), ..keyed() }, "jwt_keys_url");
    let url = || Some(b"https://idp.example/realms/chat/protocol/openid-connect/certs".to_vec());
    check(Options { keys_url: url(), keys_refresh: Some(9), ..Options::default() }, "jwt_keys_refresh");
    // A URL alone is enough: the keys come once fetched; none till then.
    let waiting = Jwt::new(&Options { keys_url: url(), ..Options::default() }).expect("valid").expect("configured");
    assert_eq!(
        (waiting.keys().len(), waiting.keys_refresh()),
        (0, crate::options::JWT_KEYS_REFRESH.integer::<u64>(None).expect("a default"))
    );
    assert!(waiting.keys_url().is_some_and(|u| u.ends_with("/certs")));
    let any = hs256(SECRET, r#"{"alg":"HS256","kid":"k"}"#, r#"{"exp":1700000100}"#);
    assert_eq!(waiting.verify_claims(any.as_bytes(), NOW).map(|_| ()), Err(Reason::JwtUnknownKid));
    assert!(Jwt::new(&Options::default()).expect("valid").is_none());
    let err = Jwt::new(&Options { secrets: vec![b"tiny-secret".to_vec()], ..Options::default() }).expect_err("short");
    assert!(!err.to_string().contains("tiny"), "{err}");
}

#[test]
fn keys_load_from_a_file_and_can_be_replaced() {
    let dir = std::env::temp_dir().join(format!("token-auth-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("jwks.json");
    std::fs::write(&path, format!(r#"{{"keys":[{}]}}"#, rsa_jwk(r#""kid":"2011-04-29","#))).expect("write");
    let mut jwt = with_keys(path.to_str().expect("utf-8"));
    assert_eq!(jwt.keys().len(), 1);
    assert!(jwt.verify_claims(a2_token().as_bytes(), RFC_NOW).is_ok());
    jwt.set_keys(KeySet::parse(A3_JWK.as_bytes()).expect("jwk"));
    assert_eq!(jwt.verify_claims(a2_token().as_bytes(), RFC_NOW).map(|_| ()), Err(Reason::JwtNoKeyForAlg));
    assert!(jwt.verify_claims(a3_token().as_bytes(), RFC_NOW).is_ok());
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

mod through_the_verifier {
    use super::*;
    use crate::scheme::{Accepted, Options as SchemeOptions, Verifier};

    const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    fn both(single_use: Option<bool>) -> SchemeOptions {
        SchemeOptions {
            otp_seed: Some(SEED.into()),
            token_secrets: vec![b"JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7".to_vec()],
            jwt: Options { secrets: vec![SECRET.to_vec()], single_use, ..Options::default() },
            ..SchemeOptions::default()
        }
    }

    #[test]
    fn one_verifier_takes_both_formats_and_each_once() {
        let mut verifier = Verifier::new(&both(None)).expect("valid");
        let scheme = verifier.scheme().expect("scheme").clone();
        let token = scheme.generate(b"alice", b"example.com", b"01234567890123456789012345678901", NOW).expect("mint");
        let jwt = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":1700000100}"#);
        assert!(matches!(verifier.verify(b"alice", b"example.com", token.as_bytes(), NOW), Ok(Accepted::Token(_))));
        assert!(matches!(verifier.verify(b"alice", b"example.com", jwt.as_bytes(), NOW), Ok(Accepted::Jwt(_))));
        assert_eq!(verifier.verify(b"alice", b"example.com", jwt.as_bytes(), NOW + 1), Err(Reason::Replayed));
        assert_eq!(verifier.verify(b"alice", b"example.com", token.as_bytes(), NOW + 1), Err(Reason::Replayed));
        assert_eq!(verifier.replay_cache().expect("local").len(), 2);
        // Another JWT with the same jti is the same token.
        let a = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":1700000100,"jti":"x1"}"#);
        let b = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":1700000200,"jti":"x1"}"#);
        assert!(verifier.verify(b"alice", b"example.com", a.as_bytes(), NOW).is_ok());
        assert_eq!(verifier.verify(b"alice", b"example.com", b.as_bytes(), NOW), Err(Reason::Replayed));
        // Past exp + leeway it is refused as expired, not as replayed.
        assert_eq!(verifier.verify(b"alice", b"example.com", jwt.as_bytes(), 1_700_000_160), Err(Reason::JwtExpired));
    }

    #[test]
    fn a_bearer_token_names_its_user() {
        let mut verifier = Verifier::new(&both(None)).expect("valid");
        let jwt = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"Alice@Example.com","exp":1700000100}"#);
        assert_eq!(verifier.bearer_username(b"example.com", jwt.as_bytes(), NOW).as_deref(), Ok("alice"));
        let (user, _) = verifier.verify_bearer(b"example.com", jwt.as_bytes(), NOW).expect("valid");
        assert_eq!(user, "alice");
        assert_eq!(verifier.verify_bearer(b"example.com", jwt.as_bytes(), NOW).map(|_| ()), Err(Reason::Replayed));
        // The same token over PLAIN is the same token.
        assert_eq!(verifier.verify(b"alice", b"example.com", jwt.as_bytes(), NOW), Err(Reason::Replayed));
        let other = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice@example.org","exp":1700000100}"#);
        assert_eq!(
            verifier.verify_bearer(b"example.com", other.as_bytes(), NOW).map(|_| ()),
            Err(Reason::JwtWrongHost)
        );
    }

    #[test]
    fn reuse_until_exp_when_not_single_use() {
        let mut verifier = Verifier::new(&both(Some(false))).expect("valid");
        let jwt = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":1700000100}"#);
        for now in [NOW, NOW + 1, NOW + 150] {
            assert!(verifier.verify(b"alice", b"example.com", jwt.as_bytes(), now).is_ok(), "{now}");
        }
        assert!(verifier.replay_cache().expect("local").is_empty());
    }

    #[test]
    fn a_jwt_only_verifier_needs_no_seed() {
        let options = SchemeOptions {
            jwt: Options { secrets: vec![SECRET.to_vec()], ..Options::default() },
            ..SchemeOptions::default()
        };
        let mut verifier = Verifier::new(&options).expect("valid");
        assert!(verifier.scheme().is_none());
        let old_style = "1234567801234567890123456789012345678901 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_eq!(verifier.verify(b"alice", b"example.com", old_style.as_bytes(), NOW), Err(Reason::JwtMalformed));
        let jwt = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"bob@example.com","exp":1700000100}"#);
        assert!(verifier.verify_jwt(jwt.as_bytes(), NOW).is_ok());
        assert_eq!(verifier.verify_jwt(jwt.as_bytes(), NOW), Err(Reason::Replayed));
        // Without JWT keys, a JWT is just a malformed token, as before.
        let mut plain = Verifier::new(&SchemeOptions { jwt: Options::default(), ..both(None) }).expect("valid");
        assert_eq!(plain.verify(b"alice", b"example.com", jwt.as_bytes(), NOW), Err(Reason::Malformed));
        assert_eq!(plain.verify_jwt(jwt.as_bytes(), NOW), Err(Reason::JwtMalformed));
        assert_eq!(Verifier::new(&SchemeOptions::default()).map(|_| ()).expect_err("nothing").option(), "otp_seed");
    }

    #[test]
    fn jwt_claims_go_through_an_unreachable_store_like_any_token() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let mut options = both(None);
        options.replay_store = Some(format!("redis://127.0.0.1:{port}").into_bytes());
        let mut verifier = Verifier::new(&options).expect("valid");
        let jwt = hs256(SECRET, r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":1700000100}"#);
        assert_eq!(verifier.verify(b"alice", b"example.com", jwt.as_bytes(), NOW), Err(Reason::ReplayStoreUnavailable));
        assert_eq!(verifier.verify(b"bob", b"example.com", jwt.as_bytes(), NOW), Err(Reason::JwtWrongUser));
        let mut reusable = both(Some(false));
        reusable.replay_store = options.replay_store.clone();
        let mut reusable = Verifier::new(&reusable).expect("valid");
        assert!(reusable.verify(b"alice", b"example.com", jwt.as_bytes(), NOW).is_ok(), "no claim, no store");
    }
}
