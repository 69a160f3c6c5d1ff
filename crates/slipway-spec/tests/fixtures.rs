//! Fixture-driven snapshots: every `tests/fixtures/valid/*.yml` renders its model, every
//! `tests/fixtures/invalid/*.yml` renders its diagnostics. Adding a case is adding a file.

use std::path::{Path, PathBuf};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn read(path: &Path) -> (String, String) {
    let source =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    (name, source)
}

fn settings(kind: &str, source: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(format!("fixtures/snapshots/{kind}"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_description(source);
    settings.set_omit_expression(true);
    settings
}

#[test]
fn valid_fixtures_parse() {
    for path in fixtures("valid") {
        let (name, source) = read(&path);
        let file = format!("{name}.yml");
        let pipeline = match slipway_spec::parse_pipeline(&source, &file) {
            Ok(pipeline) => pipeline,
            Err(diagnostics) => panic!(
                "{file} should be valid:\n{}",
                diagnostics.render(&source, false)
            ),
        };
        settings("valid", &source).bind(|| insta::assert_snapshot!(name, format!("{pipeline:#?}")));
    }
}

#[test]
fn invalid_fixtures_report() {
    for path in fixtures("invalid") {
        let (name, source) = read(&path);
        let file = format!("{name}.yml");
        let diagnostics = match slipway_spec::parse_pipeline(&source, &file) {
            Ok(_) => panic!("{file} should be invalid"),
            Err(diagnostics) => diagnostics,
        };
        settings("invalid", &source)
            .bind(|| insta::assert_snapshot!(name, diagnostics.render(&source, false)));
    }
}
