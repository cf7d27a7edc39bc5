//! Server metrics through the `metrics` facade (the application installs the exporter), with the original's set
//! under Prometheus-style names and labels (docs/protocol.md §10), plus slow-consumer disconnects and dropped outbound
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
//! | `websocket_backplane_publish_failed_total` | counter | stage (`queue`: the adapter's queue refused it; `engine`: Redis or NATS did) |
//! | `websocket_backplane_receive_dropped_total` | counter | reason (`unreadable`: not a backplane message of this version; `slow`: the adapter's receive buffer was full) |
//!
//! `api` is the contract name (for modules of one anchor, the first registered), `path` the endpoint path,
//! `method` the message path (`Chat.sendMessage`; `unknown` for paths nobody handles, so garbage cannot inflate the
//! label set).
//!
//! Each comes with a description and a unit (`# HELP` in Prometheus): [`GrestWs::build`](crate::GrestWs::build)
//! hands them to the recorder installed at that moment, so install the exporter before building the server (or
//! call [`describe`] once it is installed). The Redis and NATS backplanes count under the two
//! `websocket_backplane_*` names, described with the server that uses them.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use grest_ws_session::{Observer, SessionEnd};
use metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

/// Bucket bounds (ms) the original uses for `websocket_request_duration_ms`.
pub const REQUEST_DURATION_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
/// Bucket bounds (ms) the original uses for `websocket_out_request_duration_ms`.
pub const OUT_REQUEST_DURATION_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0];

/// What kind of metric a [`Description`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution of observations.
    Histogram,
}

/// The description of one metric the server (or its backplane) emits.
#[derive(Debug, Clone, Copy)]
pub struct Description {
    /// The metric name.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Its unit.
    pub unit: Unit,
    /// The help text.
    pub help: &'static str,
}

/// Every metric of the table above, described.
pub const DESCRIPTIONS: &[Description] = &[
    Description {
        name: "websocket_connections_active",
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Typed WebSocket connections open now (handshake accepted, socket not yet closed)",
    },
    Description {
        name: "websocket_connections_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "WebSocket handshakes, by result (OK, QUERY_INVALID, HANDSHAKE_FAILED, ERROR)",
    },
    Description {
        name: "websocket_heartbeat_timeouts_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Connections dropped because nothing arrived from the peer within the heartbeat deadline",
    },
    Description {
        name: "websocket_slow_consumer_disconnects_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Connections closed with 1013 because their reader fell more than the outbound budget behind",
    },
    Description {
        name: "websocket_requests_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Client-to-server messages and requests handled, by method and result (OK, error type, ROUTE_NOT_FOUND)",
    },
    Description {
        name: "websocket_request_duration_ms",
        kind: Kind::Histogram,
        unit: Unit::Milliseconds,
        help: "Time to handle a client-to-server message or request, in milliseconds",
    },
    Description {
        name: "websocket_out_requests_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Server-to-client messages and requests, by method and result (OK, error type, CONNECTION_CLOSED); \
               a broadcast counts once per recipient",
    },
    Description {
        name: "websocket_out_request_duration_ms",
        kind: Kind::Histogram,
        unit: Unit::Milliseconds,
        help: "Time from a server-to-client request to its reply, in milliseconds",
    },
    Description {
        name: "websocket_outbound_dropped_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Outbound frames dropped unsent (the slow-consumer policy, or a connection that closed first)",
    },
    Description {
        name: "websocket_backplane_publish_failed_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Messages the backplane could not publish, by stage (queue: the adapter's queue was full; engine: \
               Redis or NATS refused them)",
    },
    Description {
        name: "websocket_backplane_receive_dropped_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Backplane messages received and dropped, by reason (unreadable: not a backplane message of this \
               version; slow: the receive buffer was full)",
    },
];

/// Hands every [`Description`] to the installed recorder (what Prometheus shows as `# HELP`). Repeating it is
/// harmless; [`GrestWs::build`](crate::GrestWs::build) does it for every server.
pub fn describe() {
    for Description { name, kind, unit, help } in DESCRIPTIONS {
        match kind {
            Kind::Counter => describe_counter!(*name, *unit, *help),
            Kind::Gauge => describe_gauge!(*name, *unit, *help),
            Kind::Histogram => describe_histogram!(*name, *unit, *help),
        }
    }
}

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

/// `text` as a `&'static str` for metric labels, allocated once per distinct value for the life of the process
/// (servers built again and again — tests, reloads — reuse it instead of leaking a copy per build).
fn intern(text: &str) -> &'static str {
    static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut interned = INTERNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match interned.get(text) {
        Some(known) => known,
        None => {
            let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
            interned.insert(text);
            text
        }
    }
}

impl EndpointMetrics {
    pub(crate) fn new(api: &str, path: &str) -> Self {
        EndpointMetrics {
            api: intern(api),
            path: intern(path),
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
        self.out_requests(path, "OK").increment(recipients as u64);
    }

    /// `websocket_requests_total` of one method and result.
    fn requests(&self, method: &'static str, result: &str) -> Counter {
        let method = metrics::SharedString::const_str(method);
        counter!("websocket_requests_total", "api" => self.api, "path" => self.path, "method" => method, "result" => result_label(result))
    }

    /// `websocket_request_duration_ms` of one method.
    fn request_duration(&self, method: &'static str) -> Histogram {
        let method = metrics::SharedString::const_str(method);
        histogram!("websocket_request_duration_ms", "api" => self.api, "path" => self.path, "method" => method)
    }

    /// `websocket_out_requests_total` of one method and result.
    fn out_requests(&self, method: &'static str, result: &str) -> Counter {
        let method = metrics::SharedString::const_str(method);
        counter!("websocket_out_requests_total", "api" => self.api, "path" => self.path, "method" => method, "result" => result_label(result))
    }

    /// `websocket_out_request_duration_ms` of one method.
    fn out_request_duration(&self, method: &'static str) -> Histogram {
        let method = metrics::SharedString::const_str(method);
        histogram!("websocket_out_request_duration_ms", "api" => self.api, "path" => self.path, "method" => method)
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

/// An endpoint's [`Observer`]: its metrics, with the handles of the per-message series (successful requests and
/// their durations, successful outbound messages and requests and their durations) registered once per message
/// path, so that recording costs an atomic add rather than a metric key built and hashed per message. Handles bind
/// to the recorder installed when a path is first seen; the application installs its recorder at startup, before
/// connections. Failures keep the slow path (their result label varies and they are rare).
#[derive(Debug)]
pub(crate) struct EndpointObserver {
    metrics: EndpointMetrics,
    handled: PerPath<Timed>,
    sent: PerPath<Counter>,
    asked: PerPath<Timed>,
}

/// The handles of one method's timed series (requests handled or made): its `OK` counter and its durations.
#[derive(Debug, Clone)]
struct Timed {
    ok: Counter,
    duration: Histogram,
}

impl Timed {
    /// Counts one call with `result` (a failure through the slow path: its label varies) and records its duration.
    fn record(&self, result: &str, elapsed: Duration, failed: impl FnOnce(&str) -> Counter) {
        match result {
            "OK" => self.ok.increment(1),
            other => failed(other).increment(1),
        }
        self.duration.record(elapsed.as_secs_f64() * 1000.0);
    }
}

/// Handles per message path (a contract has few paths: a scan by address is enough).
#[derive(Debug)]
struct PerPath<T>(Mutex<Vec<(&'static str, T)>>);

impl<T: Clone> PerPath<T> {
    fn new() -> Self {
        PerPath(Mutex::new(Vec::new()))
    }

    fn get(&self, path: &'static str, register: impl FnOnce() -> T) -> T {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, handles)) = known.iter().find(|(seen, _)| std::ptr::eq(*seen, path)) {
            return handles.clone();
        }
        let handles = register();
        known.push((path, handles.clone()));
        handles
    }
}

impl EndpointObserver {
    pub(crate) fn new(metrics: EndpointMetrics) -> Self {
        EndpointObserver {
            metrics,
            handled: PerPath::new(),
            sent: PerPath::new(),
            asked: PerPath::new(),
        }
    }
}

impl Observer for EndpointObserver {
    fn inbound(&self, path: Option<&'static str>, result: &str, elapsed: Duration) {
        let method = path.unwrap_or("unknown");
        let timed = self.handled.get(method, || Timed {
            ok: self.metrics.requests(method, "OK"),
            duration: self.metrics.request_duration(method),
        });
        timed.record(result, elapsed, |failed| self.metrics.requests(method, failed));
    }

    fn outbound(&self, path: &'static str, result: &str, elapsed: Option<Duration>) {
        let Some(elapsed) = elapsed else {
            // A fire-and-forget message: counted, not timed.
            let counter = match result {
                "OK" => self.sent.get(path, || self.metrics.out_requests(path, "OK")),
                failed => self.metrics.out_requests(path, failed),
            };
            return counter.increment(1);
        };
        let timed = self.asked.get(path, || Timed {
            ok: self.metrics.out_requests(path, "OK"),
            duration: self.metrics.out_request_duration(path),
        });
        timed.record(result, elapsed, |failed| self.metrics.out_requests(path, failed));
    }

    fn dropped(&self, frames: u64) {
        let (api, path) = (self.metrics.api, self.metrics.path);
        counter!("websocket_outbound_dropped_total", "api" => api, "path" => path).increment(frames);
    }

    fn ended(&self, end: &SessionEnd) {
        let (api, path) = (self.metrics.api, self.metrics.path);
        match end {
            SessionEnd::HeartbeatTimeout => {
                counter!("websocket_heartbeat_timeouts_total", "api" => api, "path" => path).increment(1);
            }
            SessionEnd::SlowConsumer => {
                counter!("websocket_slow_consumer_disconnects_total", "api" => api, "path" => path).increment(1);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use metrics::{Gauge, Key, KeyName, Metadata, Recorder, SharedString, Unit};

    use super::*;

    /// Equal text interns to the very same `&'static str`, whatever allocation it came from.
    #[test]
    fn interning_returns_one_static_str_per_text() {
        let a = intern(&String::from("/ws/interned"));
        let b = intern(&["/ws/", "interned"].concat());
        assert!(std::ptr::eq(a, b));
        assert_eq!(a, "/ws/interned");
        let other = intern("/ws/other-interned");
        assert!(!std::ptr::eq(a, other));
        let first = EndpointMetrics::new("Interned", "/ws/interned");
        let again = EndpointMetrics::new(&String::from("Interned"), "/ws/interned");
        assert!(std::ptr::eq(first.api, again.api) && std::ptr::eq(first.path, a));
    }

    /// `OK` is a static label; any other result is carried as its own text.
    #[test]
    fn result_labels_keep_the_result_text() {
        assert_eq!(result_label("OK"), SharedString::const_str("OK"));
        assert_eq!(&*result_label("ROOM_FULL"), "ROOM_FULL");
        assert_eq!(&*result_label("CONNECTION_CLOSED"), "CONNECTION_CLOSED");
    }

    /// Per-path handles are registered once per path (by address) and reused after.
    #[test]
    fn per_path_handles_register_once() {
        static A: &str = "Chat.a";
        static B: &str = "Chat.b";
        let handles = PerPath::new();
        let registered = AtomicU64::new(0);
        let register = |value: u32| {
            registered.fetch_add(1, Ordering::Relaxed);
            value
        };
        assert_eq!(handles.get(A, || register(1)), 1);
        assert_eq!(handles.get(A, || register(2)), 1, "the first registration is kept");
        assert_eq!(handles.get(B, || register(3)), 3);
        assert_eq!(registered.load(Ordering::Relaxed), 2);
    }

    /// A recorder that keeps every series as `name{label=value,…}`: counters and gauges as numbers, histograms as
    /// their samples.
    #[derive(Default)]
    struct Recorded {
        counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
        gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
        histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
    }

    #[derive(Default)]
    struct Samples(Mutex<Vec<f64>>);

    impl metrics::HistogramFn for Samples {
        fn record(&self, value: f64) {
            self.0.lock().unwrap().push(value);
        }
    }

    fn series(key: &Key) -> String {
        let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        labels.sort();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl Recorder for Recorded {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let mut counters = self.counters.lock().unwrap();
            Counter::from_arc(counters.entry(series(key)).or_default().clone())
        }

        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            let mut gauges = self.gauges.lock().unwrap();
            Gauge::from_arc(gauges.entry(series(key)).or_default().clone())
        }

        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            let mut histograms = self.histograms.lock().unwrap();
            Histogram::from_arc(histograms.entry(series(key)).or_default().clone())
        }
    }

    impl Recorded {
        fn counters(&self) -> BTreeMap<String, u64> {
            let counters = self.counters.lock().unwrap();
            counters
                .iter()
                .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
                .filter(|(_, v)| *v > 0)
                .collect()
        }

        fn samples(&self, series: &str) -> Vec<f64> {
            let histograms = self.histograms.lock().unwrap();
            histograms
                .get(series)
                .map(|s| s.0.lock().unwrap().clone())
                .unwrap_or_default()
        }
    }

    /// The observer records the original's series and labels: results, `unknown` methods, durations in ms.
    #[test]
    fn the_observer_records_the_documented_series() {
        let recorded = Recorded::default();
        metrics::with_local_recorder(&recorded, || {
            let metrics = EndpointMetrics::new("Chat", "/ws/chat");
            let observer = EndpointObserver::new(metrics);
            observer.inbound(Some("Chat.send"), "OK", Duration::from_micros(1500));
            observer.inbound(Some("Chat.send"), "OK", Duration::from_millis(3));
            observer.inbound(Some("Chat.send"), "ROOM_FULL", Duration::from_millis(4));
            observer.inbound(None, "ROUTE_NOT_FOUND", Duration::ZERO);
            observer.outbound("Chat.ping", "OK", None);
            observer.outbound("Chat.ping", "CONNECTION_CLOSED", None);
            observer.outbound("Chat.ask", "OK", Some(Duration::from_millis(7)));
            observer.dropped(3);
            observer.ended(&SessionEnd::HeartbeatTimeout);
            observer.ended(&SessionEnd::SlowConsumer);
            observer.ended(&SessionEnd::Closed);
            metrics.connection(Outcome::Ok);
            metrics.connection(Outcome::QueryInvalid);
            metrics.connection(Outcome::HandshakeFailed);
            metrics.connection(Outcome::Error);
            metrics.broadcast("Chat.news", 5);
        });
        let labels = "api=Chat,path=/ws/chat";
        let expected: BTreeMap<String, u64> = [
            (
                "websocket_requests_total{api=Chat,method=Chat.send,path=/ws/chat,result=OK}",
                2,
            ),
            (
                "websocket_requests_total{api=Chat,method=Chat.send,path=/ws/chat,result=ROOM_FULL}",
                1,
            ),
            (
                "websocket_requests_total{api=Chat,method=unknown,path=/ws/chat,result=ROUTE_NOT_FOUND}",
                1,
            ),
            (
                "websocket_out_requests_total{api=Chat,method=Chat.ping,path=/ws/chat,result=OK}",
                1,
            ),
            (
                "websocket_out_requests_total{api=Chat,method=Chat.ping,path=/ws/chat,result=CONNECTION_CLOSED}",
                1,
            ),
            (
                "websocket_out_requests_total{api=Chat,method=Chat.ask,path=/ws/chat,result=OK}",
                1,
            ),
            (
                "websocket_out_requests_total{api=Chat,method=Chat.news,path=/ws/chat,result=OK}",
                5,
            ),
            (&format!("websocket_outbound_dropped_total{{{labels}}}"), 3),
            (&format!("websocket_heartbeat_timeouts_total{{{labels}}}"), 1),
            (&format!("websocket_slow_consumer_disconnects_total{{{labels}}}"), 1),
            (&format!("websocket_connections_total{{{labels},result=OK}}"), 1),
            (
                &format!("websocket_connections_total{{{labels},result=QUERY_INVALID}}"),
                1,
            ),
            (
                &format!("websocket_connections_total{{{labels},result=HANDSHAKE_FAILED}}"),
                1,
            ),
            (&format!("websocket_connections_total{{{labels},result=ERROR}}"), 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(recorded.counters(), expected);
        assert_eq!(
            recorded.samples("websocket_request_duration_ms{api=Chat,method=Chat.send,path=/ws/chat}"),
            [1.5, 3.0, 4.0]
        );
        assert_eq!(
            recorded.samples("websocket_request_duration_ms{api=Chat,method=unknown,path=/ws/chat}"),
            [0.0]
        );
        assert_eq!(
            recorded.samples("websocket_out_request_duration_ms{api=Chat,method=Chat.ask,path=/ws/chat}"),
            [7.0]
        );
        assert!(
            recorded
                .samples("websocket_out_request_duration_ms{api=Chat,method=Chat.ping,path=/ws/chat}")
                .is_empty(),
            "fire-and-forget messages are not timed"
        );
    }

    /// The active-connections gauge moves by the deltas given.
    #[test]
    fn the_active_gauge_moves_by_deltas() {
        let recorded = Recorded::default();
        metrics::with_local_recorder(&recorded, || {
            let metrics = EndpointMetrics::new("Chat", "/ws/chat");
            metrics.active(1.0);
            metrics.active(1.0);
            metrics.active(-1.0);
        });
        let gauges = recorded.gauges.lock().unwrap();
        let active = &gauges["websocket_connections_active{api=Chat,path=/ws/chat}"];
        assert_eq!(f64::from_bits(active.load(Ordering::Relaxed)), 1.0);
    }
}
