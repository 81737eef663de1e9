//! The logs this node watches: one [`Slot`] per room or user with local readers, its
//! subscription, its [`Feed`], the history answers held until the feed catches up, and what
//! happens when a log turns out to have been replaced (a new epoch) or to have gone back.

// One part of `impl Engine` (in `mod.rs`); what it keeps per log is in `slots.rs`.
use std::time::Instant;

use futures_util::FutureExt as _;
use shared::{Epoch, HistoryMode};

use super::{
    Done, Engine,
    feed::{Feed, Positioned as _},
    slots::{Held, Item, Members, Slot, SlotState, extend, log_of, members_of},
};
use crate::engine::vocabulary::{Answer, EngineError, Event, Log, Read, Stored};

/// How the epoch of a read differs from the one a log is delivered in here.
pub(super) enum EpochChange {
    /// One the log had here before its last reset: the read is older than the reset.
    Retired,
    /// One it never had here: the log was reset now.
    New,
}

impl<C: Send + 'static> Engine<C> {
    pub(super) fn watch(&mut self, log: Log) {
        if let Some(slot) = self.slots.get_mut(&log) {
            slot.idle_since = None;
            return;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.slots.insert(
            log.clone(),
            Slot {
                generation,
                idle_since: None,
                state: SlotState::Starting {
                    pushes: Vec::new(),
                    reads: Vec::new(),
                },
            },
        );
        // Queued now, in the engine's order, so a later unsubscribe of an earlier watch
        // cannot overtake it.
        let subscribed = self.io.subscribe(&log);
        let io = self.io.clone();
        self.inflight.push(
            async move {
                let result = io.start(&log, subscribed).await;
                Done::Started {
                    log,
                    generation,
                    result,
                }
            }
            .boxed(),
        );
    }

    pub(super) fn dispatch_read(&mut self, ctx: C, read: Read, members: Members) {
        // What the feed had delivered before the read began: the read cannot end before it
        // unless the log went back (it may end before what the feed delivers meanwhile).
        let delivered = match self.slots.get(&log_of(&read)).map(|s| &s.state) {
            Some(SlotState::Live { feed, .. }) => feed.last(),
            _ => 0,
        };
        let io = self.io.clone();
        self.inflight.push(
            async move {
                let members = match members {
                    Members::None => Ok(None),
                    Members::Ready(members) => Ok(Some(members)),
                    Members::Pending(answer) => answer
                        .await
                        .unwrap_or(Err(EngineError::Stopped("the presence queue")))
                        .map(Some),
                };
                let result = match members {
                    Ok(members) => io.read(&read).await.map(|(mut answer, tail)| {
                        if let Answer::Room { members: m, .. } = &mut answer {
                            *m = members;
                        }
                        (answer, tail)
                    }),
                    Err(reason) => Err(reason),
                };
                Done::Read {
                    ctx,
                    read,
                    delivered,
                    result,
                }
            }
            .boxed(),
        );
    }

    pub(super) fn started(
        &mut self,
        log: Log,
        generation: u64,
        result: Result<(Epoch, u64), EngineError>,
    ) {
        let Some(slot) = self.slots.get_mut(&log) else {
            return;
        };
        if slot.generation != generation {
            return;
        }
        let (epoch, last) = match result {
            Ok(started) => started,
            Err(reason) => {
                // Try again from scratch at the next watch; readers waiting get an error.
                tracing::warn!(?log, %reason, "subscribing to a log failed");
                let Some(Slot {
                    state: SlotState::Starting { reads, .. },
                    ..
                }) = self.slots.remove(&log)
                else {
                    return;
                };
                for (ctx, _, _) in reads {
                    self.emit(Event::Read {
                        ctx,
                        answer: Err(EngineError::Redis(format!(
                            "could not read the history (Redis: {reason})"
                        ))),
                    });
                }
                return;
            }
        };
        let contiguous = matches!(log, Log::Room(_));
        let previous = std::mem::replace(
            &mut slot.state,
            SlotState::Live {
                epoch,
                retired: Vec::new(),
                feed: Feed::new(last, contiguous),
                held: Vec::new(),
                filling: false,
            },
        );
        let SlotState::Starting { pushes, reads } = previous else {
            return;
        };
        for (epoch, item) in pushes {
            self.offer(&log, &epoch, item);
        }
        for (ctx, read, members) in reads {
            self.dispatch_read(ctx, read, members);
        }
    }

    pub(super) fn read_done(
        &mut self,
        ctx: C,
        read: Read,
        delivered: u64,
        result: Result<(Answer, u64), EngineError>,
    ) {
        let (answer, tail) = match result {
            Ok(done) => done,
            Err(reason) => {
                return self.emit(Event::Read {
                    ctx,
                    answer: Err(EngineError::Redis(format!(
                        "could not read the history (Redis: {reason})"
                    ))),
                });
            }
        };
        // Pages asked for by scrolling: no live event waits for them.
        let scrolled = matches!(
            &answer,
            Answer::Room {
                mode: HistoryMode::Older | HistoryMode::Newer | HistoryMode::Around,
                ..
            }
        );
        let log = log_of(&read);
        let epoch = match &answer {
            Answer::Room { epoch, .. } | Answer::Direct { epoch, .. } => epoch.clone(),
        };
        let again = match self.epoch_changed(&log, &epoch) {
            // Read before the log's reset here: answered again in the epoch it has now.
            Some(EpochChange::Retired) => true,
            // Reset now: held until the feed, from the start of the new epoch, reaches it.
            // (`delivered` counted in the old epoch: nothing to compare it with.)
            Some(EpochChange::New) => false,
            // Answered again in the new epoch.
            None => self.went_backwards(&log, &epoch, tail, delivered),
        };
        if again {
            let members = members_of(&answer);
            return self.dispatch_read(ctx, read, members);
        }
        match self.slots.get_mut(&log).map(|s| &mut s.state) {
            Some(SlotState::Live { feed, held, .. }) if !scrolled => {
                feed.expect(tail, Instant::now());
                held.push(Held {
                    ctx,
                    read,
                    answer,
                    tail,
                });
                self.release_held(&log);
            }
            // A page asked for by scrolling ("load older", "load newer") is not a catch-up:
            // nothing live is held back for it.
            _ => self.emit(Event::Read {
                ctx,
                answer: Ok(answer),
            }),
        }
    }

    /// Sends every held answer whose log position the feed has reached, completed with what
    /// the feed delivered after it (which the waiting connection skipped).
    pub(super) fn release_held(&mut self, log: &Log) {
        let Some(Slot {
            state: SlotState::Live { feed, held, .. },
            ..
        }) = self.slots.get_mut(log)
        else {
            return;
        };
        let last = feed.last();
        let (ready, waiting): (Vec<Held<C>>, Vec<Held<C>>) = std::mem::take(held)
            .into_iter()
            .partition(|h| h.tail <= last);
        *held = waiting;
        let mut answers = Vec::new();
        let mut again = Vec::new();
        for mut h in ready {
            match feed.delivered_after(h.tail) {
                Some(items) => {
                    extend(&mut h.answer, items);
                    answers.push((h.ctx, h.answer));
                }
                // The feed no longer remembers that far back: read again.
                None => again.push((h.ctx, h.read, members_of(&h.answer))),
            }
        }
        for (ctx, answer) in answers {
            self.emit(Event::Read {
                ctx,
                answer: Ok(answer),
            });
        }
        for (ctx, read, members) in again {
            self.dispatch_read(ctx, read, members);
        }
    }

    /// The log was replaced under us (FLUSHALL, a failover that went back): start over in
    /// `epoch`, and have every reader here reset.
    pub(super) fn reset_log(&mut self, log: &Log, epoch: &Epoch) {
        let Some(Slot {
            state:
                SlotState::Live {
                    epoch: current,
                    retired,
                    feed,
                    held,
                    ..
                },
            ..
        }) = self.slots.get_mut(log)
        else {
            return;
        };
        if current == epoch || retired.contains(epoch) {
            return;
        }
        tracing::warn!(?log, old = %current, new = %epoch, "a log has a new epoch");
        retired.push(std::mem::replace(current, epoch.clone()));
        *feed = Feed::new(0, matches!(log, Log::Room(_)));
        let stale: Vec<Held<C>> = std::mem::take(held);
        self.emit(Event::LogReset { log: log.clone() });
        for h in stale {
            let members = members_of(&h.answer);
            self.dispatch_read(h.ctx, h.read, members);
        }
    }

    /// How `epoch`, in which Redis answered a read of `log`, differs from the one this node
    /// delivers `log` in, if it does. A new one (another node gave the log a new epoch, or the
    /// log was made again after a FLUSHALL) resets the log here at once, with its readers,
    /// and reads it from the start: a read may be the only news of it (a node back from a
    /// lost connection, before the log's next message), and without the reset its answer
    /// would be completed with what the feed delivered in the old epoch.
    pub(super) fn epoch_changed(&mut self, log: &Log, epoch: &Epoch) -> Option<EpochChange> {
        let Some(Slot {
            state:
                SlotState::Live {
                    epoch: current,
                    retired,
                    ..
                },
            ..
        }) = self.slots.get(log)
        else {
            return None;
        };
        if current == epoch {
            return None;
        }
        if retired.contains(epoch) {
            return Some(EpochChange::Retired);
        }
        self.reset_log(log, epoch);
        self.fill(log);
        Some(EpochChange::New)
    }

    /// Whether Redis says `log` ends at `last` in `epoch` although this node had delivered up
    /// to `delivered` in that epoch before it asked: the log went backwards (a failover lost
    /// its newest entries). Then it gets a new epoch (which resets every reader) rather than
    /// reusing numbers clients already have for other messages. (Not the feed's position now:
    /// it may have moved past `last` while the answer was on its way.)
    pub(super) fn went_backwards(
        &mut self,
        log: &Log,
        epoch: &Epoch,
        last: u64,
        delivered: u64,
    ) -> bool {
        let Some(Slot {
            generation,
            state: SlotState::Live { epoch: current, .. },
            ..
        }) = self.slots.get(log)
        else {
            return false;
        };
        if current != epoch || last >= delivered {
            return false;
        }
        tracing::error!(?log, %epoch, redis = last, delivered, "a log went backwards in Redis; giving it a new epoch");
        let (io, log, seen, generation) =
            (self.io.clone(), log.clone(), epoch.clone(), *generation);
        self.inflight.push(
            async move {
                let result = io.replace_epoch(&log, &seen).await;
                Done::EpochReplaced {
                    log,
                    generation,
                    result,
                }
            }
            .boxed(),
        );
        true
    }

    /// A stored message this node learnt of from a script reply.
    pub(super) fn offer_stored(&mut self, stored: &Stored, epoch: &Epoch) {
        match stored {
            Stored::Room { room, entry } => {
                self.offer(&Log::Room(room.clone()), epoch, Item::Room(entry.clone()));
            }
            // Direct messages reach each user's feed through their own channel; the reply
            // alone cannot say which of this node's feeds want it without the keys.
            Stored::Direct(_) => {}
        }
    }

    /// A message of `log` in `epoch`, from the channel, a script reply or a log read.
    pub(super) fn offer(&mut self, log: &Log, epoch: &Epoch, item: Item) {
        let Some(slot) = self.slots.get_mut(log) else {
            return;
        };
        let delivered = match &mut slot.state {
            SlotState::Starting { pushes, .. } => {
                pushes.push((epoch.clone(), item));
                return;
            }
            SlotState::Live {
                epoch: current,
                retired,
                feed,
                ..
            } => {
                if epoch != current {
                    if retired.contains(epoch) {
                        return; // A straggler from before the log was replaced.
                    }
                    self.reset_log(log, epoch);
                    return self.offer(log, epoch, item);
                }
                if feed.conflicts(&item) {
                    // Another message under a number already delivered: the log went back.
                    let (before, delivered) = (item.position().saturating_sub(1), feed.last());
                    self.went_backwards(log, &epoch.clone(), before, delivered);
                    return;
                }
                feed.offer(item, Instant::now())
            }
        };
        if delivered.is_empty() {
            return;
        }
        for item in delivered {
            let event = match (log, item) {
                (Log::Room(room), Item::Room(entry)) => Event::LiveRoom {
                    room: room.clone(),
                    entry,
                },
                (Log::User(user), Item::Direct(message)) => Event::LiveDirect {
                    user: user.clone(),
                    message,
                },
                _ => continue,
            };
            self.emit(event);
        }
        self.release_held(log);
    }

    /// Reads `log` after its feed's position (a gap, or a resync after a reconnect).
    pub(super) fn fill(&mut self, log: &Log) {
        let Some(slot) = self.slots.get_mut(log) else {
            return;
        };
        let generation = slot.generation;
        let SlotState::Live { feed, filling, .. } = &mut slot.state else {
            return;
        };
        *filling = true;
        let after = feed.last();
        let io = self.io.clone();
        let log = log.clone();
        self.inflight.push(
            async move {
                let result = io.after(&log, after).await;
                Done::Filled {
                    log,
                    generation,
                    after,
                    result,
                }
            }
            .boxed(),
        );
    }
}
