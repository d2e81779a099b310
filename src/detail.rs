//! Why a token is malformed, in detail: what `explain()` reports beside
//! the reason code, so that a person (or `token-auth check`) can be told
//! which part of the token to look at. Verification never needs this; it
//! runs only when a token was already refused as `malformed`,
//! `nonce_length` or `bad_encoding`.

use base64::Engine as _;

use crate::token::{SIGNATURE_BYTES, SIGNATURE_CHARS};

/// Tokens longer than this are not looked at further.
const MAX_DETAILED_LEN: usize = 512;

/// One finding. `position` counts bytes of the token from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detail {
    /// The stable code (see [`Detail::CODES`]).
    pub code: &'static str,
    /// Where in the token, when one byte is at fault.
    pub position: Option<usize>,
    /// A count the code is about (bytes, digits, spaces).
    pub count: Option<usize>,
}

impl Detail {
    /// Every code, with a sentence for people.
    pub const CODES: [(&'static str, &'static str); 14] = [
        ("empty", "the token is empty"),
        ("too_long", "the token is longer than any token could be"),
        ("line_break", "the token contains a tab or a line break"),
        ("bad_byte", "the token contains a control or non-ASCII byte"),
        ("edge_space", "the token starts or ends with a space"),
        ("no_space", "the token has no space between the digits and the signature"),
        ("spaces", "the token has more than one space"),
        ("not_digits", "the part before the space is not only digits"),
        ("digit_count", "the digits before the space are not OTP digits + nonce digits long"),
        ("url_safe", "the signature uses URL-safe base64 ('-' or '_') instead of standard base64 (+/)"),
        ("not_base64", "the signature contains a character that is not base64"),
        ("unpadded", "the signature lacks its '=' padding (43 characters instead of 44)"),
        ("signature_length", "the signature is not a whole number of base64 groups of 4"),
        ("signature_bytes", "the signature does not decode to 32 bytes"),
    ];

    fn new(code: &'static str) -> Self {
        Detail { code, position: None, count: None }
    }

    fn at(code: &'static str, position: usize) -> Self {
        Detail { code, position: Some(position), count: None }
    }

    fn counted(code: &'static str, count: usize) -> Self {
        Detail { code, position: None, count: Some(count) }
    }
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

/// What is wrong with the shape of `token` for a scheme of `digit_count`
/// digits before the space; `None` when the shape is right (a token that
/// failed later, or a padding/trailing-bits subtlety of base64).
#[must_use]
pub fn of(token: &[u8], digit_count: usize) -> Option<Detail> {
    if token.is_empty() {
        return Some(Detail::new("empty"));
    }
    if token.len() > MAX_DETAILED_LEN {
        return Some(Detail::counted("too_long", token.len()));
    }
    if let Some(i) = token.iter().position(|&b| !(0x20..0x7f).contains(&b)) {
        let code = if matches!(token[i], b'\t' | b'\r' | b'\n') { "line_break" } else { "bad_byte" };
        return Some(Detail::at(code, i + 1));
    }
    if token.first() == Some(&b' ') || token.last() == Some(&b' ') {
        return Some(Detail::new("edge_space"));
    }
    let spaces = token.iter().filter(|&&b| b == b' ').count();
    if spaces == 0 {
        return Some(Detail::new("no_space"));
    }
    if spaces > 1 {
        return Some(Detail::counted("spaces", spaces));
    }
    let space = token.iter().position(|&b| b == b' ')?;
    let (head, signature) = (&token[..space], &token[space + 1..]);
    if let Some(i) = head.iter().position(|b| !b.is_ascii_digit()) {
        return Some(Detail::at("not_digits", i + 1));
    }
    if head.len() != digit_count {
        return Some(Detail::counted("digit_count", head.len()));
    }
    if let Some(i) = signature.iter().position(|&b| b == b'-' || b == b'_') {
        return Some(Detail::at("url_safe", space + 2 + i));
    }
    if let Some(i) = signature.iter().position(|&b| !is_base64(b)) {
        return Some(Detail::at("not_base64", space + 2 + i));
    }
    if signature.len() == SIGNATURE_CHARS - 1 && !signature.contains(&b'=') {
        return Some(Detail::new("unpadded"));
    }
    if signature.len() % 4 != 0 {
        return Some(Detail::counted("signature_length", signature.len()));
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(signature).map(|bytes| bytes.len());
    match decoded {
        Ok(SIGNATURE_BYTES) | Err(_) => None,
        Ok(bytes) => Some(Detail::counted("signature_bytes", bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

    fn token(digits: &str, signature: &str) -> Vec<u8> {
        format!("{digits} {signature}").into_bytes()
    }

    #[test]
    fn each_shape_fault_has_its_code() {
        let d40 = "1".repeat(40);
        type Case = (Vec<u8>, &'static str, Option<usize>, Option<usize>);
        let cases: Vec<Case> = vec![
            (vec![], "empty", None, None),
            (vec![b'1'; 600], "too_long", None, Some(600)),
            (token(&d40, &format!("{SIG}\t")), "line_break", Some(86), None),
            (token(&d40, &format!("{SIG}\u{e9}")), "bad_byte", Some(86), None),
            (format!(" {d40} {SIG}").into_bytes(), "edge_space", None, None),
            (format!("{d40}{SIG}").into_bytes(), "no_space", None, None),
            (format!("{d40}  {SIG}").into_bytes(), "spaces", None, Some(2)),
            (token(&format!("x{}", &d40[1..]), SIG), "not_digits", Some(1), None),
            (token(&format!("{d40}1"), SIG), "digit_count", None, Some(41)),
            (token(&d40, &SIG.replace('+', "-").replacen('q', "_", 1)), "url_safe", Some(42), None),
            (token(&d40, &SIG.replacen('q', "*", 1)), "not_base64", Some(42), None),
            (token(&d40, &SIG[..43]), "unpadded", None, None),
            (token(&d40, &SIG[..42]), "signature_length", None, Some(42)),
            (token(&d40, &SIG[..40]), "signature_bytes", None, Some(30)),
        ];
        for (input, code, position, count) in cases {
            let found = of(&input, 40).expect(code);
            assert_eq!((found.code, found.position, found.count), (code, position, count), "{code}");
            assert!(Detail::CODES.iter().any(|(c, _)| *c == code));
        }
        assert_eq!(of(&token(&d40, SIG), 40), None);
    }
}
