//! `cargo xtask bench`: run the criterion benches and print ratio tables; `cargo xtask bench
//! echo` runs the echo-server benchmark instead (see [`echo`]), `cargo xtask bench broadcast`
//! the fan-out benchmark (see [`broadcast`]).

mod broadcast;
mod echo;
mod outcomes;
mod report;
pub(crate) mod result_line;
pub(crate) mod servers;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{self, bail, Result};

pub const HELP: &str = "\
Run the criterion benchmarks and print per-group comparison tables.

USAGE:
    cargo xtask bench [OPTIONS] [NAME ...] [-- CRITERION_ARGS ...]
    cargo xtask bench echo [OPTIONS]    Echo servers under load (`cargo xtask bench echo --help`)
    cargo xtask bench broadcast [OPTIONS]
                                        One message fanned out to many connections
                                        (`cargo xtask bench broadcast --help`)

ARGS:
    NAME ...             Bench targets to run (default: every [[bench]] in benches/Cargo.toml),
                         each as `cargo bench -p ws-benches --bench NAME`
    CRITERION_ARGS       Passed to the bench binaries (e.g. `-- --quick` or a filter)
                         (`deflate` runs with the `c-zlib` feature; read its tables with
                         `--baseline-fn zlib-rs`)

OPTIONS:
    --baseline-fn NAME   Reference column for the ratios [default: ws-proto]
    --report-only        Do not run anything; only tabulate existing results
    -h, --help           Print this help

Results are read from <target>/criterion/<group>/<function>/<param>/new/estimates.json
(mean.point_estimate, ns; <target> honours CARGO_TARGET_DIR). For each group the table
has one row per param (sizes like 16B, 1KiB, 1MiB sorted numerically), one column
per function with its mean time, and for each function F other than the baseline a
ratio column time(F)/time(baseline): >1 means the baseline is faster.
The tables are also written as Markdown to <target>/bench-ratios.md
(for pasting into docs/performance.md).
";

pub const DEFAULT_BASELINE: &str = "ws-proto";
const BENCH_PACKAGE: &str = "ws-benches";
/// Cargo features of the bench package that a bench target is run with: `deflate` compares C
/// zlib too, which stays off in other builds (see benches/Cargo.toml).
const BENCH_FEATURES: &[(&str, &str)] = &[("deflate", "c-zlib")];

pub fn main(args: &[String]) -> Result {
    if let Some(("echo", rest)) = args.split_first().map(|(a, r)| (a.as_str(), r)) {
        return echo::main(rest);
    }
    if let Some(("broadcast", rest)) = args.split_first().map(|(a, r)| (a.as_str(), r)) {
        return broadcast::main(rest);
    }
    let mut names = Vec::new();
    let mut baseline = DEFAULT_BASELINE.to_string();
    let mut report_only = false;
    let mut passthrough = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = util::split_flag(arg);
        match flag {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--baseline-fn" => baseline = util::flag_value(flag, inline, &mut it)?.to_string(),
            "--report-only" => report_only = true,
            "--" => passthrough.extend(it.by_ref().cloned()),
            f if f.starts_with('-') => {
                bail!("unknown option `{f}` for `cargo xtask bench` (see --help)")
            }
            _ => names.push(arg.clone()),
        }
    }

    let root = util::workspace_root();
    if !report_only {
        run_benches(&root, &names, &passthrough)?;
    }
    report(&root, &baseline)
}

fn run_benches(root: &Path, names: &[String], passthrough: &[String]) -> Result {
    let manifest = root.join("benches").join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let all = util::toml_array_names(&text, "bench");
    let names = if names.is_empty() {
        if all.is_empty() {
            bail!("{} declares no [[bench]] targets", manifest.display());
        }
        all
    } else {
        for n in names {
            if !all.contains(n) {
                bail!("unknown bench `{n}`; known benches: {}", all.join(", "));
            }
        }
        names.to_vec()
    };
    for name in &names {
        let mut cmd = util::cmd("cargo", root);
        cmd.args(["bench", "-p", BENCH_PACKAGE, "--bench", name]);
        for (_, features) in BENCH_FEATURES.iter().filter(|(bench, _)| bench == name) {
            cmd.args(["--features", features]);
        }
        if !passthrough.is_empty() {
            cmd.arg("--").args(passthrough);
        }
        eprintln!("==> bench {name}");
        util::run(&mut cmd)?;
    }
    Ok(())
}

/// Print the tables for every criterion result and write the Markdown file.
fn report(root: &Path, baseline: &str) -> Result {
    let target = util::target_dir(root);
    let criterion = target.join("criterion");
    let samples = collect(&criterion);
    if samples.is_empty() {
        bail!("no criterion results under {}", criterion.display());
    }
    let tables = build_tables(&samples, baseline);
    let mut markdown = format!(
        "<!-- generated by `cargo xtask bench`: mean times from criterion; \
         ratio = time(function)/time({baseline}), >1 means {baseline} is faster -->\n"
    );
    for table in &tables {
        println!("\n{}", table.group);
        if let Some(note) = &table.note {
            println!("({note})");
        }
        print!("{}", util::text_table(&table.header, &table.rows));
        markdown.push_str(&format!("\n### {}\n\n", table.group));
        if let Some(note) = &table.note {
            markdown.push_str(&format!("_{note}_\n\n"));
        }
        markdown.push_str(&util::markdown_table(&table.header, &table.rows));
    }
    fs::create_dir_all(&target)?;
    let out = target.join("bench-ratios.md");
    fs::write(&out, markdown).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("\nMarkdown tables written to {}", out.display());
    Ok(())
}

/// One benchmark result.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    group: String,
    function: String,
    param: String,
    mean_ns: f64,
}

/// Walk `criterion/<group>/<function>[/<param>]/new/estimates.json`.
fn collect(criterion: &Path) -> Vec<Sample> {
    let mut samples = Vec::new();
    for group in subdirs(criterion) {
        let group_name = file_name(&group);
        if let Some(mean) = read_mean(&group) {
            // A lone `bench_function` outside a group: criterion/<name>/new.
            samples.push(Sample {
                group: group_name.clone(),
                function: group_name.clone(),
                param: "-".to_string(),
                mean_ns: mean,
            });
        }
        for function in subdirs(&group) {
            let function_name = file_name(&function);
            if let Some(mean) = read_mean(&function) {
                samples.push(Sample {
                    group: group_name.clone(),
                    function: function_name.clone(),
                    param: "-".to_string(),
                    mean_ns: mean,
                });
            }
            for param in subdirs(&function) {
                if let Some(mean) = read_mean(&param) {
                    samples.push(Sample {
                        group: group_name.clone(),
                        function: function_name.clone(),
                        param: file_name(&param),
                        mean_ns: mean,
                    });
                }
            }
        }
    }
    samples
}

/// Child directories, minus criterion's own `report`/`new`/`base`/`change`.
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| !matches!(file_name(p).as_str(), "report" | "new" | "base" | "change"))
        .collect();
    dirs.sort();
    dirs
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_mean(dir: &Path) -> Option<f64> {
    let text = fs::read_to_string(dir.join("new").join("estimates.json")).ok()?;
    parse_mean_estimate(&text)
}

/// `mean.point_estimate` from criterion's estimates.json, by hand:
/// find `"mean"`, then the next `"point_estimate":` and read the number.
fn parse_mean_estimate(json: &str) -> Option<f64> {
    let after_mean = &json[json.find("\"mean\"")? + "\"mean\"".len()..];
    let key = "\"point_estimate\"";
    let after_key = &after_mean[after_mean.find(key)? + key.len()..];
    let value = after_key.trim_start().strip_prefix(':')?.trim_start();
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(value.len());
    value[..end].parse().ok()
}

/// Size in bytes of a label like `16B`, `1KiB`, `64KiB`, `1MiB`, `4KB`, `512`.
fn size_bytes(label: &str) -> Option<f64> {
    let split = label
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(label.len());
    let (number, unit) = label.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier = match unit.trim() {
        "" | "B" => 1.0,
        "K" | "KiB" | "k" => 1024.0,
        "KB" | "kB" => 1e3,
        "M" | "MiB" => 1024.0 * 1024.0,
        "MB" => 1e6,
        "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "GB" => 1e9,
        _ => return None,
    };
    Some(number * multiplier)
}

/// Sizes first, by numeric size; other labels after, alphabetically.
fn compare_params(a: &str, b: &str) -> Ordering {
    match (size_bytes(a), size_bytes(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// `812.3 ns`, `4.21 µs`, `1.50 ms`, `2.00 s`.
fn fmt_time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

#[derive(Debug, PartialEq)]
struct Table {
    group: String,
    note: Option<String>,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn build_tables(samples: &[Sample], baseline: &str) -> Vec<Table> {
    // group -> (function, param) -> mean
    let mut groups: BTreeMap<&str, BTreeMap<(&str, &str), f64>> = BTreeMap::new();
    for s in samples {
        groups
            .entry(&s.group)
            .or_default()
            .insert((&s.function, &s.param), s.mean_ns);
    }
    let mut tables = Vec::new();
    for (group, results) in groups {
        let functions: BTreeSet<&str> = results.keys().map(|(f, _)| *f).collect();
        let has_baseline = functions.contains(baseline);
        // Baseline first, then the others alphabetically.
        let mut columns: Vec<&str> = Vec::new();
        if has_baseline {
            columns.push(baseline);
        }
        columns.extend(functions.iter().copied().filter(|f| *f != baseline));
        let others: Vec<&str> = if has_baseline {
            columns[1..].to_vec()
        } else {
            Vec::new()
        };

        let mut params: Vec<&str> = results.keys().map(|(_, p)| *p).collect();
        params.sort_by(|a, b| compare_params(a, b));
        params.dedup();

        let mut header = vec!["param".to_string()];
        header.extend(columns.iter().map(|f| f.to_string()));
        header.extend(others.iter().map(|f| format!("{f}/{baseline}")));

        let rows = params
            .iter()
            .map(|param| {
                let mut row = vec![param.to_string()];
                for f in &columns {
                    row.push(
                        results
                            .get(&(*f, *param))
                            .map(|ns| fmt_time(*ns))
                            .unwrap_or_else(|| "-".to_string()),
                    );
                }
                let base = results.get(&(baseline, *param));
                for f in &others {
                    let ratio = match (results.get(&(*f, *param)), base) {
                        (Some(t), Some(b)) if *b > 0.0 => format!("{:.2}x", t / b),
                        _ => "-".to_string(),
                    };
                    row.push(ratio);
                }
                row
            })
            .collect();
        let note = (!has_baseline && columns.len() > 1)
            .then(|| format!("no `{baseline}` results in this group; ratios omitted"));
        tables.push(Table {
            group: group.to_string(),
            note,
            header,
            rows,
        });
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESTIMATES: &str = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1180.2,"upper_bound":1290.9},"point_estimate":1234.5,"standard_error":28.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1100.0,"upper_bound":1200.0},"point_estimate":1150.0,"standard_error":20.0},"median_abs_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1},"slope":null,"std_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1}}"#;

    #[test]
    fn mean_from_estimates_json() {
        assert_eq!(parse_mean_estimate(ESTIMATES), Some(1234.5));
        let pretty = "{\n  \"median\": {\"point_estimate\": 9.0},\n  \"mean\": {\n    \"confidence_interval\": {},\n    \"point_estimate\" : 1.5e3\n  }\n}";
        assert_eq!(parse_mean_estimate(pretty), Some(1500.0));
        assert_eq!(parse_mean_estimate("{}"), None);
        assert_eq!(
            parse_mean_estimate(r#"{"mean":{"point_estimate":null}}"#),
            None
        );
    }

    #[test]
    fn size_labels_sort_numerically() {
        let mut labels = vec!["1MiB", "64KiB", "text", "16B", "1KiB", "125B", "4KB", "2"];
        labels.sort_by(|a, b| compare_params(a, b));
        assert_eq!(
            labels,
            ["2", "16B", "125B", "1KiB", "4KB", "64KiB", "1MiB", "text"]
        );
        assert_eq!(size_bytes("64KiB"), Some(65536.0));
        assert_eq!(size_bytes("1.5MiB"), Some(1.5 * 1024.0 * 1024.0));
        assert_eq!(size_bytes("masked"), None);
        assert_eq!(size_bytes("16Q"), None);
    }

    #[test]
    fn times() {
        assert_eq!(fmt_time(812.34), "812.3 ns");
        assert_eq!(fmt_time(4_210.0), "4.21 µs");
        assert_eq!(fmt_time(1_500_000.0), "1.50 ms");
        assert_eq!(fmt_time(2e9), "2.00 s");
    }

    fn sample(group: &str, function: &str, param: &str, mean_ns: f64) -> Sample {
        Sample {
            group: group.into(),
            function: function.into(),
            param: param.into(),
            mean_ns,
        }
    }

    #[test]
    fn ratio_tables() {
        let samples = vec![
            sample("decode", "tungstenite", "1KiB", 300.0),
            sample("decode", "ws-proto", "1KiB", 100.0),
            sample("decode", "ws-proto", "16B", 10.0),
            sample("decode", "tungstenite", "16B", 25.0),
            sample("decode", "fastwebsockets", "16B", 20.0),
            sample("mask", "a", "16B", 1.0),
            sample("mask", "b", "16B", 2.0),
        ];
        let tables = build_tables(&samples, "ws-proto");
        assert_eq!(tables.len(), 2);
        let decode = &tables[0];
        assert_eq!(decode.group, "decode");
        assert_eq!(decode.note, None);
        assert_eq!(
            decode.header,
            [
                "param",
                "ws-proto",
                "fastwebsockets",
                "tungstenite",
                "fastwebsockets/ws-proto",
                "tungstenite/ws-proto"
            ]
        );
        assert_eq!(
            decode.rows,
            [
                ["16B", "10.0 ns", "20.0 ns", "25.0 ns", "2.00x", "2.50x"],
                ["1KiB", "100.0 ns", "-", "300.0 ns", "-", "3.00x"],
            ]
        );
        let mask = &tables[1];
        assert_eq!(mask.header, ["param", "a", "b"]);
        assert!(mask.note.is_some());

        let by_a = build_tables(&samples, "a");
        assert_eq!(by_a[1].header, ["param", "a", "b", "b/a"]);
        assert_eq!(by_a[1].rows, [["16B", "1.0 ns", "2.0 ns", "2.00x"]]);
    }

    #[test]
    fn collects_criterion_layout() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let write = |rel: &str, mean: f64| {
            let d = dir.join(rel).join("new");
            fs::create_dir_all(&d).unwrap();
            fs::write(
                d.join("estimates.json"),
                format!(r#"{{"mean":{{"point_estimate":{mean}}}}}"#),
            )
            .unwrap();
        };
        write("decode/ws-proto/16B", 10.0);
        write("decode/ws-proto/1KiB", 100.0);
        write("decode/tungstenite/16B", 30.0);
        write("handshake/ws-proto", 500.0);
        fs::create_dir_all(dir.join("report")).unwrap();
        fs::create_dir_all(dir.join("decode/report")).unwrap();
        let mut got = collect(&dir);
        got.sort_by(|a, b| {
            (&a.group, &a.function, &a.param).cmp(&(&b.group, &b.function, &b.param))
        });
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            got,
            [
                sample("decode", "tungstenite", "16B", 30.0),
                sample("decode", "ws-proto", "16B", 10.0),
                sample("decode", "ws-proto", "1KiB", 100.0),
                sample("handshake", "ws-proto", "-", 500.0),
            ]
        );
    }
}
