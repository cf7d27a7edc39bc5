//! How server-to-client requests are answered: with the success data of the `--answer` rule for their method, or
//! else with the `ROUTE_NOT_FOUND` envelope a grest client sends for a method it does not handle (docs/protocol.md
//! §2.3).

use std::collections::HashMap;

use grest_ws::protocol::envelope::Envelope;
use grest_ws::protocol::frame::{Frame, FrameKind, frame};
use grest_ws::{GrestError, RouteNotFound};
use serde_json::value::RawValue;

use crate::args::Answer;

/// The `--answer` rules by method; a later rule for the same method wins.
#[derive(Debug, Default)]
pub(crate) struct Answers(HashMap<String, Box<RawValue>>);

impl Answers {
    /// The rules, in command-line order.
    pub(crate) fn new(rules: &[Answer]) -> Self {
        Answers(
            rules
                .iter()
                .map(|rule| (rule.path.clone(), rule.data.clone()))
                .collect(),
        )
    }

    /// The `s` frame that answers `request`; `None` for a request without an id, which cannot be answered.
    pub(crate) fn reply(&self, request: &Frame<'_>) -> Option<String> {
        let id = request.id?;
        let envelope = match self.0.get(request.path) {
            Some(data) => Envelope::ok(data).expect("raw JSON serializes as it is"),
            None => Envelope::failure(RouteNotFound::for_path(request.path).to_envelope()),
        };
        Some(frame(
            FrameKind::Response,
            request.path,
            Some(id),
            Some(envelope.json()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_answer_their_method_and_others_get_route_not_found() {
        let rule = |path: &str, data: &str| Answer {
            path: path.into(),
            data: serde_json::from_str(data).unwrap(),
        };
        let answers = Answers::new(&[rule("Chat.areYouThere", "false"), rule("Chat.areYouThere", "true")]);
        let request = Frame::parse("r:Chat.areYouThere:7:").unwrap();
        assert_eq!(
            answers.reply(&request).unwrap(),
            r#"s:Chat.areYouThere:7:{"success":true,"type":"OK","data":true}"#
        );
        let unknown = Frame::parse("r:Chat.whoIsThere:abc:{}").unwrap();
        let reply = answers.reply(&unknown).unwrap();
        assert!(
            reply.starts_with(
                r#"s:Chat.whoIsThere:abc:{"success":false,"type":"ROUTE_NOT_FOUND","statusCode":404,"context":{"displayMessage":"Route not found: Chat.whoIsThere""#
            ),
            "{reply}"
        );
        assert_eq!(answers.reply(&Frame::parse("r:Chat.areYouThere::").unwrap()), None);
    }
}
