//! The single-node engine: messages in the SQLite store ([`Store`], its own thread), presence
//! in memory ([`Presence`]). It answers every question the cluster engine answers, with the
//! same events, so the hub asks both one way: a nickname claim is [`Event::Claimed`], a join's
//! read carries the room's first members, presence changes come back as
//! [`Event::RoomEvent`]s, the room list and member pages as [`Event::Rooms`] and
//! [`Event::Members`], and the entries of the logs the hub watches arrive live
//! ([`Event::LiveRoom`], [`Event::LiveDirect`]).
//!
//! Presence answers are put on the store's event channel at once: nobody else can change
//! this node's presence meanwhile, so there is nothing to wait for.

use std::sync::{Arc, atomic::AtomicBool};

use shared::{MEMBER_PAGE, Nick, RoomName};

use super::{
    presence::Presence,
    rules::now_ms,
    search::{Request as SearchRequest, Searcher},
    sqlite::Store,
    vocabulary::{
        Event, Holder, Joiner, Log, MemberPage, NewMessage, Place, PresenceOp, Reached, Read,
        StoreClosed, Target,
    },
};

/// One node's engine.
pub struct SingleNode<C> {
    store: Store<C>,
    presence: Presence,
    searcher: Searcher<C>,
}

impl<C: Send + 'static> SingleNode<C> {
    /// The engine over an open store (and the thread searching its index).
    pub fn new(store: Store<C>) -> std::io::Result<Self> {
        Ok(Self {
            searcher: store.searcher()?,
            store,
            presence: Presence::default(),
        })
    }

    /// Queues a search of the store's index; [`Event::Found`] answers.
    pub fn search(&self, ctx: C, request: SearchRequest) {
        self.searcher.search(ctx, request);
    }

    /// The message store.
    pub fn store(&self) -> &Store<C> {
        &self.store
    }

    /// Queues a message to store; a direct message to a nickname not on the hub goes to
    /// whoever holds it here, or the store looks up its last holder (and answers
    /// [`super::vocabulary::Appended::NoRecipient`] if the name reaches nobody).
    pub fn append(&mut self, ctx: C, mut message: NewMessage) -> Result<(), StoreClosed> {
        if let Target::Direct {
            recipient: recipient @ None,
            to,
            ..
        } = &mut message.target
            && let Some(holder) = self.presence.holder(to)
        {
            *recipient = Some(holder.to_owned());
        }
        self.store.append(ctx, message)
    }

    /// Queues a history read; a join's enters the reader in the room first, and its answer
    /// carries the room's count and first members.
    pub fn read(&mut self, ctx: C, read: Read) -> Result<(), StoreClosed> {
        let members = match &read {
            Read::Room {
                room,
                joiner: Some(joiner),
                ..
            } => Some(self.enter(room, joiner, MEMBER_PAGE)),
            _ => None,
        };
        self.store.read_joined(ctx, read, members)
    }

    /// The hub has readers of `log`: its entries are delivered live.
    pub fn watch(&self, log: Log) -> Result<(), StoreClosed> {
        self.store.watch(log)
    }

    /// The hub's last reader of `log` is gone.
    pub fn unwatch(&self, log: Log) -> Result<(), StoreClosed> {
        self.store.unwatch(log)
    }

    /// Gives `nick` to `user` unless someone else holds it; [`Event::Claimed`] answers.
    /// A granted name is noted in the nickname directory as the user's.
    pub fn claim(&mut self, ctx: C, nick: &Nick, user: &str) {
        let granted = self.presence.claim(nick, user);
        if granted {
            let holder = Holder {
                user: user.to_owned(),
                nick: nick.clone(),
                at: now_ms(),
            };
            super::closed_drop(self.store.remember(holder));
        }
        let granted = Ok(granted);
        self.store.announce(Event::Claimed { ctx, granted });
    }

    /// Whom each of `nicks` reaches: its holder here, or the store looks up its last
    /// holder; [`Event::Resolved`] answers.
    pub fn resolve(&self, ctx: C, nicks: Vec<Nick>) -> Result<(), StoreClosed> {
        let known = nicks
            .iter()
            .map(|nick| {
                self.presence
                    .holder_named(nick)
                    .map(|(user, nick)| Reached {
                        user: user.to_owned(),
                        nick: nick.clone(),
                        away: false,
                    })
            })
            .collect();
        self.store.resolve(ctx, nicks, known)
    }

    /// Those of `users` who are not in `room`; [`Event::Absent`] answers.
    pub fn absent(&self, ctx: C, room: &RoomName, users: Vec<String>) {
        let users = users
            .into_iter()
            .filter(|user| !self.presence.present(room, user))
            .collect();
        self.store.announce(Event::Absent { ctx, users });
    }

    /// Changes presence; what the room hears comes back as [`Event::RoomEvent`]s.
    pub fn presence(&mut self, op: PresenceOp) {
        match op {
            PresenceOp::Join { room, joiner } => {
                self.enter(&room, &joiner, 0);
            }
            PresenceOp::Leave { room, user } => {
                if let Some(event) = self.presence.leave(&room, &user) {
                    self.announce_room(&room, &user, event);
                }
            }
            PresenceOp::Release { keys, user, nick } => {
                self.presence.release(&keys, &user);
                // Queued before any append that could find the name free.
                let at = now_ms();
                super::closed_drop(self.store.remember(Holder { user, nick, at }));
            }
            PresenceOp::Renamed {
                room,
                user,
                nick,
                event,
            } => {
                self.presence.renamed(&room, &user, &nick);
                self.announce_room(&room, &user, event);
            }
            PresenceOp::Announce { room, user, event } => self.announce_room(&room, &user, event),
        }
    }

    /// Whether sends can be stored now: the store's thread runs.
    pub fn readiness(&self) -> Arc<AtomicBool> {
        self.store.readiness()
    }

    /// Moves `user`'s read position in `place` forward.
    pub fn mark(&self, user: String, place: Place, position: u64) -> Result<(), StoreClosed> {
        self.store.mark(user, place, position)
    }

    /// Every room with members; [`Event::Rooms`] answers.
    pub fn rooms(&self, ctx: C) {
        let rooms = Ok(self.presence.rooms());
        self.store.announce(Event::Rooms { ctx, rooms });
    }

    /// A page of `room`'s members (`prefix` lower-cased); [`Event::Members`] answers.
    pub fn members(&self, ctx: C, room: &RoomName, after: Option<&Nick>, prefix: &str) {
        let page = Ok(self.presence.members(room, after, prefix, MEMBER_PAGE));
        self.store.announce(Event::Members { ctx, page });
    }

    /// Puts `joiner` in `room` (the room hears of an arrival); its first `page` members.
    fn enter(&mut self, room: &RoomName, joiner: &Joiner, page: usize) -> MemberPage {
        let (members, arrived) = self.presence.join(room, joiner, page);
        if let Some(event) = arrived {
            self.announce_room(room, &joiner.user, event);
        }
        members
    }

    fn announce_room(&self, room: &RoomName, user: &str, event: shared::ServerMsg) {
        self.store.announce(Event::RoomEvent {
            room: room.clone(),
            user: user.to_owned(),
            event,
        });
    }
}
