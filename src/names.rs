//! Host names and usernames as XMPP servers compare them: nameprep
//! (RFC 3491) for hosts, nodeprep (RFC 3920 appendix A) for usernames.
//!
//! Prosody serves `VirtualHost "Mixed.Test"` as `mixed.test` and hands
//! the provider the nodeprepped username, so a token must be signed for
//! the prepared forms. The profiles come from the `stringprep` crate,
//! so every caller (the plugin, the command, the extauth helper, under
//! any Lua) prepares names the same way, with or without Prosody's own
//! libraries. Like libidn in strict mode, the crate refuses code points
//! unassigned in Unicode 3.2.

use core::fmt;

/// Why a name could not be prepared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    problem: String,
}

impl NameError {
    fn new(problem: impl Into<String>) -> Self {
        NameError { problem: problem.into() }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

impl std::error::Error for NameError {}

/// Names above this length are refused: a JID part is at most 1023 bytes
/// (RFC 6122), and preparing costs time in proportion to the length.
pub const MAX_NAME_BYTES: usize = 1023;

fn prepare(
    name: &[u8],
    profile: fn(&str) -> Result<std::borrow::Cow<'_, str>, stringprep::Error>,
) -> Result<String, NameError> {
    if name.is_empty() {
        return Err(NameError::new("is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::new(format!("is longer than {MAX_NAME_BYTES} bytes")));
    }
    let text = core::str::from_utf8(name).map_err(|_| NameError::new("is not valid UTF-8"))?;
    let prepared = profile(text).map_err(|err| NameError::new(describe(&err)))?;
    if prepared.is_empty() {
        return Err(NameError::new("is empty once prepared (it holds only characters that map to nothing)"));
    }
    if prepared.len() > MAX_NAME_BYTES {
        return Err(NameError::new(format!("is longer than {MAX_NAME_BYTES} bytes once prepared")));
    }
    Ok(prepared.into_owned())
}

/// The crate's message, with any control or invisible character it
/// quotes shown as its code point so that the message is safe in a log.
fn describe(err: &stringprep::Error) -> String {
    let text = err.to_string();
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || (c.is_whitespace() && c != ' ') || !c.is_ascii() {
            shown.push_str(&format!("U+{:04X}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    format!("contains a {shown}")
}

/// A host name as Prosody keys it: nameprepped (lower case, NFKC).
///
/// # Errors
/// [`NameError`] saying what nameprep refused.
pub fn nameprep(host: &[u8]) -> Result<String, NameError> {
    // Nameprep leaves ASCII controls to the application (IDNA's STD3
    // rules); no host name can hold one.
    if let Some(&byte) = host.iter().find(|b| b.is_ascii_control()) {
        return Err(NameError::new(format!("contains a prohibited character `U+{byte:04X}`")));
    }
    prepare(host, stringprep::nameprep)
}

/// A username as servers pass it to their auth providers: nodeprepped.
///
/// # Errors
/// [`NameError`] saying what nodeprep refused (`@`, `/`, `:`, spaces,
/// control characters, ...).
pub fn nodeprep(username: &[u8]) -> Result<String, NameError> {
    prepare(username, stringprep::nodeprep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_lower_cased_and_normalised() {
        assert_eq!(nameprep(b"Mixed.Test").as_deref(), Ok("mixed.test"));
        assert_eq!(nameprep(b"example.com").as_deref(), Ok("example.com"));
        // Fullwidth letters fold to ASCII under NFKC.
        assert_eq!(nameprep("ＥＸＡＭＰＬＥ.com".as_bytes()).as_deref(), Ok("example.com"));
        assert_eq!(nameprep("Bücher.Example".as_bytes()).as_deref(), Ok("bücher.example"));
    }

    #[test]
    fn usernames_are_nodeprepped() {
        assert_eq!(nodeprep(b"Alice").as_deref(), Ok("alice"));
        assert_eq!(nodeprep("JÜRGEN".as_bytes()).as_deref(), Ok("jürgen"));
        // The German sharp s case-folds to "ss".
        assert_eq!(nodeprep("Straße".as_bytes()).as_deref(), Ok("strasse"));
        // A soft hyphen maps to nothing.
        assert_eq!(nodeprep("al\u{00AD}ice".as_bytes()).as_deref(), Ok("alice"));
        assert_eq!(nodeprep(b"42").as_deref(), Ok("42"));
    }

    #[test]
    fn refused_names_say_why_without_raw_control_characters() {
        for (name, want) in [
            (&b"a@b"[..], "contains a prohibited character `@`"),
            (b"a b", "contains a prohibited character ` `"),
            (b"a:b", "contains a prohibited character `:`"),
            (b"a\x07b", "contains a prohibited character `U+0007`"),
        ] {
            assert_eq!(nodeprep(name).map_err(|e| e.to_string()), Err(want.to_string()), "{name:?}");
        }
        assert_eq!(nodeprep(b"").map_err(|e| e.to_string()), Err("is empty".into()));
        assert_eq!(nodeprep(b"\xff").map_err(|e| e.to_string()), Err("is not valid UTF-8".into()));
        assert!(nodeprep("\u{00AD}".as_bytes()).is_err());
        assert!(nodeprep(&[b'a'; 2000]).is_err());
        assert_eq!(
            nameprep(b"a\x07.test").map_err(|e| e.to_string()),
            Err("contains a prohibited character `U+0007`".into())
        );
    }
}
