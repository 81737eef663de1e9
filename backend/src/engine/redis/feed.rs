//! One log's live messages in order, whatever order Redis Pub/Sub and the log reads bring
//! them in.
//!
//! Pub/Sub is only a doorbell: a message can arrive twice (from the channel and from a read of
//! the log), late, or never (a dropped subscriber connection). A [`Feed`] remembers the last
//! position it delivered and turns whatever it is offered into an ordered run without repeats.
//! In a room, positions (`seq`) have no holes, so a message that skips a number reveals a gap;
//! the engine reads the gap from the log once it has waited [`GAP_WAIT`]. A user's direct
//! messages are numbered by the user's own counter now, but logs moved from the older
//! one-slot layout keep that layout's ids, which skip (one counter was shared by all users),
//! so there a later id is simply delivered; their losses are found by reading the log after
//! a reconnect.
//!
//! The feed also keeps the last [`RECENT`] messages it delivered, so a history read that
//! finished before the feed caught up can be completed without another round trip (see
//! `Engine::release_held`).

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use shared::{DirectMessage, RoomEntry};

/// How long an out-of-order message waits for the ones before it before they are read from
/// the log: long enough for a publish that is merely behind a script reply to arrive, short
/// enough that a lost one shows up quickly.
pub const GAP_WAIT: Duration = Duration::from_millis(150);

/// Delivered messages remembered per log for completing history reads.
pub const RECENT: usize = 4096;

/// A message with a position in its log.
pub trait Positioned: Clone {
    /// Its position: `seq` in a room, `id` among direct messages.
    fn position(&self) -> u64;

    /// Whether `other` is the same stored entry (a read may bring a room message in its
    /// current state, edited since, where the channel brought it as sent).
    fn same(&self, other: &Self) -> bool;
}

impl Positioned for RoomEntry {
    fn position(&self) -> u64 {
        self.seq()
    }

    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Message(a), Self::Message(b)) => {
                (a.id, a.ts, &a.client_id, &a.from) == (b.id, b.ts, &b.client_id, &b.from)
            }
            (a, b) => a == b,
        }
    }
}

impl Positioned for DirectMessage {
    fn position(&self) -> u64 {
        self.id.0
    }

    fn same(&self, other: &Self) -> bool {
        self == other
    }
}

/// The delivery state of one log on this node.
#[derive(Debug)]
pub struct Feed<M> {
    last: u64,
    /// Positions have no holes (rooms): a skipped number is a gap.
    contiguous: bool,
    /// Messages that arrived ahead of a gap, by position.
    pending: BTreeMap<u64, M>,
    /// A position the log is known to have reached (from a read), not yet delivered.
    expected: u64,
    /// Since when the feed has been behind (`pending` or `expected`).
    behind_since: Option<Instant>,
    /// The last delivered messages, oldest first.
    recent: VecDeque<M>,
    /// The position delivered just before `recent`'s first message.
    floor: u64,
}

impl<M: Positioned> Feed<M> {
    /// A feed that has delivered everything up to `last`.
    pub fn new(last: u64, contiguous: bool) -> Self {
        Self {
            last,
            contiguous,
            pending: BTreeMap::new(),
            expected: last,
            behind_since: None,
            recent: VecDeque::new(),
            floor: last,
        }
    }

    /// The last position delivered.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Takes a message from the channel or the log; returns the messages now deliverable,
    /// in order (none if it was old or must wait for a gap).
    pub fn offer(&mut self, message: M, now: Instant) -> Vec<M> {
        let position = message.position();
        if position <= self.last {
            return Vec::new();
        }
        let mut out = Vec::new();
        if !self.contiguous || position == self.last + 1 {
            self.deliver(message, &mut out);
            while let Some(next) = self.pending.remove(&(self.last + 1)) {
                self.deliver(next, &mut out);
            }
        } else {
            self.pending.entry(position).or_insert(message);
            self.expected = self.expected.max(position);
        }
        self.behind_since = if self.is_behind() {
            // Progress restarts the wait: what is still missing is a new gap.
            Some(if out.is_empty() {
                self.behind_since.unwrap_or(now)
            } else {
                now
            })
        } else {
            None
        };
        out
    }

    /// Records that the log holds messages up to `position` (a read saw them): if they do
    /// not arrive through the channel, the gap logic reads them.
    pub fn expect(&mut self, position: u64, now: Instant) {
        if position > self.expected {
            self.expected = position;
        }
        if self.is_behind() && self.behind_since.is_none() {
            self.behind_since = Some(now);
        }
    }

    /// When the feed has been behind for `wait` or longer: the position after which to read
    /// the log.
    pub fn overdue(&self, now: Instant, wait: Duration) -> Option<u64> {
        let since = self.behind_since?;
        (now.duration_since(since) >= wait).then_some(self.last)
    }

    /// Restarts the wait after a read of the log was started, so one gap is read once.
    pub fn reading(&mut self, now: Instant) {
        if self.behind_since.is_some() {
            self.behind_since = Some(now);
        }
    }

    /// Whether `message` has a position already delivered but is not the message delivered
    /// there (as far as the feed remembers): the log was rewritten under it.
    pub fn conflicts(&self, message: &M) -> bool {
        let position = message.position();
        position <= self.last
            && self
                .recent
                .iter()
                .any(|m| m.position() == position && !m.same(message))
    }

    /// Messages delivered after `position`, oldest first, if the feed still remembers all of
    /// them.
    pub fn delivered_after(&self, position: u64) -> Option<Vec<M>> {
        if position >= self.last {
            return Some(Vec::new());
        }
        if position < self.floor {
            return None;
        }
        Some(
            self.recent
                .iter()
                .filter(|m| m.position() > position)
                .cloned()
                .collect(),
        )
    }

    fn is_behind(&self) -> bool {
        !self.pending.is_empty() || self.expected > self.last
    }

    fn deliver(&mut self, message: M, out: &mut Vec<M>) {
        self.last = message.position();
        self.expected = self.expected.max(self.last);
        if self.recent.len() == RECENT
            && let Some(dropped) = self.recent.pop_front()
        {
            self.floor = dropped.position();
        }
        self.recent.push_back(message.clone());
        out.push(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct M(u64);
    impl Positioned for M {
        fn position(&self) -> u64 {
            self.0
        }

        fn same(&self, other: &Self) -> bool {
            self == other
        }
    }

    fn positions(messages: &[M]) -> Vec<u64> {
        messages.iter().map(|m| m.0).collect()
    }

    #[test]
    fn in_order_messages_pass_and_repeats_are_dropped() {
        let now = Instant::now();
        let mut feed = Feed::new(3, true);
        assert_eq!(positions(&feed.offer(M(4), now)), [4]);
        assert!(feed.offer(M(4), now).is_empty());
        assert!(feed.offer(M(2), now).is_empty());
        assert_eq!(feed.last(), 4);
        assert_eq!(feed.overdue(now, Duration::ZERO), None);
    }

    #[test]
    fn a_gap_holds_later_messages_until_it_is_filled_then_releases_them_in_order() {
        let start = Instant::now();
        let mut feed = Feed::new(0, true);
        assert!(feed.offer(M(3), start).is_empty());
        assert!(feed.offer(M(2), start).is_empty());
        assert_eq!(feed.overdue(start, GAP_WAIT), None, "not yet overdue");
        let later = start + GAP_WAIT;
        assert_eq!(feed.overdue(later, GAP_WAIT), Some(0), "read after 0");
        assert_eq!(positions(&feed.offer(M(1), later)), [1, 2, 3]);
        assert_eq!(feed.overdue(later + GAP_WAIT, GAP_WAIT), None);
    }

    #[test]
    fn an_expected_position_is_a_gap_even_when_nothing_later_arrives() {
        let start = Instant::now();
        let mut feed = Feed::new(5, true);
        feed.expect(7, start);
        assert_eq!(feed.overdue(start + GAP_WAIT, GAP_WAIT), Some(5));
        feed.offer(M(6), start);
        feed.offer(M(7), start);
        assert_eq!(feed.overdue(start + 10 * GAP_WAIT, GAP_WAIT), None);
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Text(u64, &'static str);
    impl Positioned for Text {
        fn position(&self) -> u64 {
            self.0
        }

        fn same(&self, other: &Self) -> bool {
            self == other
        }
    }

    #[test]
    fn a_repeat_is_not_a_conflict_but_another_message_under_the_same_number_is() {
        let now = Instant::now();
        let mut feed = Feed::new(0, true);
        feed.offer(Text(1, "one"), now);
        assert!(!feed.conflicts(&Text(1, "one")), "the same message again");
        assert!(feed.conflicts(&Text(1, "other")), "the log was rewritten");
        assert!(!feed.conflicts(&Text(2, "two")), "not delivered yet");
    }

    #[test]
    fn ids_with_holes_are_delivered_at_once_when_not_contiguous() {
        let now = Instant::now();
        let mut feed = Feed::new(10, false);
        assert_eq!(positions(&feed.offer(M(15), now)), [15]);
        assert!(feed.offer(M(12), now).is_empty(), "older than the last");
        assert_eq!(positions(&feed.offer(M(20), now)), [20]);
    }

    #[test]
    fn delivered_after_answers_from_memory_only_while_it_reaches_back_far_enough() {
        let now = Instant::now();
        let mut feed = Feed::new(0, true);
        for n in 1..=(RECENT as u64 + 10) {
            feed.offer(M(n), now);
        }
        let last = feed.last();
        assert_eq!(
            positions(&feed.delivered_after(last - 2).unwrap()),
            [last - 1, last]
        );
        assert_eq!(feed.delivered_after(last), Some(vec![]));
        assert_eq!(
            feed.delivered_after(5),
            None,
            "forgotten: read the log instead"
        );
    }
}
