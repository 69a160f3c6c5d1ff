//! Running a one-line command of plain words without a shell, as `make` does.
//!
//! Starting `bash` costs a millisecond or two, more than the command `true` itself. When a script
//! is a single line of plain words, the shell would only split it on spaces, look the first word
//! up in `PATH` and execute it: the executor can do exactly that itself. The rule is strict so
//! that the result is always the same as through the shell; whenever it does not apply, or the
//! program is not found, the script simply goes through the shell (which then prints its own
//! "command not found" and exits 127).
//!
//! A script qualifies when:
//! - it is one line (surrounding blanks and line breaks ignored) of words separated by spaces or
//!   tabs, each made only of `A-Z a-z 0-9 _ . / , : = + @ % -` — so no quotes, no `$`, no
//!   globbing, no redirection, no `~`, no comment, no brace expansion;
//! - the first word is not a variable assignment (contains no `=`) and not a shell keyword or
//!   builtin (`cd`, `exit`, `export`, `set`, `.`, `eval`, …), since those act on the shell itself
//!   or differ from the program of the same name;
//! - except for four builtins whose programs in `/usr/bin` behave the same on plain words:
//!   `test`, `true` and `false` (no argument starting with `--`, which coreutils would read as
//!   `--help`/`--version`), and `echo` (no argument starting with `-`, whose options differ
//!   between bash, dash and coreutils). Diagnostics of a malformed `test` expression are worded
//!   differently by the program than by the builtin; the exit status is the same.
//!
//! The environment must also not change what the shell does before running the command:
//! `BASH_ENV` (a file bash sources first), exported functions (`BASH_FUNC_*`), `SHELLOPTS` and
//! `BASHOPTS` send the step through the shell.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Keywords and builtins of bash and dash: a script starting with one of these needs a shell.
const SHELL_WORDS: &[&str] = &[
    // keywords
    "!",
    "[[",
    "]]",
    "{",
    "}",
    "case",
    "coproc",
    "do",
    "done",
    "elif",
    "else",
    "esac",
    "fi",
    "for",
    "function",
    "if",
    "in",
    "select",
    "then",
    "time",
    "until",
    "while",
    // builtins of bash and dash (`test`, `true`, `false`, `echo` are handled apart)
    ".",
    ":",
    "[",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "cd",
    "chdir",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "declare",
    "dirs",
    "disown",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "times",
    "trap",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
];

/// Splits `script` into the words of a command that can run without a shell, or returns `None`
/// when the shell is needed. See the module documentation for the rule.
pub fn plain_command(script: &str) -> Option<Vec<&str>> {
    let line = script.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    if line.is_empty()
        || !line
            .bytes()
            .all(|b| is_plain_byte(b) || b == b' ' || b == b'\t')
    {
        return None;
    }
    let words: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    let (&program, args) = words.split_first()?;
    if program.contains('=') || SHELL_WORDS.contains(&program) {
        return None;
    }
    let plain_args = match program {
        "true" | "false" => args.iter().all(|a| !a.starts_with("--")),
        "echo" => args.iter().all(|a| !a.starts_with('-')),
        _ => true,
    };
    plain_args.then_some(words)
}

fn is_plain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'_' | b'.' | b'/' | b',' | b':' | b'=' | b'+' | b'@' | b'%' | b'-'
        )
}

/// True when a variable of this name changes what the shell does before running a command.
pub fn changes_shell_startup(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name == b"BASH_ENV"
        || name == b"SHELLOPTS"
        || name == b"BASHOPTS"
        || name.starts_with(b"BASH_FUNC_")
}

/// Finds the executable a shell would run for `program`, searching `path_var` (the `PATH` the
/// step sees) as the shell does: a name with a `/` is taken as a path from `cwd`; otherwise the
/// first directory holding an executable regular file of that name wins, an empty entry meaning
/// `cwd`. `None` when there is no such file (the shell then reports the error).
pub fn resolve_program(program: &str, path_var: Option<&OsStr>, cwd: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        let candidate = cwd.join(program);
        return is_executable_file(&candidate).then_some(candidate);
    }
    let path_var = path_var?;
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        let dir = Path::new(OsStr::from_bytes(dir));
        let candidate = if dir.as_os_str().is_empty() {
            cwd.join(program)
        } else {
            cwd.join(dir).join(program)
        };
        if is_executable_file(&candidate) {
            return Some(candidate);
        }
    }
    None
}

fn is_executable_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::X_OK,
            libc::AT_EACCESS,
        ) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_qualify() {
        assert_eq!(plain_command("true"), Some(vec!["true"]));
        assert_eq!(
            plain_command("  cargo test --workspace -j2\n"),
            Some(vec!["cargo", "test", "--workspace", "-j2"])
        );
        assert_eq!(
            plain_command("make\tCC=gcc all"),
            Some(vec!["make", "CC=gcc", "all"])
        );
        assert_eq!(plain_command("./build.sh"), Some(vec!["./build.sh"]));
        assert_eq!(plain_command("test -f x"), Some(vec!["test", "-f", "x"]));
    }

    #[test]
    fn shell_syntax_needs_the_shell() {
        for script in [
            "",
            "echo $HOME",
            "echo 'a b'",
            "ls *.rs",
            "a && b",
            "echo hi > f",
            "echo ~",
            "true # comment",
            "echo {a,b}",
            "a\nb",
            "FOO=1 env",
            "cd src",
            "exit 3",
            "export A=1",
            ". env.sh",
            "[ -f x ]",
            "echo -e x",
            "true --help",
            "if",
            "kill %1",
            "écho",
        ] {
            assert_eq!(plain_command(script), None, "{script:?}");
        }
    }

    #[test]
    fn startup_variables_are_recognised() {
        assert!(changes_shell_startup(OsStr::new("BASH_ENV")));
        assert!(changes_shell_startup(OsStr::new("BASH_FUNC_f%%")));
        assert!(!changes_shell_startup(OsStr::new("PATH")));
    }

    #[test]
    fn programs_resolve_through_path() {
        let cwd = Path::new("/");
        let path = OsStr::new("/nonexistent:/usr/bin:/bin");
        let found = resolve_program("env", Some(path), cwd);
        assert!(found.is_some_and(|p| p.ends_with("env")));
        assert_eq!(
            resolve_program("no-such-program-xyz", Some(path), cwd),
            None
        );
        assert_eq!(resolve_program("env", None, cwd), None);
        assert_eq!(resolve_program("usr", Some(OsStr::new("/")), cwd), None);
    }
}
