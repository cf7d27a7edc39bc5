//! The test kit against the real lab server: typed calls with expectations, pushes, mocks of server requests, and
//! failures with clear messages when something unexpected happens.

use grest_ws::client::Client;
use grest_ws::{NotFound, ServerError, ValidationError};
use grest_ws_test::{ResultExt, TestServer, assert_issues};
use grest_ws_tests::{EchoInput, Item, JoinInput, LAB_API, LabQuery, LabState, Order, RoomFull, lab_router};
use serde_json::json;

async fn server() -> TestServer {
    TestServer::start(lab_router(Default::default(), Default::default())).await
}

async fn lab(server: &TestServer) -> grest_ws_test::TestClient<grest_ws_tests::Lab> {
    let builder = Client::new(LAB_API, server.base_url()).query(LabQuery {
        room: "kit".into(),
        version: 1,
    });
    server.call_on_with(builder).await
}

#[tokio::test]
async fn expectations_on_results_and_errors() {
    let server = server().await;
    let api = lab(&server).await;
    let echoed = api
        .client
        .echo(&EchoInput { text: "hi".into() })
        .await
        .expect_ok_matching(json!({"text": "hi"}));
    assert_eq!(echoed.text, "hi");
    let full = api
        .client
        .join(&JoinInput { room_id: "full".into() })
        .await
        .expect_err_type::<RoomFull>();
    assert_eq!(full.data.capacity, 4);
    api.client
        .join(&JoinInput {
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
    let invalid = api.client.order(&order).await.expect_err_type::<ValidationError>();
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
async fn pushes_are_expected_and_server_requests_answered_by_mocks() {
    let server = server().await;
    let mut api = lab(&server).await;
    api.client.push_me(&"hello".to_owned()).await.unwrap();
    let push = api.expect_push("pushed").await;
    push.to_match(json!("hello"));
    assert_eq!(push.decoded::<String>(), "hello");

    api.answer("question", json!("mocked answer"));
    assert_eq!(api.client.ask_client(&"?".to_owned()).await.unwrap(), "mocked answer");
    api.answer_error("question", ServerError::with_display_message("mock says no"));
    assert_eq!(
        api.client.ask_client(&"?".to_owned()).await.unwrap(),
        "error: mock says no"
    );
    api.disconnect().await;
}

#[tokio::test]
#[should_panic(expected = "unexpected push Lab.pushed with \"surprise\"")]
async fn an_unexpected_push_fails_the_test() {
    let server = server().await;
    let api = lab(&server).await;
    api.client.push_me(&"surprise".to_owned()).await.unwrap();
    // Make sure the push has arrived before the client is dropped.
    api.client.room().await.unwrap();
    drop(api);
}

#[tokio::test]
#[should_panic(expected = "expected error NOT_FOUND, got ROOM_FULL")]
async fn a_different_error_fails_with_both_types_named() {
    let server = server().await;
    let api = lab(&server).await;
    api.client
        .join(&JoinInput { room_id: "full".into() })
        .await
        .expect_err_type::<NotFound>();
}

#[tokio::test]
#[should_panic(expected = "the result does not match")]
async fn a_mismatching_result_fails_with_both_values() {
    let server = server().await;
    let api = lab(&server).await;
    api.client
        .echo(&EchoInput { text: "hi".into() })
        .await
        .expect_ok_matching(json!({"text": "bye"}));
}

#[tokio::test]
async fn the_test_client_talks_to_the_real_server() {
    let state = std::sync::Arc::new(LabState::default());
    let server = TestServer::start(lab_router(state.clone(), Default::default())).await;
    let api = lab(&server).await;
    assert_eq!(api.client.room().await.unwrap(), "kit@1");
    assert_eq!(*state.opened.lock().unwrap(), 1);
}
