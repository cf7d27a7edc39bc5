//! The test kit against the real lab server: typed calls with expectations, typed pushes, typed mocks of server
//! requests, and failures with clear messages when something unexpected happens.

use grest_ws::client::Client;
use grest_ws::{NotFound, ServerError, ValidationError};
use grest_ws_test::{MatchExt, ResultExt, TestServer, assert_issues};
use grest_ws_tests::{EchoInput, Item, JoinInput, LAB_API, LabQuery, LabState, Order, RoomFull, lab, lab_router};
use serde_json::json;

async fn server() -> TestServer {
    TestServer::start(lab_router(Default::default(), Default::default())).await
}

async fn lab_api(server: &TestServer) -> grest_ws_test::TestClient<grest_ws_tests::Lab> {
    let builder = Client::new(LAB_API, server.base_url()).query(LabQuery {
        room: "kit".into(),
        version: 1,
    });
    server.call_on_with(builder).await
}

#[tokio::test]
async fn expectations_on_results_and_errors() {
    let server = server().await;
    let api = lab_api(&server).await;
    let echoed = api
        .echo(&EchoInput { text: "hi".into() })
        .await
        .expect_ok_matching(json!({"text": "hi"}));
    assert_eq!(echoed.text, "hi");
    let full = api
        .join(&JoinInput { room_id: "full".into() })
        .await
        .expect_err_type::<RoomFull>();
    assert_eq!(full.data.capacity, 4);
    api.join(&JoinInput {
        room_id: "missing".into(),
    })
    .await
    .expect_err_type::<NotFound>();
    let order = Order {
        items: vec![Item {
            name: "".into(),
            qty: 0,
        }],
        note: None,
    };
    let invalid = api.order(&order).await.expect_err_type::<ValidationError>();
    assert_issues(
        &invalid,
        &[
            ("items.0.name", "invalid.string.nonEmpty"),
            ("items.0.qty", "invalid.number.range"),
        ],
    );
    api.disconnect().await;
}

#[tokio::test]
async fn pushes_arrive_typed_and_typed_mocks_answer_the_server() {
    let server = server().await;
    let api = lab_api(&server).await;
    api.push_me(&"hello".to_owned()).await.unwrap();
    let pushed: String = api.expect_push(lab::push::Pushed).await.to_match(json!("hello"));
    assert_eq!(pushed, "hello");

    api.mock(
        lab::push::Question,
        |q| async move { Ok(format!("mocked answer to {q}")) },
    );
    assert_eq!(api.ask_client(&"why".to_owned()).await.unwrap(), "mocked answer to why");
    api.mock(lab::push::Question, |_| async {
        Err(lab::QuestionError::ServerError(ServerError::with_display_message("mock says no")).into())
    });
    assert_eq!(api.ask_client(&"?".to_owned()).await.unwrap(), "error: mock says no");
    // A mock returns a HandlerResult like a client's handler: `?` on any other error answers SERVER_ERROR.
    api.mock(
        lab::push::Question,
        |q| async move { Ok(q.parse::<u32>()?.to_string()) },
    );
    assert_eq!(api.ask_client(&"7".to_owned()).await.unwrap(), "7");
    assert_eq!(api.ask_client(&"seven".to_owned()).await.unwrap(), "error: ");
    api.disconnect().await;
}

/// A server request nothing mocks is answered `ROUTE_NOT_FOUND` (as by a client without the handler) and waits
/// for the test like a push, with its typed input.
#[tokio::test]
async fn an_unmocked_request_is_answered_route_not_found_and_expected_typed() {
    let server = server().await;
    let api = lab_api(&server).await;
    assert_eq!(
        api.ask_client(&"anyone?".to_owned()).await.unwrap(),
        "error: Invalid response",
        "ROUTE_NOT_FOUND is not a declared error of the typed method"
    );
    assert_eq!(api.expect_push(lab::push::Question).await, "anyone?");
    api.disconnect().await;
}

/// A push the test did not expect fails the next call made through the test client, naming it: the push arrives
/// while the first call runs (the server sent it before answering), the second call finds it.
#[tokio::test]
#[should_panic(expected = "unexpected push Lab.pushed with \"surprise\"")]
async fn an_unexpected_push_fails_the_next_call() {
    let server = server().await;
    let api = lab_api(&server).await;
    api.push_me(&"surprise".to_owned()).await.unwrap();
    api.room().await.unwrap();
    let _ = api.room().await;
    unreachable!("the second call fails");
}

/// A push the test did not expect fails the next expectation of another method, naming both.
#[tokio::test]
#[should_panic(expected = "expected a push of Lab.question, got Lab.pushed with \"surprise\"")]
async fn an_unexpected_push_fails_the_next_expectation() {
    let server = server().await;
    let api = lab_api(&server).await;
    api.push_me(&"surprise".to_owned()).await.unwrap();
    let _ = api.expect_push(lab::push::Question).await;
}

#[tokio::test]
#[should_panic(expected = "expected error NOT_FOUND, got ROOM_FULL")]
async fn a_different_error_fails_with_both_types_named() {
    let server = server().await;
    let api = lab_api(&server).await;
    api.join(&JoinInput { room_id: "full".into() })
        .await
        .expect_err_type::<NotFound>();
}

#[tokio::test]
#[should_panic(expected = "the result does not match")]
async fn a_mismatching_result_fails_with_both_values() {
    let server = server().await;
    let api = lab_api(&server).await;
    api.echo(&EchoInput { text: "hi".into() })
        .await
        .expect_ok_matching(json!({"text": "bye"}));
}

#[tokio::test]
async fn the_test_client_talks_to_the_real_server() {
    let state = std::sync::Arc::new(LabState::default());
    let server = TestServer::start(lab_router(state.clone(), Default::default())).await;
    let api = lab_api(&server).await;
    assert_eq!(api.room().await.unwrap(), "kit@1");
    assert_eq!(*state.opened.lock().unwrap(), 1);
}
