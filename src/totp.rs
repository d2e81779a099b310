//! HOTP (RFC 4226) and TOTP (RFC 6238) with a pre-keyed HMAC.
//!
//! Time is always passed in as whole seconds since the Unix epoch; nothing
//! here reads a clock.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::error::{ConfigError, ConfigProblem};

/// The hash behind the OTP's HMAC. RFC 6238 defaults to SHA-1, and so do
/// the community module and pyotp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1, RFC 6238's default.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// Parses `SHA1`, `SHA256` or `SHA512`, ignoring ASCII case.
    ///
    /// # Errors
    /// [`ConfigError`] naming `algorithm` for anything else.
    pub fn parse(name: &[u8]) -> Result<Self, ConfigError> {
        if name.eq_ignore_ascii_case(b"SHA1") {
            Ok(Algorithm::Sha1)
        } else if name.eq_ignore_ascii_case(b"SHA256") {
            Ok(Algorithm::Sha256)
        } else if name.eq_ignore_ascii_case(b"SHA512") {
            Ok(Algorithm::Sha512)
        } else {
            Err(crate::options::ALGORITHM.not_a_choice())
        }
    }
}

/// The smallest accepted seed: the community module's README example is
/// 16 base32 characters, 80 bits, and existing deployments must keep working.
pub const MIN_SEED_BYTES: usize = 10;

/// Decodes a base32 (RFC 4648) seed the way the community module does:
/// case-insensitive, `=` ignored wherever it stands, anything else refused.
///
/// # Errors
/// [`ConfigError`] naming `otp_seed` when a character is outside the
/// alphabet, the length cannot be base32, or the seed is under 80 bits.
pub fn decode_seed(text: &[u8]) -> Result<Vec<u8>, ConfigError> {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    spec.translate.from.push_str("abcdefghijklmnopqrstuvwxyz");
    spec.translate.to.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    spec.ignore.push('=');
    spec.check_trailing_bits = false;
    let base32 =
        spec.encoding().map_err(|_| ConfigError::invalid("otp_seed", "internal error: bad base32 alphabet"))?;
    let seed = base32.decode(text).map_err(|err| match err.kind {
        data_encoding::DecodeKind::Symbol => ConfigError::invalid(
            "otp_seed",
            format!("is not base32: invalid character at position {}", err.position + 1),
        ),
        _ => ConfigError::invalid("otp_seed", "is not base32: its length is not a whole number of characters"),
    })?;
    if seed.len() < MIN_SEED_BYTES {
        return Err(ConfigError::new(
            "otp_seed",
            ConfigProblem::TooWeak,
            format!("is too short: {} bits, at least 80 are needed (32 base32 characters recommended)", seed.len() * 8),
        ));
    }
    Ok(seed)
}

#[derive(Clone)]
enum KeyedMac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

/// A TOTP generator keyed once with its seed.
#[derive(Clone)]
pub struct Totp {
    mac: KeyedMac,
    digits: u32,
    modulus: u64,
    period: u64,
}

impl core::fmt::Debug for Totp {
    // The keyed state is a secret: show only the parameters.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Totp").field("digits", &self.digits).field("period", &self.period).finish_non_exhaustive()
    }
}

impl Totp {
    /// Keys a TOTP generator with a decoded seed.
    ///
    /// # Errors
    /// [`ConfigError`] naming `digits` or `period` when out of range.
    pub fn new(seed: &[u8], digits: u32, period: u64, algorithm: Algorithm) -> Result<Self, ConfigError> {
        if !crate::options::DIGITS.admits(i64::from(digits)) {
            return Err(crate::options::DIGITS.out_of_range());
        }
        if !i64::try_from(period).is_ok_and(|period| crate::options::PERIOD.admits(period)) {
            return Err(crate::options::PERIOD.out_of_range());
        }
        let invalid = |_| ConfigError::invalid("otp_seed", "cannot key the HMAC");
        let mac = match algorithm {
            Algorithm::Sha1 => KeyedMac::Sha1(Hmac::new_from_slice(seed).map_err(invalid)?),
            Algorithm::Sha256 => KeyedMac::Sha256(Hmac::new_from_slice(seed).map_err(invalid)?),
            Algorithm::Sha512 => KeyedMac::Sha512(Hmac::new_from_slice(seed).map_err(invalid)?),
        };
        Ok(Totp { mac, digits, modulus: 10u64.pow(digits), period })
    }

    /// The number of digits of a code.
    #[must_use]
    pub fn digits(&self) -> u32 {
        self.digits
    }

    /// The step length in seconds.
    #[must_use]
    pub fn period(&self) -> u64 {
        self.period
    }

    /// The time step that `time` (Unix seconds) falls in, with T0 = 0.
    #[must_use]
    pub fn step(&self, time: u64) -> u64 {
        time / self.period
    }

    /// The HOTP value for a counter, as a number below 10^digits.
    #[must_use]
    pub fn hotp(&self, counter: u64) -> u64 {
        let message = counter.to_be_bytes();
        let value = match &self.mac {
            KeyedMac::Sha1(mac) => truncate(&finish(mac.clone(), &message)),
            KeyedMac::Sha256(mac) => truncate(&finish(mac.clone(), &message)),
            KeyedMac::Sha512(mac) => truncate(&finish(mac.clone(), &message)),
        };
        u64::from(value) % self.modulus
    }

    /// Whether `code` is the HOTP value of `counter`, compared in constant time.
    #[must_use]
    pub fn matches(&self, counter: u64, code: u64) -> bool {
        self.hotp(counter).ct_eq(&code).into()
    }

    /// The code for `time` (Unix seconds), zero-padded to `digits`.
    #[must_use]
    pub fn code_at(&self, time: u64) -> String {
        format_code(self.hotp(self.step(time)), self.digits)
    }
}

fn finish<M: Mac>(mut mac: M, message: &[u8]) -> hmac::digest::Output<M> {
    mac.update(message);
    mac.finalize().into_bytes()
}

/// RFC 4226 section 5.3 dynamic truncation to a 31-bit value.
fn truncate(hash: &[u8]) -> u32 {
    let offset = usize::from(hash.last().copied().unwrap_or(0) & 0x0f);
    let mut word = [0u8; 4];
    if let Some(bytes) = hash.get(offset..offset + 4) {
        word.copy_from_slice(bytes);
    }
    u32::from_be_bytes(word) & 0x7fff_ffff
}

/// Left-pads `code` with zeros to `digits` characters.
#[must_use]
pub fn format_code(code: u64, digits: u32) -> String {
    format!("{code:0width$}", width = digits as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC4226_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d_hotp_values() {
        let expected = [755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871, 520_489];
        let totp = Totp::new(RFC4226_SECRET, 6, 30, Algorithm::Sha1).expect("valid parameters");
        for (counter, want) in (0u64..).zip(expected) {
            assert_eq!(totp.hotp(counter), want, "counter {counter}");
            assert!(totp.matches(counter, want));
            assert!(!totp.matches(counter, (want + 1) % 1_000_000));
        }
    }

    #[test]
    fn rfc6238_appendix_b_totp_values() {
        // The RFC keys each hash with the ASCII digits repeated to its length.
        let sha1_key = b"12345678901234567890".as_slice();
        let sha256_key = b"12345678901234567890123456789012".as_slice();
        let sha512_key = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let table: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        let sha1 = Totp::new(sha1_key, 8, 30, Algorithm::Sha1).expect("valid");
        let sha256 = Totp::new(sha256_key, 8, 30, Algorithm::Sha256).expect("valid");
        let sha512 = Totp::new(sha512_key, 8, 30, Algorithm::Sha512).expect("valid");
        for (time, want1, want256, want512) in table {
            assert_eq!(sha1.code_at(time), want1, "SHA1 at {time}");
            assert_eq!(sha256.code_at(time), want256, "SHA256 at {time}");
            assert_eq!(sha512.code_at(time), want512, "SHA512 at {time}");
        }
    }

    #[test]
    fn steps_start_at_zero_and_floor() {
        let totp = Totp::new(RFC4226_SECRET, 8, 30, Algorithm::Sha1).expect("valid");
        assert_eq!(totp.step(0), 0);
        assert_eq!(totp.step(29), 0);
        assert_eq!(totp.step(30), 1);
        assert_eq!(totp.step(59), 1);
    }

    #[test]
    fn codes_are_zero_padded() {
        assert_eq!(format_code(7, 8), "00000007");
        assert_eq!(format_code(2_147_483_647, 10), "2147483647");
        assert_eq!(format_code(0, 6), "000000");
    }

    #[test]
    fn ten_digit_codes_keep_the_whole_31_bit_value() {
        let totp = Totp::new(RFC4226_SECRET, 10, 30, Algorithm::Sha1).expect("valid");
        // RFC 4226 appendix D gives the truncated decimal for counter 0.
        assert_eq!(totp.hotp(0), 1_284_755_224);
    }

    #[test]
    fn seeds_decode_like_the_reference() {
        let want = decode_seed(b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").expect("valid");
        assert_eq!(want.len(), 20);
        assert_eq!(decode_seed(b"jbswy3dpehpk3pxpjbswy3dpehpk3pxp").expect("lower case"), want);
        assert_eq!(decode_seed(b"JBSWY3DPEHPK3PXP=JBSWY3DPEHPK3PXP").expect("= anywhere"), want);
        assert_eq!(decode_seed(b"XVGR73KMZH2M4XMY").expect("README seed").len(), 10);
    }

    #[test]
    fn bad_seeds_name_the_option_without_echoing_it() {
        for bad in [&b"JBSWY3DPEHPK3PX1"[..], b"JBSWY3DP EHPK3PXP", b"JBSWY3DPEHPK3PX\xff", b"JBSWY3DPEHPK3PXPA"] {
            let err = decode_seed(bad).expect_err("invalid");
            assert_eq!(err.option(), "otp_seed");
            assert!(!err.to_string().contains("JBSWY3DP"));
        }
        let short = decode_seed(b"JBSWY3DP").expect_err("40 bits");
        assert!(short.to_string().contains("too short"), "{short}");
        assert!(decode_seed(b"").is_err());
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        assert_eq!(Totp::new(RFC4226_SECRET, 5, 30, Algorithm::Sha1).expect_err("5").option(), "digits");
        assert_eq!(Totp::new(RFC4226_SECRET, 11, 30, Algorithm::Sha1).expect_err("11").option(), "digits");
        assert_eq!(Totp::new(RFC4226_SECRET, 8, 0, Algorithm::Sha1).expect_err("0").option(), "period");
        assert_eq!(Algorithm::parse(b"md5").expect_err("md5").option(), "algorithm");
        assert_eq!(Algorithm::parse(b"sha256").expect("case-insensitive"), Algorithm::Sha256);
    }
}
