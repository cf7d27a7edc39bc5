//! Checking what a command will send against the endpoint's served contract, before anything is sent: a call's
//! method and input, and the `--answer` rules' methods and data (for `call` and `listen`), with the server's own
//! coercions and issue codes.
//!
//! Without `--document`, a server that serves no document (a grest-ts server, a grest-ws app without
//! `GrestWs::asyncapi`) or a document that does not describe the endpoint means nothing is checked, as on a
//! byte-stream socket; `--no-check` turns the checks off.

use grest_ws::protocol::contract::ContractDescriptor;
use grest_ws::protocol::validate::{DescriptorError, Path, Rules, ShapeReader, check_value};
use grest_ws::{Direction, Issue};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::args::{ConnectArgs, client_config};
use crate::exit::{Failure, Sent};
use crate::served::{DocumentFailure, Served};

/// The served contract to check against, or `None` when there is nothing to check.
pub(crate) async fn served(args: &ConnectArgs) -> Result<Option<Served>, Failure> {
    if args.no_check {
        return Ok(None);
    }
    let config = client_config(args.handshake_timeout, args.ca.as_ref());
    match Served::load(&args.url, &args.document, &config).await {
        Ok(served) if served.contracts.is_empty() => Ok(None),
        Ok(served) => Ok(Some(served)),
        Err(DocumentFailure::Fetch { .. } | DocumentFailure::NoChannel { .. }) if args.document.document.is_none() => {
            Ok(None)
        }
        Err(failure) => Err(Failure::Document(failure)),
    }
}

/// The call of `path` with `input`: a client-to-server method, and input that fits its shape.
pub(crate) fn call(served: &Served, args: &ConnectArgs, path: &str, input: Option<&RawValue>) -> Result<(), Failure> {
    let unknown = |server_to_client| Failure::UnknownMethod {
        path: path.to_owned(),
        url: args.url.url.clone(),
        callable: served.methods(Direction::ClientToServer, false),
        server_to_client,
    };
    let (contract, method) = match served.method(path) {
        Some((contract, Direction::ClientToServer, method)) => (contract, method),
        Some((_, Direction::ServerToClient, _)) => return Err(unknown(true)),
        None => return Err(unknown(false)),
    };
    let Some(descriptor) = &method.input else {
        return Ok(());
    };
    let issues = fit(served, contract, descriptor, input)?;
    match issues.is_empty() {
        true => Ok(()),
        false => Err(Failure::Refused {
            path: path.to_owned(),
            sent: Sent::Input,
            issues,
        }),
    }
}

/// The `--answer` rules: each for a server-to-client request, with data that fits its success shape.
pub(crate) fn answers(served: &Served, args: &ConnectArgs) -> Result<(), Failure> {
    for answer in &args.answers {
        let found = match served.method(&answer.path) {
            Some((contract, Direction::ServerToClient, method)) if method.request => Some((contract, method)),
            _ => None,
        };
        let Some((contract, method)) = found else {
            return Err(Failure::UnknownAnswer {
                path: answer.path.clone(),
                url: args.url.url.clone(),
                requests: served.methods(Direction::ServerToClient, true),
            });
        };
        let Some(descriptor) = &method.success else {
            continue;
        };
        let issues = fit(served, contract, descriptor, Some(&answer.data))?;
        if !issues.is_empty() {
            return Err(Failure::Refused {
                path: answer.path.clone(),
                sent: Sent::Answer,
                issues,
            });
        }
    }
    Ok(())
}

/// What the shape `descriptor` (of `contract`) finds wrong with `data`.
fn fit(
    served: &Served,
    contract: &ContractDescriptor,
    descriptor: &Value,
    data: Option<&RawValue>,
) -> Result<Vec<Issue>, Failure> {
    let malformed = |error: DescriptorError| {
        Failure::Document(DocumentFailure::Malformed {
            source: served.source.clone(),
            reason: format!("the shapes of {}: {error}", contract.name),
        })
    };
    let shape = ShapeReader::new(&contract.shapes)
        .and_then(|reader| reader.read(descriptor))
        .map_err(malformed)?;
    // Parsed already: raw values are JSON.
    let mut value = data.and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
    let mut issues = Vec::new();
    check_value(value.as_mut(), &shape, &Rules::NONE, &mut Path::root(), &mut issues);
    Ok(issues)
}
