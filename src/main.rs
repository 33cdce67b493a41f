//! The `projetyd` binary: parse the command line, run it, turn an error into
//! an exit code. Everything else lives in the library (`src/lib.rs`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli: projetyd::cli::Cli = argh::from_env();
    match projetyd::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("projetyd: {err}");
            ExitCode::FAILURE
        }
    }
}
