//! A connect handler that refuses: a declared connect error reaches the client as the `x` envelope (close 4001) and
//! as the contract's typed `ConnectError`; `?` on any other error refuses with `SERVER_ERROR`.

use grest_ws::client::{Client, ClientConfig, ConnectError};
use grest_ws::server::{Connected, GrestWs};
use grest_ws::{HandlerResult, NotAuthorized, ServerError, Validate, WebSocketSchema, contract, define_error};
use grest_ws_test::TestServer;
use grest_ws_tests::{RawWs, without_context};
use serde::{Deserialize, Serialize};

define_error! {
    /// A user-defined connect error.
    pub struct Banned = ("BANNED", 403);
}

/// Who knocks.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct DoorQuery {
    /// The visitor's name.
    pub name: String,
    /// The visitor's age, as typed (not necessarily a number).
    #[serde(default)]
    pub age: Option<String>,
}

contract! {
    /// A door that may refuse to open.
    pub Door {
        connect { input: DoorQuery, errors: [NotAuthorized, Banned, ServerError] }
        client_to_server {
            who() -> String;
        }
        server_to_client {}
    }
}

const DOOR_API: WebSocketSchema<Door> = WebSocketSchema::new("ws/door");

struct DoorSession {
    name: String,
    age: u32,
}

impl door::Server for DoorSession {
    async fn who(&self) -> HandlerResult<String, door::WhoError> {
        Ok(format!("{} ({})", self.name, self.age))
    }
}

/// The connect handler: refuses `mallory` with a declared error, and a non-numeric age through `?`.
async fn open(conn: Connected<Door>) -> HandlerResult<DoorSession, door::ConnectError> {
    if conn.query.name == "mallory" {
        return Err(Banned::with_display_message("Not you again").into());
    }
    let age = match &conn.query.age {
        Some(age) => age.parse()?,
        None => 0,
    };
    Ok(DoorSession {
        name: conn.query.name,
        age,
    })
}

async fn start() -> TestServer {
    let router = GrestWs::new().ws(DOOR_API, open).build().expect("valid server");
    TestServer::start(router).await
}

fn client(server: &TestServer, name: &str, age: Option<&str>) -> Client<Door> {
    Client::new(DOOR_API, server.base_url())
        .query(DoorQuery {
            name: name.into(),
            age: age.map(str::to_owned),
        })
        .config(ClientConfig::default().reconnect(None))
}

#[tokio::test]
async fn an_accepted_connection_is_served() {
    let server = start().await;
    let door = client(&server, "alice", Some("7"))
        .connect(door::Handlers::new())
        .await
        .unwrap();
    assert_eq!(door.who().await.unwrap(), "alice (7)");
}

#[tokio::test]
async fn a_declared_connect_error_is_the_x_envelope_and_the_typed_error() {
    let server = start().await;
    match client(&server, "mallory", None).connect(door::Handlers::new()).await {
        Err(ConnectError::Rejected(door::ConnectError::Banned(banned))) => {
            assert_eq!(banned.context.display_message.as_deref(), Some("Not you again"));
        }
        other => panic!("expected BANNED, got {other:?}"),
    }

    let mut raw = RawWs::connect(&format!("ws://{}/ws/door?name=mallory", server.addr())).await;
    raw.send("h:::{}").await;
    assert_eq!(
        without_context(&raw.recv_text().await),
        r#"x:::{"success":false,"type":"BANNED","statusCode":403,"context":{"displayMessage":"Not you again"}}"#
    );
    assert_eq!(raw.recv_close().await, (Some(4001), "Handshake failed".to_owned()));
}

#[tokio::test]
async fn an_undeclared_error_in_the_connect_handler_refuses_with_server_error() {
    let server = start().await;
    match client(&server, "bob", Some("old")).connect(door::Handlers::new()).await {
        Err(ConnectError::Rejected(door::ConnectError::ServerError(error))) => {
            assert!(error.context.reference.starts_with("ERR_REF_"), "{error:?}");
        }
        other => panic!("expected SERVER_ERROR, got {other:?}"),
    }
    // The server carries on.
    let door = client(&server, "bob", Some("70"))
        .connect(door::Handlers::new())
        .await
        .unwrap();
    assert_eq!(door.who().await.unwrap(), "bob (70)");
}
