//! `slipway approve` (being built for issue 5).

use crate::Exit;
use crate::args::ApproveArgs;

pub async fn approve(_args: ApproveArgs) -> Exit {
    eprintln!("error: `slipway approve` is not built yet");
    Exit::Failure
}
