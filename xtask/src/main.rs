//! Developer tasks for the ws workspace, run as `cargo xtask <command>`
//! (alias in `.cargo/config.toml`). Std only, so it builds in seconds.

mod autobahn;
mod bench;
mod ci;
mod demo;
mod fuzz;
mod interop;
mod msrv;
mod process;
mod scaleout;
mod util;

use std::process::ExitCode;

const HELP: &str = "\
Developer tasks for the ws workspace.

USAGE:
    cargo xtask <COMMAND> [ARGS]

COMMANDS:
    demo     Start `ws serve` and talk to it with `ws connect` (the README's first command)
    ci       Run the whole CI (fmt, clippy, tests, doctests, fuzz smoke run),
             installing missing tools first
    fuzz     Run cargo-fuzz targets for a fixed time and summarise executions
    bench    Run the criterion benches and print ws-proto ratio tables;
             `bench echo`: echo-server throughput, CPU and memory against peers;
             `bench broadcast`: one message fanned out to many connections, against peers
    autobahn The Autobahn TestSuite against the servers and clients (strict)
    interop  Headless Chromium, Node's ws and Python's websockets against `ws serve`
             and `ws connect`
    scaleout The scale-out check: redis-server, 3 `ws serve --broker` instances behind nginx,
             1,000 clients; a Redis restart and a killed instance
    msrv     Check the workspace's rust-version against every locked dependency's
    help     Print this help, or a command's help: `cargo xtask help <COMMAND>`

Run `cargo xtask <COMMAND> --help` for the options of a command.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> util::Result {
    let Some((command, rest)) = args.split_first() else {
        print!("{HELP}");
        return Ok(());
    };
    match command.as_str() {
        "ci" => ci::main(rest),
        "demo" => demo::main(rest),
        "fuzz" => fuzz::main(rest),
        "bench" => bench::main(rest),
        "autobahn" => autobahn::main(rest),
        "interop" => interop::main(rest),
        "msrv" => msrv::main(rest),
        "scaleout" => scaleout::main(rest),
        "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        "help" => {
            match rest.first().map(String::as_str) {
                None => print!("{HELP}"),
                Some("ci") => print!("{}", ci::HELP),
                Some("demo") => print!("{}", demo::HELP),
                Some("fuzz") => print!("{}", fuzz::HELP),
                Some("bench") => print!("{}", bench::HELP),
                Some("autobahn") => print!("{}", autobahn::HELP),
                Some("interop") => print!("{}", interop::HELP),
                Some("msrv") => print!("{}", msrv::HELP),
                Some("scaleout") => print!("{}", scaleout::HELP),
                Some(other) => util::bail!("unknown command `{other}`\n\n{HELP}"),
            }
            Ok(())
        }
        other => util::bail!("unknown command `{other}`\n\n{HELP}"),
    }
}
