//! The example project of `slipway up`: the files of `examples/hello`,
//! built into the binary, committed to a fresh git repository.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One file of the example: its path in the repository, its text, and
/// whether it is a program.
struct ExampleFile {
    path: &'static str,
    text: &'static str,
    executable: bool,
}

/// The tracked files of `examples/hello` (what `git ls-files` lists there).
const FILES: &[ExampleFile] = &[
    ExampleFile {
        path: ".gitignore",
        text: include_str!("../../../examples/hello/.gitignore"),
        executable: false,
    },
    ExampleFile {
        path: "README.txt",
        text: include_str!("../../../examples/hello/README.txt"),
        executable: false,
    },
    ExampleFile {
        path: "slipway.yml",
        text: include_str!("../../../examples/hello/slipway.yml"),
        executable: false,
    },
    ExampleFile {
        path: "src/hello.sh",
        text: include_str!("../../../examples/hello/src/hello.sh"),
        executable: true,
    },
    ExampleFile {
        path: "tests/run.sh",
        text: include_str!("../../../examples/hello/tests/run.sh"),
        executable: true,
    },
];

/// Creates the repository at `dir` (branch `main`, one commit by
/// "Slipway <slipway@localhost>") and returns its absolute path. A
/// repository left there by an earlier `up` is reused as it is; any other
/// existing content is refused rather than overwritten.
pub fn create_repository(dir: &Path) -> Result<PathBuf, String> {
    if dir.join(".git").exists() {
        if git(dir, &["rev-parse", "--verify", "HEAD"]).is_ok() {
            return absolute(dir);
        }
        return Err(format!(
            "{} holds a git repository without commits; remove it and run `slipway up` again",
            dir.display()
        ));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(true)
    {
        return Err(format!(
            "{} exists and is not a git repository; move it away and run `slipway up` again",
            dir.display()
        ));
    }
    for file in FILES {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, file.text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if file.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("cannot make {} executable: {e}", path.display()))?;
        }
    }
    git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    git(dir, &["add", "--all"])?;
    git(
        dir,
        &[
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            "The example pipeline of Slipway",
        ],
    )?;
    absolute(dir)
}

fn absolute(dir: &Path) -> Result<PathBuf, String> {
    dir.canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Slipway")
        .env("GIT_AUTHOR_EMAIL", "slipway@localhost")
        .env("GIT_COMMITTER_NAME", "Slipway")
        .env("GIT_COMMITTER_EMAIL", "slipway@localhost")
        .output()
        .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_holds_the_example_committed_on_main() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("examples/hello");
        let repo = create_repository(&dir).unwrap();
        assert!(repo.is_absolute());
        let files = git(&repo, &["ls-files", "-s"]).unwrap();
        for file in FILES {
            let mode = if file.executable { "100755" } else { "100644" };
            assert!(
                files
                    .lines()
                    .any(|l| l.starts_with(mode) && l.ends_with(file.path)),
                "{}: {files}",
                file.path
            );
        }
        let branch = git(&repo, &["symbolic-ref", "--short", "HEAD"]).unwrap();
        assert_eq!(branch.trim(), "main");
        let author = git(&repo, &["log", "-1", "--format=%an <%ae>"]).unwrap();
        assert_eq!(author.trim(), "Slipway <slipway@localhost>");
        assert_eq!(git(&repo, &["status", "--porcelain"]).unwrap(), "");
        // The embedded pipeline is the one in the repository.
        let pipeline = std::fs::read_to_string(repo.join("slipway.yml")).unwrap();
        assert!(slipway_spec::parse_pipeline(&pipeline, "slipway.yml").is_ok());
        // A second time reuses it.
        let head = git(&repo, &["rev-parse", "HEAD"]).unwrap();
        let again = create_repository(&dir).unwrap();
        assert_eq!(again, repo);
        assert_eq!(git(&repo, &["rev-parse", "HEAD"]).unwrap(), head);
    }

    #[test]
    fn other_content_is_not_overwritten() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("mine.txt"), "keep").unwrap();
        let error = create_repository(temp.path()).unwrap_err();
        assert!(error.contains("not a git repository"), "{error}");
        assert_eq!(
            std::fs::read_to_string(temp.path().join("mine.txt")).unwrap(),
            "keep"
        );
    }

    #[test]
    fn every_tracked_file_of_the_example_is_embedded() {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
        let Ok(listed) = git(&source, &["ls-files"]) else {
            println!("skipped: examples/hello is not in a git checkout here");
            return;
        };
        let mut tracked: Vec<&str> = listed.lines().collect();
        tracked.sort_unstable();
        let mut embedded: Vec<&str> = FILES.iter().map(|f| f.path).collect();
        embedded.sort_unstable();
        assert_eq!(tracked, embedded);
    }
}
