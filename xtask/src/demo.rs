//! `cargo xtask demo`: the README's first command. `ws serve` starts on loopback, `ws connect`
//! talks to it, and both sides' output is shown.

use std::path::Path;
use std::time::Duration;

use crate::interop::{ws_connect, ws_serve};
use crate::process;
use crate::util::{self, bail, Result};

pub const HELP: &str = "\
Start `ws serve` (echo, on a free loopback port) and talk to it with `ws connect`.

USAGE:
    cargo xtask demo

Builds the `ws` command, starts `ws serve --listen 127.0.0.1:0` (every other setting at its
default), types a few lines into `ws connect URL`, prints what comes back, closes normally and
stops the server with SIGTERM (its clients get 1001). Fails if an echo is missing or anything
does not end cleanly. To do the same by hand:
    cargo run -p ws-cli -- serve
    cargo run -p ws-cli -- connect ws://127.0.0.1:9001/     (in a second shell)
";

const LINES: [&str; 3] = ["Hello from ws connect", "héllo wörld ✓ 日本語 🎉", "bye"];

pub fn main(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        if arg == "-h" || arg == "--help" {
            print!("{HELP}");
            return Ok(());
        }
        bail!("unexpected argument `{arg}` for `cargo xtask demo` (see --help)");
    }
    run(&util::workspace_root())
}

pub fn run(root: &Path) -> Result {
    let ws = process::release_ws(root)?;
    eprintln!("\n==> the server");
    let (mut server, url) = ws_serve(&ws, &[])?;
    eprintln!("\n==> the client, typing {} lines", LINES.len());
    let input = LINES.join("\n") + "\n";
    let echoed = ws_connect(&ws, &url, &[], input.as_bytes())?;
    let echoed = String::from_utf8(echoed).map_err(|_| "ws connect printed invalid UTF-8")?;
    for line in echoed.lines() {
        eprintln!("    [ws connect stdout] {line}");
    }
    if echoed != input {
        bail!("the echoes differ from the lines typed: {echoed:?}");
    }
    eprintln!("\n==> stopping the server");
    let status = server.terminate(Duration::from_secs(10))?;
    // Let the output threads print the server's last lines.
    std::thread::sleep(Duration::from_millis(100));
    if !status.success() {
        bail!("ws serve exited with {status}");
    }
    println!("demo: `ws connect` got every line back from `ws serve`; both ended cleanly");
    Ok(())
}
