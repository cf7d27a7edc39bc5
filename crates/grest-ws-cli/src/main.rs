//! `grest-ws`: a command line for grest WebSocket endpoints — what grpcurl is to gRPC. It speaks only the wire
//! protocol (docs/protocol.md), so it works against any grest-ws or grest-ts server without the contract:
//!
//! * `grest-ws describe <url>` prints the endpoint's contract from the AsyncAPI document its server serves.
//! * `grest-ws call <url> <Module.method> [json]` checks the input against that document when there is one, sends
//!   a request and prints the result's data as JSON; an error reply goes to stderr as its envelope, and the exit
//!   code says which error it was ([`exit::Exit`]).
//! * `grest-ws listen <url>` prints every push and server-to-client request as one JSON line, answering the
//!   requests from `--answer` rules (checked against the document like a call's input).
//!
//! `call` and `listen` take handshake headers, cookies, query parameters and a bearer token, `wss://` with a private CA, and
//! `--reconnect`. Run `grest-ws --help` for the flags, examples and the exit code table.

mod answer;
mod args;
mod call;
mod check;
mod connect;
mod describe;
mod exit;
mod listen;
mod served;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::exit::Exit;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Describe(args) => describe::run(args).await,
        Command::Call(args) => call::run(args).await,
        Command::Listen(args) => listen::run(args).await,
    };
    match outcome {
        Ok(()) => Exit::Ok.into(),
        Err(failure) => {
            if let Some(envelope) = failure.envelope() {
                eprintln!("{envelope}");
            }
            eprintln!("error: {failure}");
            failure.exit().into()
        }
    }
}
