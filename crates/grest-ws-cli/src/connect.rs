//! The connection to an endpoint: grest-ws's raw client over a contract without methods, so the handshake (`h`
//! with the headers and bearer token, the upgrade with the cookies and query, `k` or `x`), heartbeats and
//! reconnects are the library's, and every frame after `k` reaches the command as text. The protocol duties that
//! need no command are done here: application pings are answered, server-to-client requests get their `--answer`
//! (or `ROUTE_NOT_FOUND`), and drops and reconnects are reported on stderr.

use grest_ws::client::{
    ClientError, ClientMiddleware, CloseReason, ConnectError, DisconnectReason, RawClient, RawConnection,
    ReconnectConfig,
};
use grest_ws::protocol::auth::Outbound;
use grest_ws::protocol::frame::{Frame, FrameKind, PONG};
use grest_ws::session::{RawMessage, SendError};
use grest_ws::{RawContract, RawSchema, Wire};
use tokio::sync::mpsc;

use crate::answer::Answers;
use crate::args::{ConnectArgs, client_config};
use crate::exit::Failure;

/// Any grest endpoint, seen as a stream of text frames: the commands write and read the frames themselves.
struct AnyEndpoint;

impl RawContract for AnyEndpoint {
    const NAME: &'static str = "grest-ws-cli";
    type Query = ();
}

/// `--bearer`: the `authorization` handshake header, as `Bearer <token>`.
const BEARER: Wire = Wire::header("bearer", "authorization").bearer();

/// `--cookie` and the query parameters: what the upgrade request carries besides the handshake headers.
struct Upgrade {
    cookies: Vec<(String, String)>,
    query: Vec<(String, String)>,
}

impl ClientMiddleware for Upgrade {
    fn update(&self, outbound: &mut Outbound) {
        outbound.cookies.extend(self.cookies.iter().cloned());
        outbound.query.extend(self.query.iter().cloned());
    }
}

/// What happens on a connection, in order.
#[derive(Debug)]
pub(crate) enum Event {
    /// A frame from the server (text, or binary holding UTF-8 text), not an application ping. Requests among them
    /// have been answered.
    Frame(String),
    /// The connection dropped and is back (a fresh socket: nothing pending on the old one will be answered).
    Reconnected,
    /// The client ended for good.
    Closed {
        /// Why.
        reason: CloseReason,
        /// The last failed reconnect attempt, when reconnecting gave up.
        error: Option<ConnectError>,
    },
}

/// A handshaken connection and what arrives on it.
pub(crate) struct Connection {
    raw: RawConnection,
    events: mpsc::UnboundedReceiver<Event>,
    answers: Answers,
}

impl Connection {
    /// Connects and runs the handshake; resolves once the server has accepted it.
    pub(crate) async fn open(args: &ConnectArgs) -> Result<Connection, Failure> {
        let endpoint = &args.url;
        // The schema wants a path for the whole program's life; one per run.
        let path: &'static str = Box::leak(endpoint.path.clone().into_boxed_str());
        let config = client_config(args.handshake_timeout, args.ca.as_ref())
            .reconnect(args.reconnect.then(ReconnectConfig::default));
        let (sender, events) = mpsc::unbounded_channel();
        let mut client = RawClient::new(RawSchema::<AnyEndpoint>::new(path), endpoint.base.as_str())
            .config(config)
            .middleware(Upgrade {
                cookies: args.cookies.clone(),
                query: endpoint.query.iter().chain(&args.query).cloned().collect(),
            });
        if let Some(token) = &args.bearer {
            client = client.credential(BEARER, token.as_str());
        }
        for (name, value) in &args.headers {
            client = client.header(name, value.as_str());
        }
        let url = endpoint.url.clone();
        let (frames, reconnects, closes) = (sender.clone(), sender.clone(), sender);
        let reconnecting = args.reconnect;
        let raw = client
            .on_message(move |message: &RawMessage| {
                if let Ok(text) = std::str::from_utf8(message.as_bytes()) {
                    let _ = frames.send(Event::Frame(text.to_owned()));
                }
            })
            .on_disconnect(move |reason| {
                if reconnecting && reason == DisconnectReason::Drop {
                    eprintln!("the connection dropped; reconnecting…");
                }
            })
            .on_error(|error| {
                if let ClientError::Reconnect(error) = error {
                    eprintln!("still reconnecting: {error}");
                }
            })
            .on_reconnect(move || {
                eprintln!("reconnected to {url}");
                let _ = reconnects.send(Event::Reconnected);
            })
            .on_close(move |reason, error| {
                let _ = closes.send(Event::Closed {
                    reason,
                    error: error.cloned(),
                });
            })
            .connect()
            .await
            .map_err(|error| Failure::Connect {
                url: endpoint.url.clone(),
                error,
            })?;
        Ok(Connection {
            raw,
            events,
            answers: Answers::new(&args.answers),
        })
    }

    /// Sends a text frame. Fails while reconnecting or once closed; the next events say which.
    pub(crate) async fn send(&self, frame: &str) -> Result<(), SendError> {
        self.raw.send(frame).await
    }

    /// The next event; pings are answered with `o` and requests with their answer on the way.
    pub(crate) async fn next(&mut self) -> Event {
        loop {
            let Some(event) = self.events.recv().await else {
                // The client's callbacks are gone, so it has ended.
                return Event::Closed {
                    reason: CloseReason::Manual,
                    error: None,
                };
            };
            if let Event::Frame(text) = &event {
                match Frame::parse(text) {
                    Some(frame) if frame.kind == FrameKind::Ping => {
                        let _ = self.raw.send(PONG).await;
                        continue;
                    }
                    Some(frame) if frame.kind == FrameKind::Request => {
                        if let Some(reply) = self.answers.reply(&frame) {
                            let _ = self.raw.send(reply).await;
                        }
                    }
                    _ => {}
                }
            }
            return event;
        }
    }

    /// Closes gracefully (Close 1000), after what was already queued; waits (bounded) for the server's answer.
    pub(crate) async fn close(self) {
        self.raw.disconnect().await;
    }
}
