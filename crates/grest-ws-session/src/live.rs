//! The handlers a connected client runs for server-to-client messages, which it can add to or replace while the
//! socket is live (the original's `incoming.on(handlers)`): one set per contract per connection, kept on the
//! connection's handle so every typed handle of it reaches the same set.

use std::any::{Any, TypeId};
use std::sync::{Arc, RwLock};

use crate::dispatch::{Call, OwnedDispatch, Route};

/// A contract's partial handlers for server-to-client methods, as `contract!` generates them (`Handlers`).
pub trait PartialHandlers: OwnedDispatch + Default + Clone + Send + Sync + 'static {
    /// Takes every handler `newer` sets, replacing this set's handler of the same method; keeps the others.
    fn merge(&mut self, newer: Self);
}

/// The live handler set of one contract on one connection: inbound messages are dispatched to what it holds at
/// the moment they arrive, so a handler added or replaced mid-connection takes the next message.
pub struct LiveHandlers<H> {
    current: RwLock<H>,
}

impl<H: PartialHandlers> LiveHandlers<H> {
    fn new() -> Self {
        LiveHandlers {
            current: RwLock::new(H::default()),
        }
    }

    /// Adds `handlers`' handlers, replacing those of the same methods.
    pub fn merge(&self, handlers: H) {
        self.current.write().unwrap_or_else(|e| e.into_inner()).merge(handlers);
    }

    /// Replaces the whole set.
    pub fn replace(&self, handlers: H) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = handlers;
    }
}

impl<H: PartialHandlers> OwnedDispatch for LiveHandlers<H> {
    fn call_owned(&self, route: &Route, data: Option<&str>) -> Call<'static> {
        // The lock is held only to start the call: the returned future owns what it uses.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .call_owned(route, data)
    }
}

/// The live handler sets of one connection, by handler type (a pooled socket carries several contracts).
#[derive(Default)]
pub(crate) struct LiveSets {
    sets: std::sync::Mutex<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>,
}

impl LiveSets {
    /// The set of handler type `H`, made empty on first use.
    pub(crate) fn get<H: PartialHandlers>(&self) -> Arc<LiveHandlers<H>> {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        let id = TypeId::of::<H>();
        if let Some((_, set)) = sets.iter().find(|(t, _)| *t == id) {
            if let Ok(set) = set.clone().downcast::<LiveHandlers<H>>() {
                return set;
            }
        }
        let set = Arc::new(LiveHandlers::<H>::new());
        sets.push((id, set.clone()));
        set
    }
}

#[cfg(test)]
mod tests {
    use grest_ws_core::envelope::Envelope;

    use super::*;

    /// A handler set that answers with the name it was given, per method.
    #[derive(Clone, Default)]
    struct Named {
        first: Option<&'static str>,
        second: Option<&'static str>,
    }

    impl OwnedDispatch for Named {
        fn call_owned(&self, route: &Route, _: Option<&str>) -> Call<'static> {
            let name = if route.method == 0 { self.first } else { self.second };
            match name {
                Some(name) => Call::Ready(Envelope::ok(&name).expect("a string encodes")),
                None => Call::route_not_found(route.path),
            }
        }
    }

    impl PartialHandlers for Named {
        fn merge(&mut self, newer: Self) {
            self.first = newer.first.or(self.first);
            self.second = newer.second.or(self.second);
        }
    }

    fn answer(set: &LiveHandlers<Named>, method: usize) -> String {
        let route = Route {
            target: 0,
            method,
            path: "T.m",
            is_request: true,
        };
        match set.call_owned(&route, None) {
            Call::Ready(envelope) => envelope.json().to_owned(),
            Call::Pending(_) => unreachable!("answers are ready"),
        }
    }

    /// One set per handler type per connection; merging replaces only the methods the newer set handles.
    #[test]
    fn merged_handlers_replace_per_method() {
        let sets = LiveSets::default();
        let set = sets.get::<Named>();
        assert!(Arc::ptr_eq(&set, &sets.get::<Named>()), "the same set on every lookup");
        assert!(answer(&set, 0).contains("ROUTE_NOT_FOUND"));
        set.merge(Named {
            first: Some("a"),
            second: None,
        });
        set.merge(Named {
            first: None,
            second: Some("b"),
        });
        assert!(answer(&set, 0).contains("\"a\"") && answer(&set, 1).contains("\"b\""));
        set.merge(Named {
            first: Some("c"),
            second: None,
        });
        assert!(answer(&set, 0).contains("\"c\"") && answer(&set, 1).contains("\"b\""));
        set.replace(Named::default());
        assert!(answer(&set, 1).contains("ROUTE_NOT_FOUND"));
    }
}
