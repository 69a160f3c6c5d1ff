//! Path rules: which paths a job may name, where `~/` points, and how a job
//! key becomes a file name. Pure functions apart from reading `$HOME`.

use std::path::{Component, Path, PathBuf};

use slipway_engine::ports::StoreError;

/// Checks an artifact path written in a pipeline and returns it normalised
/// (`./a//b/` becomes `a/b`).
///
/// Refused: empty paths, absolute paths and any `..` component, so that an
/// artifact can only name something inside the workspace.
pub(crate) fn normalise_relative(name: &str, rel: &str) -> Result<String, StoreError> {
    let path = Path::new(rel);
    if path.is_absolute() {
        return Err(StoreError(format!(
            "artifact `{name}`: path `{rel}` is absolute; artifact paths are relative to the workspace root"
        )));
    }
    let mut out = String::with_capacity(rel.len());
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                let Some(part) = part.to_str() else {
                    return Err(StoreError(format!(
                        "artifact `{name}`: path `{rel}` is not valid UTF-8"
                    )));
                };
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(part);
            }
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(StoreError(format!(
                    "artifact `{name}`: path `{rel}` contains `..`; artifacts must stay inside the workspace"
                )));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(StoreError(format!(
                    "artifact `{name}`: path `{rel}` is absolute; artifact paths are relative to the workspace root"
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(StoreError(format!(
            "artifact `{name}`: path `{rel}` names the workspace root itself; name a file or directory inside it"
        )));
    }
    Ok(out)
}

/// Whether `rel` is a plain relative path: no root, no `..`, not empty.
/// Used on paths read back from stored manifests, which could be damaged.
pub(crate) fn is_plain_relative(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Resolves a directory-cache path: `~/x` against `$HOME`, an absolute path
/// as is, anything else against the workspace root.
pub(crate) fn expand_cache_path(path: &str, root: &Path) -> Result<PathBuf, StoreError> {
    if path == "~" || path.starts_with("~/") {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).ok_or_else(|| {
            StoreError(format!(
                "cache path `{path}` starts with `~` but $HOME is not set; set HOME or use an absolute path"
            ))
        })?;
        let rest = path.get(2..).unwrap_or("");
        return Ok(PathBuf::from(home).join(rest));
    }
    let p = Path::new(path);
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(root.join(p))
    }
}

/// Resolves `target` (a symlink's text) against the directory `link_dir`,
/// both relative to some root, without touching the file system. Returns
/// `None` when the result would climb above the root.
pub(crate) fn resolve_lexically(link_dir: &Path, target: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in link_dir.components().chain(target.components()) {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// The relative path that leads from the directory `from` to `to`; both
/// must be absolute and canonical.
pub(crate) fn relative_between(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in to.iter().skip(common) {
        out.push(part.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Turns a job key such as `test (linux, 1)` into a safe file name.
///
/// Letters, digits, `-`, `_` and `.` are kept and every other character
/// becomes `_`. When anything was replaced (or the name would be hidden or
/// too long), 8 hex characters of the key's BLAKE3 hash are appended, so two
/// keys that differ only in replaced characters never share a directory.
pub(crate) fn job_file_name(job_key: &str) -> String {
    const MAX_KEPT: usize = 80;
    let mut out = String::with_capacity(job_key.len().min(MAX_KEPT) + 9);
    let mut changed = job_key.is_empty();
    for (i, ch) in job_key.chars().enumerate() {
        if i >= MAX_KEPT {
            changed = true;
            break;
        }
        let leading_dot = i == 0 && ch == '.';
        if !leading_dot && (ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.')) {
            out.push(ch);
        } else {
            out.push('_');
            changed = true;
        }
    }
    if changed {
        let hash = blake3::hash(job_key.as_bytes());
        out.push('-');
        out.push_str(hash.to_hex().get(..8).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses() {
        assert_eq!(
            normalise_relative("a", "./dist//app/").ok().as_deref(),
            Some("dist/app")
        );
        assert!(normalise_relative("a", "/etc/passwd").is_err());
        assert!(normalise_relative("a", "dist/../../x").is_err());
        assert!(normalise_relative("a", "..").is_err());
        assert!(normalise_relative("a", ".").is_err());
        assert!(normalise_relative("a", "").is_err());
    }

    #[test]
    fn plain_relative() {
        assert!(is_plain_relative("a/b"));
        assert!(!is_plain_relative("a/../b"));
        assert!(!is_plain_relative("/a"));
        assert!(!is_plain_relative("./a"));
        assert!(!is_plain_relative(""));
    }

    #[test]
    fn cache_paths_expand() {
        let root = Path::new("/ws");
        assert_eq!(
            expand_cache_path("node_modules", root).ok(),
            Some(PathBuf::from("/ws/node_modules"))
        );
        assert_eq!(
            expand_cache_path("/var/cache", root).ok(),
            Some(PathBuf::from("/var/cache"))
        );
        match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => {
                let expected = PathBuf::from(home).join(".cargo/registry");
                assert_eq!(
                    expand_cache_path("~/.cargo/registry", root).ok(),
                    Some(expected)
                );
            }
            None => assert!(expand_cache_path("~/.cargo/registry", root).is_err()),
        }
    }

    #[test]
    fn lexical_resolution_stays_in_root() {
        let r = |d: &str, t: &str| resolve_lexically(Path::new(d), Path::new(t));
        assert_eq!(r("a/b", "../c"), Some(PathBuf::from("a/c")));
        assert_eq!(r("a", "../c"), Some(PathBuf::from("c")));
        assert_eq!(r("a", "../../c"), None);
        assert_eq!(r("", "/etc"), None);
    }

    #[test]
    fn relative_paths() {
        let rel = |a: &str, b: &str| relative_between(Path::new(a), Path::new(b));
        assert_eq!(rel("/w/a/b", "/w/c"), PathBuf::from("../../c"));
        assert_eq!(rel("/w", "/w/c/d"), PathBuf::from("c/d"));
        assert_eq!(rel("/w", "/w"), PathBuf::from("."));
    }

    #[test]
    fn job_names_are_safe_and_distinct() {
        assert_eq!(job_file_name("build"), "build");
        let a = job_file_name("test (linux, 1)");
        assert!(a.starts_with("test__linux__1_-"), "{a}");
        assert_ne!(job_file_name("a/b"), job_file_name("a_b"));
        assert_ne!(job_file_name("a/b"), job_file_name("a:b"));
        assert!(!job_file_name("..").starts_with(".."));
        assert!(!job_file_name("").is_empty());
        assert!(job_file_name(&"x".repeat(1000)).len() < 100);
    }
}
