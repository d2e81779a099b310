//! Every option the scheme and the verifier take, known once: its name in
//! a config table, its name in a Prosody configuration, its kind, default
//! and range. The binding exports this list as `token_auth.options`; the
//! plugin, the command and the tables of doc/ all come from it.
//!
//! Adding an option = a field in [`crate::scheme::Options`], a line in
//! [`OPTIONS`] and a key in the binding's config reader; the plugin and
//! the command then read it without further change.

use crate::{jwt, replay, scheme, store, token, totp};

/// What kind of value an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A string, or a list of strings.
    Strings,
    /// A string.
    String,
    /// An integer within [`OptionSpec::min`]..=[`OptionSpec::max`].
    Integer,
    /// `true` or `false`.
    Boolean,
}

impl Kind {
    /// The kind's name as Lua sees it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Strings => "strings",
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Boolean => "boolean",
        }
    }
}

/// The default of an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    /// No default: the option must be set.
    Required,
    /// An integer default.
    Integer(i64),
    /// A string default.
    Text(&'static str),
    /// A boolean default.
    Boolean(bool),
    /// Unset by default, and optional.
    None,
}

/// One option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionSpec {
    /// The key in a config table (`token_auth.new_verifier{ window = 2 }`).
    pub name: &'static str,
    /// The option's name in a Prosody configuration file.
    pub prosody: &'static str,
    /// What kind of value it takes.
    pub kind: Kind,
    /// Its default.
    pub default: Default,
    /// The smallest accepted integer, for [`Kind::Integer`].
    pub min: Option<i64>,
    /// The largest accepted integer, for [`Kind::Integer`].
    pub max: Option<i64>,
    /// The accepted strings, when they are a fixed set.
    pub choices: &'static [&'static str],
    /// Whether only a verifier (not a one-shot check or mint) uses it.
    pub verifier_only: bool,
    /// A line for people.
    pub description: &'static str,
}

/// The ranges are small constants: every conversion below is exact.
const fn int(value: usize) -> i64 {
    value as i64
}

/// Seconds from the JWT ranges (at most a year): the conversion is exact.
#[allow(clippy::cast_possible_wrap)]
const fn secs(value: u64) -> i64 {
    value as i64
}

/// The timeouts are at most 10 s: the conversion is exact.
#[allow(clippy::cast_possible_wrap)]
const fn millis(value: u64) -> i64 {
    value as i64
}

/// Every option, in the order doc/configuration.md lists them.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "token_secret",
        prosody: "token_secret",
        kind: Kind::Strings,
        default: Default::Required,
        min: None,
        max: None,
        choices: &[],
        verifier_only: false,
        description: "HMAC key (raw bytes, at least 16), or a list of up to 8: the first signs, all verify",
    },
    OptionSpec {
        name: "otp_seed",
        prosody: "otp_seed",
        kind: Kind::String,
        default: Default::Required,
        min: None,
        max: None,
        choices: &[],
        verifier_only: false,
        description: "base32 TOTP seed (at least 16 characters, 80 bits)",
    },
    OptionSpec {
        name: "window",
        prosody: "token_otp_window",
        kind: Kind::Integer,
        default: Default::Integer(scheme::DEFAULT_WINDOW as i64),
        min: Some(*scheme::WINDOW.start() as i64),
        max: Some(*scheme::WINDOW.end() as i64),
        choices: &[],
        verifier_only: false,
        description: "OTP steps accepted each way (clock skew)",
    },
    OptionSpec {
        name: "nonce_length",
        prosody: "token_nonce_length",
        kind: Kind::Integer,
        default: Default::Integer(int(scheme::DEFAULT_NONCE_LENGTH)),
        min: Some(int(*scheme::NONCE_LENGTH.start())),
        max: Some(int(*scheme::NONCE_LENGTH.end())),
        choices: &[],
        verifier_only: false,
        description: "nonce digits, exactly",
    },
    OptionSpec {
        name: "digits",
        prosody: "token_otp_digits",
        kind: Kind::Integer,
        default: Default::Integer(scheme::DEFAULT_DIGITS as i64),
        min: Some(*totp::DIGITS.start() as i64),
        max: Some(*totp::DIGITS.end() as i64),
        choices: &[],
        verifier_only: false,
        description: "OTP digits",
    },
    OptionSpec {
        name: "period",
        prosody: "token_otp_period",
        kind: Kind::Integer,
        default: Default::Integer(scheme::DEFAULT_PERIOD as i64),
        min: Some(*totp::PERIOD.start() as i64),
        max: Some(*totp::PERIOD.end() as i64),
        choices: &[],
        verifier_only: false,
        description: "OTP step in seconds",
    },
    OptionSpec {
        name: "algorithm",
        prosody: "token_otp_algorithm",
        kind: Kind::String,
        default: Default::Text("SHA1"),
        min: None,
        max: None,
        choices: &["SHA1", "SHA256", "SHA512"],
        verifier_only: false,
        description: "OTP hash",
    },
    OptionSpec {
        name: "replay_capacity",
        prosody: "token_replay_capacity",
        kind: Kind::Integer,
        default: Default::Integer(int(replay::DEFAULT_CAPACITY)),
        min: Some(1),
        max: Some(int(replay::MAX_CAPACITY)),
        choices: &[],
        verifier_only: true,
        description: "live tokens remembered against replay; when full, tokens are refused",
    },
    OptionSpec {
        name: "replay_per_user",
        prosody: "token_replay_per_user",
        kind: Kind::Integer,
        default: Default::Integer(int(replay::DEFAULT_PER_USER)),
        min: Some(1),
        max: Some(int(replay::MAX_CAPACITY)),
        choices: &[],
        verifier_only: true,
        description: "live tokens one user may hold in the in-process cache; past it, that user's tokens are refused",
    },
    OptionSpec {
        name: "replay_store",
        prosody: "token_replay_store",
        kind: Kind::String,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: true,
        description: "a Redis shared by every verifier of the host (redis://HOST:PORT[/DB], unix:PATH) instead of the in-process cache",
    },
    OptionSpec {
        name: "replay_store_connect_timeout",
        prosody: "token_replay_store_connect_timeout",
        kind: Kind::Integer,
        default: Default::Integer(millis(store::DEFAULT_CONNECT_TIMEOUT_MS)),
        min: Some(millis(*store::TIMEOUT_MS.start())),
        max: Some(millis(*store::TIMEOUT_MS.end())),
        choices: &[],
        verifier_only: true,
        description: "milliseconds to connect to the replay store",
    },
    OptionSpec {
        name: "replay_store_timeout",
        prosody: "token_replay_store_timeout",
        kind: Kind::Integer,
        default: Default::Integer(millis(store::DEFAULT_REPLY_TIMEOUT_MS)),
        min: Some(millis(*store::TIMEOUT_MS.start())),
        max: Some(millis(*store::TIMEOUT_MS.end())),
        choices: &[],
        verifier_only: true,
        description: "milliseconds to wait for the replay store's reply",
    },
    OptionSpec {
        name: "replay_store_ca",
        prosody: "token_replay_store_ca",
        kind: Kind::String,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: true,
        description: "PEM file of the CA certificates a rediss:// store's certificate must chain to (default: the system's)",
    },
    OptionSpec {
        name: "replay_store_cert",
        prosody: "token_replay_store_cert",
        kind: Kind::String,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: true,
        description: "PEM file of a client certificate for a rediss:// store (with token_replay_store_key)",
    },
    OptionSpec {
        name: "replay_store_key",
        prosody: "token_replay_store_key",
        kind: Kind::String,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: true,
        description: "PEM file of the client certificate's private key",
    },
    OptionSpec {
        name: "replay_store_sentinels",
        prosody: "token_replay_store_sentinels",
        kind: Kind::Strings,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: true,
        description: "Redis Sentinels (\"HOST:PORT\", a list) to ask for the store's master (the URL then gives password and database)",
    },
    OptionSpec {
        name: "replay_store_master",
        prosody: "token_replay_store_master",
        kind: Kind::String,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: true,
        description: "the master's name in Sentinel (with token_replay_store_sentinels)",
    },
    OptionSpec {
        name: "replay_store_replicas",
        prosody: "token_replay_store_replicas",
        kind: Kind::Integer,
        default: Default::Integer(0),
        min: Some(0),
        max: Some(16),
        choices: &[],
        verifier_only: true,
        description: "replicas that must acknowledge each claim (WAIT) within the reply timeout, else the login is refused",
    },
    OptionSpec {
        name: "jwt_keys",
        prosody: "token_jwt_keys",
        kind: Kind::String,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: false,
        description: "a JWKS, JWK or PEM public keys (a file path, or the text itself): JWTs signed by these keys are accepted",
    },
    OptionSpec {
        name: "jwt_keys_url",
        prosody: "token_jwt_keys_url",
        kind: Kind::String,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: true,
        description: "a JWKS URL (http:// or https://) the plugin fetches at load, every jwt_keys_refresh seconds and on an unknown kid",
    },
    OptionSpec {
        name: "jwt_keys_refresh",
        prosody: "token_jwt_keys_refresh",
        kind: Kind::Integer,
        default: Default::Integer(secs(jwt::DEFAULT_KEYS_REFRESH)),
        min: Some(secs(*jwt::KEYS_REFRESH.start())),
        max: Some(secs(*jwt::KEYS_REFRESH.end())),
        choices: &[],
        verifier_only: true,
        description: "seconds between two fetches of jwt_keys_url",
    },
    OptionSpec {
        name: "jwt_secret",
        prosody: "token_jwt_secret",
        kind: Kind::Strings,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: false,
        description: "HMAC secret for HS* JWTs (raw bytes, at least the hash's size), or a list of up to 8",
    },
    OptionSpec {
        name: "jwt_secret_algorithm",
        prosody: "token_jwt_secret_algorithm",
        kind: Kind::String,
        default: Default::Text("HS256"),
        min: None,
        max: None,
        choices: &["HS256", "HS384", "HS512"],
        verifier_only: false,
        description: "the one algorithm the JWT secrets serve",
    },
    OptionSpec {
        name: "jwt_algorithms",
        prosody: "token_jwt_algorithms",
        kind: Kind::Strings,
        default: Default::None,
        min: None,
        max: None,
        choices: &jwt::Alg::NAMES,
        verifier_only: false,
        description: "accepted JWT algorithms (default: all; each key still serves only its own)",
    },
    OptionSpec {
        name: "jwt_leeway",
        prosody: "token_jwt_leeway",
        kind: Kind::Integer,
        default: Default::Integer(secs(jwt::DEFAULT_LEEWAY)),
        min: Some(secs(*jwt::LEEWAY.start())),
        max: Some(secs(*jwt::LEEWAY.end())),
        choices: &[],
        verifier_only: false,
        description: "seconds of clock skew allowed on exp, nbf and iat",
    },
    OptionSpec {
        name: "jwt_max_lifetime",
        prosody: "token_jwt_max_lifetime",
        kind: Kind::Integer,
        default: Default::Integer(secs(jwt::DEFAULT_MAX_LIFETIME)),
        min: Some(secs(*jwt::MAX_LIFETIME.start())),
        max: Some(secs(*jwt::MAX_LIFETIME.end())),
        choices: &[],
        verifier_only: false,
        description: "longest accepted JWT lifetime in seconds (exp - iat, or exp - now without iat)",
    },
    OptionSpec {
        name: "jwt_issuer",
        prosody: "token_jwt_issuer",
        kind: Kind::Strings,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: false,
        description: "accepted iss values (when set, iss is required)",
    },
    OptionSpec {
        name: "jwt_audience",
        prosody: "token_jwt_audience",
        kind: Kind::Strings,
        default: Default::None,
        min: None,
        max: None,
        choices: &[],
        verifier_only: false,
        description: "accepted aud values (when set, aud must name one)",
    },
    OptionSpec {
        name: "jwt_username_claim",
        prosody: "token_jwt_username_claim",
        kind: Kind::String,
        default: Default::Text(jwt::DEFAULT_USERNAME_CLAIM),
        min: None,
        max: None,
        choices: &[],
        verifier_only: false,
        description: "the claim naming the user: a localpart, or a bare JID on this host",
    },
    OptionSpec {
        name: "jwt_single_use",
        prosody: "token_jwt_single_use",
        kind: Kind::Boolean,
        default: Default::Boolean(true),
        min: None,
        max: None,
        choices: &[],
        verifier_only: true,
        description: "a JWT logs in once (by jti, else its signature); false allows reuse until exp",
    },
];

/// The options that make a verifier take JWTs; any one of them set, the
/// [`Default::Required`] options (`otp_seed`, `token_secret`) are not
/// required. The binding exports it as each required option's
/// `required_unless`.
pub const JWT_KEY_OPTIONS: &[&str] = &["jwt_keys", "jwt_keys_url", "jwt_secret"];

/// The option named `name` in a config table.
#[must_use]
pub fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|spec| spec.name == name)
}

/// How many secrets `token_secret` may list.
pub const MAX_SECRETS: usize = token::MAX_SECRETS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prosody_names_are_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for spec in OPTIONS {
            assert!(seen.insert(spec.name), "{}", spec.name);
            assert!(seen.insert(spec.prosody) || spec.prosody == spec.name, "{}", spec.prosody);
            assert!(spec.prosody.starts_with("token_") || spec.prosody == "otp_seed", "{}", spec.prosody);
            assert_eq!(spec.kind == Kind::Integer, spec.min.is_some() && spec.max.is_some(), "{}", spec.name);
        }
        assert_eq!(find("window").map(|s| s.prosody), Some("token_otp_window"));
        assert!(JWT_KEY_OPTIONS.iter().all(|name| find(name).is_some()));
    }

    #[test]
    fn the_ranges_are_the_ones_the_scheme_enforces() {
        let base = || scheme::Options {
            otp_seed: Some(b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_vec()),
            token_secrets: vec![b"0123456789abcdef".to_vec()],
            ..scheme::Options::default()
        };
        let set = |options: &mut scheme::Options, name: &str, value: i64| match name {
            "window" => options.window = Some(value),
            "nonce_length" => options.nonce_length = Some(value),
            "digits" => options.digits = Some(value),
            "period" => options.period = Some(value),
            "replay_capacity" => options.replay_capacity = Some(value),
            "replay_per_user" => options.replay_per_user = Some(value),
            "replay_store_connect_timeout" => {
                options.replay_store = Some(b"redis://127.0.0.1:1".to_vec());
                options.replay_store_connect_timeout = Some(value);
            }
            "replay_store_timeout" => {
                options.replay_store = Some(b"redis://127.0.0.1:1".to_vec());
                options.replay_store_timeout = Some(value);
            }
            "jwt_leeway" | "jwt_max_lifetime" | "jwt_keys_refresh" => {
                options.jwt.secrets = vec![[7u8; 32].to_vec()];
                options.jwt.keys_url = Some(b"https://idp.example/jwks".to_vec());
                match name {
                    "jwt_leeway" => options.jwt.leeway = Some(value),
                    "jwt_max_lifetime" => options.jwt.max_lifetime = Some(value),
                    _ => options.jwt.keys_refresh = Some(value),
                }
            }
            "replay_store_replicas" => {
                options.replay_store = Some(b"redis://127.0.0.1:1".to_vec());
                options.replay_store_replicas = Some(value);
            }
            other => panic!("no test for {other}"),
        };
        for spec in OPTIONS.iter().filter(|spec| spec.kind == Kind::Integer) {
            let (Some(min), Some(max)) = (spec.min, spec.max) else { continue };
            for (value, ok) in [(min, true), (max, true), (min - 1, false), (max + 1, false)] {
                let mut options = base();
                set(&mut options, spec.name, value);
                let made = scheme::Verifier::new(&options);
                assert_eq!(made.is_ok(), ok, "{} = {value}", spec.name);
                if let Err(err) = made {
                    assert_eq!(err.option(), spec.name);
                }
            }
            if let Default::Integer(default) = spec.default {
                assert!((min..=max).contains(&default), "{}", spec.name);
            }
        }
    }
}
