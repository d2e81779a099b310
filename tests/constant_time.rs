//! The secret-dependent comparisons go through constant-time primitives.
//!
//! Two values in a verification depend on secrets: the HMAC-SHA256 that
//! the token's signature is checked against (it depends on `token_secret`)
//! and the OTP code of each step of the window (it depends on `otp_seed`).
//! Timing differences in comparing either against attacker-supplied bytes
//! could let an attacker find a valid value byte by byte, so both must be
//! compared with a constant-time primitive: `Mac::verify_slice` (which
//! compares through `subtle`) for the signature, `subtle::ConstantTimeEq`
//! for the code.
//!
//! JWT HMACs (src/jwt/alg.rs) go through `verify_slice` the same way; the
//! public-key algorithms compare nothing secret.
//!
//! What this test proves, and what not. Timing cannot be measured reliably
//! in a test on a shared machine, so this test reads the source instead
//! (the non-test part of src/token.rs, src/totp.rs, src/scheme.rs and
//! src/lua.rs) and checks that:
//! - the signature check is `verify_slice`, in `Secrets::verify`;
//! - the code check is `ct_eq`, in `Totp::matches`, and the scheme checks
//!   codes only through `matches` (it never calls `hotp` itself);
//! - secret-dependent values are computed (`finalize`, `hotp`) only in
//!   those functions and in the minting paths, which compare nothing;
//! - no statement compares (`==`, `!=`, `.eq(`, `.ne(`, `cmp(`) anything
//!   named like a signature, MAC, OTP or code;
//! - a token's OTP is looked at only after its signature verified, so
//!   without the secret no OTP comparison is reached at all.
//!
//! It does not prove that the compiled code runs in constant time: that
//! rests on `subtle` and `hmac` (whose purpose it is) and on the compiler.
//! Nor does it cover what is public anyway: the token's length and layout
//! (checked first, in variable time, from attacker-supplied bytes only),
//! which of several secrets matched a correctly signed token (checked in
//! order, stopping at the first match), which step of the window matched,
//! and the replay cache lookup, which only ever sees verified signatures.
//!
//! A renamed variable could slip past the name-based rule; the positive
//! checks (each site uses its primitive) are the ones that would catch the
//! likely regression, a `verify_slice` or `ct_eq` replaced by `==`.

// Helpers of a test may panic: a panic is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fs;
use std::path::Path;

/// The non-test part of a source file, without comments.
fn source(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The body of the first function whose signature starts with `head`.
fn body<'a>(code: &'a str, head: &str) -> &'a str {
    let start = code.find(head).unwrap_or_else(|| panic!("no `{head}` in the source"));
    let open = start + code[start..].find('{').expect("a body");
    let mut depth = 0;
    for (offset, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &code[open..=open + offset];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces after `{head}`");
}

/// Statements (and conditions), split at `;`, `{` and `}`.
fn statements(code: &str) -> impl Iterator<Item = String> + '_ {
    code.split([';', '{', '}']).map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn count(code: &str, needle: &str) -> usize {
    code.matches(needle).count()
}

#[test]
fn signatures_are_compared_with_verify_slice() {
    let token = source("token.rs");
    let verify = body(&token, "pub fn verify(&self, parsed");
    assert!(verify.contains(".verify_slice(&parsed.signature)"), "Secrets::verify must use verify_slice:\n{verify}");
    assert_eq!(count(&token, "verify_slice("), 1, "one signature check, in Secrets::verify");
    // The expected MAC is computed only to sign (minting compares nothing).
    assert_eq!(count(&token, ".finalize()"), 1);
    assert!(body(&token, "pub fn sign(").contains(".finalize()"));
    assert!(token.contains("use hmac::{Hmac, Mac};"), "verify_slice is hmac's Mac::verify_slice");
    for file in ["scheme.rs", "lua.rs", "totp.rs"] {
        assert_eq!(count(&source(file), "verify_slice("), 0, "{file} checks signatures itself");
    }
}

#[test]
fn jwt_hmacs_are_compared_with_verify_slice() {
    let alg = source("jwt/alg.rs");
    let hmac_ok = body(&alg, "fn hmac_ok<");
    assert!(hmac_ok.contains("mac.verify_slice(signature)"), "the JWT HMAC check must use verify_slice:\n{hmac_ok}");
    assert_eq!(count(&alg, "verify_slice("), 1, "one HMAC check, in hmac_ok");
    assert_eq!(count(&alg, ".finalize()"), 0, "no HMAC is computed to be compared");
    // Ed25519 through verify_strict (no malleable signatures); ECDSA and RSA
    // through their crates' verify.
    assert!(alg.contains("key.verify_strict(input"));
    for file in ["jwt/mod.rs", "jwt/compact.rs", "jwt/keys.rs", "jwt/claims.rs"] {
        assert_eq!(count(&source(file), "verify_slice("), 0, "{file} checks signatures itself");
    }
}

#[test]
fn otp_codes_are_compared_with_ct_eq() {
    let totp = source("totp.rs");
    assert!(totp.contains("use subtle::ConstantTimeEq;"));
    let matches = body(&totp, "pub fn matches(");
    assert!(matches.contains("self.hotp(counter).ct_eq(&code)"), "Totp::matches must use ct_eq:\n{matches}");
    // hotp() is called to compare (matches) and to mint (code_at) only.
    assert_eq!(count(&totp, ".hotp("), 2);
    assert!(body(&totp, "pub fn code_at(").contains("self.hotp("));
    let scheme = source("scheme.rs");
    assert_eq!(count(&scheme, ".hotp("), 0, "the scheme must compare codes through Totp::matches");
    let find_step = body(&scheme, "fn find_step(");
    assert!(count(find_step, "self.totp.matches(") >= 2, "{find_step}");
    // code_at() only mints.
    assert_eq!(count(&scheme, ".code_at("), 1);
    assert!(body(&scheme, "pub fn generate(").contains(".code_at("));
    assert_eq!(count(&source("lua.rs"), ".hotp("), 0);
}

#[test]
fn the_otp_is_looked_at_only_after_the_signature_verified() {
    let scheme = source("scheme.rs");
    let verify = body(&scheme, "pub fn verify(&self,");
    let signature = verify.find("self.secrets.verify(").expect("a signature check");
    let otp = verify.find("self.find_step(").expect("an OTP check");
    assert!(signature < otp, "the OTP must be checked after the signature:\n{verify}");
    assert!(verify[signature..otp].contains(")?;"), "a bad signature must return before the OTP check:\n{verify}");
}

#[test]
fn no_statement_compares_a_signature_or_code_with_an_operator() {
    const SECRET_NAMES: [&str; 8] = ["signature", "mac", "tag", "otp", "code", "hotp", "finalize", "digest"];
    const OPERATORS: [&str; 5] = ["==", "!=", ".eq(", ".ne(", "cmp("];
    for file in ["token.rs", "totp.rs", "scheme.rs", "lua.rs", "jwt/mod.rs", "jwt/alg.rs", "jwt/compact.rs"] {
        for statement in statements(&source(file)) {
            let lower = statement.to_ascii_lowercase();
            let Some(operator) = OPERATORS.iter().find(|op| lower.contains(**op)) else {
                continue;
            };
            if let Some(name) = SECRET_NAMES.iter().find(|name| lower.contains(**name)) {
                panic!("{file}: `{statement}` compares with {operator} and mentions {name}");
            }
        }
    }
}

/// The rule above must see the comparisons there are: the parser's layout
/// checks are comparisons on public bytes, and they are found.
#[test]
fn the_statement_scan_sees_comparisons() {
    let token = source("token.rs");
    let compared = statements(&token).filter(|s| s.contains("!=") || s.contains("==")).count();
    assert!(compared >= 4, "found {compared}");
    assert!(statements("if otp == expected { x }").any(|s| s.contains("otp == expected")));
}
