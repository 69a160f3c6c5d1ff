//! Secrets never appear in printed or stored logs, in any encoding.

mod common;

use common::Project;

const SECRET: &str = "s3cr3t/va+lue \"quoted\"";

#[test]
fn every_form_of_a_secret_is_masked_in_printed_and_stored_logs() {
    let project = Project::new(
        r#"
jobs:
  leak:
    steps:
      - env:
          TOKEN: ${{ secrets.TOKEN }}
        run: |
          echo "raw: $TOKEN"
          echo "base64: $(printf '%s' "$TOKEN" | base64 -w0)"
          echo "inside base64: $(printf 'x%s' "$TOKEN" | base64 -w0)"
          echo "url: $(python3 -c 'import os,urllib.parse;print(urllib.parse.quote(os.environ["TOKEN"], safe=""))')"
          echo "json: $(python3 -c 'import os,json;print(json.dumps(os.environ["TOKEN"]))')"
          printf 'split: %s' "${TOKEN%%/*}"; sleep 0.3; printf '%s\n' "/${TOKEN#*/}"
          echo "stderr: $TOKEN" >&2
"#,
    );
    project.write("secrets.env", &format!("TOKEN={SECRET}\n"));
    let run = project.run(&["run", "--secrets-file", "secrets.env"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let stored = project.stored_logs();
    let forms = forms_of(SECRET);
    for (name, form) in &forms {
        assert!(
            !run.stdout.contains(form.as_str()),
            "{name} form printed: {}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(form.as_str()),
            "{name} form printed on stderr"
        );
        assert!(
            !stored.contains(form.as_str()),
            "{name} form stored: {stored}"
        );
    }
    for label in [
        "raw: ***",
        "base64: ***",
        "url: ***",
        "json: \"***\"",
        "split: ***",
        "stderr: ***",
    ] {
        assert!(
            run.stdout.contains(label),
            "`{label}` expected in {}",
            run.stdout
        );
        assert!(
            stored.contains(label),
            "`{label}` expected in the stored log"
        );
    }
}

#[test]
fn secrets_from_the_command_line_are_masked_in_json_output() {
    let project = Project::new(
        r#"
jobs:
  leak:
    steps:
      - env: {TOKEN: "${{ secrets.TOKEN }}"}
        run: echo "token=$TOKEN"
"#,
    );
    let run = project.run(&["run", "--json", "--secret", "TOKEN=hunter2hunter2"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(!run.stdout.contains("hunter2hunter2"), "{}", run.stdout);
    assert!(run.stdout.contains("token=***"), "{}", run.stdout);
}

/// The raw value and the encodings a step might print it in.
fn forms_of(secret: &str) -> Vec<(&'static str, String)> {
    use std::fmt::Write;
    let base64 = |bytes: &[u8]| {
        const TABLE: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    };
    let mut url = String::new();
    for byte in secret.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            url.push(byte as char);
        } else {
            let _ = write!(url, "%{byte:02X}");
        }
    }
    let json = secret.replace('\\', "\\\\").replace('"', "\\\"");
    vec![
        ("raw", secret.to_string()),
        ("base64", base64(secret.as_bytes())),
        ("url", url),
        ("json", json),
    ]
}
