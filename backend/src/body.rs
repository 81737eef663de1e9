//! Request bodies (an upload, a `POST /send`): read whole, within a size limit and a deadline,
//! and the connection closed after an answer that left one unread.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    HttpResponse,
    body::{BodySize, MessageBody},
    web::{self, Bytes},
};
use futures_util::StreamExt as _;

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Longer than the limit (413).
    #[error("the body is larger than allowed")]
    TooLarge,
    /// The connection broke, or the body was malformed (400).
    #[error("the body broke off")]
    BrokenOff,
    /// Not all there within `--body-timeout` (408).
    #[error("the body did not arrive in time")]
    TimedOut,
}

/// Reads a body of at most `limit` bytes that must have arrived within `timeout`. On a
/// refusal the rest stays unread: answer through [`closing`].
pub async fn read(
    payload: &mut web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<web::BytesMut, Refused> {
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| Refused::BrokenOff)?;
            if body.len() + chunk.len() > limit {
                return Err(Refused::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(Refused::TimedOut))
}

/// `response`, after which the connection is closed if `payload` was not read to its end: a
/// client that stalls or trickles its body (or sends one nobody asked for) loses its
/// connection with the answer, and can hold nothing longer than `--body-timeout`.
///
/// actix-http closes the connection after answering a request whose body is unread, but only
/// while the body's reader is alive when the answer has been written: a reader dropped
/// earlier (as a handler's is) makes it drain a chunked body instead, for as long as the client
/// keeps it coming, or, if it stalls, forever. So the reader goes along in the answer's body.
/// A body read to its end changes nothing.
pub fn closing(response: HttpResponse, payload: web::Payload) -> HttpResponse {
    response
        .map_body(|_, body| Holding {
            body,
            _payload: payload,
        })
        .map_into_boxed_body()
}

/// A response body holding the request body's reader until it has been sent.
struct Holding<B> {
    body: B,
    _payload: web::Payload,
}

impl<B: MessageBody + Unpin> MessageBody for Holding<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}
