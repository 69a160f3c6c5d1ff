//! Secret values read from standard input (secrets, passwords): never
//! from the command line, where `ps` and shell history would show them.

use std::io::Read;

/// A value from standard input (`what`, e.g. "value of TOKEN"), without
/// its trailing newline; typed without echo when standard input is a
/// terminal. An empty value is refused, showing `example` of piping it in.
pub fn read(what: &str, example: &str) -> Result<String, String> {
    const LIMIT: u64 = 1 << 20;
    let stdin = std::io::stdin();
    let terminal = std::io::IsTerminal::is_terminal(&stdin);
    let mut bytes = Vec::new();
    if terminal {
        eprint!("{what} (not shown; Enter ends it): ");
        let _echo = EchoOff::new();
        let mut line = String::new();
        stdin
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the value: {e}"))?;
        eprintln!();
        bytes = line.into_bytes();
    } else {
        stdin
            .lock()
            .take(LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the value from standard input: {e}"))?;
        if bytes.len() as u64 > LIMIT {
            return Err(format!("the value is longer than {LIMIT} bytes"));
        }
    }
    let mut value =
        String::from_utf8(bytes).map_err(|_| "the value is not UTF-8 text".to_string())?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        return Err(format!("the {what} is empty: pipe it in, e.g. `{example}`"));
    }
    Ok(value)
}

/// Turns the terminal's echo off while alive.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed, then filled,
        // termios; failures leave the terminal as it was.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return EchoOff(None);
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(0, libc::TCSANOW, &quiet) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the attributes read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            }
        }
    }
}
