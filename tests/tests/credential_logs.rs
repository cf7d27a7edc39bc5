//! Raw credentials never reach the log, even at trace level, while the principal minted from them and ambient wire
//! values are there for handlers. In a test binary of its own: a thread's log capture is reliable only while no
//! other test registers the same log call sites concurrently.

use grest_ws::client::Client;
use grest_ws::server::{Connected, GrestWs, WireHandler};
use grest_ws::{ErrorEnvelope, NotAuthorized, WebSocketSchema, Wire, contract, current_message};
use grest_ws_test::TestServer;
use grest_ws_tests::CapturedLogs;

const USER_TOKEN: Wire = Wire::header("user-token", "authorization").bearer();
const THEME: Wire = Wire::cookie("theme", "theme").ambient();

contract! {
    /// Says who the connection's token wire minted, and its theme.
    pub Whoami {
        client_to_server { me() -> String; }
        server_to_client {}
    }
}

const WHOAMI_API: WebSocketSchema<Whoami> = WebSocketSchema::new("ws/whoami").uses(&[USER_TOKEN, THEME]);

#[derive(Clone)]
struct User(String);

/// `tok-<secret>` is the user `user`.
struct Tokens;

impl WireHandler for Tokens {
    type Principal = User;

    async fn process(&self, token: Option<&str>) -> Result<User, ErrorEnvelope> {
        match token {
            Some(token) if token.starts_with("tok-") => Ok(User("user".to_owned())),
            _ => Err(NotAuthorized::with_display_message("Invalid token").into()),
        }
    }
}

struct WhoamiSession;

impl whoami::Server for WhoamiSession {
    async fn me(&self) -> grest_ws::HandlerResult<String, whoami::MeError> {
        let message = current_message().expect("inside a handler");
        let wires = &message.connection.wires;
        let user = wires.principal::<User>(USER_TOKEN).map_or("-", |u| u.0.as_str());
        Ok(format!("{user} {}", wires.wire(THEME).unwrap_or("-")))
    }
}

#[tokio::test]
async fn credentials_are_never_logged() {
    let logs = CapturedLogs::default();
    let _logging = logs.install(tracing::Level::TRACE);
    let router = GrestWs::new()
        .bind(USER_TOKEN, Tokens)
        .ws(WHOAMI_API, |_: Connected<Whoami>| async { WhoamiSession })
        .build()
        .expect("a valid registration");
    let server = TestServer::start(router).await;
    let client = Client::new(WHOAMI_API, server.base_url())
        .credential(USER_TOKEN, "tok-3f9a")
        .credential(THEME, "dark")
        .connect(Default::default())
        .await
        .unwrap();
    // A reply means the server's session runs: the connection's whole handshake has been logged.
    assert_eq!(client.me().await.unwrap(), "user dark");
    let logged = logs.take();
    assert!(logged.contains("WebSocket connected"), "{logged}");
    assert!(!logged.contains("3f9a"), "{logged}");
}
