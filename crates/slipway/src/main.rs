//! The `slipway` binary: everything happens in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    slipway::main()
}
