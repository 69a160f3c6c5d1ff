//! Kayenta's MannWhitneySuite vectors (tied out against R's `wilcox.test`),
//! read in place from the shared conformance folder.
//!
//! Each assert is `[expected, quantity, tolerance]`: `expected` is a number or
//! the name of one of the file's `consts`; `E` means 1e-6 relative, a number
//! means an absolute tolerance (Kayenta's `assertEquals(expected, actual,
//! delta)`). The extraction split names at decimal points:
//! `["-1.229416", "mannWhitney.wilcoxonDiff(0", "0, x, y"]` is
//! `wilcoxonDiff(0.0, x, y)` with no tolerance given; those values are printed
//! to 7 significant digits, so they are checked at `E` too.
//!
//! Vectors not followed: none. One reading to note: `kayenta-mw-2.json`
//! ("Test zQuant") expects -2.326348, which is `qnorm(0.01)`, the quantile of
//! Kayenta's default 98% level, while the file's `confidenceLevel` says 0.95
//! (the extraction's default, unused by that test); `zQuant` is therefore
//! checked as `z_quant(0.98)`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use slipway_judge::{intermediates, wilcoxon_diff, z_quant};

fn conformance_dir() -> PathBuf {
    match std::env::var_os("SLIPWAY_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"),
    }
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// The canary (R's `x`) and baseline (`y`) samples of a vector.
fn samples(arrays: &Value) -> (Vec<f64>, Vec<f64>) {
    for (x, y) in [
        ("x", "y"),
        ("experimentData", "controlData"),
        ("experiment", "control"),
    ] {
        if let (Some(x), Some(y)) = (arrays.get(x), arrays.get(y)) {
            return (numbers(x), numbers(y));
        }
    }
    (Vec::new(), Vec::new())
}

fn quantity(name: &str, x: &[f64], y: &[f64], confidence: f64) -> Result<f64, String> {
    if let Some(rest) = name.strip_prefix("mannWhitney.wilcoxonDiff(") {
        let mu: f64 = rest.parse().map_err(|e| format!("{name}: {e}"))?;
        return wilcoxon_diff(mu, 0.0, x, y).map_err(|e| e.to_string());
    }
    if name == "zQuant" {
        return Ok(z_quant(0.98));
    }
    let steps = intermediates(x, y, confidence).map_err(|e| e.to_string())?;
    Ok(match name {
        "result.confidenceInterval.head" | "ciLower" => steps.ci_lower,
        "result.confidenceInterval.last" | "ciUpper" => steps.ci_upper,
        "result.estimate" | "estimate" => steps.estimate,
        "muMin" => steps.mu_min,
        "muMax" => steps.mu_max,
        "zqLower" => steps.zq_lower,
        "zqUpper" => steps.zq_upper,
        "fLower1" => steps.f_lower1,
        "fUpper1" => steps.f_upper1,
        "fLower2" => steps.f_lower2,
        "fUpper2" => steps.f_upper2,
        other => return Err(format!("unknown quantity {other}")),
    })
}

#[test]
fn kayenta_mann_whitney_vectors() {
    let dir = conformance_dir().join("mann-whitney");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!(
            "skipped: no conformance data at {} (set SLIPWAY_CONFORMANCE_DIR)",
            dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    let (mut passed, mut total, mut failures) = (0, 0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let vector: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (x, y) = samples(&vector["arrays"]);
        let confidence = vector["confidenceLevel"].as_f64().unwrap_or(0.95);
        let asserts = vector["asserts"].as_array().cloned().unwrap_or_default();
        assert!(!asserts.is_empty(), "{name}: no asserts");
        for assertion in asserts {
            total += 1;
            let field = |i: usize| assertion.get(i).and_then(Value::as_str).unwrap_or("");
            let (expected, quantity_name, tolerance) = (field(0), field(1), field(2));
            let expected = match vector["consts"].get(expected).and_then(Value::as_f64) {
                Some(value) => value,
                None => expected.parse::<f64>().unwrap_or(f64::NAN),
            };
            // "0, x, y" is the tail of a name split at its decimal point.
            let (quantity_name, tolerance) = if tolerance.ends_with(", x, y") {
                (
                    format!("{quantity_name}.{}", tolerance.trim_end_matches(", x, y")),
                    "E",
                )
            } else {
                (quantity_name.to_owned(), tolerance)
            };
            let allowed = match tolerance {
                "E" => 1e-6 * expected.abs(),
                other => other.parse::<f64>().unwrap_or(0.0),
            };
            match quantity(&quantity_name, &x, &y, confidence) {
                Ok(got) if (got - expected).abs() <= allowed => passed += 1,
                Ok(got) => failures.push(format!(
                    "{name}: {quantity_name} = {got:e}, expected {expected:e} ± {allowed:e}"
                )),
                Err(error) => failures.push(format!("{name}: {quantity_name}: {error}")),
            }
        }
    }
    println!(
        "mann-whitney conformance: {passed} of {total} asserts passed in {} files",
        files.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}
