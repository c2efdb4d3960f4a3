//! Ratios printed after a criterion run: each case's median next to its floor, measured in the
//! same run (criterion writes `target/criterion/<group>/<case>/new/estimates.json`; only
//! estimates written by this process are read, so a filtered run prints only what it ran).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where criterion keeps its results: `$CRITERION_HOME`, else `<target>/criterion`.
fn home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // The bench binary is `<target>/release/deps/<name>-<hash>`.
            let exe = std::env::current_exe().expect("the bench binary's path");
            exe.ancestors()
                .nth(3)
                .map(Path::to_path_buf)
                .unwrap_or_default()
        });
    target.join("criterion")
}

/// The median (ns) of `id` ("group/case/param"), if this run measured it.
pub(crate) fn median_ns(id: &str, since: SystemTime) -> Option<f64> {
    let path = home().join(id).join("new").join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints `label: a / b = ratio` for each pair this run measured both sides of.
pub(crate) fn print(title: &str, pairs: &[(String, String, String)], since: SystemTime) {
    let rows: Vec<String> = pairs
        .iter()
        .filter_map(|(label, a, b)| {
            let (x, y) = (median_ns(a, since)?, median_ns(b, since)?);
            Some(format!(
                "  {label:<44} {:>10.3} ms / {:>10.3} ms = {:>6.2}x",
                x / 1e6,
                y / 1e6,
                x / y
            ))
        })
        .collect();
    if !rows.is_empty() {
        println!("\n{title}");
        for row in rows {
            println!("{row}");
        }
    }
}
