//! Every option the scheme and the verifier take, known once: its name in
//! a config table, its name in a Prosody configuration, its kind, default,
//! range and choices, and where its value goes in [`scheme::Options`].
//! The modules that enforce an option read its facts from here; the
//! binding converts a config table by each option's kind and exports this
//! list as `token_auth.options`, from which the plugin, the command and
//! the tables of doc/ come.
//!
//! Adding an option = a field in [`scheme::Options`] (or
//! [`jwt::Options`]), a spec here and its entry in [`OPTIONS`]; nothing
//! else lists option names.

use crate::error::{ConfigError, ConfigProblem};
use crate::scheme::Options;
use crate::{jwt, token};

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

    /// What a value of this kind is, for an error's text.
    const fn wanted(self) -> &'static str {
        match self {
            Kind::Strings => "a string or a list of strings",
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::Boolean => "true or false",
        }
    }
}

/// Where an option's value goes in [`Options`]; the variant is its kind.
#[derive(Clone, Copy, Debug)]
pub enum Setter {
    /// A string or a list of at most this many strings.
    Strings(usize, fn(&mut Options, Vec<Vec<u8>>)),
    /// A string.
    String(fn(&mut Options, Vec<u8>)),
    /// An integer (the range is checked where the option is used).
    Integer(fn(&mut Options, i64)),
    /// A boolean.
    Boolean(fn(&mut Options, bool)),
}

/// A value read from a config table, before it is checked against its
/// option.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// A list of strings.
    Strings(Vec<Vec<u8>>),
    /// A string.
    String(Vec<u8>),
    /// An integer.
    Integer(i64),
    /// A boolean.
    Boolean(bool),
}

impl core::fmt::Debug for Value {
    // Values may be secrets: only their shape is shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Value::Strings(list) => write!(f, "Strings(<{} values>)", list.len()),
            Value::String(_) => f.write_str("String(..)"),
            Value::Integer(_) => f.write_str("Integer(..)"),
            Value::Boolean(_) => f.write_str("Boolean(..)"),
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
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The key in a config table (`token_auth.new_verifier{ window = 2 }`).
    pub name: &'static str,
    /// The option's name in a Prosody configuration file.
    pub prosody: &'static str,
    /// Where its value goes; the variant is its kind.
    pub set: Setter,
    /// Its default.
    pub default: Default,
    /// The smallest accepted integer, for [`Kind::Integer`].
    pub min: Option<i64>,
    /// The largest accepted integer, for [`Kind::Integer`].
    pub max: Option<i64>,
    /// What an integer counts (`"seconds"`), or empty.
    pub unit: &'static str,
    /// The accepted strings, when they are a fixed set.
    pub choices: &'static [&'static str],
    /// Whether only a verifier (not a one-shot check or mint) uses it.
    pub verifier_only: bool,
    /// A line for people.
    pub description: &'static str,
}

impl OptionSpec {
    /// What kind of value it takes.
    #[must_use]
    pub const fn kind(&self) -> Kind {
        match self.set {
            Setter::Strings(..) => Kind::Strings,
            Setter::String(_) => Kind::String,
            Setter::Integer(_) => Kind::Integer,
            Setter::Boolean(_) => Kind::Boolean,
        }
    }

    /// How many strings a [`Kind::Strings`] option may list (1 for any
    /// other kind).
    #[must_use]
    pub const fn most_values(&self) -> usize {
        match self.set {
            Setter::Strings(most, _) => most,
            _ => 1,
        }
    }

    /// Stores `value` into `options`, checking its kind and, for a list,
    /// its length.
    ///
    /// # Errors
    /// [`ConfigProblem::WrongType`], [`ConfigProblem::EmptyList`] or
    /// [`ConfigProblem::TooManyValues`], naming this option.
    pub fn apply(&self, options: &mut Options, value: Value) -> Result<(), ConfigError> {
        match (self.set, value) {
            (Setter::Strings(_, set), Value::String(text)) => set(options, vec![text]),
            (Setter::Strings(most, set), Value::Strings(list)) => {
                if list.is_empty() {
                    return Err(ConfigError::new(self.name, ConfigProblem::EmptyList, "is an empty list"));
                }
                if list.len() > most {
                    return Err(self.too_many_values());
                }
                set(options, list);
            }
            (Setter::String(set), Value::String(text)) => set(options, text),
            (Setter::Integer(set), Value::Integer(number)) => set(options, number),
            (Setter::Boolean(set), Value::Boolean(flag)) => set(options, flag),
            _ => return Err(self.wrong_type("")),
        }
        Ok(())
    }

    /// The value of an integer option, or its default when unset.
    ///
    /// # Errors
    /// [`ConfigProblem::OutOfRange`] naming this option.
    pub fn integer<T: TryFrom<i64>>(&self, value: Option<i64>) -> Result<T, ConfigError> {
        let value = match (value, self.default) {
            (Some(value), _) | (None, Default::Integer(value)) => value,
            (None, _) => return Err(ConfigError::missing(self.name)),
        };
        if !self.admits(value) {
            return Err(self.out_of_range());
        }
        T::try_from(value).map_err(|_| self.out_of_range())
    }

    /// Whether `value` is within the option's range.
    #[must_use]
    pub fn admits(&self, value: i64) -> bool {
        self.min.is_none_or(|min| value >= min) && self.max.is_none_or(|max| value <= max)
    }

    /// The error for an integer outside the range, its text made from
    /// the range.
    #[must_use]
    pub fn out_of_range(&self) -> ConfigError {
        let unit = if self.unit.is_empty() { String::new() } else { format!(" ({})", self.unit) };
        let text = match (self.min, self.max) {
            (Some(min), Some(max)) => format!("must be an integer from {min} to {max}{unit}"),
            _ => format!("must be an integer{unit}"),
        };
        ConfigError::new(self.name, ConfigProblem::OutOfRange, text)
    }

    /// The error for a string that is none of the choices, its text made
    /// from them.
    #[must_use]
    pub fn not_a_choice(&self) -> ConfigError {
        let quoted: Vec<String> = self.choices.iter().map(|choice| format!("\"{choice}\"")).collect();
        let text = match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("must be {} or {last}", rest.join(", ")),
            Some((only, _)) => format!("must be {only}"),
            None => "is not an accepted value".to_owned(),
        };
        ConfigError::new(self.name, ConfigProblem::NotAChoice, text)
    }

    /// The error for a list longer than [`Self::most_values`].
    #[must_use]
    pub fn too_many_values(&self) -> ConfigError {
        ConfigError::new(
            self.name,
            ConfigProblem::TooManyValues,
            format!("lists more than {} values", self.most_values()),
        )
    }

    /// The error for a value of the wrong type; `got` names what came
    /// (empty when unknown).
    #[must_use]
    pub fn wrong_type(&self, got: &str) -> ConfigError {
        let got = if got.is_empty() { String::new() } else { format!(", got {got}") };
        ConfigError::new(self.name, ConfigProblem::WrongType, format!("must be {}{got}", self.kind().wanted()))
    }

    /// The default of a string option (empty when it has none).
    #[must_use]
    pub const fn default_text(&self) -> &'static str {
        match self.default {
            Default::Text(text) => text,
            _ => "",
        }
    }
}

/// `token_secret` (`token_secret` in Prosody).
pub const TOKEN_SECRET: OptionSpec = OptionSpec {
    name: "token_secret",
    prosody: "token_secret",
    set: Setter::Strings(token::MAX_SECRETS, |o, v| o.token_secrets = v),
    default: Default::Required,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: false,
    description: "HMAC key (raw bytes, at least 16), or a list of up to 8: the first signs, all verify",
};

/// `otp_seed` (`otp_seed` in Prosody).
pub const OTP_SEED: OptionSpec = OptionSpec {
    name: "otp_seed",
    prosody: "otp_seed",
    set: Setter::String(|o, v| o.otp_seed = Some(v)),
    default: Default::Required,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: false,
    description: "base32 TOTP seed (at least 16 characters, 80 bits)",
};

/// `window` (`token_otp_window` in Prosody): past ten steps a stolen
/// token lives too long.
pub const WINDOW: OptionSpec = OptionSpec {
    name: "window",
    prosody: "token_otp_window",
    set: Setter::Integer(|o, v| o.window = Some(v)),
    default: Default::Integer(1),
    min: Some(0),
    max: Some(10),
    unit: "steps",
    choices: &[],
    verifier_only: false,
    description: "OTP steps accepted each way (clock skew)",
};

/// `nonce_length` (`token_nonce_length` in Prosody): short nonces repeat,
/// long ones are pointless; the default is what the community module's
/// README generator makes.
pub const NONCE_LENGTH: OptionSpec = OptionSpec {
    name: "nonce_length",
    prosody: "token_nonce_length",
    set: Setter::Integer(|o, v| o.nonce_length = Some(v)),
    default: Default::Integer(32),
    min: Some(8),
    max: Some(128),
    unit: "",
    choices: &[],
    verifier_only: false,
    description: "nonce digits, exactly",
};

/// `digits` (`token_otp_digits` in Prosody): RFC 4226 asks for at least 6;
/// a 31-bit truncated value has at most 10 decimal digits. The default is
/// the community module's.
pub const DIGITS: OptionSpec = OptionSpec {
    name: "digits",
    prosody: "token_otp_digits",
    set: Setter::Integer(|o, v| o.digits = Some(v)),
    default: Default::Integer(8),
    min: Some(6),
    max: Some(10),
    unit: "",
    choices: &[],
    verifier_only: false,
    description: "OTP digits",
};

/// `period` (`token_otp_period` in Prosody).
pub const PERIOD: OptionSpec = OptionSpec {
    name: "period",
    prosody: "token_otp_period",
    set: Setter::Integer(|o, v| o.period = Some(v)),
    default: Default::Integer(30),
    min: Some(1),
    max: Some(3600),
    unit: "seconds",
    choices: &[],
    verifier_only: false,
    description: "OTP step in seconds",
};

/// `algorithm` (`token_otp_algorithm` in Prosody).
pub const ALGORITHM: OptionSpec = OptionSpec {
    name: "algorithm",
    prosody: "token_otp_algorithm",
    set: Setter::String(|o, v| o.algorithm = Some(v)),
    default: Default::Text("SHA1"),
    min: None,
    max: None,
    unit: "",
    choices: &["SHA1", "SHA256", "SHA512"],
    verifier_only: false,
    description: "OTP hash",
};

/// `replay_capacity` (`token_replay_capacity` in Prosody). The default is
/// about 1000 logins a second with the default 30 s steps and a window of
/// one step each way.
pub const REPLAY_CAPACITY: OptionSpec = OptionSpec {
    name: "replay_capacity",
    prosody: "token_replay_capacity",
    set: Setter::Integer(|o, v| o.replay_capacity = Some(v)),
    default: Default::Integer(100_000),
    min: Some(1),
    max: Some(100_000_000),
    unit: "",
    choices: &[],
    verifier_only: true,
    description: "live tokens remembered against replay; when full, tokens are refused",
};

/// `replay_per_user` (`token_replay_per_user` in Prosody). A token lives
/// at most `2 * window + 1` steps (90 s by default), so 100 is a login
/// every second for that long: ten devices reconnecting every ten seconds
/// stay under it, while one account holds at most 0.1 % of the default
/// capacity.
pub const REPLAY_PER_USER: OptionSpec = OptionSpec {
    name: "replay_per_user",
    prosody: "token_replay_per_user",
    set: Setter::Integer(|o, v| o.replay_per_user = Some(v)),
    default: Default::Integer(100),
    min: Some(1),
    max: Some(100_000_000),
    unit: "",
    choices: &[],
    verifier_only: true,
    description: "live tokens one user may hold in the in-process cache; past it, that user's tokens are refused",
};

/// `replay_store` (`token_replay_store` in Prosody).
pub const REPLAY_STORE: OptionSpec = OptionSpec {
    name: "replay_store",
    prosody: "token_replay_store",
    set: Setter::String(|o, v| o.replay_store = Some(v)),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: true,
    description: "a Redis shared by every verifier of the host (redis://HOST:PORT[/DB], unix:PATH) instead of the in-process cache",
};

/// `replay_store_connect_timeout` (`token_replay_store_connect_timeout` in
/// Prosody), milliseconds: a TCP handshake plus the AUTH/SELECT exchange
/// takes well under 1 ms on a local network; 50 ms is tens of times that.
/// Connecting never waits on Prosody's thread.
pub const REPLAY_STORE_CONNECT_TIMEOUT: OptionSpec = OptionSpec {
    name: "replay_store_connect_timeout",
    prosody: "token_replay_store_connect_timeout",
    set: Setter::Integer(|o, v| o.replay_store_connect_timeout = Some(v)),
    default: Default::Integer(50),
    min: Some(1),
    max: Some(10_000),
    unit: "milliseconds",
    choices: &[],
    verifier_only: true,
    description: "milliseconds to connect to the replay store",
};

/// `replay_store_timeout` (`token_replay_store_timeout` in Prosody),
/// milliseconds: a `SET` answers in tens of microseconds on loopback and
/// well under a millisecond on a LAN; 20 ms leaves room for a fork or an
/// fsync stall, and bounds how long one login waits when Redis hangs.
pub const REPLAY_STORE_TIMEOUT: OptionSpec = OptionSpec {
    name: "replay_store_timeout",
    prosody: "token_replay_store_timeout",
    set: Setter::Integer(|o, v| o.replay_store_timeout = Some(v)),
    default: Default::Integer(20),
    min: Some(1),
    max: Some(10_000),
    unit: "milliseconds",
    choices: &[],
    verifier_only: true,
    description: "milliseconds to wait for the replay store's reply",
};

/// `replay_store_ca` (`token_replay_store_ca` in Prosody).
pub const REPLAY_STORE_CA: OptionSpec = OptionSpec {
    name: "replay_store_ca",
    prosody: "token_replay_store_ca",
    set: Setter::String(|o, v| o.replay_store_ca = Some(v)),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: true,
    description:
        "PEM file of the CA certificates a rediss:// store's (or sentinel's) certificate must chain to (default: the system's)",
};

/// `replay_store_cert` (`token_replay_store_cert` in Prosody).
pub const REPLAY_STORE_CERT: OptionSpec = OptionSpec {
    name: "replay_store_cert",
    prosody: "token_replay_store_cert",
    set: Setter::String(|o, v| o.replay_store_cert = Some(v)),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: true,
    description: "PEM file of a client certificate for a rediss:// store or sentinel (with token_replay_store_key)",
};

/// `replay_store_key` (`token_replay_store_key` in Prosody).
pub const REPLAY_STORE_KEY: OptionSpec = OptionSpec {
    name: "replay_store_key",
    prosody: "token_replay_store_key",
    set: Setter::String(|o, v| o.replay_store_key = Some(v)),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: true,
    description: "PEM file of the client certificate's private key",
};

/// `replay_store_sentinels` (`token_replay_store_sentinels` in Prosody).
pub const REPLAY_STORE_SENTINELS: OptionSpec = OptionSpec {
    name: "replay_store_sentinels",
    prosody: "token_replay_store_sentinels",
    set: Setter::Strings(16, |o, v| o.replay_store_sentinels = v),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: true,
    description: "Redis Sentinels to ask for the store's master, a list of \"HOST:PORT\" or of redis[s]://[[USER]:PASSWORD@]HOST:PORT (the store's URL then gives the master's password and database)",
};

/// `replay_store_master` (`token_replay_store_master` in Prosody).
pub const REPLAY_STORE_MASTER: OptionSpec = OptionSpec {
    name: "replay_store_master",
    prosody: "token_replay_store_master",
    set: Setter::String(|o, v| o.replay_store_master = Some(v)),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: true,
    description: "the master's name in Sentinel (with token_replay_store_sentinels)",
};

/// `replay_store_replicas` (`token_replay_store_replicas` in Prosody).
pub const REPLAY_STORE_REPLICAS: OptionSpec = OptionSpec {
    name: "replay_store_replicas",
    prosody: "token_replay_store_replicas",
    set: Setter::Integer(|o, v| o.replay_store_replicas = Some(v)),
    default: Default::Integer(0),
    min: Some(0),
    max: Some(16),
    unit: "",
    choices: &[],
    verifier_only: true,
    description: "replicas that must acknowledge each claim (WAIT) within the reply timeout, else the login is refused",
};

/// `jwt_keys` (`token_jwt_keys` in Prosody).
pub const JWT_KEYS: OptionSpec = OptionSpec {
    name: "jwt_keys",
    prosody: "token_jwt_keys",
    set: Setter::String(|o, v| o.jwt.keys = Some(v)),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: false,
    description:
        "a JWKS, JWK or PEM public keys (a file path, or the text itself): JWTs signed by these keys are accepted",
};

/// `jwt_keys_url` (`token_jwt_keys_url` in Prosody).
pub const JWT_KEYS_URL: OptionSpec = OptionSpec {
    name: "jwt_keys_url",
    prosody: "token_jwt_keys_url",
    set: Setter::String(|o, v| o.jwt.keys_url = Some(v)),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: false,
    description: "a JWKS URL (http:// or https://) the plugin fetches at load, every jwt_keys_refresh seconds and on an unknown kid",
};

/// `jwt_keys_refresh` (`token_jwt_keys_refresh` in Prosody).
pub const JWT_KEYS_REFRESH: OptionSpec = OptionSpec {
    name: "jwt_keys_refresh",
    prosody: "token_jwt_keys_refresh",
    set: Setter::Integer(|o, v| o.jwt.keys_refresh = Some(v)),
    default: Default::Integer(3600),
    min: Some(10),
    max: Some(86_400),
    unit: "seconds",
    choices: &[],
    verifier_only: true,
    description: "seconds between two fetches of jwt_keys_url",
};

/// `jwt_secret` (`token_jwt_secret` in Prosody).
pub const JWT_SECRET: OptionSpec = OptionSpec {
    name: "jwt_secret",
    prosody: "token_jwt_secret",
    set: Setter::Strings(token::MAX_SECRETS, |o, v| o.jwt.secrets = v),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: false,
    description: "HMAC secret for HS* JWTs (raw bytes, at least the hash's size), or a list of up to 8",
};

/// `jwt_secret_algorithm` (`token_jwt_secret_algorithm` in Prosody).
pub const JWT_SECRET_ALGORITHM: OptionSpec = OptionSpec {
    name: "jwt_secret_algorithm",
    prosody: "token_jwt_secret_algorithm",
    set: Setter::String(|o, v| o.jwt.secret_algorithm = Some(v)),
    default: Default::Text("HS256"),
    min: None,
    max: None,
    unit: "",
    choices: &["HS256", "HS384", "HS512"],
    verifier_only: false,
    description: "the one algorithm the JWT secrets serve",
};

/// `jwt_algorithms` (`token_jwt_algorithms` in Prosody).
pub const JWT_ALGORITHMS: OptionSpec = OptionSpec {
    name: "jwt_algorithms",
    prosody: "token_jwt_algorithms",
    set: Setter::Strings(jwt::Alg::ALL.len(), |o, v| o.jwt.algorithms = Some(v)),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &jwt::Alg::NAMES,
    verifier_only: false,
    description: "accepted JWT algorithms (default: all; each key still serves only its own)",
};

/// `jwt_leeway` (`token_jwt_leeway` in Prosody).
pub const JWT_LEEWAY: OptionSpec = OptionSpec {
    name: "jwt_leeway",
    prosody: "token_jwt_leeway",
    set: Setter::Integer(|o, v| o.jwt.leeway = Some(v)),
    default: Default::Integer(60),
    min: Some(0),
    max: Some(600),
    unit: "seconds",
    choices: &[],
    verifier_only: false,
    description: "seconds of clock skew allowed on exp, nbf and iat",
};

/// `jwt_max_lifetime` (`token_jwt_max_lifetime` in Prosody).
pub const JWT_MAX_LIFETIME: OptionSpec = OptionSpec {
    name: "jwt_max_lifetime",
    prosody: "token_jwt_max_lifetime",
    set: Setter::Integer(|o, v| o.jwt.max_lifetime = Some(v)),
    default: Default::Integer(86_400),
    min: Some(60),
    max: Some(31_536_000),
    unit: "seconds",
    choices: &[],
    verifier_only: false,
    description: "longest accepted JWT lifetime in seconds (exp - iat, or exp - now without iat)",
};

/// `jwt_issuer` (`token_jwt_issuer` in Prosody).
pub const JWT_ISSUER: OptionSpec = OptionSpec {
    name: "jwt_issuer",
    prosody: "token_jwt_issuer",
    set: Setter::Strings(jwt::MAX_ALLOWED, |o, v| o.jwt.issuers = v),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: false,
    description: "accepted iss values (when set, iss is required)",
};

/// `jwt_audience` (`token_jwt_audience` in Prosody).
pub const JWT_AUDIENCE: OptionSpec = OptionSpec {
    name: "jwt_audience",
    prosody: "token_jwt_audience",
    set: Setter::Strings(jwt::MAX_ALLOWED, |o, v| o.jwt.audiences = v),
    default: Default::None,
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: false,
    description: "accepted aud values (when set, aud must name one)",
};

/// `jwt_username_claim` (`token_jwt_username_claim` in Prosody).
pub const JWT_USERNAME_CLAIM: OptionSpec = OptionSpec {
    name: "jwt_username_claim",
    prosody: "token_jwt_username_claim",
    set: Setter::String(|o, v| o.jwt.username_claim = Some(v)),
    default: Default::Text("sub"),
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: false,
    description: "the claim naming the user: a localpart, or a bare JID on this host",
};

/// `jwt_single_use` (`token_jwt_single_use` in Prosody).
pub const JWT_SINGLE_USE: OptionSpec = OptionSpec {
    name: "jwt_single_use",
    prosody: "token_jwt_single_use",
    set: Setter::Boolean(|o, v| o.jwt.single_use = Some(v)),
    default: Default::Boolean(true),
    min: None,
    max: None,
    unit: "",
    choices: &[],
    verifier_only: true,
    description: "a JWT logs in once (by jti, else its signature); false allows reuse until exp",
};

/// Every option, in the order doc/configuration.md lists them.
pub const OPTIONS: &[OptionSpec] = &[
    TOKEN_SECRET,
    OTP_SEED,
    WINDOW,
    NONCE_LENGTH,
    DIGITS,
    PERIOD,
    ALGORITHM,
    REPLAY_CAPACITY,
    REPLAY_PER_USER,
    REPLAY_STORE,
    REPLAY_STORE_CONNECT_TIMEOUT,
    REPLAY_STORE_TIMEOUT,
    REPLAY_STORE_CA,
    REPLAY_STORE_CERT,
    REPLAY_STORE_KEY,
    REPLAY_STORE_SENTINELS,
    REPLAY_STORE_MASTER,
    REPLAY_STORE_REPLICAS,
    JWT_KEYS,
    JWT_KEYS_URL,
    JWT_KEYS_REFRESH,
    JWT_SECRET,
    JWT_SECRET_ALGORITHM,
    JWT_ALGORITHMS,
    JWT_LEEWAY,
    JWT_MAX_LIFETIME,
    JWT_ISSUER,
    JWT_AUDIENCE,
    JWT_USERNAME_CLAIM,
    JWT_SINGLE_USE,
];

/// The options that make a verifier take JWTs; any one of them set, the
/// [`Default::Required`] options (`otp_seed`, `token_secret`) are not
/// required. The binding exports it as each required option's
/// `required_unless`.
pub const JWT_KEY_OPTIONS: &[&str] = &[JWT_KEYS.name, JWT_KEYS_URL.name, JWT_SECRET.name];

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
    use crate::scheme;

    #[test]
    fn names_are_unique_and_prosody_names_are_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for spec in OPTIONS {
            assert!(seen.insert(spec.name), "{}", spec.name);
            assert!(seen.insert(spec.prosody) || spec.prosody == spec.name, "{}", spec.prosody);
            assert!(spec.prosody.starts_with("token_") || spec.prosody == "otp_seed", "{}", spec.prosody);
            assert_eq!(spec.kind() == Kind::Integer, spec.min.is_some() && spec.max.is_some(), "{}", spec.name);
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
        // What each option needs beside itself to mean something.
        let context = |options: &mut scheme::Options, name: &str| {
            if name.starts_with("replay_store_") {
                options.replay_store = Some(b"redis://127.0.0.1:1".to_vec());
            }
            if name.starts_with("jwt_") {
                options.jwt.secrets = vec![[7u8; 32].to_vec()];
                options.jwt.keys_url = Some(b"https://idp.example/jwks".to_vec());
            }
        };
        for spec in OPTIONS.iter().filter(|spec| spec.kind() == Kind::Integer) {
            let (Some(min), Some(max)) = (spec.min, spec.max) else { continue };
            for (value, ok) in [(min, true), (max, true), (min - 1, false), (max + 1, false)] {
                let mut options = base();
                context(&mut options, spec.name);
                spec.apply(&mut options, Value::Integer(value)).expect("an integer");
                let made = scheme::Verifier::new(&options);
                assert_eq!(made.is_ok(), ok, "{} = {value}", spec.name);
                if let Err(err) = made {
                    assert_eq!((err.option(), err.problem()), (spec.name, ConfigProblem::OutOfRange));
                    assert_eq!(err.text(), spec.out_of_range().text());
                }
            }
            if let Default::Integer(default) = spec.default {
                assert!((min..=max).contains(&default), "{}", spec.name);
            }
        }
    }
}

#[cfg(test)]
mod apply_tests {
    use super::*;

    #[test]
    fn apply_checks_kind_and_list_length() {
        let mut options = Options::default();
        let err = WINDOW.apply(&mut options, Value::String(b"2".to_vec())).expect_err("a string");
        assert_eq!((err.option(), err.code(), err.text()), ("window", "wrong_type", "must be an integer"));
        let err = TOKEN_SECRET.apply(&mut options, Value::Strings(Vec::new())).expect_err("empty");
        assert_eq!(err.code(), "empty_list");
        let err =
            TOKEN_SECRET.apply(&mut options, Value::Strings(vec![b"0123456789abcdef".to_vec(); 9])).expect_err("9");
        assert_eq!((err.code(), err.text()), ("too_many_values", "lists more than 8 values"));
        TOKEN_SECRET.apply(&mut options, Value::String(b"0123456789abcdef".to_vec())).expect("one secret");
        assert_eq!(options.token_secrets.len(), 1);
        JWT_SINGLE_USE.apply(&mut options, Value::Boolean(false)).expect("a boolean");
        assert_eq!(options.jwt.single_use, Some(false));
    }

    #[test]
    fn texts_come_from_the_facts() {
        assert_eq!(PERIOD.out_of_range().text(), "must be an integer from 1 to 3600 (seconds)");
        assert_eq!(ALGORITHM.not_a_choice().text(), "must be \"SHA1\", \"SHA256\" or \"SHA512\"");
        assert_eq!(WINDOW.integer::<u64>(None), Ok(1));
        assert_eq!(WINDOW.integer::<u64>(Some(11)).map_err(|err| err.code()), Err("out_of_range"));
        assert_eq!(JWT_USERNAME_CLAIM.default_text(), "sub");
    }
}
