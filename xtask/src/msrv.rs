//! `cargo xtask msrv`: checks the workspace's `rust-version` against the locked dependencies.
//!
//! Only one toolchain may be at hand, so the minimum supported Rust version is not found by
//! building with older compilers: it is at least the highest `rust-version` any locked
//! dependency of the published crates declares, and that is what this checks, from
//! `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::{self, bail, Result};

pub const HELP: &str = "\
Check that the workspace's `rust-version` is at least every locked dependency's.

USAGE:
    cargo xtask msrv

Reads `cargo metadata --format-version 1 --all-features --locked` and follows the normal and
build dependencies of every published workspace crate (those without `publish = false`), on
every platform. Fails, naming them, when a dependency declares a higher `rust-version` than
the workspace, or a published crate declares none; prints the highest found, and a note when
the workspace asks for more than its dependencies do. Dev-dependencies are not counted: they
are not built for users.
";

pub fn main(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        if arg == "-h" || arg == "--help" {
            print!("{HELP}");
            return Ok(());
        }
        bail!("unexpected argument `{arg}`\n\n{HELP}");
    }
    check(&util::workspace_root())
}

/// The check, for CI and for `cargo xtask msrv`.
pub fn check(root: &Path) -> Result {
    let out = util::cmd("cargo", root)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8(out.stdout).map_err(|_| "cargo metadata printed non-UTF-8")?;
    let report = analyse(&json::parse(&text)?)?;
    println!(
        "workspace rust-version {}; highest of the {} dependencies of {}: {} ({})",
        report.workspace,
        report.dependencies,
        report.published.join(", "),
        report.highest,
        report.highest_by.join(", ")
    );
    if !report.too_new.is_empty() {
        bail!(
            "these locked dependencies need a newer Rust than the workspace's rust-version {}: \
             {}; raise `rust-version` in the root Cargo.toml (and the README's requirements) \
             or lock older versions (`cargo update -p NAME --precise VERSION`)",
            report.workspace,
            report.too_new.join(", ")
        );
    }
    if report.workspace > report.highest {
        println!(
            "note: the workspace asks for Rust {} while its dependencies need only {}",
            report.workspace, report.highest
        );
    }
    Ok(())
}

/// A `rust-version`: major, minor, patch (missing parts are 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Version(u64, u64, u64);

impl Version {
    fn parse(text: &str) -> Option<Version> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let patch = parts.next().unwrap_or(Some(0))?;
        if parts.next().is_some() {
            return None;
        }
        Some(Version(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.2 {
            0 => write!(f, "{}.{}", self.0, self.1),
            patch => write!(f, "{}.{}.{patch}", self.0, self.1),
        }
    }
}

#[derive(Debug)]
struct Report {
    workspace: Version,
    published: Vec<String>,
    dependencies: usize,
    highest: Version,
    highest_by: Vec<String>,
    /// `name version (rust-version X)` of each dependency above the workspace's.
    too_new: Vec<String>,
}

struct Package<'a> {
    name: &'a str,
    version: &'a str,
    rust_version: Option<Version>,
}

fn analyse(metadata: &json::Value) -> Result<Report> {
    let mut packages: BTreeMap<&str, Package<'_>> = BTreeMap::new();
    let mut publishable: BTreeSet<&str> = BTreeSet::new();
    for package in metadata.get("packages").array() {
        let id = package.get("id").str().ok_or("a package without an id")?;
        let rust_version = match package.get("rust_version").str() {
            Some(text) => Some(
                Version::parse(text)
                    .ok_or_else(|| format!("{id}: unreadable rust-version {text:?}"))?,
            ),
            None => None,
        };
        packages.insert(
            id,
            Package {
                name: package.get("name").str().unwrap_or(id),
                version: package.get("version").str().unwrap_or("?"),
                rust_version,
            },
        );
        // `publish`: null when publishable anywhere, `[]` for `publish = false`.
        if matches!(package.get("publish"), json::Value::Null) {
            publishable.insert(id);
        }
    }
    let members: Vec<&str> = metadata
        .get("workspace_members")
        .array()
        .iter()
        .filter_map(json::Value::str)
        .filter(|id| publishable.contains(id))
        .collect();
    if members.is_empty() {
        bail!("cargo metadata lists no published workspace crate");
    }

    let mut workspace = None;
    for id in &members {
        let package = &packages[id];
        let Some(version) = package.rust_version else {
            bail!(
                "{} declares no rust-version: add `rust-version.workspace = true`",
                package.name
            );
        };
        workspace = workspace.max(Some(version));
    }
    let workspace = workspace.ok_or("no published crate")?;

    // Normal and build dependencies, from the published crates down.
    let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in metadata.get("resolve").get("nodes").array() {
        let Some(id) = node.get("id").str() else {
            continue;
        };
        let built_for_users = node.get("deps").array().iter().filter(|dep| {
            dep.get("dep_kinds").array().iter().any(|kind| {
                matches!(kind.get("kind"), json::Value::Null)
                    || kind.get("kind").str() == Some("build")
            })
        });
        deps.insert(
            id,
            built_for_users
                .filter_map(|dep| dep.get("pkg").str())
                .collect(),
        );
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<&str> = members.clone();
    while let Some(id) = stack.pop() {
        if seen.insert(id) {
            stack.extend(deps.get(id).into_iter().flatten());
        }
    }

    let mut highest = Version(1, 0, 0);
    let mut highest_by = Vec::new();
    let mut too_new = Vec::new();
    let mut dependencies = 0;
    for id in seen.iter().filter(|id| !members.contains(id)) {
        dependencies += 1;
        let Some(package) = packages.get(id) else {
            bail!("cargo metadata resolves {id} but does not describe it");
        };
        let Some(version) = package.rust_version else {
            continue;
        };
        let label = format!("{} {}", package.name, package.version);
        if version > highest {
            highest = version;
            highest_by.clear();
        }
        if version == highest {
            highest_by.push(label.clone());
        }
        if version > workspace {
            too_new.push(format!("{label} (rust-version {version})"));
        }
    }
    Ok(Report {
        workspace,
        published: members
            .iter()
            .map(|id| packages[id].name.to_owned())
            .collect(),
        dependencies,
        highest,
        highest_by,
        too_new,
    })
}

/// Just enough JSON for `cargo metadata`: every value kept, numbers as their text.
mod json {
    use crate::util::Result;

    #[derive(Debug, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        Number(String),
        String(String),
        Array(Vec<Value>),
        Object(Vec<(String, Value)>),
    }

    static NULL: Value = Value::Null;

    impl Value {
        /// The member `key` of an object; `Null` when absent or not an object.
        pub fn get(&self, key: &str) -> &Value {
            match self {
                Value::Object(members) => members
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or(&NULL, |(_, v)| v),
                _ => &NULL,
            }
        }

        /// The elements of an array; none for anything else.
        pub fn array(&self) -> &[Value] {
            match self {
                Value::Array(items) => items,
                _ => &[],
            }
        }

        pub fn str(&self) -> Option<&str> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            pos: 0,
        };
        let value = parser.value(0)?;
        parser.skip_ws();
        if parser.pos != parser.bytes.len() {
            return Err(parser.error("trailing characters"));
        }
        Ok(value)
    }

    struct Parser<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl Parser<'_> {
        fn error(&self, what: &str) -> crate::util::Error {
            format!(
                "invalid JSON from cargo metadata at byte {}: {what}",
                self.pos
            )
            .into()
        }

        fn skip_ws(&mut self) {
            while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.pos += 1;
            }
        }

        fn eat(&mut self, byte: u8) -> bool {
            self.skip_ws();
            if self.bytes.get(self.pos) == Some(&byte) {
                self.pos += 1;
                true
            } else {
                false
            }
        }

        fn literal(&mut self, word: &str, value: Value) -> Result<Value> {
            if self.bytes[self.pos..].starts_with(word.as_bytes()) {
                self.pos += word.len();
                Ok(value)
            } else {
                Err(self.error("unknown literal"))
            }
        }

        fn value(&mut self, depth: usize) -> Result<Value> {
            if depth > 128 {
                return Err(self.error("nested too deeply"));
            }
            self.skip_ws();
            match self.bytes.get(self.pos) {
                None => Err(self.error("unexpected end")),
                Some(b'n') => self.literal("null", Value::Null),
                Some(b't') => self.literal("true", Value::Bool(true)),
                Some(b'f') => self.literal("false", Value::Bool(false)),
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b'[') => {
                    self.pos += 1;
                    let mut items = Vec::new();
                    if !self.eat(b']') {
                        loop {
                            items.push(self.value(depth + 1)?);
                            if self.eat(b']') {
                                break;
                            }
                            if !self.eat(b',') {
                                return Err(self.error("expected `,` or `]`"));
                            }
                        }
                    }
                    Ok(Value::Array(items))
                }
                Some(b'{') => {
                    self.pos += 1;
                    let mut members = Vec::new();
                    if !self.eat(b'}') {
                        loop {
                            self.skip_ws();
                            let key = self.string()?;
                            if !self.eat(b':') {
                                return Err(self.error("expected `:`"));
                            }
                            members.push((key, self.value(depth + 1)?));
                            if self.eat(b'}') {
                                break;
                            }
                            if !self.eat(b',') {
                                return Err(self.error("expected `,` or `}`"));
                            }
                        }
                    }
                    Ok(Value::Object(members))
                }
                Some(b'-' | b'0'..=b'9') => {
                    let start = self.pos;
                    while matches!(
                        self.bytes.get(self.pos),
                        Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    ) {
                        self.pos += 1;
                    }
                    let text = std::str::from_utf8(&self.bytes[start..self.pos])
                        .map_err(|_| self.error("bad number"))?;
                    Ok(Value::Number(text.to_owned()))
                }
                Some(_) => Err(self.error("unexpected character")),
            }
        }

        fn string(&mut self) -> Result<String> {
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.error("expected a string"));
            }
            self.pos += 1;
            let mut out = String::new();
            loop {
                let start = self.pos;
                while !matches!(self.bytes.get(self.pos), None | Some(b'"' | b'\\')) {
                    self.pos += 1;
                }
                out.push_str(
                    std::str::from_utf8(&self.bytes[start..self.pos])
                        .map_err(|_| self.error("invalid UTF-8"))?,
                );
                match self.bytes.get(self.pos) {
                    None => return Err(self.error("unterminated string")),
                    Some(b'"') => {
                        self.pos += 1;
                        return Ok(out);
                    }
                    _ => {
                        let escape = *self
                            .bytes
                            .get(self.pos + 1)
                            .ok_or_else(|| self.error("unterminated escape"))?;
                        self.pos += 2;
                        match escape {
                            b'"' => out.push('"'),
                            b'\\' => out.push('\\'),
                            b'/' => out.push('/'),
                            b'b' => out.push('\u{8}'),
                            b'f' => out.push('\u{c}'),
                            b'n' => out.push('\n'),
                            b'r' => out.push('\r'),
                            b't' => out.push('\t'),
                            b'u' => {
                                let high = self.hex4()?;
                                let code = if (0xd800..0xdc00).contains(&high)
                                    && self.bytes[self.pos..].starts_with(b"\\u")
                                {
                                    self.pos += 2;
                                    let low = self.hex4()?;
                                    0x10000
                                        + ((high - 0xd800) << 10)
                                        + (low.wrapping_sub(0xdc00) & 0x3ff)
                                } else {
                                    high
                                };
                                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            }
                            _ => return Err(self.error("unknown escape")),
                        }
                    }
                }
            }
        }

        fn hex4(&mut self) -> Result<u32> {
            let digits = self
                .bytes
                .get(self.pos..self.pos + 4)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u32::from_str_radix(d, 16).ok())
                .ok_or_else(|| self.error("bad \\u escape"))?;
            self.pos += 4;
            Ok(digits)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn values_escapes_and_errors() {
            let v = parse(r#" {"a": [1, -2.5e3, true, false, null], "b": "x\"\\\/\n\u00e9\ud83d\ude00", "c": {}} "#)
                .unwrap();
            assert_eq!(
                v.get("a").array(),
                &[
                    Value::Number("1".into()),
                    Value::Number("-2.5e3".into()),
                    Value::Bool(true),
                    Value::Bool(false),
                    Value::Null
                ]
            );
            assert_eq!(v.get("b").str(), Some("x\"\\/\né😀"));
            assert_eq!(v.get("c"), &Value::Object(Vec::new()));
            assert_eq!(v.get("missing"), &Value::Null);
            for bad in ["", "[1,", "{\"a\" 1}", "\"open", "[1] 2", "nul", "{1: 2}"] {
                assert!(parse(bad).is_err(), "{bad:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(workspace_rv: &str, dep_rv: &str) -> json::Value {
        json::parse(&format!(
            r#"{{
  "packages": [
    {{"id": "lib", "name": "lib", "version": "0.1.0", "rust_version": "{workspace_rv}", "publish": null}},
    {{"id": "tool", "name": "tool", "version": "0.0.0", "rust_version": "{workspace_rv}", "publish": []}},
    {{"id": "dep", "name": "dep", "version": "1.2.3", "rust_version": "{dep_rv}", "publish": null}},
    {{"id": "build", "name": "build", "version": "2.0.0", "rust_version": "1.70", "publish": null}},
    {{"id": "devdep", "name": "devdep", "version": "9.0.0", "rust_version": "1.99", "publish": null}},
    {{"id": "toolonly", "name": "toolonly", "version": "1.0.0", "rust_version": "1.98", "publish": null}}
  ],
  "workspace_members": ["lib", "tool"],
  "resolve": {{"nodes": [
    {{"id": "lib", "deps": [
      {{"pkg": "dep", "dep_kinds": [{{"kind": null, "target": null}}]}},
      {{"pkg": "build", "dep_kinds": [{{"kind": "build", "target": null}}]}},
      {{"pkg": "devdep", "dep_kinds": [{{"kind": "dev", "target": null}}]}}
    ]}},
    {{"id": "tool", "deps": [{{"pkg": "toolonly", "dep_kinds": [{{"kind": null, "target": null}}]}}]}},
    {{"id": "dep", "deps": []}}, {{"id": "build", "deps": []}}, {{"id": "devdep", "deps": []}},
    {{"id": "toolonly", "deps": []}}
  ]}}
}}"#
        ))
        .unwrap()
    }

    #[test]
    fn follows_normal_and_build_dependencies_of_published_crates_only() {
        let report = analyse(&metadata("1.85", "1.80")).unwrap();
        assert_eq!(report.workspace, Version(1, 85, 0));
        assert_eq!(report.published, ["lib"]);
        assert_eq!(report.dependencies, 2);
        assert_eq!(report.highest, Version(1, 80, 0));
        assert_eq!(report.highest_by, ["dep 1.2.3"]);
        assert!(report.too_new.is_empty());
    }

    #[test]
    fn names_the_dependencies_that_need_more() {
        let report = analyse(&metadata("1.80", "1.85.1")).unwrap();
        assert_eq!(report.highest, Version(1, 85, 1));
        assert_eq!(report.too_new, ["dep 1.2.3 (rust-version 1.85.1)"]);
    }

    #[test]
    fn versions() {
        assert_eq!(Version::parse("1.85"), Some(Version(1, 85, 0)));
        assert_eq!(Version::parse("1.85.2"), Some(Version(1, 85, 2)));
        assert_eq!(Version::parse("1"), Some(Version(1, 0, 0)));
        assert_eq!(Version::parse("1.x"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert!(Version(1, 85, 0) > Version(1, 80, 9));
        assert_eq!(Version(1, 85, 0).to_string(), "1.85");
    }
}
