//! The header lines of a received HTTP head.

use super::HeadError;

/// Header lines as received, in order, names as sent and values as (lossy) UTF-8 with surrounding
/// spaces and tabs removed. Lookups by name are case-insensitive.
///
/// ```
/// use ws_proto::handshake::Headers;
/// let mut headers = Headers::new();
/// headers.push("Connection", "keep-alive, Upgrade");
/// headers.push("X-Tag", "a");
/// headers.push("x-tag", "b");
/// assert_eq!(headers.get("connection"), Some("keep-alive, Upgrade"));
/// assert!(headers.contains_token("Connection", "upgrade"));
/// assert_eq!(headers.get_all("X-TAG").collect::<Vec<_>>(), ["a", "b"]);
/// assert_eq!(headers.len(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header line (the value is trimmed of spaces and tabs).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let value: String = value.into();
        let trimmed = value.trim_matches([' ', '\t']);
        let value = if trimmed.len() == value.len() {
            value
        } else {
            trimmed.to_owned()
        };
        self.entries.push((name.into(), value));
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of all headers called `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The comma-separated elements of all headers called `name`, trimmed, empty ones skipped.
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Whether any header called `name` lists `token` among its comma-separated elements, both
    /// compared case-insensitively (as for `Connection: keep-alive, Upgrade`).
    pub fn contains_token(&self, name: &str, token: &str) -> bool {
        self.list(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// All header lines as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of header lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no header lines.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Requires that header `name` is present and lists `token` (both case-insensitive).
    pub(crate) fn require_token(&self, name: &'static str, token: &str) -> Result<(), HeadError> {
        if self.contains_token(name, token) {
            return Ok(());
        }
        let values: Vec<&str> = self.get_all(name).collect();
        if values.is_empty() {
            return Err(HeadError::MissingHeader(name));
        }
        Err(HeadError::InvalidHeader {
            name,
            reason: format!("expected {token:?}, got {:?}", values.join(", ")),
        })
    }

    /// The value of header `name` if it appears at most once.
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&str>, HeadError> {
        let mut values = self.get_all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(HeadError::InvalidHeader {
                name,
                reason: "sent more than once".into(),
            });
        }
        Ok(first)
    }

    pub(crate) fn from_httparse(headers: &[httparse::Header<'_>]) -> Self {
        let mut out = Headers {
            entries: Vec::with_capacity(headers.len()),
        };
        for h in headers {
            out.push(h.name, String::from_utf8_lossy(h.value));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let mut h = Headers::new();
        assert!(h.is_empty());
        h.push("Upgrade", " WebSocket\t");
        h.push("Connection", "keep-alive");
        h.push("connection", "  , Upgrade,");
        assert_eq!(h.get("UPGRADE"), Some("WebSocket"));
        assert!(h.contains_token("upgrade", "websocket"));
        assert!(h.contains_token("Connection", "UPGRADE"));
        assert!(!h.contains_token("Connection", "close"));
        assert!(!h.contains_token("Missing", "x"));
        assert_eq!(
            h.list("Connection").collect::<Vec<_>>(),
            ["keep-alive", "Upgrade"]
        );
        assert_eq!(h.iter().nth(2), Some(("connection", ", Upgrade,")));
        assert_eq!(h.get("nope"), None);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn tokens_are_whole_elements() {
        let mut h = Headers::new();
        h.push("Connection", "upgraded, notupgrade");
        assert!(!h.contains_token("Connection", "upgrade"));
    }

    #[test]
    fn from_httparse_is_lossy() {
        let raw = [httparse::Header {
            name: "X",
            value: b"a\xffb ",
        }];
        let h = Headers::from_httparse(&raw);
        assert_eq!(h.get("x"), Some("a\u{fffd}b"));
    }
}
