//! The Echo page's state: what was sent, what came back, and how long that took. Pure, so it is
//! tested natively; the page holds it in a signal and feeds it events.

use shared::EchoFrame;

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
        /// Round-trip time from queueing to receiving the echo.
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
}

impl EchoLog {
    /// The entries, oldest first.
    pub fn entries(&self) -> &[EchoEntry] {
        &self.entries
    }

    /// Records a send of `text` at `now_ms` and returns the frame to put on the wire.
    pub fn send(&mut self, text: String, now_ms: f64) -> EchoFrame {
        self.next_id += 1;
        let frame = EchoFrame {
            id: self.next_id,
            text,
        };
        self.entries.push(EchoEntry {
            id: frame.id,
            text: frame.text.clone(),
            sent_at_ms: now_ms,
            outcome: Outcome::Pending,
        });
        if self.entries.len() > MAX_ENTRIES {
            let excess = self.entries.len() - MAX_ENTRIES;
            self.entries.drain(..excess);
        }
        frame
    }

    /// Handles a text frame from the server received at `now_ms`.
    pub fn receive(&mut self, text: &str, now_ms: f64) {
        let frame = match shared::decode::<EchoFrame>(text) {
            Ok(frame) => frame,
            Err(err) => {
                self.problem = Some(format!("unexpected reply: {err}"));
                return;
            }
        };
        match self.entries.iter_mut().find(|e| e.id == frame.id) {
            Some(entry) if entry.text == frame.text => {
                entry.outcome = Outcome::Echoed {
                    rtt_ms: (now_ms - entry.sent_at_ms).max(0.0),
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

    #[test]
    fn echo_is_matched_by_id_and_timed() {
        let mut log = EchoLog::default();
        let a = log.send("안녕".into(), 100.0);
        let b = log.send("b".into(), 110.0);
        log.receive(&shared::encode(&b).unwrap(), 130.0);
        log.receive(&shared::encode(&a).unwrap(), 150.5);
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
        let a = log.send("a".into(), 0.0);
        log.receive(&shared::encode(&a).unwrap(), 1.0);
        log.send("b".into(), 2.0);
        log.connection_lost();
        let outcomes: Vec<_> = log.entries().iter().map(|e| e.outcome).collect();
        assert_eq!(outcomes, [Outcome::Echoed { rtt_ms: 1.0 }, Outcome::Lost]);
    }

    #[test]
    fn foreign_and_altered_replies_are_reported_not_applied() {
        let mut log = EchoLog::default();
        let a = log.send("a".into(), 0.0);
        log.receive("not json", 1.0);
        assert!(log.problem.as_deref().unwrap().contains("unexpected reply"));
        let altered = EchoFrame {
            id: a.id,
            text: "A".into(),
        };
        log.receive(&shared::encode(&altered).unwrap(), 1.0);
        assert!(log.problem.as_deref().unwrap().contains("altered"));
        assert_eq!(log.entries()[0].outcome, Outcome::Pending);
    }

    #[test]
    fn log_keeps_only_the_newest_entries() {
        let mut log = EchoLog::default();
        for i in 0..MAX_ENTRIES + 5 {
            log.send(i.to_string(), 0.0);
        }
        assert_eq!(log.entries().len(), MAX_ENTRIES);
        assert_eq!(log.entries()[0].text, "5");
    }
}
