//! The token: parse it, sign it, check its signature.
//!
//! ```text
//! <OTP digits><nonce digits> <base64(HMAC-SHA256(secret, otp .. nonce .. user@host))>
//! ```
//! Parsing is anchored and exact: the digit run must have exactly
//! `digits + nonce_length` characters. The community module accepted any
//! nonce length, which let trailing nonce digits slide into a numeric
//! username (a token for `42` also verified for `142`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{ConfigError, ConfigProblem, Reason};

/// Length of the base64 signature: 32 bytes, padded.
pub const SIGNATURE_CHARS: usize = 44;
/// Decoded signature length.
pub const SIGNATURE_BYTES: usize = 32;
/// Tokens longer than this are refused without being looked at further, so
/// a megabyte of garbage costs no more than a normal token.
const MAX_DIAGNOSED_LEN: usize = 512;
/// At least this many bytes per secret: shorter ones can be guessed offline
/// from a single captured token.
pub const MIN_SECRET_BYTES: usize = 16;
/// More secrets than this is a configuration mistake, and each one costs an
/// HMAC for every forged token.
pub const MAX_SECRETS: usize = 8;

/// A token split into its parts. Borrowed from the input: no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The OTP and nonce digits, exactly as signed.
    pub signed_digits: &'a [u8],
    /// The OTP as a number (its first `digits` characters).
    pub otp: u64,
    /// The decoded HMAC-SHA256.
    pub signature: [u8; SIGNATURE_BYTES],
}

/// Splits a token for a scheme of `digits` OTP digits and `nonce_length`
/// nonce digits.
///
/// # Errors
/// [`Reason::Malformed`], [`Reason::NonceLength`] or [`Reason::BadEncoding`].
pub fn parse(token: &[u8], digits: usize, nonce_length: usize) -> Result<Parsed<'_>, Reason> {
    let digit_count = digits + nonce_length;
    let expected_len = digit_count + 1 + SIGNATURE_CHARS;
    if token.len() != expected_len || token[digit_count] != b' ' {
        return Err(diagnose_shape(token, digit_count));
    }
    let (signed_digits, rest) = token.split_at(digit_count);
    if !signed_digits.iter().all(u8::is_ascii_digit) {
        return Err(Reason::Malformed);
    }
    let signature = decode_signature(&rest[1..])?;
    let otp = signed_digits[..digits].iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Ok(Parsed { signed_digits, otp, signature })
}

/// Names what is wrong with a token whose length or layout is off.
fn diagnose_shape(token: &[u8], digit_count: usize) -> Reason {
    if token.len() > MAX_DIAGNOSED_LEN || !token.is_ascii() {
        return Reason::Malformed;
    }
    let Some(space) = token.iter().position(|&b| b == b' ') else {
        return Reason::Malformed;
    };
    let (head, tail) = (&token[..space], &token[space + 1..]);
    if head.is_empty() || !head.iter().all(u8::is_ascii_digit) || tail.contains(&b' ') {
        Reason::Malformed
    } else if head.len() != digit_count {
        Reason::NonceLength
    } else {
        Reason::BadEncoding
    }
}

fn decode_signature(text: &[u8]) -> Result<[u8; SIGNATURE_BYTES], Reason> {
    // 44 characters may decode to up to 33 bytes before padding is counted.
    let mut buffer = [0u8; SIGNATURE_BYTES + 1];
    // The standard engine insists on canonical padding and zero trailing
    // bits, so every signature has exactly one accepted spelling.
    match base64::engine::general_purpose::STANDARD.decode_slice(text, &mut buffer) {
        Ok(SIGNATURE_BYTES) => {
            let mut signature = [0u8; SIGNATURE_BYTES];
            signature.copy_from_slice(&buffer[..SIGNATURE_BYTES]);
            Ok(signature)
        }
        _ => Err(Reason::BadEncoding),
    }
}

/// Checks that a username and host can form an unambiguous `user@host`.
///
/// # Errors
/// [`Reason::InvalidJid`].
pub fn check_jid(username: &[u8], host: &[u8]) -> Result<(), Reason> {
    let clean = |part: &[u8]| !part.is_empty() && !part.iter().any(|&b| b == b'@' || b == b'/');
    if clean(username) && clean(host) {
        Ok(())
    } else {
        Err(Reason::InvalidJid)
    }
}

/// The accepted token secrets, each keyed once; the first one signs.
#[derive(Clone)]
pub struct Secrets {
    keys: Vec<Hmac<Sha256>>,
}

impl core::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Secrets({} keys)", self.keys.len())
    }
}

impl Secrets {
    /// Keys every secret, used as raw bytes (never decoded).
    ///
    /// # Errors
    /// [`ConfigError`] naming `token_secret` when the list is empty or too
    /// long, or a secret is shorter than 16 bytes.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Result<Self, ConfigError> {
        if secrets.is_empty() {
            return Err(ConfigError::missing("token_secret"));
        }
        if secrets.len() > MAX_SECRETS {
            return Err(crate::options::TOKEN_SECRET.too_many_values());
        }
        let mut keys = Vec::with_capacity(secrets.len());
        for (index, secret) in secrets.iter().enumerate() {
            let secret = secret.as_ref();
            if secret.len() < MIN_SECRET_BYTES {
                let which = if secrets.len() == 1 { String::new() } else { format!(" number {}", index + 1) };
                return Err(ConfigError::new(
                    "token_secret",
                    ConfigProblem::TooWeak,
                    format!("secret{which} is too short: at least {MIN_SECRET_BYTES} bytes are needed"),
                ));
            }
            let key = Hmac::new_from_slice(secret)
                .map_err(|_| ConfigError::invalid("token_secret", "cannot key the HMAC"))?;
            keys.push(key);
        }
        Ok(Secrets { keys })
    }

    /// How many secrets are accepted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: an empty list is refused by [`Secrets::new`].
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Signs `signed_digits .. username .. "@" .. host` with the first secret.
    #[must_use]
    pub fn sign(&self, signed_digits: &[u8], username: &[u8], host: &[u8]) -> [u8; SIGNATURE_BYTES] {
        let mut signature = [0u8; SIGNATURE_BYTES];
        if let Some(key) = self.keys.first() {
            signature.copy_from_slice(&keyed(key, signed_digits, username, host).finalize().into_bytes());
        }
        signature
    }

    /// The index of the secret that made `signature`, compared in constant time.
    ///
    /// # Errors
    /// [`Reason::BadSignature`] when none did.
    pub fn verify(&self, parsed: &Parsed<'_>, username: &[u8], host: &[u8]) -> Result<usize, Reason> {
        self.keys
            .iter()
            .position(|key| keyed(key, parsed.signed_digits, username, host).verify_slice(&parsed.signature).is_ok())
            .ok_or(Reason::BadSignature)
    }
}

/// Feeds the signed message to a copy of the pre-keyed state, in pieces,
/// so that no buffer is built.
fn keyed(key: &Hmac<Sha256>, signed_digits: &[u8], username: &[u8], host: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.clone();
    mac.update(signed_digits);
    mac.update(username);
    mac.update(b"@");
    mac.update(host);
    mac
}

/// Writes a token: the digits, one space, the padded base64 signature.
#[must_use]
pub fn format(signed_digits: &[u8], signature: &[u8; SIGNATURE_BYTES]) -> String {
    let mut token = String::with_capacity(signed_digits.len() + 1 + SIGNATURE_CHARS);
    token.extend(signed_digits.iter().map(|&b| char::from(b)));
    token.push(' ');
    base64::engine::general_purpose::STANDARD.encode_string(signature, &mut token);
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn token(digits: &str) -> String {
        format!("{digits} {SIG}")
    }

    #[test]
    fn parses_an_exact_token() {
        let text = token("1234567801234567890123456789012345678901");
        let parsed = parse(text.as_bytes(), 8, 32).expect("valid");
        assert_eq!(parsed.otp, 12_345_678);
        assert_eq!(parsed.signed_digits.len(), 40);
        assert_eq!(parsed.signature[31], 31);
        assert_eq!(format(parsed.signed_digits, &parsed.signature), text);
    }

    #[test]
    fn refuses_every_malformed_shape() {
        let digits40 = "1234567801234567890123456789012345678901";
        let cases: Vec<(String, Reason)> = vec![
            (String::new(), Reason::Malformed),
            (" ".into(), Reason::Malformed),
            (digits40.into(), Reason::Malformed),
            (format!("{digits40} "), Reason::BadEncoding),
            (format!("x{digits40} {SIG}"), Reason::Malformed),
            (format!("{digits40}  {SIG}"), Reason::Malformed),
            (format!(" {digits40} {SIG}"), Reason::Malformed),
            (format!("{} {SIG}", "1".repeat(39) + "a"), Reason::Malformed),
            (format!("{} {SIG}", "\u{0661}".repeat(20)), Reason::Malformed),
            (format!("{digits40} {SIG} "), Reason::Malformed),
            (format!("{digits40} {SIG}\n"), Reason::BadEncoding),
            (format!("{digits40}1 {SIG}"), Reason::NonceLength),
            (format!("12345678 {SIG}"), Reason::NonceLength),
            (format!("{} {SIG}", &digits40[..39]), Reason::NonceLength),
            (format!("{digits40} {}", &SIG[..43]), Reason::BadEncoding),
            (format!("{digits40} {}", SIG.replace('=', "A")), Reason::BadEncoding),
            (format!("{digits40} _{}", &SIG[1..]), Reason::BadEncoding),
            (format!("{digits40} -{}", &SIG[1..]), Reason::BadEncoding),
            (format!("{digits40} {}=", &SIG[..42]), Reason::BadEncoding),
            (format!("{digits40} {}.=", &SIG[..42]), Reason::BadEncoding),
            (format!("{digits40} !!!!"), Reason::BadEncoding),
            ("1".repeat(1 << 20), Reason::Malformed),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text.as_bytes(), 8, 32), Err(want), "{text:?}");
        }
        let mut with_nul = token(digits40).into_bytes();
        with_nul[3] = 0;
        assert_eq!(parse(&with_nul, 8, 32), Err(Reason::Malformed));
        let mut high = token(digits40).into_bytes();
        high[4] = 0xff;
        assert_eq!(parse(&high, 8, 32), Err(Reason::Malformed));
        high[4] = b'1';
        high[44] = 0xff;
        assert_eq!(parse(&high, 8, 32), Err(Reason::BadEncoding));
    }

    #[test]
    fn signatures_have_one_spelling() {
        // "9" differs from the canonical "8" only in the two trailing bits
        // that a lenient decoder ignores.
        let digits40 = "1234567801234567890123456789012345678901";
        let lenient = format!("{digits40} {}", SIG.replace("8=", "9="));
        assert_eq!(parse(lenient.as_bytes(), 8, 32), Err(Reason::BadEncoding));
    }

    #[test]
    fn jids_must_be_unambiguous() {
        assert_eq!(check_jid(b"alice", b"example.com"), Ok(()));
        for (user, host) in
            [(&b""[..], &b"h"[..]), (b"u", b""), (b"a@b", b"c"), (b"a", b"b@c"), (b"a/b", b"c"), (b"a", b"b/c")]
        {
            assert_eq!(check_jid(user, host), Err(Reason::InvalidJid));
        }
    }

    #[test]
    fn secrets_sign_and_verify_with_rotation() {
        let old = Secrets::new(&["0123456789abcdef"]).expect("valid");
        let both = Secrets::new(&["fedcba9876543210", "0123456789abcdef"]).expect("valid");
        let digits = b"1234567801234567890123456789012345678901";
        let signature = old.sign(digits, b"alice", b"example.com");
        let text = format(digits, &signature);
        let parsed = parse(text.as_bytes(), 8, 32).expect("valid");
        assert_eq!(old.verify(&parsed, b"alice", b"example.com"), Ok(0));
        assert_eq!(both.verify(&parsed, b"alice", b"example.com"), Ok(1));
        assert_eq!(both.verify(&parsed, b"bob", b"example.com"), Err(Reason::BadSignature));
        assert_eq!(both.verify(&parsed, b"alice", b"example.org"), Err(Reason::BadSignature));
    }

    #[test]
    fn the_message_is_otp_nonce_user_at_host() {
        // Independent check of the message layout against a one-shot HMAC.
        let secrets = Secrets::new(&["0123456789abcdef"]).expect("valid");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").expect("any key length");
        mac.update(b"1234567801234567890123456789012345678901alice@example.com");
        let want: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(secrets.sign(b"1234567801234567890123456789012345678901", b"alice", b"example.com"), want);
    }

    #[test]
    fn bad_secret_lists_name_the_option() {
        let none: [&str; 0] = [];
        assert_eq!(Secrets::new(&none).expect_err("empty").option(), "token_secret");
        let short = Secrets::new(&["xyzzy"]).expect_err("short");
        assert!(short.to_string().contains("too short") && !short.to_string().contains("xyzzy"), "{short}");
        assert!(Secrets::new(&["0123456789abcdef", "x"]).expect_err("second").to_string().contains("number 2"));
        assert!(Secrets::new(&["0123456789abcdef"; 9]).is_err());
    }
}
