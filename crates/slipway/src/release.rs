//! `slipway release` (being built for issue 5).

use crate::Exit;
use crate::args::ReleaseArgs;

pub async fn release(_args: ReleaseArgs) -> Exit {
    eprintln!("error: `slipway release` is not built yet");
    Exit::Failure
}
