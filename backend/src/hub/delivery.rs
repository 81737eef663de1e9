//! Getting events to connections: each encoded once into a [`Frame`] shared by every
//! recipient, queued with `try_send`; a full outbox cuts its reader off.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::{
    BTreeSet, ClientMsgId, ConnId, ErrorCode, Frame, Hub, RoomName, ServerMsg, UserId, mpsc,
};

impl Hub {
    /// A room message to every member, except connections still waiting for the room's
    /// history (which contains it).
    pub(super) fn broadcast_live(&mut self, room: &RoomName, event: &ServerMsg) {
        if let ServerMsg::Said { seq, .. } = event
            && self.is_deleted(room, *seq)
        {
            return;
        }
        let conns: Vec<ConnId> = self
            .rooms
            .conns(room)
            .map(|(c, _)| c)
            .filter(|c| {
                self.conns
                    .get(c)
                    .is_some_and(|s| !s.catching_up.contains_key(room))
            })
            .collect();
        self.broadcast(conns, event);
    }

    /// A direct message to every tab of `users`, except tabs still waiting for their direct
    /// history (which contains it).
    pub(super) fn broadcast_direct(
        &mut self,
        users: impl Iterator<Item = UserId>,
        event: &ServerMsg,
    ) {
        let conns: BTreeSet<ConnId> = users
            .filter_map(|u| self.users.get(&u))
            .flat_map(|u| u.conns.iter().copied())
            .filter(|c| {
                self.conns
                    .get(c)
                    .is_some_and(|s| s.direct_catching_up.is_none())
            })
            .collect();
        self.broadcast(conns, event);
    }

    pub(super) fn refuse(
        &mut self,
        conn: ConnId,
        code: ErrorCode,
        message: &str,
        client_id: Option<ClientMsgId>,
    ) {
        let event = ServerMsg::Error {
            code,
            message: message.to_owned(),
            client_id,
        };
        self.send_to(conn, &event);
    }

    pub(super) fn send_to(&mut self, conn: ConnId, event: &ServerMsg) {
        self.broadcast([conn], event);
    }

    /// The connections in `room` here, except the tabs of `except`.
    pub(super) fn room_conns_except(&self, room: &RoomName, except: Option<UserId>) -> Vec<ConnId> {
        self.rooms
            .conns(room)
            .filter(|&(_, u)| Some(u) != except)
            .map(|(c, _)| c)
            .collect()
    }

    /// Encodes `event` once and queues the same frame for every connection in `conns`.
    pub(super) fn broadcast(&mut self, conns: impl IntoIterator<Item = ConnId>, event: &ServerMsg) {
        let frame = match shared::encode(event) {
            Ok(json) => Frame::text(&json),
            Err(err) => {
                tracing::error!(error = %err, ?event, "cannot encode a server message");
                return;
            }
        };
        for conn in conns {
            let Some(state) = self.conns.get(&conn) else {
                continue;
            };
            match state.outbox.try_send(frame.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(conn = conn.0, "outbox full: dropping slow reader");
                    self.metrics.slow_consumers.inc();
                    state.kick.cancel();
                    self.overflowed.push(conn);
                }
                // The session ended; its Disconnect is on the way.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Removes connections cut off for slowness; their departures may overflow others, which
    /// are removed in turn (each connection at most once, so this ends).
    pub(super) fn drop_overflowed(&mut self) {
        while let Some(conn) = self.overflowed.pop() {
            self.remove(conn);
        }
    }
}
