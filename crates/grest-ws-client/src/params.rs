//! Where a connection attempt's URL, query and credentials come from: fixed at build time, or produced fresh
//! before every attempt by `before_connect` (rotating tokens, signed URLs). The two are separate types, so
//! mixing them is a compile error.

use std::future::Future;

use grest_ws_core::Contract;
use grest_ws_core::ErrorEnvelope;
use grest_ws_core::auth::{Outbound, Wire};
use grest_ws_session::BoxFuture;

/// The complete parameters of one connection attempt.
#[must_use]
pub struct ConnectParams<C: Contract> {
    pub(crate) base_url: String,
    pub(crate) query: Option<C::Query>,
    pub(crate) credentials: Vec<(Wire, String)>,
    pub(crate) headers: Vec<(String, String)>,
}

impl<C: Contract> Clone for ConnectParams<C>
where
    C::Query: Clone,
{
    fn clone(&self) -> Self {
        ConnectParams {
            base_url: self.base_url.clone(),
            query: self.query.clone(),
            credentials: self.credentials.clone(),
            headers: self.headers.clone(),
        }
    }
}

impl<C: Contract> ConnectParams<C> {
    /// Parameters for `base_url` (`ws://host:port`).
    pub fn new(base_url: impl Into<String>) -> Self {
        ConnectParams {
            base_url: base_url.into(),
            query: None,
            credentials: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The typed handshake query, sent in the upgrade URL.
    pub fn query(mut self, query: C::Query) -> Self {
        self.query = Some(query);
        self
    }

    /// The credential for one of the schema's wires: a header wire writes it into the `h` frame (`Bearer <v>` for
    /// bearer wires), a query wire into the upgrade URL, a cookie wire into the upgrade's `Cookie` header.
    pub fn credential(mut self, wire: Wire, value: impl Into<String>) -> Self {
        self.credentials.push((wire, value.into()));
        self
    }

    /// A handshake header, sent in the `h` frame (names are lower-cased).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Writes the credentials and headers.
    pub(crate) fn write(&self, outbound: &mut Outbound) {
        for (wire, value) in &self.credentials {
            wire.update(outbound, value);
        }
        for (name, value) in &self.headers {
            outbound.headers.insert(name.clone(), value.clone());
        }
    }
}

/// A source of [`ConnectParams`], asked before every attempt.
pub trait ParamSource<C: Contract>: Send + Sync + 'static {
    /// The parameters of the next attempt; an error fails the attempt (a `VALIDATION_ERROR` for good).
    fn params(&self) -> BoxFuture<'_, Result<ConnectParams<C>, ErrorEnvelope>>;
}

/// Parameters fixed when the client is built.
pub struct StaticParams<C: Contract>(pub(crate) ConnectParams<C>);

impl<C: Contract> ParamSource<C> for StaticParams<C>
where
    C::Query: Clone,
{
    fn params(&self) -> BoxFuture<'_, Result<ConnectParams<C>, ErrorEnvelope>> {
        let params = self.0.clone();
        Box::pin(async move { Ok(params) })
    }
}

/// Parameters produced by an async provider before every attempt (the original's `beforeConnect`).
pub struct BeforeConnect<F>(pub(crate) F);

impl<C, F, Fut> ParamSource<C> for BeforeConnect<F>
where
    C: Contract,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ConnectParams<C>, ErrorEnvelope>> + Send + 'static,
{
    fn params(&self) -> BoxFuture<'_, Result<ConnectParams<C>, ErrorEnvelope>> {
        Box::pin((self.0)())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use grest_ws_core::contract::{ConnectMeta, ContractMeta};
    use grest_ws_core::validate::Issues;

    use super::*;

    struct Plain;

    impl Contract for Plain {
        const META: &'static ContractMeta = &ContractMeta {
            name: "Plain",
            connect: ConnectMeta {
                query: None,
                errors: &[],
                permission: None,
            },
            methods: &[],
        };
        type Query = ();
        type ConnectError = grest_ws_core::contract::RawConnectError;

        fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> {
            Ok(())
        }
    }

    const TOKEN: Wire = Wire::header("token", "authorization").bearer();
    const SESSION: Wire = Wire::cookie("session", "session");

    fn outbound(params: &ConnectParams<Plain>) -> Outbound {
        let mut outbound = Outbound::default();
        params.write(&mut outbound);
        outbound
    }

    /// Credentials go where their wires carry them; headers are lower-cased and written after credentials.
    #[test]
    fn credentials_then_headers_are_written() {
        let params = ConnectParams::<Plain>::new("ws://h")
            .credential(TOKEN, "t")
            .credential(SESSION, "s1")
            .header("X-Client-Version", "2");
        let written = outbound(&params);
        let headers: Vec<(&str, &str)> = written.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(headers, [("authorization", "Bearer t"), ("x-client-version", "2")]);
        assert_eq!(written.cookies, [("session".to_owned(), "s1".to_owned())]);
        assert!(written.query.is_empty());

        let overridden = outbound(&params.clone().header("Authorization", "Basic xyz"));
        assert_eq!(
            overridden.headers["authorization"], "Basic xyz",
            "an explicit header wins over a credential"
        );
        let twice = outbound(&params.credential(TOKEN, "newer"));
        assert_eq!(
            twice.headers["authorization"], "Bearer newer",
            "the last credential wins"
        );
    }

    /// Static parameters are the same on every attempt; `before_connect` is asked again each time.
    #[tokio::test]
    async fn sources_give_the_parameters_of_each_attempt() {
        let fixed = StaticParams(ConnectParams::<Plain>::new("ws://fixed").header("n", "1"));
        for _ in 0..2 {
            let params = fixed.params().await.unwrap();
            assert_eq!((params.base_url.as_str(), params.headers.len()), ("ws://fixed", 1));
        }

        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let fresh = BeforeConnect(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(ConnectParams::<Plain>::new(format!("ws://attempt-{n}"))) }
        });
        assert_eq!(
            ParamSource::<Plain>::params(&fresh).await.unwrap().base_url,
            "ws://attempt-1"
        );
        assert_eq!(
            ParamSource::<Plain>::params(&fresh).await.unwrap().base_url,
            "ws://attempt-2"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }
}
