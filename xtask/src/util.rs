//! Shared helpers: running commands, locating the workspace, detecting and
//! installing tools, small text utilities.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Error type of every task: a human-readable message is all we need.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T = ()> = std::result::Result<T, Error>;

/// `return Err(format!(...).into())`, without a dependency.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(format!($($arg)*).into())
    };
}
pub(crate) use bail;

/// The workspace root: the parent of xtask's manifest directory.
///
/// Uses `CARGO_MANIFEST_DIR` from the environment when run through
/// `cargo xtask`, falling back to the value baked in at compile time when
/// the binary is executed directly.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// The cargo target directory: `$CARGO_TARGET_DIR` (relative paths are
/// resolved against the workspace root, where every command here runs) or
/// `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// A `Command` that runs in `dir`.
pub fn cmd(program: impl AsRef<OsStr>, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir);
    c
}

/// Shell-like rendering of a command line, for echoing.
pub fn display_cmd(cmd: &Command) -> String {
    let mut out = quote(&cmd.get_program().to_string_lossy());
    for arg in cmd.get_args() {
        out.push(' ');
        out.push_str(&quote(&arg.to_string_lossy()));
    }
    out
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Echo `$ cmd` and run it with inherited stdio; a non-zero exit is an error.
pub fn run(cmd: &mut Command) -> Result {
    let line = display_cmd(cmd);
    eprintln!("$ {line}");
    let status = cmd
        .status()
        .map_err(|e| format!("failed to start `{line}`: {e}"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Run `program args...` silently; true when it starts and exits with 0.
/// Used for tool detection (`cargo fmt --version`, ...).
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// First line of `program args...` stdout, if it succeeds.
pub fn output_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// Look `bin` up in `PATH`.
pub fn which(bin: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(bin))
        .find(|candidate| candidate.is_file())
}

/// Is a nightly toolchain usable through rustup (`cargo +nightly`)?
pub fn has_nightly() -> bool {
    succeeds("cargo", &["+nightly", "--version"])
}

/// Is `cargo fuzz` (run on nightly) available?
pub fn has_cargo_fuzz() -> bool {
    succeeds("cargo", &["+nightly", "fuzz", "--version"])
}

/// Install cargo-fuzz with `cargo install cargo-fuzz --locked` unless
/// `cargo +nightly fuzz --version` already works.
pub fn ensure_cargo_fuzz(root: &Path) -> Result {
    if has_cargo_fuzz() {
        return Ok(());
    }
    eprintln!("cargo-fuzz not found; installing it");
    run(cmd("cargo", root).args(["install", "cargo-fuzz", "--locked"]))?;
    if !has_cargo_fuzz() {
        bail!("cargo-fuzz was installed but `cargo +nightly fuzz --version` still fails");
    }
    Ok(())
}

static APT_UPDATED: AtomicBool = AtomicBool::new(false);

/// Install Debian packages with apt-get (`apt-get update` runs once per
/// process, before the first install). Runs apt-get directly as root and
/// through `sudo` otherwise; without either it fails with a message that says
/// what to install.
pub fn apt_install(pkgs: &[&str]) -> Result {
    if pkgs.is_empty() {
        return Ok(());
    }
    if which("apt-get").is_none() {
        bail!(
            "apt-get not found; install these packages manually: {}",
            pkgs.join(" ")
        );
    }
    let is_root = output_line("id", &["-u"]).as_deref() == Some("0");
    let use_sudo = !is_root && which("sudo").is_some();
    if !is_root && !use_sudo {
        // apt-get would only fail on permissions; say what to do instead.
        bail!(
            "not running as root and sudo not found; install these packages as root: \
             apt-get update && apt-get install -y {}",
            pkgs.join(" ")
        );
    }
    let apt = |args: &[&str]| -> Command {
        let mut c = if use_sudo {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        } else {
            Command::new("apt-get")
        };
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    if !APT_UPDATED.swap(true, Ordering::SeqCst) {
        run(&mut apt(&["update"]))?;
    }
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend_from_slice(pkgs);
    run(&mut apt(&args))
}

/// Make sure `bin` is on `PATH`, installing `pkgs` with apt when it is not.
pub fn ensure_binary(bin: &str, pkgs: &[&str]) -> Result {
    if which(bin).is_some() {
        return Ok(());
    }
    eprintln!("`{bin}` not found; installing {}", pkgs.join(" "));
    apt_install(pkgs)?;
    if which(bin).is_none() {
        bail!(
            "`{bin}` is still missing after installing {}",
            pkgs.join(" ")
        );
    }
    Ok(())
}

/// A Python virtualenv at `venv` in which `module` imports, made with `pip install
/// requirement` when it does not (Debian's python3-venv is installed when `python3 -m venv`
/// needs it). Returns the venv's python.
pub fn ensure_python_package(venv: &Path, requirement: &str, module: &str) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let imports = || {
        Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.is_file() && imports() {
        return Ok(python);
    }
    eprintln!("installing {requirement} into {}", venv.display());
    if which("python3").is_none() {
        apt_install(&["python3", "python3-venv"])?;
    }
    let create = || run(Command::new("python3").args(["-m", "venv"]).arg(venv));
    if create().is_err() {
        // Debian's python3 lacks ensurepip until python3-venv is installed.
        let _ = std::fs::remove_dir_all(venv);
        apt_install(&["python3-venv"])?;
        create()?;
    }
    run(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        requirement,
    ]))?;
    if !imports() {
        bail!(
            "pip installed {requirement}, but `import {module}` still fails in {}",
            venv.display()
        );
    }
    Ok(python)
}

/// Split `--flag=value` into (`--flag`, Some(`value`)); other args unchanged.
pub fn split_flag(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
        _ => (arg, None),
    }
}

/// The value of `flag`: the inline `--flag=value` part or the next argument.
pub fn flag_value<'a>(
    flag: &str,
    inline: Option<&'a str>,
    rest: &mut impl Iterator<Item = &'a String>,
) -> Result<&'a str> {
    match inline {
        Some(v) => Ok(v),
        None => match rest.next() {
            Some(v) => Ok(v.as_str()),
            None => bail!("{flag} needs a value"),
        },
    }
}

/// Parse a positive integer option value.
pub fn parse_positive(flag: &str, value: &str) -> Result<u64> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{flag} expects a positive integer, got `{value}`"),
    }
}

/// `1.2s`, `42.0s`, `3m05s`.
pub fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Names of the `[[<kind>]]` array-of-tables entries in a Cargo.toml
/// (`kind` = "bin" for fuzz targets, "bench" for benchmarks).
///
/// A deliberately small parser: it understands `[[kind]]` headers and
/// `name = "..."` / `name = '...'` keys inside them, and ignores comments.
pub fn toml_array_names(toml: &str, kind: &str) -> Vec<String> {
    let header = format!("[[{kind}]]");
    let mut names = Vec::new();
    let mut in_section = false;
    for raw in toml.lines() {
        let line = strip_comment(raw).trim();
        if line.starts_with('[') {
            in_section = line.replace(' ', "") == header;
            continue;
        }
        if !in_section {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "name" {
            continue;
        }
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')));
        if let Some(name) = unquoted {
            names.push(name.to_string());
        }
    }
    names
}

/// Drop a `# comment` that is not inside a quoted string.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') => return &line[..i],
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            _ => {}
        }
    }
    line
}

/// Does a table cell look like a number / measurement (`12`, `1.2 ms`,
/// `3.00x`, `(1.7s)`, `-`)? Such columns are right-aligned.
fn looks_numeric(cell: &str) -> bool {
    cell.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '(')
}

/// Render a plain-text table: the first column and text columns
/// left-aligned, numeric columns right-aligned.
pub fn text_table(header: &[String], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let right: Vec<bool> = (0..cols)
        .map(|i| {
            i > 0
                && rows
                    .iter()
                    .all(|row| row.get(i).is_none_or(|c| looks_numeric(c)))
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let render = |cells: &[String]| -> String {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate() {
            let cell = cells.get(i).map(String::as_str).unwrap_or("");
            if i > 0 {
                line.push_str("  ");
            }
            let pad = width - cell.chars().count();
            if right[i] {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        line.trim_end().to_string()
    };
    let mut out = render(header);
    out.push('\n');
    for row in rows {
        out.push_str(&render(row));
        out.push('\n');
    }
    out
}

/// Render a GitHub-flavoured Markdown table (numeric columns right-aligned).
pub fn markdown_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", header.join(" | "));
    let align: Vec<&str> = (0..header.len())
        .map(|i| if i == 0 { "---" } else { "---:" })
        .collect();
    out.push_str(&format!("| {} |\n", align.join(" | ")));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_names_from_fuzz_manifest() {
        let toml = r#"
[package]
name = "ws-proto-fuzz"   # not a bin
version = "0.0.0"

[package.metadata]
cargo-fuzz = true

[dependencies]
libfuzzer-sys = "0.4"

[[bin]]
name = "frame_decode"
path = "fuzz_targets/frame_decode.rs"
test = false

[[ bin ]]
path = "fuzz_targets/handshake.rs"
name = 'handshake' # trailing comment

# [[bin]]
# name = "commented_out"

[[bench]]
name = "not_a_bin"

[[bin]]
name = "utf8#validate"
"#;
        assert_eq!(
            toml_array_names(toml, "bin"),
            ["frame_decode", "handshake", "utf8#validate"]
        );
        assert_eq!(toml_array_names(toml, "bench"), ["not_a_bin"]);
        assert!(toml_array_names("", "bin").is_empty());
    }

    #[test]
    fn quoting_for_echo() {
        let mut c = Command::new("cargo");
        c.args(["fuzz", "run", "a b", "-max_total_time=20", "it's"]);
        assert_eq!(
            display_cmd(&c),
            r"cargo fuzz run 'a b' -max_total_time=20 'it'\''s'"
        );
    }

    #[test]
    fn flags() {
        assert_eq!(split_flag("--seconds=5"), ("--seconds", Some("5")));
        assert_eq!(split_flag("--seconds"), ("--seconds", None));
        assert_eq!(split_flag("target=x"), ("target=x", None));
        let rest = ["7".to_string()];
        assert_eq!(flag_value("--jobs", None, &mut rest.iter()).unwrap(), "7");
        assert_eq!(
            flag_value("--jobs", Some("3"), &mut rest.iter()).unwrap(),
            "3"
        );
        assert!(flag_value("--jobs", None, &mut [].iter()).is_err());
        assert_eq!(parse_positive("--jobs", "4").unwrap(), 4);
        assert!(parse_positive("--jobs", "0").is_err());
        assert!(parse_positive("--jobs", "x").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(fmt_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(fmt_duration(Duration::from_secs(185)), "3m05s");
    }

    #[test]
    fn tables() {
        let header = vec!["a".to_string(), "bb".to_string()];
        let rows = vec![vec!["xyz".to_string(), "1".to_string()]];
        assert_eq!(text_table(&header, &rows), "a    bb\nxyz   1\n");
        let text_rows = vec![
            vec!["t".to_string(), "ok".to_string()],
            vec!["u".to_string(), "FAILED".to_string()],
        ];
        assert_eq!(text_table(&header, &text_rows), "a  bb\nt  ok\nu  FAILED\n");
        assert_eq!(
            markdown_table(&header, &rows),
            "| a | bb |\n| --- | ---: |\n| xyz | 1 |\n"
        );
    }
}
