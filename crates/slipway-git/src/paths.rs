//! The paths a range of commits changed, read from `git log --name-status` output.

use std::collections::BTreeSet;

/// Most paths [`crate::Mirror::changed_paths`] returns; beyond it the list is marked truncated.
pub const MAX_CHANGED_PATHS: usize = 10_000;

/// The paths a range of commits touched; see [`crate::Mirror::changed_paths`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangedPaths {
    /// Paths, sorted and without duplicates; both sides of a rename.
    pub paths: Vec<String>,
    /// More paths changed than listed (over [`MAX_CHANGED_PATHS`], or too much output): a path
    /// filter that matches none of `paths` should be treated as matching.
    pub truncated: bool,
}

/// Reads `git log -z --name-status` output: a status token (`M`, `A`, `D`, `T`, `R100`,
/// `C75`, …) then one path, or two for renames and copies.
pub(crate) fn parse_name_status(out: &[u8], output_truncated: bool) -> ChangedPaths {
    let complete = if output_truncated {
        // The last token may be cut in the middle: keep only whole ones.
        out.iter()
            .rposition(|&b| b == 0)
            .map_or(&out[..0], |end| &out[..end])
    } else {
        out
    };
    let mut tokens = complete.split(|&b| b == 0).filter(|t| !t.is_empty());
    let mut paths = BTreeSet::new();
    let mut truncated = output_truncated;
    'statuses: while let Some(status) = tokens.next() {
        let count = if matches!(status.first(), Some(b'R' | b'C')) {
            2
        } else {
            1
        };
        for path in tokens.by_ref().take(count) {
            let path = String::from_utf8_lossy(path);
            if paths.len() >= MAX_CHANGED_PATHS && !paths.contains(path.as_ref()) {
                truncated = true;
                break 'statuses;
            }
            paths.insert(path.into_owned());
        }
    }
    ChangedPaths {
        paths: paths.into_iter().collect(),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_status_with_renames() {
        let out = b"M\0b\0A\0f\0R100\0a\0c\0M\0b\0C75\0x\0y\0";
        let parsed = parse_name_status(out, false);
        assert_eq!(parsed.paths, ["a", "b", "c", "f", "x", "y"]);
        assert!(!parsed.truncated);
    }

    #[test]
    fn truncated_output_drops_the_partial_token() {
        let parsed = parse_name_status(b"M\0abc\0M\0ab", true);
        assert_eq!(parsed.paths, ["abc"]);
        assert!(parsed.truncated);
        assert_eq!(parse_name_status(b"M\0", true).paths, Vec::<String>::new());
        assert_eq!(parse_name_status(b"", false), ChangedPaths::default());
    }

    #[test]
    fn caps_the_number_of_paths() {
        let mut out = Vec::new();
        for i in 0..MAX_CHANGED_PATHS + 5 {
            out.extend_from_slice(format!("A\0p{i}\0").as_bytes());
        }
        let parsed = parse_name_status(&out, false);
        assert_eq!(parsed.paths.len(), MAX_CHANGED_PATHS);
        assert!(parsed.truncated);
    }
}
