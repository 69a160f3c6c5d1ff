//! `slipway dora` (being built for issue 5).

use crate::Exit;
use crate::args::DoraArgs;

pub fn dora(_args: DoraArgs) -> Exit {
    eprintln!("error: `slipway dora` is not built yet");
    Exit::Failure
}
