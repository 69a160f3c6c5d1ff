//! The `git` context of a local run, read from the working directory.

use std::path::Path;
use std::process::Command;

use slipway_engine::records::GitInfo;

/// Branch, commit, tag at HEAD, and the paths changed in the working tree.
/// Outside a git repository every field is empty.
pub fn local_info(root: &Path) -> GitInfo {
    let mut info = GitInfo {
        event: "local".to_string(),
        ..GitInfo::default()
    };
    let Some(status) = git(
        root,
        &[
            "status",
            "--porcelain=v2",
            "--branch",
            "-z",
            "--untracked-files=all",
        ],
    ) else {
        return info;
    };
    let mut fields = status.split('\0');
    while let Some(field) = fields.next() {
        if let Some(oid) = field.strip_prefix("# branch.oid ") {
            if oid != "(initial)" {
                info.sha = Some(oid.to_string());
            }
        } else if let Some(head) = field.strip_prefix("# branch.head ") {
            if head != "(detached)" {
                info.branch = Some(head.to_string());
            }
        } else if let Some(path) = field.strip_prefix("? ") {
            info.changed_paths.push(path.to_string());
        } else if field.starts_with("1 ") || field.starts_with("u ") {
            if let Some(path) = nth_field(field, if field.starts_with("1 ") { 8 } else { 10 }) {
                info.changed_paths.push(path.to_string());
            }
        } else if field.starts_with("2 ") {
            if let Some(path) = nth_field(field, 9) {
                info.changed_paths.push(path.to_string());
            }
            // The original path of a rename follows as its own field.
            fields.next();
        }
    }
    if info.sha.is_some()
        && let Some(tags) = git(root, &["tag", "--points-at", "HEAD"])
    {
        info.tag = tags.lines().next().map(str::to_string);
    }
    info.changed_paths.sort();
    info
}

/// The field at `index` (0-based) of a space-separated status entry, where
/// the last field (the path) may itself contain spaces.
fn nth_field(entry: &str, index: usize) -> Option<&str> {
    entry.splitn(index + 1, ' ').nth(index)
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}

/// The commit at HEAD, for `--clean`.
pub fn head_commit(root: &Path) -> Option<String> {
    git(root, &["rev-parse", "HEAD"]).map(|s| s.trim().to_string())
}
