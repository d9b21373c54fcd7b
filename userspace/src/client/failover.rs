//! Which failed requests may move on to the next address.

use reqwest::Method;

/// Why an attempt at one address failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// No connection: nothing was sent, so any method may go to the next address.
    Connect,
    /// Connected, then closed or reset before any response: the server may or may not have
    /// acted on the request, so only idempotent methods go on.
    BeforeResponse,
    /// Anything else (a timeout while waiting, a bad URL...): not the address's fault, or not
    /// safe to repeat.
    Other,
}

pub(super) fn classify(error: &reqwest::Error) -> Failure {
    if error.is_connect() {
        return Failure::Connect;
    }
    if error.is_timeout() || error.is_builder() || error.is_redirect() || error.is_body() || error.is_decode() {
        return Failure::Other;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled())
        {
            return Failure::BeforeResponse;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof) {
                return Failure::BeforeResponse;
            }
        }
        source = e.source();
    }
    Failure::Other
}

/// RFC 9110 9.2.2: repeating these has the same effect as sending them once.
pub(super) fn idempotent(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::OPTIONS, Method::TRACE].contains(method)
}

/// Whether to try the next address after `failure`.
pub(super) fn may_move_on(failure: Failure, method: &Method) -> bool {
    match failure {
        Failure::Connect => true,
        Failure::BeforeResponse => idempotent(method),
        Failure::Other => false,
    }
}
