//! The Lua binding (module `token_auth`): converts Lua values to the
//! core's types and back, maps expected failures to `nil, reason` and API
//! misuse to raised errors. No logic of its own lives here.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use mlua::{
    Error as LuaError, Function, Lua, MultiValue, Result as LuaResult, Table, UserData, UserDataMethods, Value,
};

use crate::error::{ConfigError, ConfigProblem, Reason};
use crate::options::Kind;
use crate::replay::Replay;
use crate::scheme::{self, Begun, Options, Scheme, Verifier};
use crate::{input, names, options, os, random};

/// Times above 2^53 seconds cannot come from a Lua number without
/// losing precision, and are hundreds of millions of years away.
const MAX_TIME: f64 = 9_007_199_254_740_992.0;

fn misuse(function: &str, message: impl std::fmt::Display) -> LuaError {
    LuaError::RuntimeError(format!("token_auth.{function}: {message}"))
}

/// The name Lua's own `type()` gives: mlua tells integers apart.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) | Value::Number(_) => "number",
        other => other.type_name(),
    }
}

/// Strings arrive as `BString`: mlua reads the bytes straight off the
/// Lua stack (one copy, no reference bookkeeping), which is the
/// cheapest conversion it offers. Like Lua's own string functions it
/// accepts a number as its decimal string; anything else raises.
type Bytes = mlua::BString;

/// A time in whole seconds: finite, not negative, at most 2^53.
fn time_value(value: &Value) -> Result<Option<u64>, String> {
    let seconds = match value {
        Value::Nil => return Ok(None),
        #[allow(clippy::cast_precision_loss)]
        Value::Integer(n) => *n as f64,
        Value::Number(n) => *n,
        other => return Err(format!("must be a number of seconds, got {}", type_name(other))),
    };
    if !seconds.is_finite() || !(0.0..=MAX_TIME).contains(&seconds) {
        return Err("must be a finite number of seconds from 0 to 2^53".into());
    }
    // In range and floored just above: the conversion is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some(seconds.floor() as u64))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// A config value as the option's kind takes it: a list of strings from
/// a table (a Prosody set or list arrives as a plain list), an integer
/// from an integral number. The option then checks it.
fn option_value(spec: &options::OptionSpec, value: &Value) -> Result<options::Value, ConfigError> {
    let wrong = || spec.wrong_type(type_name(value));
    Ok(match (spec.kind(), value) {
        (Kind::String | Kind::Strings, Value::String(text)) => options::Value::String(text.as_bytes().to_vec()),
        (Kind::Strings, Value::Table(list)) => {
            // Read no further than one past the bound: a list that long
            // is refused anyway.
            let count = list.raw_len().min(spec.most_values() + 1);
            let mut strings = Vec::with_capacity(count);
            for index in 1..=count {
                match list.raw_get::<Value>(index) {
                    Ok(Value::String(text)) => strings.push(text.as_bytes().to_vec()),
                    _ => {
                        let text = format!("entry {index} is not a string");
                        return Err(ConfigError::new(spec.name, ConfigProblem::WrongType, text));
                    }
                }
            }
            options::Value::Strings(strings)
        }
        (Kind::Integer, Value::Integer(n)) => options::Value::Integer(*n),
        #[allow(clippy::cast_possible_truncation)]
        (Kind::Integer, Value::Number(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => options::Value::Integer(*n as i64),
        (Kind::Boolean, Value::Boolean(flag)) => options::Value::Boolean(*flag),
        _ => return Err(wrong()),
    })
}

/// What a config table says, beside the scheme's own options.
#[derive(Default)]
struct Extras {
    time: Option<u64>,
    nonce: Option<Vec<u8>>,
}

/// The `config` pseudo-option: a problem with the table itself.
fn table_error(problem: ConfigProblem, text: impl Into<String>) -> ConfigError {
    ConfigError::new("config", problem, text)
}

/// Reads a config table, each option by its kind. Unknown keys are
/// refused: a misspelt option would otherwise fall back to its default
/// without a word.
fn read_config(value: &Value) -> Result<(Options, Extras), ConfigError> {
    let Value::Table(table) = value else {
        return Err(table_error(ConfigProblem::WrongType, format!("must be a table, got {}", type_name(value))));
    };
    let mut options = Options::default();
    let mut extras = Extras::default();
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair.map_err(|_| table_error(ConfigProblem::WrongType, "cannot be iterated"))?;
        let Value::String(key) = key else {
            return Err(table_error(ConfigProblem::UnknownOption, "has a key that is not a string"));
        };
        let key = key.as_bytes();
        let name = core::str::from_utf8(&key).unwrap_or("");
        if let Some(spec) = options::find(name) {
            spec.apply(&mut options, option_value(spec, &value)?)?;
        } else if name == "time" {
            extras.time =
                time_value(&value).map_err(|text| ConfigError::new("time", ConfigProblem::WrongType, text))?;
        } else if name == "nonce" {
            let Value::String(nonce) = &value else {
                let text = format!("must be a string, got {}", type_name(&value));
                return Err(ConfigError::new("nonce", ConfigProblem::WrongType, text));
            };
            extras.nonce = Some(nonce.as_bytes().to_vec());
        } else {
            let name = String::from_utf8_lossy(&key);
            // The key is shown to help find the typo, but short and
            // without control characters, since it ends up in logs.
            let shown: String = name.chars().take(40).map(|c| if c.is_control() { '?' } else { c }).collect();
            return Err(table_error(ConfigProblem::UnknownOption, format!("unknown option \"{shown}\"")));
        }
    }
    Ok((options, extras))
}

/// `true`, or `nil, reason`. Returned as a pair (`true, nil` on
/// success): a tuple is pushed straight onto the Lua stack, where a
/// `MultiValue` would allocate.
fn verdict<T>(result: Result<T, Reason>) -> (Option<bool>, Option<&'static str>) {
    match result {
        Ok(_) => (Some(true), None),
        Err(reason) => (None, Some(reason.code())),
    }
}

/// A JSON value as a Lua value: objects and arrays as tables, integers
/// as integers where they fit, `null` as nil.
fn json_to_lua(lua: &Lua, value: &serde_json::Value) -> LuaResult<Value> {
    use serde_json::Value as Json;
    Ok(match value {
        Json::Null => Value::Nil,
        Json::Bool(flag) => Value::Boolean(*flag),
        Json::Number(number) => match number.as_i64().and_then(|n| mlua::Integer::try_from(n).ok()) {
            Some(integer) => Value::Integer(integer),
            None => Value::Number(number.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(text) => Value::String(lua.create_string(text)?),
        Json::Array(items) => {
            let list = lua.create_table_with_capacity(items.len(), 0)?;
            for (index, item) in items.iter().enumerate() {
                list.raw_set(index + 1, json_to_lua(lua, item)?)?;
            }
            Value::Table(list)
        }
        Json::Object(members) => {
            let table = lua.create_table_with_capacity(0, members.len())?;
            for (name, member) in members {
                table.raw_set(name.as_str(), json_to_lua(lua, member)?)?;
            }
            Value::Table(table)
        }
    })
}

/// `set_jwt_keys(keys [, is_text])`: a new key set (JWKS, JWK or PEM
/// text, or a file path unless `is_text`) for a verifier that takes JWTs: `true`, or `nil, message` with
/// the old set kept. Asking a verifier without JWT keys is misuse.
fn set_jwt_keys(
    verifier: &mut Verifier,
    function: &str,
    keys: &[u8],
    is_text: bool,
) -> LuaResult<(Option<bool>, Option<String>)> {
    let Some(jwt) = verifier.jwt_mut() else {
        return Err(misuse(function, "this verifier takes no JWTs (no jwt_keys, jwt_keys_url or jwt_secret)"));
    };
    // Text from the network is never taken for a file path.
    let loaded = if is_text {
        crate::jwt::KeySet::parse(keys).map_err(|err| ConfigError::invalid("jwt_keys", err.to_string()))
    } else {
        crate::jwt::load_keys(keys)
    };
    match loaded {
        Ok(set) => {
            jwt.set_keys(set);
            Ok((Some(true), None))
        }
        Err(err) => Ok((None, Some(err.to_string()))),
    }
}

/// `jwt_keys()`: the keys in use, `{ { kid = ..., alg = ... }, ... }`
/// (secrets not listed), and how many JWKs were passed over.
fn jwt_keys(lua: &Lua, verifier: &Verifier) -> LuaResult<(Table, usize)> {
    let list = lua.create_table()?;
    let Some(jwt) = verifier.jwt() else { return Ok((list, 0)) };
    for (index, key) in jwt.keys().iter().enumerate() {
        let entry = lua.create_table()?;
        entry.set("kid", key.kid.as_deref())?;
        entry.set("alg", key.alg.name())?;
        list.raw_set(index + 1, entry)?;
    }
    Ok((list, jwt.skipped()))
}

/// A verifier as Lua sees it: `verifier:verify(...)`, `verifier:stats()`.
struct LuaVerifier(Verifier);

/// The logins waiting for a shared store's verdict, in this Lua state: the
/// function that resumes each, and its host, by store and ticket. One for
/// every verifier, since the verifiers of several hosts share a store and
/// whichever of them collects hands out every verdict that is in.
#[derive(Default)]
struct WaitingLogins(HashMap<(u64, u64), (Function, Vec<u8>)>);

impl WaitingLogins {
    fn add(lua: &Lua, store: u64, ticket: u64, resume: Function, host: Vec<u8>) {
        if lua.app_data_ref::<WaitingLogins>().is_none() {
            lua.set_app_data(WaitingLogins::default());
        }
        if let Some(mut waiting) = lua.app_data_mut::<WaitingLogins>() {
            waiting.0.insert((store, ticket), (resume, host));
        }
    }

    fn take(lua: &Lua, store: u64, ticket: u64) -> Option<Function> {
        lua.app_data_mut::<WaitingLogins>()?.0.remove(&(store, ticket)).map(|(resume, _)| resume)
    }

    fn take_host(lua: &Lua, store: u64, host: &[u8]) -> Vec<Function> {
        let Some(mut waiting) = lua.app_data_mut::<WaitingLogins>() else { return Vec::new() };
        let mine: Vec<(u64, u64)> =
            waiting.0.iter().filter(|(key, (_, of))| key.0 == store && of == host).map(|(key, _)| *key).collect();
        mine.iter().filter_map(|key| waiting.0.remove(key)).map(|(resume, _)| resume).collect()
    }
}

/// `token_auth.new_jwt_verifier{...}`: `verify(token [, time])` returns
/// the claims.
struct LuaJwtVerifier(Verifier);

impl UserData for LuaJwtVerifier {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("verify", |lua, this, (token, time): (Bytes, Value)| {
            let time = time_value(&time).map_err(|problem| misuse("verify", format!("time {problem}")))?;
            Ok(match this.0.verify_jwt(&token, time.unwrap_or_else(now)) {
                Ok(verified) => (json_to_lua(lua, &serde_json::Value::Object(verified.claims))?, None),
                Err(reason) => (Value::Nil, Some(reason.code())),
            })
        });
        methods.add_method_mut("set_keys", |_, this, (keys, is_text): (Bytes, Option<bool>)| {
            set_jwt_keys(&mut this.0, "set_keys", &keys, is_text.unwrap_or(false))
        });
        methods.add_method("keys", |lua, this, ()| jwt_keys(lua, &this.0));
        methods.add_meta_method("__tostring", |_, this, ()| {
            Ok(format!("token_auth JWT verifier ({} keys)", this.0.jwt().map_or(0, |jwt| jwt.keys().len())))
        });
    }
}

/// The shared store's socket (a file descriptor number) to watch for
/// replies, the seconds until `collect()` is next due (0 when verdicts are
/// already in, else when the oldest waiting claim times out), the
/// connection's serial number, and whether to watch for writability too
/// (connecting, or bytes not yet written); `None` for each when there is
/// none.
fn store_socket(verifier: &mut Verifier) -> (Option<i32>, Option<f64>, Option<u64>, Option<bool>) {
    let Some(store) = verifier.replay_store_mut() else {
        return (None, None, None, None);
    };
    let socket = store.socket();
    let due = store
        .next_deadline()
        .map(|deadline| deadline.saturating_duration_since(std::time::Instant::now()).as_secs_f64());
    (socket.map(|(fd, ..)| fd), due, socket.map(|(_, serial, _)| serial), socket.map(|(.., write)| write))
}

impl UserData for LuaVerifier {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("verify", |_, this, (username, host, token, time): (Bytes, Bytes, Bytes, Value)| {
            let time = time_value(&time).map_err(|problem| misuse("verify", format!("time {problem}")))?;
            Ok(verdict(this.0.verify(&username, &host, &token, time.unwrap_or_else(now))))
        });
        // The same checks without waiting for the shared store: `true`,
        // `nil, reason`, or `false, ticket` when the verdict comes later
        // from `collect()`, then followed by what `store_socket()` says, so
        // that a deferred login costs two calls (this and `collect()`).
        // Given `resume`, a function, a deferred claim is kept with it among
        // the waiting logins (see `WaitingLogins`), and `collect()` hands
        // its verdict to whoever holds it as `[resume] = verdict`.
        methods.add_method_mut(
            "begin_verify",
            |lua, this, (username, host, token, time, resume): (Bytes, Bytes, Bytes, Value, Option<Function>)| {
                let time = time_value(&time).map_err(|problem| misuse("begin_verify", format!("time {problem}")))?;
                Ok(match this.0.begin(&username, &host, &token, time.unwrap_or_else(now)) {
                    Ok(Begun::Accepted(_)) => (Some(true), Value::Nil, (None, None, None, None)),
                    Ok(Begun::Claimed(ticket)) => {
                        if let (Some(resume), Some(store)) = (resume, this.0.replay_store_mut()) {
                            WaitingLogins::add(lua, store.id(), ticket, resume, host.to_vec());
                        }
                        (
                            Some(false),
                            Value::Integer(i64::try_from(ticket).unwrap_or(i64::MAX)),
                            store_socket(&mut this.0),
                        )
                    }
                    Err(reason) => (None, Value::String(lua.create_string(reason.code())?), (None, None, None, None)),
                })
            },
        );
        // The verdicts in so far, without waiting: { [ticket] = true or
        // reason code }, or `[resume]` for a claim begun with one (which
        // then no longer waits), empty when none; then what
        // `store_socket()` says once they are taken. The caller calls each
        // resume: none is called from here, so a login it resumes may
        // begin another claim.
        methods.add_method_mut("collect", |lua, this, ()| {
            let results = lua.create_table()?;
            if let Some(store) = this.0.replay_store_mut() {
                let id = store.id();
                for (ticket, result) in store.collect() {
                    let verdict = match result {
                        Ok(()) => Value::Boolean(true),
                        Err(reason) => Value::String(lua.create_string(reason.code())?),
                    };
                    match WaitingLogins::take(lua, id, ticket) {
                        Some(resume) => results.raw_set(resume, verdict)?,
                        None => results.raw_set(ticket, verdict)?,
                    }
                }
            }
            let (fd, due, serial, writable) = store_socket(&mut this.0);
            Ok((results, fd, due, serial, writable))
        });
        // The logins of `host` that wait on this verifier's store, taken
        // from the waiting (a host that unloads, whose verifier goes):
        // { [resume] = "replay_store_unavailable" }, for the caller to call.
        methods.add_method_mut("abandon", |lua, this, host: Bytes| {
            let refused = lua.create_table()?;
            if let Some(store) = this.0.replay_store_mut() {
                for resume in WaitingLogins::take_host(lua, store.id(), &host) {
                    refused.raw_set(resume, Reason::ReplayStoreUnavailable.code())?;
                }
            }
            Ok(refused)
        });
        methods.add_method_mut("store_socket", |_, this, ()| Ok(store_socket(&mut this.0)));
        // The shared store's outages begun and ended since this verifier
        // last asked, as log lines for `host`: { { event = "began" or
        // "ended", level = "error" or "info", text = ... }, ... }; empty
        // without a store.
        methods.add_method_mut("store_events", |lua, this, host: Bytes| {
            let events = lua.create_table()?;
            if let Some(store) = this.0.replay_store_mut() {
                let host = String::from_utf8_lossy(&host);
                for event in store.outage_events() {
                    let line = lua.create_table()?;
                    line.set("event", event.name())?;
                    line.set("level", event.level())?;
                    line.set("text", event.sentence(&host))?;
                    events.push(line)?;
                }
            }
            Ok(events)
        });
        methods.add_method("stats", |lua, this, ()| {
            let stats = lua.create_table()?;
            match this.0.replay() {
                Replay::Local(cache) => {
                    stats.set("replay_store", "memory")?;
                    stats.set("replay_entries", cache.len())?;
                    stats.set("replay_capacity", cache.capacity())?;
                    stats.set("replay_per_user", cache.per_user())?;
                }
                Replay::Shared(store) => {
                    let health = store.health();
                    stats.set("replay_store", "redis")?;
                    // Verifiers with the same store settings share one store.
                    stats.set("replay_store_id", store.id())?;
                    stats.set("replay_store_available", health.available)?;
                    stats.set("replay_store_outages", health.outages)?;
                    stats.set("replay_store_refusals", health.refusals)?;
                    stats.set("replay_store_error", health.last_error.as_deref())?;
                }
            }
            Ok(stats)
        });
        // A bare round trip to the shared store: `true`, or `nil, reason`.
        // Asking a verifier without one is misuse.
        methods.add_method_mut("ping_store", |_, this, ()| match this.0.replay_store_mut() {
            Some(store) => Ok(verdict(store.ping())),
            None => Err(misuse("ping_store", "this verifier has no replay_store")),
        });
        // A JWT that names its own user (OAUTHBEARER): the username, or
        // `nil, reason`.
        methods.add_method_mut("verify_bearer", |_, this, (host, token, time): (Bytes, Bytes, Value)| {
            let time = time_value(&time).map_err(|problem| misuse("verify_bearer", format!("time {problem}")))?;
            Ok(match this.0.verify_bearer(&host, &token, time.unwrap_or_else(now)) {
                Ok((username, _)) => (Some(username), None),
                Err(reason) => (None, Some(reason.code())),
            })
        });
        // The same checks without recording anything: whom the token is for.
        methods.add_method("bearer_username", |_, this, (host, token, time): (Bytes, Bytes, Value)| {
            let time = time_value(&time).map_err(|problem| misuse("bearer_username", format!("time {problem}")))?;
            Ok(match this.0.bearer_username(&host, &token, time.unwrap_or_else(now)) {
                Ok(username) => (Some(username), None),
                Err(reason) => (None, Some(reason.code())),
            })
        });
        methods.add_method_mut("set_jwt_keys", |_, this, (keys, is_text): (Bytes, Option<bool>)| {
            set_jwt_keys(&mut this.0, "set_jwt_keys", &keys, is_text.unwrap_or(false))
        });
        methods.add_method("jwt_keys", |lua, this, ()| jwt_keys(lua, &this.0));
        methods.add_meta_method("__tostring", |_, this, ()| {
            Ok(match this.0.replay() {
                Replay::Local(cache) => format!("token_auth verifier ({} live replay entries)", cache.len()),
                Replay::Shared(_) => "token_auth verifier (replay store: redis)".to_owned(),
            })
        });
    }
}

fn totp(_: &Lua, (seed, opts): (Bytes, Value)) -> LuaResult<String> {
    let (mut options, extras) = match opts {
        Value::Nil => (Options::default(), Extras::default()),
        opts => read_config(&opts).map_err(|err| misuse("totp", err))?,
    };
    options.otp_seed = Some(seed.into());
    let generator = scheme::totp_from(&options).map_err(|err| misuse("totp", err))?;
    Ok(generator.code_at(extras.time.unwrap_or_else(now)))
}

fn verify_token(
    _: &Lua,
    (username, host, token, config): (Bytes, Bytes, Bytes, Value),
) -> LuaResult<(Option<bool>, Option<&'static str>)> {
    let (options, extras) = read_config(&config).map_err(|err| misuse("verify_token", err))?;
    let scheme = Scheme::new(&options).map_err(|err| misuse("verify_token", err))?;
    Ok(verdict(scheme.verify(&username, &host, &token, extras.time.unwrap_or_else(now))))
}

fn generate_token(_: &Lua, (username, host, config): (Bytes, Bytes, Value)) -> LuaResult<String> {
    let (options, extras) = read_config(&config).map_err(|err| misuse("generate_token", err))?;
    let scheme = Scheme::new(&options).map_err(|err| misuse("generate_token", err))?;
    let nonce = match extras.nonce {
        Some(nonce) => nonce,
        None => random::digits(scheme.nonce_length()).map_err(|err| misuse("generate_token", err))?,
    };
    scheme
        .generate(&username, &host, &nonce, extras.time.unwrap_or_else(now))
        .map_err(|reason| misuse("generate_token", reason))
}

fn verifier_from(config: &Value, jwt_only: bool) -> Result<Verifier, ConfigError> {
    let (options, extras) = read_config(config)?;
    if extras.time.is_some() || extras.nonce.is_some() {
        return Err(table_error(ConfigProblem::UnknownOption, "time and nonce are not verifier options"));
    }
    if jwt_only {
        if options.otp_seed.is_some() || !options.token_secrets.is_empty() {
            return Err(table_error(
                ConfigProblem::UnknownOption,
                "otp_seed and token_secret are not JWT verifier options",
            ));
        }
        if !options.jwt.has_keys() {
            return Err(ConfigError::new("jwt_keys", ConfigProblem::Missing, "is not set (nor jwt_secret)"));
        }
    }
    Verifier::new(&options)
}

fn new_verifier(lua: &Lua, config: Value) -> LuaResult<MultiValue> {
    made_verifier(lua, verifier_from(&config, false).map(LuaVerifier))
}

/// Takes the `jwt_*` and `replay_*` options; `jwt_keys` or `jwt_secret`
/// is required, the mod_auth_token options are refused.
fn new_jwt_verifier(lua: &Lua, config: Value) -> LuaResult<MultiValue> {
    made_verifier(lua, verifier_from(&config, true).map(LuaJwtVerifier))
}

fn made_verifier<T: UserData + mlua::MaybeSend + 'static>(
    lua: &Lua,
    made: Result<T, ConfigError>,
) -> LuaResult<MultiValue> {
    match made {
        Ok(verifier) => Ok(MultiValue::from_iter([Value::UserData(lua.create_userdata(verifier)?)])),
        // `nil, code, option, text`: callers branch on the code and name
        // the option in their own vocabulary, without parsing prose.
        Err(err) => Ok(MultiValue::from_iter([
            Value::Nil,
            Value::String(lua.create_string(err.code())?),
            Value::String(lua.create_string(err.option())?),
            Value::String(lua.create_string(err.text())?),
        ])),
    }
}

/// `explain` for a JWT: `{ format = "jwt", ok, reason, alg, kid, claims,
/// keys, secrets, leeway }`; `alg` and `kid` are the header's (untrusted
/// unless `ok`), `claims` only once the signature verified.
fn explain_jwt(
    lua: &Lua,
    jwt: &crate::jwt::Jwt,
    (username, host, token): (&[u8], &[u8], &[u8]),
    time: u64,
) -> LuaResult<Table> {
    let report = lua.create_table()?;
    report.set("format", "jwt")?;
    if let Ok(parsed) = crate::jwt::compact::parse(token) {
        report.set("alg", lua.create_string(&parsed.alg)?)?;
        if let Some(kid) = &parsed.kid {
            report.set("kid", lua.create_string(kid)?)?;
        }
    }
    let result = match jwt.signed_claims(token) {
        Ok(signed) => {
            report.set("claims", json_to_lua(lua, &serde_json::Value::Object(signed.claims))?)?;
            jwt.verify(username, host, token, time).map(|_| ())
        }
        Err(reason) => Err(reason),
    };
    report.set("ok", result.is_ok())?;
    if let Err(reason) = result {
        report.set("reason", reason.code())?;
    }
    report.set("keys", jwt.keys().len())?;
    report.set("secrets", jwt.secret_count())?;
    report.set("leeway", jwt.policy().leeway)?;
    report.set("time", time)?;
    Ok(report)
}

fn explain(lua: &Lua, (username, host, token, config): (Bytes, Bytes, Bytes, Value)) -> LuaResult<Table> {
    let (options, extras) = read_config(&config).map_err(|err| misuse("explain", err))?;
    if crate::jwt::compact::looks_like_jwt(&token) || (options.otp_seed.is_none() && options.token_secrets.is_empty()) {
        if let Some(jwt) = crate::jwt::Jwt::new(&options.jwt).map_err(|err| misuse("explain", err))? {
            return explain_jwt(lua, &jwt, (&username, &host, &token), extras.time.unwrap_or_else(now));
        }
    }
    let scheme = Scheme::new(&options).map_err(|err| misuse("explain", err))?;
    let diagnosis = scheme.explain(&username, &host, &token, extras.time.unwrap_or_else(now));
    let report = lua.create_table()?;
    report.set("ok", diagnosis.result.is_ok())?;
    if let Err(reason) = diagnosis.result {
        report.set("reason", reason.code())?;
    }
    if let Some(index) = diagnosis.key_index {
        report.set("key_index", index + 1)?;
    }
    if let Some(offset) = diagnosis.step_offset {
        report.set("step_offset", offset)?;
        let period = i64::try_from(diagnosis.period).unwrap_or(i64::MAX);
        report.set("clock_offset", offset.saturating_mul(period))?;
    }
    if let Some(detail) = diagnosis.detail {
        report.set("detail", detail.code())?;
        report.set("detail_position", detail.position())?;
        report.set("detail_count", detail.count())?;
        let otp_digits = usize::try_from(scheme.totp().digits()).unwrap_or(usize::MAX);
        report.set("detail_text", detail.sentence(otp_digits, scheme.nonce_length()))?;
    }
    report.set("searched_steps", diagnosis.searched_steps)?;
    report.set("digits", scheme.totp().digits())?;
    report.set("nonce_length", scheme.nonce_length())?;
    report.set("period", diagnosis.period)?;
    report.set("window", scheme.window())?;
    report.set("secrets", scheme.secret_count())?;
    Ok(report)
}

/// `token_auth.options`: the list of [`crate::options::OPTIONS`], each a
/// table `{ name, prosody, type, default, min, max, unit, most_values,
/// choices, required, required_unless, verifier_only, description }`.
fn options_table(lua: &Lua) -> LuaResult<Table> {
    let list = lua.create_table()?;
    for (index, spec) in options::OPTIONS.iter().enumerate() {
        let entry = lua.create_table()?;
        entry.set("name", spec.name)?;
        entry.set("prosody", spec.prosody)?;
        entry.set("type", spec.kind().name())?;
        match spec.default {
            options::Default::Integer(value) => entry.set("default", value)?,
            options::Default::Text(text) => entry.set("default", text)?,
            options::Default::Boolean(flag) => entry.set("default", flag)?,
            options::Default::Required => {
                entry.set("required", true)?;
                entry.set("required_unless", options::JWT_KEY_OPTIONS)?;
            }
            options::Default::None => {}
        }
        entry.set("min", spec.min)?;
        entry.set("max", spec.max)?;
        if !spec.unit.is_empty() {
            entry.set("unit", spec.unit)?;
        }
        if spec.kind() == Kind::Strings {
            entry.set("most_values", spec.most_values())?;
        }
        if !spec.choices.is_empty() {
            entry.set("choices", spec.choices)?;
        }
        entry.set("verifier_only", spec.verifier_only)?;
        entry.set("description", spec.description)?;
        list.raw_set(index + 1, entry)?;
    }
    Ok(list)
}

/// `nameprep(s)` / `nodeprep(s)`: the prepared name, or `nil, problem`.
fn prepared(result: Result<String, names::NameError>) -> (Option<String>, Option<String>) {
    match result {
        Ok(name) => (Some(name), None),
        Err(err) => (None, Some(err.to_string())),
    }
}

/// `read_input(max_bytes, timeout_seconds | nil)`: what standard input
/// has, up to `max_bytes`, or `nil, "timeout"`, `nil, "eof"`, `nil,
/// "read_error", message`; after `watch()` also `nil, "terminated"` (a
/// stop signal) and `nil, "parent_gone"`.
fn read_input(
    lua: &Lua,
    (max, timeout): (usize, Option<f64>),
) -> LuaResult<(Option<mlua::LuaString>, Option<&'static str>, Option<String>)> {
    let timeout = match timeout {
        None => None,
        Some(seconds) if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) => {
            Some(std::time::Duration::from_secs_f64(seconds))
        }
        Some(_) => return Err(misuse("read_input", "timeout must be a number of seconds from 0 to 86400")),
    };
    if !(1..=1 << 24).contains(&max) {
        return Err(misuse("read_input", "max_bytes must be from 1 to 2^24"));
    }
    match input::read(max, timeout) {
        Ok(input::Chunk::Data(bytes)) => Ok((Some(lua.create_string(&bytes)?), None, None)),
        Ok(input::Chunk::Timeout) => Ok((None, Some("timeout"), None)),
        Ok(input::Chunk::Eof) => Ok((None, Some("eof"), None)),
        Ok(input::Chunk::Stopped(os::Stop::Signal)) => Ok((None, Some("terminated"), None)),
        Ok(input::Chunk::Stopped(os::Stop::ParentGone)) => Ok((None, Some("parent_gone"), None)),
        Err(err) => Ok((None, Some("read_error"), Some(err.to_string()))),
    }
}

/// A value, or `nil, message`: an `io::Result` as Lua sees it.
fn checked<T>(result: std::io::Result<T>) -> (Option<T>, Option<String>) {
    match result {
        Ok(value) => (Some(value), None),
        Err(err) => (None, Some(err.to_string())),
    }
}

/// A terminal made raw by `make_stdin_raw()`: `terminal:restore()`.
struct LuaTerminal(os::RawTerminal);

impl UserData for LuaTerminal {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("restore", |_, this, ()| Ok(checked(this.0.restore().map(|()| true))));
    }
}

/// `make_stdin_raw()`: a terminal object (see [`LuaTerminal`]), `false`
/// when standard input is not a terminal, or `nil, message`.
fn make_stdin_raw(lua: &Lua, (): ()) -> LuaResult<(Value, Option<String>)> {
    match os::make_stdin_raw() {
        Ok(Some(terminal)) => Ok((Value::UserData(lua.create_userdata(LuaTerminal(terminal))?), None)),
        Ok(None) => Ok((Value::Boolean(false), None)),
        Err(err) => Ok((Value::Nil, Some(err.to_string()))),
    }
}

/// `syslog(severity, line)` with severity "info", "warning" or "error":
/// `true`, or `nil, message`.
fn syslog(_: &Lua, (severity, line): (Bytes, Bytes)) -> LuaResult<(Option<bool>, Option<String>)> {
    let severity = match &severity[..] {
        b"info" => os::Severity::Info,
        b"warning" => os::Severity::Warning,
        b"error" => os::Severity::Error,
        _ => return Err(misuse("syslog", "severity must be \"info\", \"warning\" or \"error\"")),
    };
    Ok(checked(os::syslog(severity, &line).map(|()| true)))
}

#[mlua::lua_module]
fn token_auth(lua: &Lua) -> LuaResult<Table> {
    let exports = lua.create_table()?;
    exports.set("version", env!("CARGO_PKG_VERSION"))?;
    let reasons = lua.create_table()?;
    for reason in Reason::ALL {
        reasons.set(reason.code(), reason.text())?;
    }
    exports.set("reasons", reasons)?;
    let details = lua.create_table()?;
    for (code, text) in crate::detail::Detail::CODES {
        details.set(code, text)?;
    }
    exports.set("details", details)?;
    let config_problems = lua.create_table()?;
    for problem in crate::error::ConfigProblem::ALL {
        config_problems.set(problem.code(), problem.text())?;
    }
    exports.set("config_problems", config_problems)?;
    exports.set("options", options_table(lua)?)?;
    exports.set("jwt_key_options", options::JWT_KEY_OPTIONS)?;
    exports.set("nameprep", lua.create_function(|_, name: Bytes| Ok(prepared(names::nameprep(&name))))?)?;
    exports.set("nodeprep", lua.create_function(|_, name: Bytes| Ok(prepared(names::nodeprep(&name))))?)?;
    exports.set("read_input", lua.create_function(read_input)?)?;
    exports.set("stderr_is_stdout", lua.create_function(|_, ()| Ok(checked(os::stderr_is_stdout())))?)?;
    exports.set("make_stdin_raw", lua.create_function(make_stdin_raw)?)?;
    exports.set(
        "close_inherited",
        lua.create_function(|_, ()| Ok(checked(os::close_inherited().map(|n| i64::try_from(n).unwrap_or(i64::MAX)))))?,
    )?;
    exports.set("watch", lua.create_function(|_, ()| Ok(checked(os::watch().map(|()| true))))?)?;
    exports
        .set("syslog_open", lua.create_function(|_, ()| Ok(checked(os::syslog_open(c"token-auth").map(|()| true))))?)?;
    exports.set("syslog", lua.create_function(syslog)?)?;
    exports.set("totp", lua.create_function(totp)?)?;
    exports.set("verify_token", lua.create_function(verify_token)?)?;
    exports.set("generate_token", lua.create_function(generate_token)?)?;
    exports.set("new_verifier", lua.create_function(new_verifier)?)?;
    exports.set("new_jwt_verifier", lua.create_function(new_jwt_verifier)?)?;
    exports.set("explain", lua.create_function(explain)?)?;
    exports.set(
        "new_seed",
        lua.create_function(|_, ()| random::base32(random::SEED_BYTES).map_err(|err| misuse("new_seed", err)))?,
    )?;
    exports.set(
        "new_secret",
        lua.create_function(|_, ()| random::base32(random::SECRET_BYTES).map_err(|err| misuse("new_secret", err)))?,
    )?;
    Ok(exports)
}
