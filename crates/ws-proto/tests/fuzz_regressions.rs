//! Replays the fuzzers' seed corpus and every crash input kept under `fuzz/regressions/`, through
//! the same harness the fuzz targets run (`fuzz/src/harness.rs`), so a fixed crash stays fixed.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/harness.rs"]
mod harness;

/// Every kept crash input of `target`, and the committed seeds of its corpus.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let files = |dir: PathBuf| -> Vec<PathBuf> {
        fs::read_dir(dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let is_seed = |path: &PathBuf| {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("seed-"))
    };
    let mut found = files(fuzz.join("regressions").join(target));
    found.extend(
        files(fuzz.join("corpus").join(target))
            .into_iter()
            .filter(is_seed),
    );
    found.sort();
    found
}

fn replay(target: &str, run: impl Fn(&[u8])) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no seed inputs found for {target}");
    for path in inputs {
        let data = fs::read(&path).unwrap();
        run(&data);
    }
}

#[test]
fn decode_server_inputs() {
    replay("decode_server", |data| {
        harness::decode(ws_proto::Role::Server, data)
    });
}

#[test]
fn decode_client_inputs() {
    replay("decode_client", |data| {
        harness::decode(ws_proto::Role::Client, data)
    });
}

#[test]
fn decode_deflate_inputs() {
    replay("decode_deflate", harness::decode_deflate);
}

#[test]
fn handshake_client_inputs() {
    replay("handshake_client", harness::client_handshake);
}

#[test]
fn handshake_server_inputs() {
    replay("handshake_server", harness::server_handshake);
}
