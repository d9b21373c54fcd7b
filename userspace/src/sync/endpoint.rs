//! The endpoint peers post to (`POST /sync/v2`). Every bound is applied
//! before memory is spent: a connection limit, a header read timeout and a
//! small read buffer; the signature on the headers before any of the body is
//! read; the announced length against `max_batch_bytes` (413); a limit on
//! bodies read at once; and the request timeout for a slow sender's body.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, HeaderMap};
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::auth::{
    Claims, DIGEST_HEADER, SIGNATURE_HEADER, SITE_HEADER, parse_digest, sign_reply, verify_body, verify_claims,
};
use super::client::SYNC_PATH;
use super::error::SyncError;
use super::log_limit::LogLimit;
use super::node::{Refusal, SyncNode};
use super::wire::{decode_request, encode};

/// Longest a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-connection read buffer: the headers must fit, and nothing more is read ahead.
const READ_BUFFER: usize = 16 * 1024;
/// Longest a new connection waits for a free slot before it is closed.
const CONNECTION_WAIT: Duration = Duration::from_secs(1);

type Answer = hyper::Response<Full<Bytes>>;

/// A refused request: what to answer and what to count.
struct Refused {
    status: StatusCode,
    refusal: Refusal,
    message: String,
}

impl Refused {
    fn new(status: StatusCode, refusal: Refusal, message: impl Into<String>) -> Refused {
        Refused { status, refusal, message: message.into() }
    }

    fn from_error(err: &SyncError) -> Refused {
        let status = match err {
            SyncError::BadSignature | SyncError::Unauthentic(_) => StatusCode::UNAUTHORIZED,
            SyncError::UnknownSite(_) => StatusCode::FORBIDDEN,
            SyncError::SharedIncarnation { .. } => StatusCode::CONFLICT,
            // The sender's own database went back to an incarnation it had left: it takes a
            // new one when it sees this status (see `Replica::left_behind`).
            SyncError::RetiredIncarnation { .. } => StatusCode::GONE,
            SyncError::ClockAhead { .. } | SyncError::OtherFormat { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            SyncError::Malformed(_) | SyncError::UnknownTable(_) | SyncError::UnknownColumn { .. } => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Refused::new(status, Refusal::of(err), err.to_string())
    }
}

impl SyncNode {
    /// Serves the endpoint on `listener` until the task is dropped.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        self.serve_until(listener, std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then lets requests in progress finish.
    pub async fn serve_until(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let slots = Arc::new(Semaphore::new(self.inner.config.max_connections.max(1)));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        tracing::warn!(error = %err, "sync endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let Ok(Ok(slot)) = tokio::time::timeout(CONNECTION_WAIT, slots.clone().acquire_owned()).await else {
                self.count_refusal(Refusal::Busy);
                continue;
            };
            let node = self.clone();
            let service = hyper::service::service_fn(move |request| {
                let node = node.clone();
                async move { Ok::<_, Infallible>(node.answer_http(request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(READ_BUFFER)
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                let _ = connection.await;
                drop(slot);
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    }

    async fn answer_http(&self, request: hyper::Request<Incoming>) -> Answer {
        let digest = request.headers().get(DIGEST_HEADER).and_then(|v| v.to_str().ok()).and_then(parse_digest);
        let (status, body) = match self.take_request(request).await {
            Ok(reply) => (StatusCode::OK, reply),
            Err(refused) => {
                self.count_refusal(refused.refusal);
                log_refusal(&refused);
                (refused.status, refused.message.into_bytes())
            }
        };
        // Only a request that named its digest can be answered verifiably.
        let signature = digest.map(|digest| sign_reply(&self.inner.config.key, &digest, status.as_u16(), &body));
        let mut answer = hyper::Response::new(Full::new(Bytes::from(body)));
        *answer.status_mut() = status;
        // A refused client does not keep its place: the connection ends with the answer rather
        // than waiting for its next request (or the header timeout).
        if status != StatusCode::OK {
            answer.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
        }
        if let Some(signature) = signature {
            answer.headers_mut().insert(SIGNATURE_HEADER, signature.parse().expect("hex is a header value"));
        }
        answer
    }

    /// Checks, reads and answers one request; returns the encoded reply.
    async fn take_request(&self, request: hyper::Request<Incoming>) -> Result<Vec<u8>, Refused> {
        if request.method() != Method::POST || request.uri().path() != SYNC_PATH {
            return Err(Refused::new(StatusCode::NOT_FOUND, Refusal::Malformed, format!("only POST {SYNC_PATH}")));
        }
        let claims = self.authenticate(request.headers())?;
        let _permit = self.inner.requests.acquire().await.expect("the semaphore is never closed");
        let limit = claims.length as usize;
        let read = Limited::new(request.into_body(), limit).collect();
        let body = match tokio::time::timeout(self.inner.config.request_timeout, read).await {
            Err(_) => return Err(Refused::new(StatusCode::REQUEST_TIMEOUT, Refusal::Slow, "body too slow")),
            Ok(Err(e)) => return Err(Refused::new(StatusCode::BAD_REQUEST, Refusal::Malformed, e.to_string())),
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        verify_body(&claims, &body).map_err(|e| Refused::from_error(&e))?;
        let message = decode_request(&body).map_err(|e| Refused::from_error(&e))?;
        if message.origin().site != claims.site {
            let text = format!("signed by `{}` but from `{}`", claims.site, message.origin().site);
            return Err(Refused::new(StatusCode::BAD_REQUEST, Refusal::Malformed, text));
        }
        let reply = self.with_replica(move |replica| replica.handle(&message)).await;
        reply.map(|reply| encode(&reply)).map_err(|e| Refused::from_error(&e))
    }

    /// Everything decided from the headers alone, before any of the body is read.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Claims, Refused> {
        let config = &self.inner.config;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let unauthenticated = |why: &str| Refused::new(StatusCode::UNAUTHORIZED, Refusal::Unauthenticated, why);
        let site = header(SITE_HEADER).ok_or_else(|| unauthenticated("no sending site"))?;
        if !config.peers.iter().any(|p| p.site_id == site) {
            return Err(Refused::new(
                StatusCode::FORBIDDEN,
                Refusal::Unauthenticated,
                format!("`{site}` is not a peer"),
            ));
        }
        let digest = header(DIGEST_HEADER).and_then(parse_digest).ok_or_else(|| unauthenticated("no body digest"))?;
        let length: u64 = header(CONTENT_LENGTH.as_str())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Refused::new(StatusCode::LENGTH_REQUIRED, Refusal::Malformed, "Content-Length required"))?;
        let claims = Claims { site: site.to_string(), length, digest };
        let signature = header(SIGNATURE_HEADER).ok_or_else(|| unauthenticated("no signature"))?;
        verify_claims(&config.key, &claims, signature).map_err(|_| unauthenticated("bad signature"))?;
        if length > config.max_batch_bytes as u64 {
            let text = format!("{length} bytes exceed sync.max_batch_bytes ({})", config.max_batch_bytes);
            return Err(Refused::new(StatusCode::PAYLOAD_TOO_LARGE, Refusal::TooLarge, text));
        }
        Ok(claims)
    }
}

fn log_refusal(refused: &Refused) {
    static LOG: LogLimit = LogLimit::new();
    static INCARNATION_LOG: LogLimit = LogLimit::new();
    let status = refused.status.as_u16();
    if refused.refusal == Refusal::Incarnation {
        if let Some(held_back) = INCARNATION_LOG.allow() {
            tracing::error!(status, error = %refused.message, held_back, "refused a peer's request");
        }
    } else if let Some(held_back) = LOG.allow() {
        tracing::warn!(status, reason = refused.refusal.label(), error = %refused.message, held_back, "refused a sync request");
    }
}
