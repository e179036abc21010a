//! `wxpay-ops demo`: the signing toolkit checked against published values, then a whole
//! payment flow against the built-in emulator.

use super::failure::{Failure, exit};
use super::settings::Context;
use crate::demo::{emulator_flow, published_vectors};

pub fn run(context: &Context) -> Result<u8, Failure> {
    let mut steps = published_vectors();
    context
        .printer
        .status("running a payment flow against the built-in emulator…");
    let flow = emulator_flow().map_err(|e| {
        Failure::new(exit::TEMPORARY, format!("the emulator flow stopped: {e}"))
            .hint("the demo needs two free loopback ports and a writable temporary folder")
    })?;
    steps.extend(flow);
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let check = if s.ok { "ok" } else { "FAILED" };
            vec![s.name.to_owned(), s.result.clone(), check.to_owned()]
        })
        .collect();
    context.printer.rows(&["step", "result", "check"], &rows)?;
    let failed = steps.iter().filter(|s| !s.ok).count();
    if failed > 0 {
        return Err(Failure::new(
            exit::VERIFY,
            format!("{failed} demo step(s) did not give the expected result"),
        ));
    }
    context.printer.status(
        "every signature matches the published vectors, and the payment flow ran end to end against the emulator",
    );
    Ok(exit::OK)
}
