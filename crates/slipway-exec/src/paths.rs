//! Keeping paths given by a pipeline inside the workspace.

use std::path::{Component, Path, PathBuf};

/// Normalises a relative path given by the pipeline (`a/./b/../c` → `a/c`), refusing an
/// absolute path and any `..` that climbs above the root.
pub(crate) fn normalise_relative(rel: &str) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for component in Path::new(rel).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(format!("`{rel}` leaves the workspace (too many `..`)"));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "`{rel}` is an absolute path; give a path relative to the workspace root"
                ));
            }
        }
    }
    Ok(out)
}

/// The working directory of a step: the root, or `workdir` under it, which must be a
/// directory that does not leave the root. The error is phrased for the step's log.
pub(crate) fn step_cwd(root: &Path, workdir: Option<&str>) -> Result<PathBuf, String> {
    match workdir {
        None => Ok(root.to_path_buf()),
        Some(dir) => match resolve_inside(root, dir) {
            Ok(cwd) if cwd.is_dir() => Ok(cwd),
            Ok(_) => Err(format!("workdir `{dir}` is not a directory")),
            Err(e) => Err(format!("workdir {e}")),
        },
    }
}

/// Resolves `rel` under `root` (which must be canonical), following symlinks, and refuses a
/// result outside the root. The path must exist.
pub(crate) fn resolve_inside(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let joined = root.join(normalise_relative(rel)?);
    let real = std::fs::canonicalize(&joined)
        .map_err(|e| format!("`{rel}` cannot be opened in the workspace: {e}"))?;
    if !real.starts_with(root) {
        return Err(format!(
            "`{rel}` leads outside the workspace (through a symbolic link) to {}",
            real.display()
        ));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        assert_eq!(normalise_relative("a/./b/../c"), Ok(PathBuf::from("a/c")));
        assert_eq!(normalise_relative("."), Ok(PathBuf::new()));
        assert!(normalise_relative("../x").is_err());
        assert!(normalise_relative("a/../../x").is_err());
        assert!(normalise_relative("/etc/passwd").is_err());
    }
}
