//! Why a token was refused, and why a configuration was.
//!
//! Both enums carry a stable short code (what Lua and logs see, what
//! counters are named after) and a `Display` text for people.

use core::fmt;

/// Why a token did not verify.
///
/// The codes are part of the public interface: plugins map them to SASL
/// conditions and metrics, operators grep logs for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Not `<digits> <base64>`: wrong characters, extra spaces, too long.
    Malformed,
    /// The digit part is not exactly `digits + nonce_length` long.
    NonceLength,
    /// The signature is not standard padded base64 of exactly 32 bytes.
    BadEncoding,
    /// The username or host is empty or holds `@` or `/`.
    InvalidJid,
    /// No accepted secret signed this OTP, nonce and JID.
    BadSignature,
    /// Correctly signed, but the OTP is outside the accepted window.
    OtpMismatch,
    /// The token was accepted before.
    Replayed,
    /// The replay cache is full of live entries, so the token is refused
    /// rather than risk forgetting one of them.
    ReplayCacheFull,
    /// This user already holds `replay_per_user` live entries of the
    /// in-process cache, so one account cannot fill it for everybody.
    ReplayUserFull,
    /// The shared replay store (Redis) did not answer in time or refused
    /// the write: the token is refused rather than risk a replay.
    ReplayStoreUnavailable,
}

impl Reason {
    /// Every reason, in the order of the checks.
    pub const ALL: [Reason; 10] = [
        Reason::Malformed,
        Reason::NonceLength,
        Reason::BadEncoding,
        Reason::InvalidJid,
        Reason::BadSignature,
        Reason::OtpMismatch,
        Reason::Replayed,
        Reason::ReplayCacheFull,
        Reason::ReplayUserFull,
        Reason::ReplayStoreUnavailable,
    ];

    /// The stable snake_case code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::NonceLength => "nonce_length",
            Reason::BadEncoding => "bad_encoding",
            Reason::InvalidJid => "invalid_jid",
            Reason::BadSignature => "bad_signature",
            Reason::OtpMismatch => "otp_mismatch",
            Reason::Replayed => "replayed",
            Reason::ReplayCacheFull => "replay_cache_full",
            Reason::ReplayUserFull => "replay_user_full",
            Reason::ReplayStoreUnavailable => "replay_store_unavailable",
        }
    }

    /// A sentence for people.
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            Reason::Malformed => "the token is not <digits> <base64 signature>",
            Reason::NonceLength => "the OTP and nonce digits do not have the configured length",
            Reason::BadEncoding => "the signature is not padded standard base64 of 32 bytes",
            Reason::InvalidJid => "the username or host is empty or contains '@' or '/'",
            Reason::BadSignature => "the signature does not match: wrong secret, or minted for another user or host",
            Reason::OtpMismatch => "the OTP is outside the accepted time window (expired or clock skew)",
            Reason::Replayed => "the token has already been used",
            Reason::ReplayCacheFull => "the replay cache is full; refusing rather than forgetting",
            Reason::ReplayUserFull => "this user holds the most live tokens the replay cache allows one user",
            Reason::ReplayStoreUnavailable => {
                "the shared replay store did not answer; refusing rather than risk a replay"
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for Reason {}

/// A configuration value that cannot be used.
///
/// The message names the option and what is wrong with it; it never
/// contains the value, since the value may be a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    option: &'static str,
    problem: String,
}

impl ConfigError {
    /// A problem with `option`, described without its value.
    #[must_use]
    pub fn new(option: &'static str, problem: impl Into<String>) -> Self {
        ConfigError { option, problem: problem.into() }
    }

    /// The name of the offending option.
    #[must_use]
    pub fn option(&self) -> &'static str {
        self.option
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.problem)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            let code = reason.code();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
            assert!(!reason.text().is_empty());
        }
    }

    #[test]
    fn config_error_names_the_option() {
        let err = ConfigError::new("otp_seed", "is not base32");
        assert_eq!(err.to_string(), "otp_seed: is not base32");
        assert_eq!(err.option(), "otp_seed");
    }
}
