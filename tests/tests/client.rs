//! The native client against the real server: typed calls, typed errors, server-to-client traffic, lifecycle.

use std::time::Duration;

use grest_ws::SessionConfig;
use grest_ws::client::{Client, ClientConfig, ConnectError};
use grest_ws_tests::{
    EchoInput, Item, JoinInput, LAB_API, LabQuery, Order, PATIENCE, issue_codes, lab, server_error_message, start,
};
use tokio::sync::mpsc;

fn query() -> LabQuery {
    LabQuery {
        room: "general".into(),
        version: 2,
    }
}

async fn connect(base_url: &str, handlers: lab::Handlers) -> lab::Client {
    Client::new(LAB_API, base_url)
        .query(query())
        .connect(handlers)
        .await
        .expect("connect")
}

/// Polls `check` until it holds (things that happen on another task), failing after the patience.
async fn eventually(mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn typed_request_and_typed_query() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    let reply = client.echo(&EchoInput { text: "hi".into() }).await.unwrap();
    assert_eq!(reply, EchoInput { text: "hi".into() });
    assert_eq!(client.room().await.unwrap(), "general@2");
}

#[tokio::test]
async fn declared_errors_arrive_typed() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    match client.join(&JoinInput { room_id: "full".into() }).await {
        Err(lab::JoinError::RoomFull(e)) => {
            assert_eq!(e.data.capacity, 4);
            assert_eq!(e.context.display_message.as_deref(), Some("Room is full"));
            assert!(e.context.reference.starts_with("ERR_REF_"));
        }
        other => panic!("expected ROOM_FULL, got {other:?}"),
    }
    assert!(matches!(
        client
            .join(&JoinInput {
                room_id: "missing".into()
            })
            .await,
        Err(lab::JoinError::NotFound(_))
    ));
    assert!(
        client
            .join(&JoinInput {
                room_id: "lobby".into()
            })
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn undeclared_error_and_panic_become_server_errors() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    match client.undeclared().await {
        Err(lab::UndeclaredError::ServerError(e)) => assert_eq!(server_error_message(&e), Some("Invalid response")),
        other => panic!("expected SERVER_ERROR, got {other:?}"),
    }
    match client.panic().await {
        Err(lab::PanicError::ServerError(e)) => assert_eq!(server_error_message(&e), None),
        other => panic!("expected SERVER_ERROR, got {other:?}"),
    }
    assert_eq!(
        client.room().await.unwrap(),
        "general@2",
        "the connection survives a panicking handler"
    );
}

#[tokio::test]
async fn invalid_input_fails_locally_and_server_validation_is_typed() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    match client.echo(&EchoInput { text: String::new() }).await {
        Err(lab::EchoError::ValidationError(e)) => {
            assert_eq!(
                issue_codes(&e),
                [("text".to_owned(), "invalid.string.nonEmpty".to_owned())]
            );
        }
        other => panic!("expected VALIDATION_ERROR, got {other:?}"),
    }
    let order = Order {
        items: vec![
            Item {
                name: String::new(),
                qty: 0,
            },
            Item {
                name: "b".into(),
                qty: 11,
            },
        ],
        note: None,
    };
    match client.order(&order).await {
        Err(lab::OrderError::ValidationError(e)) => assert_eq!(
            issue_codes(&e),
            [
                ("items.0.name".to_owned(), "invalid.string.nonEmpty".to_owned()),
                ("items.0.qty".to_owned(), "invalid.number.range".to_owned()),
                ("items.1.qty".to_owned(), "invalid.number.range".to_owned()),
            ]
        ),
        other => panic!("expected VALIDATION_ERROR, got {other:?}"),
    }
    match client
        .order(&Order {
            items: Vec::new(),
            note: None,
        })
        .await
    {
        Err(lab::OrderError::ValidationError(e)) => {
            assert_eq!(
                issue_codes(&e),
                [("items".to_owned(), "invalid.array.minLength".to_owned())]
            );
            assert_eq!(e.data[0].message, "Array must have at least 1 items");
        }
        other => panic!("expected VALIDATION_ERROR, got {other:?}"),
    }
    assert_eq!(server.state.notes.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn requests_run_concurrently() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.wait_gate().await }
    });
    // If requests were handled one at a time, wait_gate would block open_gate forever.
    loop {
        assert!(client.open_gate().await.unwrap());
        if waiting.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(waiting.await.unwrap().unwrap(), "opened");
}

#[tokio::test]
async fn fire_and_forget_resolves_and_runs() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    client.note(&"first".to_owned()).await.unwrap();
    client.poke().await.unwrap();
    let state = server.state.clone();
    eventually(|| state.notes.lock().unwrap().as_slice() == ["first"]).await;
    assert_eq!(client.notes().await.unwrap(), ["first"]);
}

#[tokio::test]
async fn server_pushes_and_requests_reach_client_handlers() {
    let server = start().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handlers = lab::Handlers::new()
        .on_pushed(move |text| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(text);
            }
        })
        .on_question(|q| async move { Ok(format!("answer to {q}")) });
    let client = connect(&server.base_url(), handlers).await;
    client.push_me(&"ping".to_owned()).await.unwrap();
    assert_eq!(
        tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap().as_deref(),
        Some("ping")
    );
    assert_eq!(client.ask_client(&"why".to_owned()).await.unwrap(), "answer to why");
}

#[tokio::test]
async fn unhandled_server_request_gets_route_not_found_and_unhandled_push_is_ignored() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    client.push_me(&"nobody listens".to_owned()).await.unwrap();
    let raw = client.ask_client_raw(&"anyone?".to_owned()).await.unwrap();
    let envelope: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(envelope["type"], "ROUTE_NOT_FOUND");
    assert_eq!(envelope["statusCode"], 404);
    assert_eq!(envelope["context"]["displayMessage"], "Route not found: Lab.question");
    // Through the typed method, the unlisted ROUTE_NOT_FOUND becomes SERVER_ERROR "Invalid response".
    assert_eq!(
        client.ask_client(&"typed?".to_owned()).await.unwrap(),
        "error: Invalid response"
    );
}

#[tokio::test]
async fn client_handler_errors_and_panics_reach_the_server_as_server_errors() {
    let server = start().await;
    let handlers = lab::Handlers::new().on_question(|q| async move {
        if q == "panic" {
            panic!("client handler panics on purpose");
        }
        Err(lab::QuestionError::ServerError(grest_ws::ServerError::with_display_message("no idea")).into())
    });
    let client = connect(&server.base_url(), handlers).await;
    assert_eq!(client.ask_client(&"hm".to_owned()).await.unwrap(), "error: no idea");
    assert_eq!(client.ask_client(&"panic".to_owned()).await.unwrap(), "error: ");
    assert_eq!(client.room().await.unwrap(), "general@2");
}

/// A lab client whose requests time out after `timeout`.
async fn client_with_request_timeout(server: &grest_ws_tests::LabServer, timeout: Duration) -> lab::Client {
    let config = ClientConfig::default().session(SessionConfig::default().request_timeout(timeout));
    Client::new(LAB_API, server.base_url())
        .query(query())
        .config(config)
        .connect(lab::Handlers::new())
        .await
        .unwrap()
}

/// The request failed with `SERVER_ERROR` "Request timeout".
fn assert_timed_out<T: std::fmt::Debug>(result: Result<T, lab::SleepError>) {
    match result {
        Err(lab::SleepError::ServerError(e)) => assert_eq!(server_error_message(&e), Some("Request timeout")),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn request_timeout_fails_with_server_error() {
    let server = start().await;
    let client = client_with_request_timeout(&server, Duration::from_millis(100)).await;
    assert_timed_out(client.sleep(&2_000).await);
    assert_eq!(
        client.sleep(&1).await.unwrap(),
        1,
        "the late reply is ignored and the socket keeps working"
    );
}

/// Request deadlines are kept by the session's timer for the earliest outstanding one; a deadline of a request
/// already answered only makes the session look again, and later deadlines still fire.
#[tokio::test]
async fn requests_time_out_on_time_among_answered_ones() {
    let server = start().await;
    let client = client_with_request_timeout(&server, Duration::from_millis(150)).await;
    assert_eq!(client.sleep(&1).await.unwrap(), 1);
    let (slow, quick) = tokio::join!(client.sleep(&5_000), client.sleep(&1));
    assert_eq!(quick.unwrap(), 1);
    assert_timed_out(slow);
    // The earliest deadline was an answered request's: a later unanswered one still times out.
    assert_timed_out(client.sleep(&5_000).await);
    assert_eq!(
        client.handle().pending_requests(),
        0,
        "timed-out requests are forgotten"
    );
}

#[tokio::test]
async fn pending_requests_fail_when_the_socket_drops() {
    let server = start().await;
    let client = Client::new(LAB_API, server.base_url())
        .query(query())
        .config(ClientConfig::default().reconnect(None))
        .connect(lab::Handlers::new())
        .await
        .unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.wait_gate().await }
    });
    eventually(|| client.handle().pending_requests() == 1).await;
    client.close_me().await.unwrap();
    match tokio::time::timeout(PATIENCE, pending).await.unwrap().unwrap() {
        Err(lab::WaitGateError::ServerError(e)) => {
            assert_eq!(server_error_message(&e), Some("Socket connection closed!"))
        }
        other => panic!("expected the drop error, got {other:?}"),
    }
    tokio::time::timeout(PATIENCE, client.handle().closed()).await.unwrap();
    // Closed for good (no reconnect): calls say the socket is closed, not that it is reconnecting.
    match client.room().await {
        Err(lab::RoomError::ServerError(e)) => {
            assert_eq!(server_error_message(&e), Some("Socket connection closed!"))
        }
        other => panic!("expected the closed error, got {other:?}"),
    }
}

#[tokio::test]
async fn disconnect_waits_for_pending_requests_and_close_does_not() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(&200).await }
    });
    eventually(|| client.handle().pending_requests() == 1).await;
    client.disconnect().await;
    assert_eq!(
        slow.await.unwrap().unwrap(),
        200,
        "graceful disconnect let the request finish"
    );
    assert!(client.handle().is_closed());

    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(&2_000).await }
    });
    eventually(|| client.handle().pending_requests() == 1).await;
    client.close();
    assert!(matches!(slow.await.unwrap(), Err(lab::SleepError::ServerError(_))));
    let state = server.state.clone();
    eventually(|| *state.closed.lock().unwrap() == 2).await;
}

#[tokio::test]
async fn on_close_hook_runs_on_the_server() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    assert_eq!(*server.state.opened.lock().unwrap(), 1);
    assert_eq!(*server.state.closed.lock().unwrap(), 0);
    client.close();
    let state = server.state.clone();
    eventually(|| *state.closed.lock().unwrap() == 1).await;
}

#[tokio::test]
async fn invalid_query_fails_before_connecting() {
    let server = start().await;
    let result = Client::new(LAB_API, server.base_url())
        .query(LabQuery {
            room: String::new(),
            version: 1,
        })
        .connect(lab::Handlers::new())
        .await;
    match result {
        Err(ConnectError::InvalidQuery(e)) => assert_eq!(
            issue_codes(&e),
            [("room".to_owned(), "invalid.string.nonEmpty".to_owned())]
        ),
        other => panic!("expected InvalidQuery, got {other:?}"),
    }
    assert_eq!(*server.state.opened.lock().unwrap(), 0);
}

/// A fake server that accepts one WebSocket, reads the `h` frame and then does `then` with the socket.
async fn fake_server<F, Fut>(then: F) -> String
where
    F: FnOnce(tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    use futures_util::StreamExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let hello = ws.next().await.unwrap().unwrap();
        assert_eq!(hello.to_text().unwrap(), "h:::{\"x-client\":\"test\"}");
        then(ws).await;
    });
    format!("ws://{addr}")
}

fn client_for(url: String) -> Client<grest_ws_tests::Lab> {
    Client::new(LAB_API, url)
        .query(query())
        .header("X-Client", "test")
        .config(ClientConfig::default().handshake_timeout(Duration::from_millis(300)))
}

#[tokio::test]
async fn close_during_handshake_fails_fast_with_its_code() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
    let url = fake_server(|mut ws| async move {
        let frame = CloseFrame {
            code: CloseCode::from(4000),
            reason: "Invalid query parameters".into(),
        };
        let _ = ws.close(Some(frame)).await;
        while futures_util::StreamExt::next(&mut ws).await.is_some() {}
        let _ = ws.flush().await;
    })
    .await;
    match client_for(url).connect(lab::Handlers::new()).await {
        Err(ConnectError::Closed { code, reason }) => {
            assert_eq!(code, Some(4000));
            assert_eq!(reason, "Invalid query parameters");
        }
        other => panic!("expected Closed(4000), got {other:?}"),
    }
}

#[tokio::test]
async fn silent_server_is_a_handshake_timeout() {
    let url = fake_server(|ws| async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(ws);
    })
    .await;
    assert!(matches!(
        client_for(url).connect(lab::Handlers::new()).await,
        Err(ConnectError::Timeout)
    ));
}

#[tokio::test]
async fn x_frame_without_grest_error_is_handshake_failed() {
    use futures_util::SinkExt;
    let url = fake_server(|mut ws| async move {
        let _ = ws
            .send(tokio_tungstenite::tungstenite::Message::text(
                r#"x:::{"message":"nope"}"#,
            ))
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    })
    .await;
    match client_for(url).connect(lab::Handlers::new()).await {
        Err(ConnectError::Rejected(lab::ConnectError::ServerError(error))) => {
            assert_eq!(
                error.context.display_message.as_deref(),
                Some("WebSocket handshake failed")
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn handshake_rejection_surfaces_the_server_error() {
    let server = start().await;
    // The lab server's connect handler panics for room "panic": the handshake is rejected with `x` + SERVER_ERROR.
    let result = Client::new(LAB_API, server.base_url())
        .query(LabQuery {
            room: "panic".into(),
            version: 1,
        })
        .connect(lab::Handlers::new())
        .await;
    match result {
        Err(ConnectError::Rejected(lab::ConnectError::ServerError(error))) => {
            assert_eq!(error.context.display_message, None, "no internal detail leaks");
        }
        other => panic!("expected a rejected handshake, got {other:?}"),
    }
    assert_eq!(client_room(&server).await, "general@2", "the server keeps serving");
}

async fn client_room(server: &grest_ws_tests::LabServer) -> String {
    connect(&server.base_url(), lab::Handlers::new())
        .await
        .room()
        .await
        .unwrap()
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let result = Client::new(LAB_API, format!("ws://{addr}"))
        .query(query())
        .connect(lab::Handlers::new())
        .await;
    assert!(matches!(result, Err(ConnectError::Transport { .. })), "{result:?}");
}

#[tokio::test]
async fn dropping_every_client_handle_closes_the_connection() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    let clone = client.clone();
    drop(client);
    assert_eq!(
        clone.room().await.unwrap(),
        "general@2",
        "a clone keeps the connection open"
    );
    drop(clone);
    let state = server.state.clone();
    eventually(|| *state.closed.lock().unwrap() == 1).await;
}

#[tokio::test]
async fn handlers_see_their_message_and_connection() {
    let server = start().await;
    let addr = server.addr();
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    assert_eq!(
        client.whereami().await.unwrap(),
        format!("Lab.whereami on /ws/lab port Some({})", addr.port())
    );
    assert!(
        grest_ws::current_message().is_none(),
        "outside a handler there is no message"
    );
}

/// Sends what the client's handler got to the test, tagged with which handler got it.
fn recorder(
    tag: &'static str,
    tx: &mpsc::UnboundedSender<String>,
) -> impl Fn(String) -> std::future::Ready<()> + Send + Sync + 'static {
    let tx = tx.clone();
    move |text| {
        let _ = tx.send(format!("{tag}: {text}"));
        std::future::ready(())
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("a message in time")
        .expect("the sender lives")
}

/// Handlers added to a live client take the next message: before any, a push is ignored and a request is answered
/// `ROUTE_NOT_FOUND`; then an added push handler gets the next push, a replacement the one after, and a request
/// handler added later answers the server while the push handler stays.
#[tokio::test]
async fn handlers_added_to_a_live_client_take_the_next_message() {
    let server = start().await;
    let client = connect(&server.base_url(), lab::Handlers::new()).await;
    client.push_me(&"early".to_owned()).await.unwrap();
    // The push left the server before the question did, and the client handles them in order.
    assert_eq!(
        client.ask_client(&"anyone?".to_owned()).await.unwrap(),
        "error: Invalid response",
        "unhandled: ROUTE_NOT_FOUND, not a declared error"
    );

    let (tx, mut rx) = mpsc::unbounded_channel();
    client.on(lab::Handlers::new().on_pushed(recorder("first", &tx)));
    client.push_me(&"one".to_owned()).await.unwrap();
    assert_eq!(
        next(&mut rx).await,
        "first: one",
        "the early push was not kept for later"
    );

    client.on(lab::Handlers::new().on_pushed(recorder("second", &tx)));
    client.push_me(&"two".to_owned()).await.unwrap();
    assert_eq!(next(&mut rx).await, "second: two");

    client.on(lab::Handlers::new().on_question(|q| async move { Ok(format!("live answer to {q}")) }));
    assert_eq!(
        client.ask_client(&"why".to_owned()).await.unwrap(),
        "live answer to why"
    );
    client.push_me(&"three".to_owned()).await.unwrap();
    assert_eq!(next(&mut rx).await, "second: three", "merging kept the push handler");
}

/// A handler added live outlives a reconnection; the connect setup's handlers, merged in again on it, win for
/// the methods they handle.
#[tokio::test]
async fn live_handlers_outlive_a_reconnect_under_the_setups_own() {
    let server = start().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (reconnected, mut reconnects) = mpsc::unbounded_channel();
    let setup_tx = tx.clone();
    let client = Client::new(LAB_API, server.base_url())
        .query(query())
        .config(ClientConfig::default().reconnect(Some(
            grest_ws::client::ReconnectConfig::default().initial_delay(Duration::from_millis(10)),
        )))
        .on_reconnect(move || {
            let _ = reconnected.send(());
        })
        .connect(lab::Handlers::new().on_pushed(recorder("setup", &setup_tx)))
        .await
        .expect("connect");
    client.on(lab::Handlers::new()
        .on_pushed(recorder("live", &tx))
        .on_question(|q| async move { Ok(format!("live answer to {q}")) }));
    client.push_me(&"before".to_owned()).await.unwrap();
    assert_eq!(next(&mut rx).await, "live: before");

    client.force_reconnect();
    tokio::time::timeout(PATIENCE, reconnects.recv())
        .await
        .expect("reconnects in time");
    client.push_me(&"after".to_owned()).await.unwrap();
    assert_eq!(next(&mut rx).await, "setup: after");
    assert_eq!(
        client.ask_client(&"still?".to_owned()).await.unwrap(),
        "live answer to still?"
    );
}

/// `on_error` reports socket faults as typed values, before the drop: a frame that breaks the protocol (the
/// client fails the connection with 1002), then a server that drops the TCP connection without a Close frame;
/// the client reconnects after each.
#[tokio::test]
async fn on_error_reports_socket_faults_as_typed_values() {
    use grest_ws::client::{ClientError, ReconnectConfig};

    let (url, mut sockets) = grest_ws_tests::handshaking_server().await;
    let (tx, mut events) = mpsc::unbounded_channel();
    let (errors, disconnects) = (tx.clone(), tx);
    let client = Client::new(LAB_API, url)
        .query(query())
        .config(ClientConfig::default().reconnect(Some(
            ReconnectConfig::default().initial_delay(Duration::from_millis(10)),
        )))
        .on_error(move |error| {
            let _ = errors.send(match error {
                ClientError::Socket(end) => format!("socket {end:?}"),
                other => format!("other {other}"),
            });
        })
        .on_disconnect(move |reason| {
            let _ = disconnects.send(format!("disconnect {reason:?}"));
        })
        .connect(lab::Handlers::new())
        .await
        .expect("connect");
    grest_ws_tests::expect_socket_faults_reported(&mut sockets, &mut events).await;
    client.close();
}
