//! The `slipway-demo` binary: parses its arguments and hands over to [`slipway_demo::main`].

fn main() -> std::process::ExitCode {
    slipway_demo::main(std::env::args_os().skip(1))
}
