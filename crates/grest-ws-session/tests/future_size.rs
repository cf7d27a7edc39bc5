//! The size of a session's task: it lives for every connection's whole life, so it is kept small.

use grest_ws_session::{Call, Dispatch, Role, Route, Session, SessionConfig, WebSocket};

struct Nothing;

impl Dispatch for Nothing {
    fn route(&self, _: &str) -> Option<Route> {
        None
    }
    fn call(&self, route: &Route, _: Option<&str>) -> Call<'_> {
        Call::route_not_found(route.path)
    }
}

#[tokio::test]
async fn a_session_task_stays_small() {
    let (io, _peer) = tokio::io::duplex(64);
    let ws = WebSocket::new(io, Role::Server, 1 << 20);
    let session = Session::new(Role::Server, SessionConfig::default());
    let run = session.run(ws, &Nothing);
    let size = std::mem::size_of_val(&run);
    println!("session future: {size} bytes");
    assert!(size <= 3584, "the session future is {size} bytes");
}
