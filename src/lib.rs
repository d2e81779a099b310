//! Token authentication for Prosody, compatible with the community module
//! `mod_auth_token`: a pure Rust core, and (with one of the `lua*`
//! features) the Lua module `token_auth`.
//!
//! The core: [`totp`] (RFC 4226/6238), [`token`] (parse, sign, check a
//! token), [`replay`] (the bounded replay cache), [`store`] (the replay
//! store shared through Redis), [`scheme`] (options, the keyed scheme and
//! the verifier), [`jwt`] (JSON Web Tokens beside the classic format),
//! [`options`] (every option once), [`names`] (nameprep,
//! nodeprep), [`detail`] (why a token is malformed) and [`error`] (the
//! reason codes); [`input`] is the extauth loop's reader of standard input
//! and [`os`] the extauth helper's terminal, descriptors, signals and syslog.
//! Redis and standard input are the only I/O. The
//! Lua binding, in `src/lua.rs`, only converts values and
//! maps results: expected failures become `nil, reason`, API misuse raises.
#![forbid(unsafe_code)]

pub mod detail;
pub mod error;
pub mod input;
pub mod jwt;
pub mod names;
pub mod options;
pub mod os;
mod poll;
pub mod random;
pub mod replay;
pub mod scheme;
pub mod store;
pub mod token;
pub mod totp;

#[cfg(any(
    feature = "lua51",
    feature = "lua52",
    feature = "lua53",
    feature = "lua54",
    feature = "lua55",
    feature = "luajit"
))]
mod lua;
