//! Step outputs (`$SLIPWAY_OUTPUT`) and masking of values that leave a job.

use slipway_logs::SecretMasker;

pub(crate) fn mask_text(masker: &SecretMasker, text: &str) -> String {
    if masker.is_empty() {
        return text.to_string();
    }
    let mut out = Vec::with_capacity(text.len());
    masker.mask(text.as_bytes(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `$SLIPWAY_OUTPUT`: `name=value` lines, and `name<<DELIM` … `DELIM`
/// blocks for values with newlines (as GitHub Actions' `$GITHUB_OUTPUT`).
pub(crate) fn parse_outputs(raw: &[u8], masker: &SecretMasker) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut outputs = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<")
            && !name.contains('=')
        {
            let mut value = Vec::new();
            for body in lines.by_ref() {
                if body == delimiter {
                    break;
                }
                value.push(body);
            }
            outputs.push((
                name.trim().to_string(),
                mask_text(masker, &value.join("\n")),
            ));
            continue;
        }
        if let Some((name, value)) = line.split_once('=')
            && !name.trim().is_empty()
        {
            outputs.push((name.trim().to_string(), mask_text(masker, value)));
        }
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_plain_and_multiline() {
        let masker = SecretMasker::new(["hunter2"]);
        let raw = b"version=1.2.3\nnotes<<EOF\nline one\nline two\nEOF\nempty=\ntoken=hunter2\n";
        assert_eq!(
            parse_outputs(raw, &masker),
            vec![
                ("version".to_string(), "1.2.3".to_string()),
                ("notes".to_string(), "line one\nline two".to_string()),
                ("empty".to_string(), String::new()),
                ("token".to_string(), "***".to_string()),
            ]
        );
    }
}
