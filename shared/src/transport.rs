//! [`Transport`]: the three ways a page and the server exchange the protocol's frames, named
//! once for the app (status pill, Echo page, localStorage) and the benchmark's report.

/// How messages travel between a page and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One WebSocket, both ways.
    WebSocket,
    /// Server-Sent Events down, POST up.
    Sse,
    /// Long-polling down, POST up.
    LongPoll,
}

impl Transport {
    /// Every transport, in the order the app tries them when WebSocket is blocked.
    pub const ALL: [Self; 3] = [Self::WebSocket, Self::Sse, Self::LongPoll];

    /// Its short name, on the status pill (the same in every language).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::WebSocket => "WebSocket",
            Self::Sse => "SSE",
            Self::LongPoll => "long-polling",
        }
    }

    /// Its name with both directions, where transports are compared (the Echo page's
    /// selector, the benchmark's report).
    #[must_use]
    pub fn both_ways(self) -> &'static str {
        match self {
            Self::WebSocket => "WebSocket",
            Self::Sse => "SSE + POST",
            Self::LongPoll => "long-polling + POST",
        }
    }

    /// Its name in localStorage and in `data-` attributes.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::Sse => "sse",
            Self::LongPoll => "long-polling",
        }
    }

    /// The transport a [`Self::key`] names.
    #[must_use]
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.key() == key)
    }

    /// The one to try when this one does not work, in the order of [`Self::ALL`].
    #[must_use]
    pub fn next(self) -> Option<Self> {
        let at = Self::ALL.iter().position(|&t| t == self)?;
        Self::ALL.get(at + 1).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::Transport;

    #[test]
    fn keys_name_their_transport_and_the_order_ends() {
        for t in Transport::ALL {
            assert_eq!(Transport::from_key(t.key()), Some(t));
        }
        assert_eq!(Transport::WebSocket.next(), Some(Transport::Sse));
        assert_eq!(Transport::Sse.next(), Some(Transport::LongPoll));
        assert_eq!(Transport::LongPoll.next(), None);
        assert_eq!(Transport::from_key("carrier pigeon"), None);
    }
}
