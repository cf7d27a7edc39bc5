//! Server metrics through the `metrics` facade (the application installs the exporter), with the original's set
//! under Prometheus-style names and labels (PROTOCOL.md §10), plus slow-consumer disconnects and dropped outbound
//! frames:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `websocket_connections_active` | gauge | api, path |
//! | `websocket_connections_total` | counter | api, path, result (`OK`, `QUERY_INVALID`, `HANDSHAKE_FAILED`, `ERROR`) |
//! | `websocket_heartbeat_timeouts_total` | counter | api, path |
//! | `websocket_slow_consumer_disconnects_total` | counter | api, path |
//! | `websocket_requests_total` | counter | api, path, method, result (`OK`, error type, `ROUTE_NOT_FOUND`) |
//! | `websocket_request_duration_ms` | histogram | api, path, method |
//! | `websocket_out_requests_total` | counter | api, path, method, result (`OK`, error type, `CONNECTION_CLOSED`) |
//! | `websocket_out_request_duration_ms` | histogram | api, path, method (requests only) |
//! | `websocket_outbound_dropped_total` | counter | api, path |
//!
//! `api` is the contract name (for modules of one anchor, the first registered), `path` the endpoint path,
//! `method` the message path (`Chat.sendMessage`; `unknown` for paths nobody handles, so garbage cannot inflate the
//! label set).

use std::sync::Mutex;
use std::time::Duration;

use grest_ws_session::{Observer, SessionEnd};
use metrics::{Counter, counter, gauge, histogram};

/// Bucket bounds (ms) the original uses for `websocket_request_duration_ms`.
pub const REQUEST_DURATION_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
/// Bucket bounds (ms) the original uses for `websocket_out_request_duration_ms`.
pub const OUT_REQUEST_DURATION_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0];

/// The labels of one endpoint, made `'static` once at build time so recording never allocates for them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndpointMetrics {
    pub(crate) api: &'static str,
    pub(crate) path: &'static str,
}

/// A handshake outcome, for `websocket_connections_total`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Ok,
    QueryInvalid,
    HandshakeFailed,
    Error,
}

impl EndpointMetrics {
    pub(crate) fn new(api: &str, path: &str) -> Self {
        EndpointMetrics {
            api: Box::leak(api.to_owned().into_boxed_str()),
            path: Box::leak(path.to_owned().into_boxed_str()),
        }
    }

    pub(crate) fn connection(&self, outcome: Outcome) {
        let result = match outcome {
            Outcome::Ok => "OK",
            Outcome::QueryInvalid => "QUERY_INVALID",
            Outcome::HandshakeFailed => "HANDSHAKE_FAILED",
            Outcome::Error => "ERROR",
        };
        counter!("websocket_connections_total", "api" => self.api, "path" => self.path, "result" => result)
            .increment(1);
    }

    /// A broadcast of message `path` was queued for `recipients` connections.
    pub(crate) fn broadcast(&self, path: &'static str, recipients: usize) {
        let method = metrics::SharedString::const_str(path);
        counter!("websocket_out_requests_total", "api" => self.api, "path" => self.path, "method" => method, "result" => "OK")
            .increment(recipients as u64);
    }

    pub(crate) fn active(&self, delta: f64) {
        gauge!("websocket_connections_active", "api" => self.api, "path" => self.path).increment(delta);
    }
}

fn result_label(result: &str) -> metrics::SharedString {
    if result == "OK" {
        metrics::SharedString::const_str("OK")
    } else {
        metrics::SharedString::from(result.to_owned())
    }
}

/// An endpoint's [`Observer`]: its metrics, plus the counter handles of successful outbound messages per message
/// path, so that a push costs an atomic add rather than a metric key built and hashed (a server pushing in a loop
/// would spend a tenth of its time there). Handles bind to the recorder installed when a path is first sent; the
/// application installs its recorder at startup, before connections.
#[derive(Debug)]
pub(crate) struct EndpointObserver {
    metrics: EndpointMetrics,
    sent: Mutex<Vec<(&'static str, Counter)>>,
}

impl EndpointObserver {
    pub(crate) fn new(metrics: EndpointMetrics) -> Self {
        EndpointObserver {
            metrics,
            sent: Mutex::new(Vec::new()),
        }
    }

    /// The `OK` counter of outbound message `path` (a contract has few paths: a scan by address is enough).
    fn sent_ok(&self, path: &'static str) -> Counter {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, counter)) = sent.iter().find(|(known, _)| std::ptr::eq(*known, path)) {
            return counter.clone();
        }
        let method = metrics::SharedString::const_str(path);
        let counter = counter!("websocket_out_requests_total", "api" => self.metrics.api, "path" => self.metrics.path, "method" => method, "result" => "OK");
        sent.push((path, counter.clone()));
        counter
    }
}

impl Observer for EndpointObserver {
    fn inbound(&self, path: Option<&'static str>, result: &str, elapsed: Duration) {
        self.metrics.inbound(path, result, elapsed);
    }

    fn outbound(&self, path: &'static str, result: &str, elapsed: Option<Duration>) {
        match elapsed {
            None if result == "OK" => self.sent_ok(path).increment(1),
            _ => self.metrics.outbound(path, result, elapsed),
        }
    }

    fn dropped(&self, frames: u64) {
        self.metrics.dropped(frames);
    }

    fn ended(&self, end: &SessionEnd) {
        self.metrics.ended(end);
    }
}

impl Observer for EndpointMetrics {
    fn inbound(&self, path: Option<&'static str>, result: &str, elapsed: Duration) {
        let method = metrics::SharedString::const_str(path.unwrap_or("unknown"));
        let result = result_label(result);
        counter!("websocket_requests_total", "api" => self.api, "path" => self.path, "method" => method.clone(), "result" => result)
            .increment(1);
        histogram!("websocket_request_duration_ms", "api" => self.api, "path" => self.path, "method" => method)
            .record(elapsed.as_secs_f64() * 1000.0);
    }

    fn outbound(&self, path: &'static str, result: &str, elapsed: Option<Duration>) {
        let method = metrics::SharedString::const_str(path);
        let result = result_label(result);
        counter!("websocket_out_requests_total", "api" => self.api, "path" => self.path, "method" => method.clone(), "result" => result)
            .increment(1);
        if let Some(elapsed) = elapsed {
            histogram!("websocket_out_request_duration_ms", "api" => self.api, "path" => self.path, "method" => method)
                .record(elapsed.as_secs_f64() * 1000.0);
        }
    }

    fn dropped(&self, frames: u64) {
        counter!("websocket_outbound_dropped_total", "api" => self.api, "path" => self.path).increment(frames);
    }

    fn ended(&self, end: &SessionEnd) {
        match end {
            SessionEnd::HeartbeatTimeout => {
                counter!("websocket_heartbeat_timeouts_total", "api" => self.api, "path" => self.path).increment(1);
            }
            SessionEnd::SlowConsumer => {
                counter!("websocket_slow_consumer_disconnects_total", "api" => self.api, "path" => self.path)
                    .increment(1);
            }
            _ => {}
        }
    }
}
