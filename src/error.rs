//! Why a token was refused, and why a configuration was.
//!
//! Both enums carry a stable short code (what Lua and logs see, what
//! counters are named after) and a `Display` text for people.

use core::fmt;

/// Why a token did not verify. The `jwt_*` codes are a JWT's (see [`crate::jwt`]).
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
    /// The JWT, or one of its parts, is longer than the size bounds.
    JwtTooLarge,
    /// Not three non-empty parts separated by dots.
    JwtMalformed,
    /// A part is not canonical unpadded base64url.
    JwtBadEncoding,
    /// The header is not a strict JSON object with a string `alg`, has a `kid` that is not a string, or asks for extensions (`crit`).
    JwtBadHeader,
    /// `alg` is `none`: never accepted.
    JwtAlgNone,
    /// `alg` is not on the configured allowlist (or not supported).
    JwtAlgNotAllowed,
    /// No key has the header's `kid` (and no key without a kid exists).
    JwtUnknownKid,
    /// No candidate key carries the header's `alg`: algorithm confusion is refused here.
    JwtNoKeyForAlg,
    /// No candidate key verifies the signature.
    JwtBadSignature,
    /// The claims are not a strict JSON object, or a registered claim has the wrong type (times must be JSON integers).
    JwtBadClaims,
    /// No `exp` claim: an expiry is required.
    JwtMissingExp,
    /// `exp` plus the leeway is not after now.
    JwtExpired,
    /// `nbf` is later than now plus the leeway.
    JwtNotYetValid,
    /// `iat` is later than now plus the leeway.
    JwtIssuedInFuture,
    /// `exp - iat` (or `exp - now` without `iat`) exceeds the maximum lifetime.
    JwtLifetimeTooLong,
    /// `iss` is missing or not on the allowlist.
    JwtIssuer,
    /// `aud` is missing or names none of the accepted audiences.
    JwtAudience,
    /// The username claim is missing or not a string.
    JwtMissingUsername,
    /// The username claim names another user (or is not a valid username or bare JID).
    JwtWrongUser,
    /// The username claim is a JID on another host.
    JwtWrongHost,
}

impl Reason {
    /// Every reason, in the order of the checks.
    pub const ALL: [Reason; 30] = [
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
        Reason::JwtTooLarge,
        Reason::JwtMalformed,
        Reason::JwtBadEncoding,
        Reason::JwtBadHeader,
        Reason::JwtAlgNone,
        Reason::JwtAlgNotAllowed,
        Reason::JwtUnknownKid,
        Reason::JwtNoKeyForAlg,
        Reason::JwtBadSignature,
        Reason::JwtBadClaims,
        Reason::JwtMissingExp,
        Reason::JwtExpired,
        Reason::JwtNotYetValid,
        Reason::JwtIssuedInFuture,
        Reason::JwtLifetimeTooLong,
        Reason::JwtIssuer,
        Reason::JwtAudience,
        Reason::JwtMissingUsername,
        Reason::JwtWrongUser,
        Reason::JwtWrongHost,
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
            Reason::JwtTooLarge => "jwt_too_large",
            Reason::JwtMalformed => "jwt_malformed",
            Reason::JwtBadEncoding => "jwt_bad_encoding",
            Reason::JwtBadHeader => "jwt_bad_header",
            Reason::JwtAlgNone => "jwt_alg_none",
            Reason::JwtAlgNotAllowed => "jwt_alg_not_allowed",
            Reason::JwtUnknownKid => "jwt_unknown_kid",
            Reason::JwtNoKeyForAlg => "jwt_no_key_for_alg",
            Reason::JwtBadSignature => "jwt_bad_signature",
            Reason::JwtBadClaims => "jwt_bad_claims",
            Reason::JwtMissingExp => "jwt_missing_exp",
            Reason::JwtExpired => "jwt_expired",
            Reason::JwtNotYetValid => "jwt_not_yet_valid",
            Reason::JwtIssuedInFuture => "jwt_issued_in_future",
            Reason::JwtLifetimeTooLong => "jwt_lifetime_too_long",
            Reason::JwtIssuer => "jwt_issuer",
            Reason::JwtAudience => "jwt_audience",
            Reason::JwtMissingUsername => "jwt_missing_username",
            Reason::JwtWrongUser => "jwt_wrong_user",
            Reason::JwtWrongHost => "jwt_wrong_host",
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
            Reason::JwtTooLarge => "the JWT is longer than any accepted JWT (16 KiB)",
            Reason::JwtMalformed => "the JWT is not three non-empty dot-separated parts",
            Reason::JwtBadEncoding => "a part of the JWT is not unpadded base64url",
            Reason::JwtBadHeader => "the JWT header is not a JSON object with a string alg (and no crit)",
            Reason::JwtAlgNone => "the JWT is unsigned (alg none), which is never accepted",
            Reason::JwtAlgNotAllowed => "the JWT's algorithm is not on the allowlist",
            Reason::JwtUnknownKid => "no key of the key set has the JWT's kid",
            Reason::JwtNoKeyForAlg => "no key of the JWT's algorithm is configured (keys carry their algorithm)",
            Reason::JwtBadSignature => "the JWT signature does not verify with any candidate key",
            Reason::JwtBadClaims => "the JWT claims are not a JSON object, or a registered claim has the wrong type",
            Reason::JwtMissingExp => "the JWT has no exp claim; an expiry is required",
            Reason::JwtExpired => "the JWT has expired (exp plus the leeway is past)",
            Reason::JwtNotYetValid => "the JWT is not valid yet (nbf is ahead, beyond the leeway)",
            Reason::JwtIssuedInFuture => "the JWT was issued in the future (iat is ahead, beyond the leeway)",
            Reason::JwtLifetimeTooLong => "the JWT lives longer than the configured maximum (exp - iat)",
            Reason::JwtIssuer => "the JWT's issuer (iss) is missing or not on the allowlist",
            Reason::JwtAudience => "the JWT's audience (aud) is missing or names none of the accepted audiences",
            Reason::JwtMissingUsername => "the JWT lacks the username claim, or it is not a string",
            Reason::JwtWrongUser => "the JWT was issued for another user",
            Reason::JwtWrongHost => "the JWT names a JID on another host",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for Reason {}

/// What is wrong with a configuration value: the stable code of a
/// [`ConfigError`], which callers branch on (the text is for people).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// A required option is not set.
    Missing,
    /// The value has the wrong type (a number where a string belongs).
    WrongType,
    /// A list option is an empty list.
    EmptyList,
    /// A list option lists more values than it may.
    TooManyValues,
    /// An integer outside the option's range.
    OutOfRange,
    /// A string that is none of the option's choices.
    NotAChoice,
    /// A key that names no option (most often a typo).
    UnknownOption,
    /// A value of the right type that does not parse (base32, a URL, PEM, a JWKS).
    Invalid,
    /// A key or secret too short to be safe.
    TooWeak,
    /// A file the option names cannot be read.
    Unreadable,
    /// The option means nothing, or cannot work, with the others as set.
    Conflict,
    /// This build cannot do what the option asks.
    Unsupported,
}

impl ConfigProblem {
    /// Every problem.
    pub const ALL: [ConfigProblem; 12] = [
        ConfigProblem::Missing,
        ConfigProblem::WrongType,
        ConfigProblem::EmptyList,
        ConfigProblem::TooManyValues,
        ConfigProblem::OutOfRange,
        ConfigProblem::NotAChoice,
        ConfigProblem::UnknownOption,
        ConfigProblem::Invalid,
        ConfigProblem::TooWeak,
        ConfigProblem::Unreadable,
        ConfigProblem::Conflict,
        ConfigProblem::Unsupported,
    ];

    /// The stable snake_case code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            ConfigProblem::Missing => "missing",
            ConfigProblem::WrongType => "wrong_type",
            ConfigProblem::EmptyList => "empty_list",
            ConfigProblem::TooManyValues => "too_many_values",
            ConfigProblem::OutOfRange => "out_of_range",
            ConfigProblem::NotAChoice => "not_a_choice",
            ConfigProblem::UnknownOption => "unknown_option",
            ConfigProblem::Invalid => "invalid",
            ConfigProblem::TooWeak => "too_weak",
            ConfigProblem::Unreadable => "unreadable",
            ConfigProblem::Conflict => "conflict",
            ConfigProblem::Unsupported => "unsupported",
        }
    }

    /// What the code means, for people.
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            ConfigProblem::Missing => "a required option is not set",
            ConfigProblem::WrongType => "the value has the wrong type",
            ConfigProblem::EmptyList => "a list option is an empty list",
            ConfigProblem::TooManyValues => "a list option lists more values than it may",
            ConfigProblem::OutOfRange => "an integer outside the option's range",
            ConfigProblem::NotAChoice => "a string that is none of the option's choices",
            ConfigProblem::UnknownOption => "a key that names no option here",
            ConfigProblem::Invalid => "a value that does not parse",
            ConfigProblem::TooWeak => "a key or secret too short to be safe",
            ConfigProblem::Unreadable => "a file the option names cannot be read",
            ConfigProblem::Conflict => "the option means nothing, or cannot work, with the others as set",
            ConfigProblem::Unsupported => "this build cannot do what the option asks",
        }
    }
}

/// A configuration value that cannot be used: which option, what kind of
/// problem (a stable code) and a text for people.
///
/// The text never contains the value, since the value may be a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    option: &'static str,
    problem: ConfigProblem,
    text: String,
}

impl ConfigError {
    /// A `problem` with `option`, described by `text` without its value.
    #[must_use]
    pub fn new(option: &'static str, problem: ConfigProblem, text: impl Into<String>) -> Self {
        ConfigError { option, problem, text: text.into() }
    }

    /// A required option that is not set.
    #[must_use]
    pub fn missing(option: &'static str) -> Self {
        ConfigError::new(option, ConfigProblem::Missing, "is missing")
    }

    /// A value that does not parse.
    #[must_use]
    pub fn invalid(option: &'static str, text: impl Into<String>) -> Self {
        ConfigError::new(option, ConfigProblem::Invalid, text)
    }

    /// An option that means nothing, or cannot work, with the others.
    #[must_use]
    pub fn conflict(option: &'static str, text: impl Into<String>) -> Self {
        ConfigError::new(option, ConfigProblem::Conflict, text)
    }

    /// The name of the offending option.
    #[must_use]
    pub fn option(&self) -> &'static str {
        self.option
    }

    /// What kind of problem it is.
    #[must_use]
    pub fn problem(&self) -> ConfigProblem {
        self.problem
    }

    /// The problem's stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.problem.code()
    }

    /// What is wrong, for people, without the option's name
    /// (`"must be an integer from 0 to 10 (steps)"`).
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.text)
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
        let err = ConfigError::invalid("otp_seed", "is not base32");
        assert_eq!(err.to_string(), "otp_seed: is not base32");
        assert_eq!((err.option(), err.code(), err.text()), ("otp_seed", "invalid", "is not base32"));
    }

    #[test]
    fn config_codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for problem in ConfigProblem::ALL {
            let code = problem.code();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
            assert!(!problem.text().is_empty());
        }
    }
}
