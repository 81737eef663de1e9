//! The Echo page's state: what was sent, what came back, and how long that took. Pure, so it is
//! tested natively; the page holds it in a signal and feeds it events.

use shared::EchoFrame;

use crate::client::Transport;

/// At most this many entries are kept; older ones scroll away so a long session stays light.
pub const MAX_ENTRIES: usize = 200;

/// One message typed on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoEntry {
    /// The frame id, unique per page load.
    pub id: u64,
    /// What the user typed.
    pub text: String,
    /// When it was queued, in `performance.now()` milliseconds.
    pub sent_at_ms: f64,
    /// When the transport took it (the socket's `send`, the POST's queue), if it has.
    pub wire_at_ms: Option<f64>,
    /// The transport it went over.
    pub transport: Transport,
    /// What has happened since.
    pub outcome: Outcome,
}

/// Where a sent message stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Sent (or queued), no echo yet.
    Pending,
    /// The echo arrived after `rtt_ms` milliseconds.
    Echoed {
        /// Round-trip time from the transport taking the message to its message event for
        /// the echo (rendering excluded).
        rtt_ms: f64,
    },
    /// The connection dropped before the echo arrived.
    Lost,
}

/// The page's log, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EchoLog {
    next_id: u64,
    entries: Vec<EchoEntry>,
    /// The last reply that was not an echo of ours, for the user to see.
    pub problem: Option<String>,
    /// Bytes on the wire per transport (in [`Transport::ALL`]'s order), since the page opened.
    wire: [u64; 3],
}

impl EchoLog {
    /// The entries, oldest first.
    pub fn entries(&self) -> &[EchoEntry] {
        &self.entries
    }

    /// Records a send of `text` over `transport` at `now_ms` and returns the frame to put on
    /// the wire.
    pub fn send(&mut self, text: String, transport: Transport, now_ms: f64) -> EchoFrame {
        self.next_id += 1;
        let frame = EchoFrame {
            id: self.next_id,
            text,
        };
        self.entries.push(EchoEntry {
            id: frame.id,
            text: frame.text.clone(),
            sent_at_ms: now_ms,
            wire_at_ms: None,
            transport,
            outcome: Outcome::Pending,
        });
        if self.entries.len() > MAX_ENTRIES {
            let excess = self.entries.len() - MAX_ENTRIES;
            self.entries.drain(..excess);
        }
        frame
    }

    /// The transport took the oldest message not yet taken, at `now_ms` (messages go out in
    /// the order they were queued).
    pub fn mark_sent(&mut self, now_ms: f64) {
        let waiting = self
            .entries
            .iter_mut()
            .find(|e| e.wire_at_ms.is_none() && e.outcome == Outcome::Pending);
        if let Some(entry) = waiting {
            entry.wire_at_ms = Some(now_ms);
        }
    }

    /// `bytes` crossed the wire over `transport` (headers and framing included).
    pub fn add_wire(&mut self, transport: Transport, bytes: u64) {
        if let Some(i) = Transport::ALL.iter().position(|t| *t == transport) {
            self.wire[i] += bytes;
        }
    }

    /// The bytes on the wire per echoed message over `transport` (both ways, everything the
    /// transport sent meanwhile included), once one has come back.
    pub fn bytes_per_message(&self, transport: Transport) -> Option<u64> {
        let (_, echoed) = self.median_rtt(transport)?;
        let i = Transport::ALL.iter().position(|t| *t == transport)?;
        Some(self.wire[i] / echoed as u64)
    }

    /// The median round trip of `transport`'s echoes so far, and how many there were.
    pub fn median_rtt(&self, transport: Transport) -> Option<(f64, usize)> {
        let rtts: Vec<f64> = self
            .entries
            .iter()
            .filter(|e| e.transport == transport)
            .filter_map(|e| match e.outcome {
                Outcome::Echoed { rtt_ms } => Some(rtt_ms),
                _ => None,
            })
            .collect();
        // The upper median by counting, not sorting: at most MAX_ENTRIES values, and a sort
        // of f64 would add kilobytes of code to the wasm for this one table.
        let rank = rtts.len() / 2;
        let median = rtts.iter().copied().find(|&candidate| {
            let below = rtts.iter().filter(|&&r| r < candidate).count();
            let at_most = rtts.iter().filter(|&&r| r <= candidate).count();
            below <= rank && rank < at_most
        })?;
        Some((median, rtts.len()))
    }

    /// Handles a frame from the server received at `now_ms`, as decoded (the page decodes it
    /// with the browser's parser, [`crate::json`]).
    pub fn receive(&mut self, frame: Result<EchoFrame, shared::ProtocolError>, now_ms: f64) {
        let frame = match frame {
            Ok(frame) => frame,
            Err(err) => {
                self.problem = Some(format!("unexpected reply: {err}"));
                return;
            }
        };
        match self.entries.iter_mut().find(|e| e.id == frame.id) {
            Some(entry) if entry.text == frame.text => {
                let start = entry.wire_at_ms.unwrap_or(entry.sent_at_ms);
                entry.outcome = Outcome::Echoed {
                    rtt_ms: (now_ms - start).max(0.0),
                };
            }
            Some(entry) => {
                self.problem = Some(format!("echo of #{} came back altered", entry.id));
            }
            // Scrolled out of the log already; nothing to update.
            None => {}
        }
    }

    /// The connection dropped: echoes still pending will not come.
    pub fn connection_lost(&mut self) {
        for entry in &mut self.entries {
            if entry.outcome == Outcome::Pending {
                entry.outcome = Outcome::Lost;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: Transport = Transport::WebSocket;

    #[test]
    fn round_trips_start_when_the_transport_takes_the_message() {
        let mut log = EchoLog::default();
        let a = log.send("a".into(), Transport::Sse, 100.0);
        let b = log.send("b".into(), Transport::Sse, 100.0);
        // Queued at 100, taken by the transport at 104 and 105: rendering in between is not
        // the transport's time.
        log.mark_sent(104.0);
        log.mark_sent(105.0);
        log.receive(Ok(a.clone()), 106.0);
        log.receive(Ok(b.clone()), 109.0);
        assert_eq!(log.median_rtt(Transport::Sse), Some((4.0, 2)));
        for (rtts, median) in [
            (&[3.0, 1.0, 2.0][..], 2.0),
            (&[5.0, 5.0, 1.0, 9.0][..], 5.0),
            (&[7.0][..], 7.0),
        ] {
            let mut one = EchoLog::default();
            for rtt in rtts {
                let frame = one.send("x".into(), WS, 0.0);
                one.receive(Ok(frame.clone()), *rtt);
            }
            assert_eq!(one.median_rtt(WS), Some((median, rtts.len())), "{rtts:?}");
        }
        assert_eq!(log.median_rtt(Transport::WebSocket), None);
        log.add_wire(Transport::Sse, 1000);
        log.add_wire(Transport::WebSocket, 77);
        assert_eq!(log.bytes_per_message(Transport::Sse), Some(500));
        assert_eq!(log.bytes_per_message(Transport::WebSocket), None);
    }

    #[test]
    fn echo_is_matched_by_id_and_timed() {
        let mut log = EchoLog::default();
        let a = log.send("안녕".into(), WS, 100.0);
        let b = log.send("b".into(), WS, 110.0);
        log.receive(Ok(b.clone()), 130.0);
        log.receive(Ok(a.clone()), 150.5);
        let outcomes: Vec<_> = log.entries().iter().map(|e| e.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Echoed { rtt_ms: 50.5 },
                Outcome::Echoed { rtt_ms: 20.0 }
            ]
        );
        assert_eq!(log.problem, None);
    }

    #[test]
    fn pending_echoes_are_lost_when_the_connection_drops() {
        let mut log = EchoLog::default();
        let a = log.send("a".into(), WS, 0.0);
        log.receive(Ok(a.clone()), 1.0);
        log.send("b".into(), WS, 2.0);
        log.connection_lost();
        let outcomes: Vec<_> = log.entries().iter().map(|e| e.outcome).collect();
        assert_eq!(outcomes, [Outcome::Echoed { rtt_ms: 1.0 }, Outcome::Lost]);
    }

    #[test]
    fn foreign_and_altered_replies_are_reported_not_applied() {
        let mut log = EchoLog::default();
        let a = log.send("a".into(), WS, 0.0);
        log.receive(shared::decode("not json"), 1.0);
        assert!(log.problem.as_deref().unwrap().contains("unexpected reply"));
        let altered = EchoFrame {
            id: a.id,
            text: "A".into(),
        };
        log.receive(Ok(altered.clone()), 1.0);
        assert!(log.problem.as_deref().unwrap().contains("altered"));
        assert_eq!(log.entries()[0].outcome, Outcome::Pending);
    }

    #[test]
    fn log_keeps_only_the_newest_entries() {
        let mut log = EchoLog::default();
        for i in 0..MAX_ENTRIES + 5 {
            log.send(i.to_string(), WS, 0.0);
        }
        assert_eq!(log.entries().len(), MAX_ENTRIES);
        assert_eq!(log.entries()[0].text, "5");
    }
}
