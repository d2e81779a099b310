//! Why a token is malformed, in detail: what `explain()` reports beside
//! the reason code, so that a person (or `token-auth check`) can be told
//! which part of the token to look at. Verification never needs this; it
//! runs only when a token was already refused as `malformed`,
//! `nonce_length` or `bad_encoding`.

use base64::Engine as _;

use crate::token::{SIGNATURE_BYTES, SIGNATURE_CHARS};

/// Tokens longer than this are not looked at further.
const MAX_DETAILED_LEN: usize = 512;

/// One finding, with what it is about. Positions count bytes of the token
/// from 1; a byte is given where the finding is about one (always printable
/// ASCII for [`Detail::NotDigits`] and [`Detail::NotBase64`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detail {
    /// Nothing at all.
    Empty,
    /// Longer than any token of any configuration.
    TooLong { bytes: usize },
    /// A tab, CR or LF.
    LineBreak { at: usize },
    /// A control or non-ASCII byte.
    BadByte { at: usize, byte: u8 },
    /// A space first or last.
    EdgeSpace,
    /// No space between the digits and the signature.
    NoSpace,
    /// More than one space.
    Spaces { count: usize },
    /// Something other than a digit before the space.
    NotDigits { at: usize, byte: u8 },
    /// Not OTP digits + nonce digits before the space.
    DigitCount { digits: usize },
    /// URL-safe base64.
    UrlSafe { at: usize },
    /// A byte base64 does not have.
    NotBase64 { at: usize, byte: u8 },
    /// 43 characters without `=`.
    Unpadded,
    /// Not a whole number of base64 groups.
    SignatureLength { chars: usize },
    /// Decodes to other than 32 bytes.
    SignatureBytes { bytes: usize },
}

impl Detail {
    /// Every code, with a sentence for people that needs no parameters
    /// (exported as `token_auth.details`).
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

    /// The stable code (one of [`Detail::CODES`]).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Detail::Empty => "empty",
            Detail::TooLong { .. } => "too_long",
            Detail::LineBreak { .. } => "line_break",
            Detail::BadByte { .. } => "bad_byte",
            Detail::EdgeSpace => "edge_space",
            Detail::NoSpace => "no_space",
            Detail::Spaces { .. } => "spaces",
            Detail::NotDigits { .. } => "not_digits",
            Detail::DigitCount { .. } => "digit_count",
            Detail::UrlSafe { .. } => "url_safe",
            Detail::NotBase64 { .. } => "not_base64",
            Detail::Unpadded => "unpadded",
            Detail::SignatureLength { .. } => "signature_length",
            Detail::SignatureBytes { .. } => "signature_bytes",
        }
    }

    /// Where in the token, when one byte is at fault.
    #[must_use]
    pub fn position(&self) -> Option<usize> {
        match *self {
            Detail::LineBreak { at }
            | Detail::BadByte { at, .. }
            | Detail::NotDigits { at, .. }
            | Detail::UrlSafe { at }
            | Detail::NotBase64 { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The count the finding is about (bytes, spaces, digits, characters).
    #[must_use]
    pub fn count(&self) -> Option<usize> {
        match *self {
            Detail::TooLong { bytes } | Detail::SignatureBytes { bytes } => Some(bytes),
            Detail::Spaces { count } => Some(count),
            Detail::DigitCount { digits } => Some(digits),
            Detail::SignatureLength { chars } => Some(chars),
            _ => None,
        }
    }

    /// The finding in words, with its parameters, for a configuration of
    /// `otp_digits` + `nonce_digits` before the space: what `token-auth
    /// check` prints, written here once.
    #[must_use]
    pub fn sentence(&self, otp_digits: usize, nonce_digits: usize) -> String {
        match *self {
            Detail::Empty => "the token is empty".to_owned(),
            Detail::TooLong { bytes } => {
                format!("the token is {bytes} bytes long, longer than any token of this configuration")
            }
            Detail::LineBreak { at } => format!("the token contains a tab or line break at byte {at} (copy-paste?)"),
            Detail::BadByte { at, byte } => {
                format!("the token contains a non-ASCII or control byte (0x{byte:02x}) at byte {at}")
            }
            Detail::EdgeSpace => "the token starts or ends with a space (copy-paste?)".to_owned(),
            Detail::NoSpace => "the token has no space: it must be <OTP digits><nonce digits>, one space, \
                <base64 signature> (was it cut at the space, or the space encoded as '+' or '%20'?)"
                .to_owned(),
            Detail::Spaces { count } => {
                format!("the token has {count} spaces; it must have exactly one, between the digits and the signature")
            }
            Detail::NotDigits { at, byte } => format!(
                "the part before the space must be only digits (OTP, then nonce), but byte {at} is '{}'",
                char::from(byte)
            ),
            Detail::DigitCount { digits } => format!(
                "the digits before the space are {digits} long; this configuration expects {otp_digits} OTP \
                digits + {nonce_digits} nonce digits = {}. Does the generator use another nonce length or OTP \
                length (token_nonce_length, token_otp_digits)?",
                otp_digits + nonce_digits
            ),
            Detail::UrlSafe { .. } => "the signature uses URL-safe base64 ('-' or '_'): the generator must use \
                standard base64 (+/) with '=' padding"
                .to_owned(),
            Detail::NotBase64 { at, byte } => {
                format!("the signature contains '{}' (byte {at}), which is not a base64 character", char::from(byte))
            }
            Detail::Unpadded => {
                "the signature lacks its '=' padding: it must be 44 characters, standard padded base64".to_owned()
            }
            Detail::SignatureLength { chars } => format!(
                "the signature is {chars} characters long, not a whole number of base64 groups: it must be 44 \
                characters"
            ),
            Detail::SignatureBytes { bytes } => format!(
                "the signature decodes to {bytes} bytes; an HMAC-SHA256 signature is 32 bytes (44 base64 characters)"
            ),
        }
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
        return Some(Detail::Empty);
    }
    if token.len() > MAX_DETAILED_LEN {
        return Some(Detail::TooLong { bytes: token.len() });
    }
    if let Some(i) = token.iter().position(|&b| !(0x20..0x7f).contains(&b)) {
        return Some(match token[i] {
            b'\t' | b'\r' | b'\n' => Detail::LineBreak { at: i + 1 },
            byte => Detail::BadByte { at: i + 1, byte },
        });
    }
    if token.first() == Some(&b' ') || token.last() == Some(&b' ') {
        return Some(Detail::EdgeSpace);
    }
    let spaces = token.iter().filter(|&&b| b == b' ').count();
    if spaces == 0 {
        return Some(Detail::NoSpace);
    }
    if spaces > 1 {
        return Some(Detail::Spaces { count: spaces });
    }
    let space = token.iter().position(|&b| b == b' ')?;
    let (head, signature) = (&token[..space], &token[space + 1..]);
    if let Some(i) = head.iter().position(|b| !b.is_ascii_digit()) {
        return Some(Detail::NotDigits { at: i + 1, byte: head[i] });
    }
    if head.len() != digit_count {
        return Some(Detail::DigitCount { digits: head.len() });
    }
    if let Some(i) = signature.iter().position(|&b| b == b'-' || b == b'_') {
        return Some(Detail::UrlSafe { at: space + 2 + i });
    }
    if let Some(i) = signature.iter().position(|&b| !is_base64(b)) {
        return Some(Detail::NotBase64 { at: space + 2 + i, byte: signature[i] });
    }
    if signature.len() == SIGNATURE_CHARS - 1 && !signature.contains(&b'=') {
        return Some(Detail::Unpadded);
    }
    if signature.len() % 4 != 0 {
        return Some(Detail::SignatureLength { chars: signature.len() });
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(signature).map(|bytes| bytes.len());
    match decoded {
        Ok(SIGNATURE_BYTES) | Err(_) => None,
        Ok(bytes) => Some(Detail::SignatureBytes { bytes }),
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
            assert_eq!((found.code(), found.position(), found.count()), (code, position, count), "{code}");
            assert!(Detail::CODES.iter().any(|(c, _)| *c == code));
            assert!(!found.sentence(8, 32).is_empty());
        }
        assert_eq!(of(&token(&d40, SIG), 40), None);
    }
}
