//! The claims (RFC 7519 section 4.1), checked once the signature has
//! verified: times as JSON integers, `exp` required, `nbf` and `iat`
//! honoured with a leeway, a maximum lifetime, issuer and audience
//! allowlists, and the username claim against the user logging in.

use serde_json::{Map, Value};

use crate::error::Reason;
use crate::names;

/// What the claims must satisfy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// The longest `exp - iat` accepted, in seconds.
    pub max_lifetime: u64,
    /// Accepted issuers; empty: any issuer, or none.
    pub issuers: Vec<String>,
    /// Accepted audiences; empty: any audience, or none.
    pub audiences: Vec<String>,
    /// The claim that names the user (`sub` by default).
    pub username_claim: String,
}

/// A time claim: absent, or a JSON integer from 0 to 2^53 (no fraction,
/// no exponent: one spelling per second).
fn time(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, Reason> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => {
            number.as_u64().filter(|&seconds| seconds <= 1 << 53).map(Some).ok_or(Reason::JwtBadClaims)
        }
        Some(_) => Err(Reason::JwtBadClaims),
    }
}

fn string<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Reason> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Reason::JwtBadClaims),
    }
}

/// What the time checks found: the second from which the token no
/// longer verifies (its replay entry's end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    /// `exp + leeway`: the first second the token is refused at.
    pub dead_at: u64,
}

impl Policy {
    /// The checks every token gets, whoever it is for: types, times,
    /// lifetime, issuer, audience.
    ///
    /// # Errors
    /// [`Reason::JwtBadClaims`], [`Reason::JwtMissingExp`],
    /// [`Reason::JwtExpired`], [`Reason::JwtNotYetValid`],
    /// [`Reason::JwtIssuedInFuture`], [`Reason::JwtLifetimeTooLong`],
    /// [`Reason::JwtIssuer`] or [`Reason::JwtAudience`].
    pub fn check(&self, claims: &Map<String, Value>, now: u64) -> Result<Times, Reason> {
        let exp = time(claims, "exp")?;
        let nbf = time(claims, "nbf")?;
        let iat = time(claims, "iat")?;
        let iss = string(claims, "iss")?;
        string(claims, "jti")?;
        let exp = exp.ok_or(Reason::JwtMissingExp)?;
        let dead_at = exp.saturating_add(self.leeway);
        if now >= dead_at {
            return Err(Reason::JwtExpired);
        }
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(self.leeway)) {
            return Err(Reason::JwtNotYetValid);
        }
        if iat.is_some_and(|iat| iat > now.saturating_add(self.leeway)) {
            return Err(Reason::JwtIssuedInFuture);
        }
        // Without iat, the lifetime left from now is what is bounded.
        let start = iat.unwrap_or(now);
        if exp.saturating_sub(start) > self.max_lifetime {
            return Err(Reason::JwtLifetimeTooLong);
        }
        if !self.issuers.is_empty() && !iss.is_some_and(|iss| self.issuers.iter().any(|accepted| accepted == iss)) {
            return Err(Reason::JwtIssuer);
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            None => Vec::new(),
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(list)) => {
                list.iter().map(|aud| aud.as_str().ok_or(Reason::JwtBadClaims)).collect::<Result<_, _>>()?
            }
            Some(_) => return Err(Reason::JwtBadClaims),
        };
        if !self.audiences.is_empty() && !audiences.iter().any(|aud| self.audiences.iter().any(|ok| ok == aud)) {
            return Err(Reason::JwtAudience);
        }
        Ok(Times { dead_at })
    }

    /// The user a token is for, on `host`: the username claim, a
    /// localpart or a bare JID whose host is `host`, nodeprepped (the host
    /// nameprepped before comparing), as Prosody prepares the name a
    /// client logs in with.
    ///
    /// # Errors
    /// [`Reason::JwtMissingUsername`], [`Reason::JwtWrongUser`] (not a
    /// valid username, or a full JID) or [`Reason::JwtWrongHost`].
    pub fn username_for(&self, claims: &Map<String, Value>, host: &[u8]) -> Result<String, Reason> {
        let Some(Value::String(claimed)) = claims.get(&self.username_claim) else {
            return Err(Reason::JwtMissingUsername);
        };
        let (local, domain) = match claimed.split_once('@') {
            Some((local, domain)) => (local, Some(domain)),
            None => (claimed.as_str(), None),
        };
        if let Some(domain) = domain {
            if domain.contains('/') {
                return Err(Reason::JwtWrongUser);
            }
            let ours = names::nameprep(host).map_err(|_| Reason::JwtWrongHost)?;
            if names::nameprep(domain.as_bytes()).map_err(|_| Reason::JwtWrongHost)? != ours {
                return Err(Reason::JwtWrongHost);
            }
        }
        names::nodeprep(local.as_bytes()).map_err(|_| Reason::JwtWrongUser)
    }

    /// Is the token for `username` (as Prosody passes it: nodeprepped) on
    /// `host`? See [`Self::username_for`].
    ///
    /// # Errors
    /// As [`Self::username_for`]; [`Reason::JwtWrongUser`] for another user.
    pub fn check_user(&self, claims: &Map<String, Value>, username: &[u8], host: &[u8]) -> Result<(), Reason> {
        if self.username_for(claims, host)?.as_bytes() != username {
            return Err(Reason::JwtWrongUser);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn policy() -> Policy {
        Policy { leeway: 60, max_lifetime: 3600, issuers: vec![], audiences: vec![], username_claim: "sub".into() }
    }

    fn claims(json: &str) -> Map<String, Value> {
        crate::jwt::compact::object(json.as_bytes()).expect("object")
    }

    #[test]
    fn times_are_checked_with_the_leeway() {
        let p = policy();
        let at = |json: &str, now| p.check(&claims(json), now).map(|t| t.dead_at);
        assert_eq!(at(r#"{"exp":1700000100}"#, NOW), Ok(1_700_000_160));
        assert_eq!(at(r#"{"exp":1700000000}"#, NOW + 59), Ok(1_700_000_060));
        assert_eq!(at(r#"{"exp":1700000000}"#, NOW + 60), Err(Reason::JwtExpired));
        assert_eq!(at(r#"{}"#, NOW), Err(Reason::JwtMissingExp));
        assert_eq!(at(r#"{"exp":1700000100,"nbf":1700000060}"#, NOW), Ok(1_700_000_160));
        assert_eq!(at(r#"{"exp":1700000100,"nbf":1700000061}"#, NOW), Err(Reason::JwtNotYetValid));
        assert_eq!(at(r#"{"exp":1700000100,"iat":1700000061}"#, NOW), Err(Reason::JwtIssuedInFuture));
        assert_eq!(at(r#"{"exp":1700003600,"iat":1700000000}"#, NOW), Ok(1_700_003_660));
        assert_eq!(at(r#"{"exp":1700003601,"iat":1700000000}"#, NOW), Err(Reason::JwtLifetimeTooLong));
        assert_eq!(at(r#"{"exp":1700003601}"#, NOW), Err(Reason::JwtLifetimeTooLong));
    }

    #[test]
    fn times_must_be_json_integers() {
        let p = policy();
        for json in [
            r#"{"exp":1700000100.0}"#,
            r#"{"exp":1.7000001e9}"#,
            r#"{"exp":"1700000100"}"#,
            r#"{"exp":-1}"#,
            r#"{"exp":1700000100,"nbf":null}"#,
            r#"{"exp":9007199254740993}"#,
            r#"{"exp":1700000100,"iss":7}"#,
            r#"{"exp":1700000100,"jti":[]}"#,
            r#"{"exp":1700000100,"aud":["a",1]}"#,
        ] {
            assert_eq!(p.check(&claims(json), NOW).map(|_| ()), Err(Reason::JwtBadClaims), "{json}");
        }
    }

    #[test]
    fn issuer_and_audience_allowlists() {
        let mut p = policy();
        p.issuers = vec!["https://idp.example/realms/xmpp".into()];
        p.audiences = vec!["xmpp".into(), "chat".into()];
        let ok = r#"{"exp":1700000100,"iss":"https://idp.example/realms/xmpp","aud":["account","chat"]}"#;
        assert!(p.check(&claims(ok), NOW).is_ok());
        let ok = r#"{"exp":1700000100,"iss":"https://idp.example/realms/xmpp","aud":"xmpp"}"#;
        assert!(p.check(&claims(ok), NOW).is_ok());
        for (json, want) in [
            (r#"{"exp":1700000100,"aud":"xmpp"}"#, Reason::JwtIssuer),
            (r#"{"exp":1700000100,"iss":"https://evil.example","aud":"xmpp"}"#, Reason::JwtIssuer),
            (r#"{"exp":1700000100,"iss":"https://idp.example/realms/xmpp"}"#, Reason::JwtAudience),
            (r#"{"exp":1700000100,"iss":"https://idp.example/realms/xmpp","aud":["account"]}"#, Reason::JwtAudience),
        ] {
            assert_eq!(p.check(&claims(json), NOW).map(|_| ()), Err(want), "{json}");
        }
    }

    #[test]
    fn the_username_is_a_localpart_or_a_bare_jid_on_this_host() {
        let p = policy();
        let user = |json: &str, username: &str| p.check_user(&claims(json), username.as_bytes(), b"Example.COM");
        assert_eq!(user(r#"{"sub":"alice"}"#, "alice"), Ok(()));
        assert_eq!(user(r#"{"sub":"Alice"}"#, "alice"), Ok(()));
        assert_eq!(user(r#"{"sub":"alice@example.com"}"#, "alice"), Ok(()));
        assert_eq!(user(r#"{"sub":"ALICE@EXAMPLE.com"}"#, "alice"), Ok(()));
        assert_eq!(user(r#"{"sub":"bob"}"#, "alice"), Err(Reason::JwtWrongUser));
        assert_eq!(user(r#"{"sub":"alice@example.org"}"#, "alice"), Err(Reason::JwtWrongHost));
        assert_eq!(user(r#"{"sub":"alice@example.com/phone"}"#, "alice"), Err(Reason::JwtWrongUser));
        assert_eq!(user(r#"{"sub":"a b"}"#, "a b"), Err(Reason::JwtWrongUser));
        assert_eq!(user(r#"{"sub":""}"#, ""), Err(Reason::JwtWrongUser));
        assert_eq!(user(r#"{"sub":7}"#, "7"), Err(Reason::JwtMissingUsername));
        assert_eq!(user(r#"{}"#, "alice"), Err(Reason::JwtMissingUsername));
        let mut other = policy();
        other.username_claim = "preferred_username".into();
        assert_eq!(
            other.check_user(&claims(r#"{"sub":"f:1","preferred_username":"alice"}"#), b"alice", b"example.com"),
            Ok(())
        );
    }
}
