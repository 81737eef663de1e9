//! What the user sends: composing a message (with a reply, an edit, an image or a file), the
//! pending lines resent after a reconnect, retries, reactions and deletions, @ completion, and
//! what becomes of a refusal.

use shared::{ClientMsg, ClientMsgId, Emoji, ErrorCode, MessageId, Nick, Quote, Text};

use super::{
    lines::push_line,
    model::{ChatState, Delivery, Line, Target},
};

/// The `@` word being typed at the end of `draft`, without the `@`, if any.
pub fn mention_prefix(draft: &str) -> Option<&str> {
    let word = draft.rsplit(char::is_whitespace).next()?;
    word.strip_prefix('@')
}

/// `draft` with its last word (an `@` prefix) replaced by `@nick `.
pub fn complete_mention(draft: &str, nick: &Nick) -> String {
    let cut = draft.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    format!("{}@{nick} ", &draft[..cut])
}

impl ChatState {
    /// Records a message the user typed for the current conversation and returns the request
    /// to send, or a reason it cannot be sent.
    pub fn compose(&mut self, text: &str) -> Result<ClientMsg, String> {
        self.compose_with(text, None, None)
    }

    /// [`ChatState::compose`] for a message carrying an uploaded image or file (rooms only).
    pub fn compose_with(
        &mut self,
        text: &str,
        image: Option<shared::Image>,
        file: Option<Box<shared::File>>,
    ) -> Result<ClientMsg, String> {
        let w = crate::i18n::words();
        let me = self.me.clone().ok_or(w.not_connected)?;
        let target = self.current.clone().ok_or(w.pick_conversation)?;
        let text = Text::try_from(text).map_err(|e| (w.invalid)(&e))?;
        if let Some(limits) = self.limits
            && text.chars() > limits.max_text_chars as usize
        {
            return Err((w.too_long)(text.chars(), limits.max_text_chars as usize));
        }
        if (image.is_some() || file.is_some()) && matches!(target, Target::Direct(_)) {
            return Err(w.images_rooms_only.into());
        }
        let client_id = self.next_client_id()?;
        if let (Some(id), Target::Room(room)) = (self.editing.take(), &target) {
            return Ok(ClientMsg::Edit {
                room: room.clone(),
                id,
                text,
                client_id,
            });
        }
        let reply_to = match target {
            Target::Room(_) => self.replying.take(),
            Target::Direct(_) => None,
        };
        let request = match target {
            Target::Room(room) => ClientMsg::Say {
                room,
                text,
                client_id,
                reply_to: reply_to.as_ref().map(|q| q.id),
                image,
                file,
            },
            Target::Direct(to) => ClientMsg::Direct {
                to,
                text,
                client_id,
            },
        };
        self.show_pending(me, &request, reply_to);
        Ok(request)
    }

    /// Shows `request` (a say or a direct of ours) as our pending line, written by `me` and
    /// quoting `reply_to`, in its conversation (a room's only if it is held): what a message
    /// just composed and one restored from the outbox both look like until the echo.
    pub(super) fn show_pending(&mut self, me: Nick, request: &ClientMsg, reply_to: Option<Quote>) {
        let (lines, text, client_id, image, file) = match request {
            ClientMsg::Say {
                room,
                text,
                client_id,
                image,
                file,
                ..
            } => (
                self.rooms.get_mut(room).map(|view| &mut view.lines),
                text,
                client_id,
                image,
                file,
            ),
            ClientMsg::Direct {
                to,
                text,
                client_id,
            } => {
                let entry = self
                    .directs
                    .entry(to.key())
                    .or_insert_with(|| (to.clone(), Vec::new()));
                (Some(&mut entry.1), text, client_id, &None, &None)
            }
            _ => return,
        };
        if let Some(lines) = lines {
            push_line(
                lines,
                Line {
                    id: None,
                    seq: None,
                    client_id: client_id.clone(),
                    from: me,
                    text: text.as_str().to_owned(),
                    ts: None,
                    mine: true,
                    delivery: Delivery::Pending,
                    reply_to,
                    preview: None,
                    edited: false,
                    deleted: false,
                    reactions: Vec::new(),
                    image: image.clone(),
                    file: file.clone(),
                },
            );
        }
    }

    /// A fresh `client_id` for a request of ours.
    fn next_client_id(&mut self) -> Result<ClientMsgId, String> {
        self.next_client_id += 1;
        let prefix = if self.client_prefix.is_empty() {
            "c"
        } else {
            &self.client_prefix
        };
        ClientMsgId::try_from(format!("{prefix}-{}", self.next_client_id))
            .map_err(|e| e.to_string())
    }

    /// Our messages not yet acknowledged, to send again after `welcome` (oldest first per
    /// conversation). The server stores a repeated `client_id` once, so a message that did
    /// arrive before the connection dropped is not duplicated.
    pub fn pending_requests(&self) -> Vec<ClientMsg> {
        let text = |line: &Line| Text::try_from(line.text.as_str()).ok();
        let rooms = self.rooms.iter().flat_map(|(room, view)| {
            view.lines
                .iter()
                .filter(|l| l.mine && l.delivery == Delivery::Pending)
                .filter_map(move |line| {
                    Some(ClientMsg::Say {
                        room: room.clone(),
                        text: text(line)?,
                        client_id: line.client_id.clone(),
                        reply_to: line.reply_to.as_ref().map(|q| q.id),
                        image: line.image.clone(),
                        file: line.file.clone(),
                    })
                })
        });
        let directs = self.directs.values().flat_map(|(peer, lines)| {
            lines
                .iter()
                .filter(|l| l.mine && l.delivery == Delivery::Pending)
                .filter_map(move |line| {
                    Some(ClientMsg::Direct {
                        to: peer.clone(),
                        text: text(line)?,
                        client_id: line.client_id.clone(),
                    })
                })
        });
        rooms.chain(directs).collect()
    }

    /// Marks our failed line `client_id` pending again and returns the request that resends
    /// it (same `client_id`: if it was stored after all, the server answers with the
    /// original).
    pub fn retry(&mut self, client_id: &ClientMsgId) -> Option<ClientMsg> {
        let line = self
            .rooms
            .iter_mut()
            .map(|(_, view)| view)
            .flat_map(|v| v.lines.iter_mut())
            .chain(
                self.directs
                    .iter_mut()
                    .map(|(_, v)| v)
                    .flat_map(|d| d.1.iter_mut()),
            )
            .find(|l| l.mine && l.id.is_none() && &l.client_id == client_id)?;
        line.delivery = Delivery::Pending;
        self.pending_requests()
            .into_iter()
            .find(|r| matches!(r, ClientMsg::Say { client_id: c, .. } | ClientMsg::Direct { client_id: c, .. } if c == client_id))
    }

    /// The request that deletes message `id` of the current room.
    pub fn delete(&mut self, id: MessageId) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let client_id = self.next_client_id().ok()?;
        Some(ClientMsg::DeleteMessage {
            room,
            id,
            client_id,
        })
    }

    /// The request that toggles our reaction `emoji` on message `id` of the current room:
    /// taken back if we gave it, given otherwise.
    pub fn react(&mut self, id: MessageId, emoji: &str) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let emoji = match Emoji::try_from(emoji) {
            Ok(emoji) => emoji,
            Err(err) => {
                self.notice(format!("{} ({err})", crate::i18n::words().not_an_emoji));
                return None;
            }
        };
        let me = self.me.clone()?;
        let line = self
            .rooms
            .get(&room)?
            .lines
            .iter()
            .find(|l| l.id == Some(id))?;
        let given = line
            .reactions
            .iter()
            .any(|r| r.emoji == emoji && r.users.iter().any(|u| u.key() == me.key()));
        let client_id = self.next_client_id().ok()?;
        Some(ClientMsg::React {
            room,
            id,
            emoji,
            on: !given,
            client_id,
        })
    }

    /// Starts editing our line `id` of the current room: returns its text for the composer.
    pub fn start_edit(&mut self, id: MessageId) -> Option<String> {
        let line = self
            .current_lines()
            .iter()
            .find(|l| l.id == Some(id) && l.mine)?;
        let text = line.text.clone();
        self.replying = None;
        self.editing = Some(id);
        Some(text)
    }

    /// Starts editing our last stored message in the current room (the Up arrow in an empty
    /// composer, as in Slack and Element), returning its text; `None` if there is none.
    pub fn edit_last(&mut self) -> Option<String> {
        if !matches!(self.current, Some(Target::Room(_))) {
            return None;
        }
        let id = self
            .current_lines()
            .iter()
            .rev()
            .find(|l| l.mine && !l.deleted)
            .and_then(|l| l.id)?;
        self.start_edit(id)
    }

    /// Drops a reply or an edit in progress.
    pub fn cancel_compose(&mut self) {
        self.replying = None;
        self.editing = None;
    }

    /// Starts answering line `id` of the current room (the next message quotes it).
    pub fn reply_to(&mut self, id: MessageId) {
        self.editing = None;
        let line = self.current_lines().iter().find(|l| l.id == Some(id));
        self.replying = line.map(|line| Quote {
            id,
            seq: line.seq.unwrap_or(0),
            from: line.from.clone(),
            text: Quote::excerpt(&line.text),
            deleted: false,
        });
    }

    /// Members of the current room whose nickname starts with the `@` word at the end of
    /// `draft` (not this user), for autocompletion.
    pub fn mention_suggestions(&self, draft: &str) -> Vec<Nick> {
        let (Some(prefix), Some(Target::Room(room))) = (mention_prefix(draft), &self.current)
        else {
            return Vec::new();
        };
        let prefix = prefix.to_lowercase();
        self.rooms.get(room).map_or_else(Vec::new, |view| {
            view.members
                .values()
                .filter(|m| !self.is_me(m) && m.key().starts_with(&prefix))
                .take(5)
                .cloned()
                .collect()
        })
    }

    pub(super) fn refused(
        &mut self,
        code: ErrorCode,
        message: String,
        client_id: Option<ClientMsgId>,
    ) {
        // The server's words are English; another language says the code its own way.
        let message = (crate::i18n::words().error)(code).map_or(message, str::to_owned);
        // Refused at hello (first time, or the name was taken while we were away): back to
        // the nickname screen.
        if matches!(code, ErrorCode::NickTaken) && self.awaiting_welcome {
            self.awaiting_welcome = false;
            self.me = None;
            self.nick_problem = Some(message);
            return;
        }
        if let Some(client_id) = client_id {
            let failed = Delivery::Failed(message.clone());
            let lines = self
                .rooms
                .iter_mut()
                .map(|(_, view)| view)
                .map(|v| &mut v.lines)
                .chain(self.directs.iter_mut().map(|(_, v)| v).map(|d| &mut d.1));
            for lines in lines {
                if let Some(line) = lines
                    .iter_mut()
                    .find(|l| l.mine && l.client_id == client_id)
                {
                    line.delivery = failed.clone();
                }
            }
        }
        self.notice(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::mentions;
    use crate::chat_state::test_support::*;
    use shared::{HistoryMode, ServerMsg};

    #[test]
    fn a_reply_quotes_its_original_and_an_edit_replaces_text() {
        let mut state = welcomed();
        state.apply(said(1, "bob", "lunch?", "b1"), 0.0);
        state.reply_to(MessageId(1));
        let request = state.compose("yes").unwrap();
        assert!(
            matches!(
                request,
                ClientMsg::Say {
                    reply_to: Some(MessageId(1)),
                    image: None,
                    file: None,
                    ..
                }
            ),
            "{request:?}"
        );
        let pending = state.current_lines().last().unwrap();
        assert_eq!(
            pending.reply_to.as_ref().map(|q| q.text.as_str()),
            Some("lunch?")
        );
        assert!(state.replying.is_none(), "one reply per choice");
        state.apply(said(2, "me", "yes", "x"), 0.0);
        assert!(state.start_edit(MessageId(1)).is_none(), "not ours");
        assert_eq!(state.start_edit(MessageId(2)).as_deref(), Some("yes"));
        let request = state.compose("yes!").unwrap();
        assert!(
            matches!(
                request,
                ClientMsg::Edit {
                    id: MessageId(2),
                    ..
                }
            ),
            "{request:?}"
        );
    }

    #[test]
    fn pending_lines_survive_a_drop_are_resent_and_settle_once() {
        let mut state = welcomed();
        let ClientMsg::Say {
            client_id: first, ..
        } = state.compose("one").unwrap()
        else {
            panic!()
        };
        state.compose("two").unwrap();
        state.connection_lost();
        assert!(
            state
                .current_lines()
                .iter()
                .all(|l| l.delivery == Delivery::Pending)
        );
        let resend = state.pending_requests();
        assert_eq!(resend.len(), 2);
        assert!(matches!(&resend[0], ClientMsg::Say { client_id, .. } if *client_id == first));
        // "one" had been stored before the drop: the catch-up brings it, then the resend's
        // acknowledgement repeats it; "two" is stored now.
        let mut caught_up = stored(20, "me", first.as_str());
        caught_up.text = "one".try_into().unwrap();
        state.apply(
            ServerMsg::History {
                room: room("lobby"),
                mode: HistoryMode::CatchUp,
                messages: vec![caught_up],
                changes: Vec::new(),
                more_before: false,
                epoch: epoch(),
            },
            0.0,
        );
        state.apply(said(20, "me", "one", first.as_str()), 0.0);
        let ClientMsg::Say {
            client_id: second, ..
        } = &resend[1]
        else {
            panic!()
        };
        state.apply(said(21, "me", "two", second.as_str()), 0.0);
        assert_eq!(ids(&state), [Some(20), Some(21)]);
        assert!(state.pending_requests().is_empty());
    }

    #[test]
    fn client_ids_carry_the_page_prefix() {
        let mut state = ChatState::new("Xy7".into());
        state.apply(
            ServerMsg::Welcome {
                user: nick("me"),
                limits: limits(),
            },
            0.0,
        );
        state.select(Target::Direct(nick("bob")));
        let ClientMsg::Direct { client_id, .. } = state.compose("hi").unwrap() else {
            panic!()
        };
        assert_eq!(client_id.as_str(), "Xy7-1");
    }

    #[test]
    fn refused_messages_are_marked_failed() {
        let mut state = welcomed();
        assert!(
            state.compose("far too long text").is_err(),
            "over the announced limit"
        );
        let ClientMsg::Say { client_id, .. } = state.compose("hi").unwrap() else {
            panic!()
        };
        state.apply(
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                client_id: Some(client_id.clone()),
            },
            0.0,
        );
        assert_eq!(
            state.current_lines()[0].delivery,
            Delivery::Failed("slow down".into())
        );
        assert_eq!(state.notices, ["slow down"]);
        let ClientMsg::Say {
            client_id: again, ..
        } = state.retry(&client_id).unwrap()
        else {
            panic!()
        };
        assert_eq!(again, client_id, "a retry keeps the id");
        assert_eq!(state.current_lines()[0].delivery, Delivery::Pending);
    }

    #[test]
    fn mentions_complete_from_the_room_members() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::Presence {
                room: room("lobby"),
                count: 3,
                joined: vec![nick("Bobby")],
                left: vec![],
            },
            0.0,
        );
        assert_eq!(
            state.mention_suggestions("hi @bo"),
            [nick("bob"), nick("Bobby")]
        );
        assert_eq!(
            state.mention_suggestions("hi @me"),
            Vec::<Nick>::new(),
            "not myself"
        );
        assert!(state.mention_suggestions("hi bo").is_empty());
        assert_eq!(complete_mention("hi @bo", &nick("Bobby")), "hi @Bobby ");
        assert!(mentions("ping @BOBBY.", &nick("bobby")));
        assert!(!mentions("@bobbyz", &nick("bobby")));
    }

    #[test]
    fn nick_taken_before_welcome_goes_to_the_nickname_screen() {
        let mut state = ChatState::default();
        let hello = state.hello(nick("me"), "0123456789abcdefgh".parse().unwrap());
        assert!(matches!(hello, ClientMsg::Hello { ref rooms, .. } if rooms.is_empty()));
        state.apply(
            ServerMsg::Error {
                code: ErrorCode::NickTaken,
                message: "taken".into(),
                client_id: None,
            },
            0.0,
        );
        assert_eq!(state.nick_problem.as_deref(), Some("taken"));
        assert!(state.notices.is_empty());
    }

    #[test]
    fn pending_requests_are_only_our_unacknowledged_lines_rooms_and_directs() {
        let mut state = welcomed();
        let sent = client_id_of(&state.compose("sent").unwrap());
        state.apply(said(1, "me", "sent", sent.as_str()), 0.0);
        let waiting = client_id_of(&state.compose("waiting").unwrap());
        state.apply(direct_from(2, "bob", "me", "b-1"), 0.0);
        state.select(Target::Direct(nick("bob")));
        let direct = client_id_of(&state.compose("psst").unwrap());
        let acked_direct = client_id_of(&state.compose("acked").unwrap());
        state.apply(direct_from(3, "me", "bob", acked_direct.as_str()), 0.0);
        let pending: Vec<ClientMsgId> = state.pending_requests().iter().map(client_id_of).collect();
        assert_eq!(pending, [waiting, direct]);
    }

    #[test]
    fn retry_resends_only_our_own_undelivered_line() {
        let mut state = welcomed();
        let delivered = client_id_of(&state.compose("one").unwrap());
        state.apply(said(1, "me", "one", delivered.as_str()), 0.0);
        let failed = client_id_of(&state.compose("two").unwrap());
        state.apply(
            refusal(ErrorCode::RateLimited, "slow down", Some(&failed)),
            0.0,
        );
        // Someone else's message that happens to carry the same client id.
        state.apply(said(2, "bob", "theirs", failed.as_str()), 0.0);
        assert_eq!(state.retry(&delivered), None, "already delivered");
        assert_eq!(state.retry(&"unknown".parse().unwrap()), None);
        let request = state.retry(&failed).unwrap();
        assert_eq!(client_id_of(&request), failed);
        let line = state
            .current_lines()
            .iter()
            .find(|l| l.mine && l.client_id == failed)
            .unwrap();
        assert_eq!(line.delivery, Delivery::Pending);
    }

    #[test]
    fn a_text_of_exactly_the_limit_is_allowed_one_more_is_not() {
        let mut state = welcomed(); // max_text_chars: 10
        assert!(state.compose("가나다라마바사아자차").is_ok());
        assert!(state.compose("가나다라마바사아자차카").is_err());
    }

    #[test]
    fn notices_keep_the_newest_five() {
        let mut state = welcomed();
        let refuse = |state: &mut ChatState, i: u32| {
            state.apply(refusal(ErrorCode::NotInRoom, &format!("n{i}"), None), 0.0);
        };
        for i in 0..5 {
            refuse(&mut state, i);
        }
        assert_eq!(state.notices, ["n0", "n1", "n2", "n3", "n4"]);
        refuse(&mut state, 5);
        assert_eq!(state.notices, ["n1", "n2", "n3", "n4", "n5"]);
    }

    #[test]
    fn nick_taken_returns_to_the_nickname_screen_only_while_awaiting_welcome() {
        let mut state = welcomed();
        state.apply(refusal(ErrorCode::NickTaken, "taken", None), 0.0);
        assert_eq!(state.me, Some(nick("me")), "a refused rename keeps us in");
        assert_eq!(state.nick_problem, None);
        state.hello(nick("me"), token());
        state.apply(refusal(ErrorCode::NickTaken, "taken", None), 0.0);
        assert_eq!(state.me, None);
        assert_eq!(state.nick_problem.as_deref(), Some("taken"));
    }

    #[test]
    fn a_refusal_fails_exactly_the_line_it_names() {
        let mut state = welcomed();
        let first = client_id_of(&state.compose("first").unwrap());
        let second = client_id_of(&state.compose("second").unwrap());
        state.apply(refusal(ErrorCode::TooLong, "too long", Some(&second)), 0.0);
        let delivery = |id: &ClientMsgId| {
            state
                .current_lines()
                .iter()
                .find(|l| &l.client_id == id)
                .unwrap()
                .delivery
                .clone()
        };
        assert_eq!(delivery(&first), Delivery::Pending);
        assert_eq!(delivery(&second), Delivery::Failed("too long".into()));
    }

    #[test]
    fn the_up_arrow_edits_our_last_stored_message_of_a_room_only() {
        let mut state = welcomed();
        state.apply(said(1, "me", "first", "c1"), 0.0);
        state.apply(said(2, "bob", "theirs", "c2"), 0.0);
        assert_eq!(state.edit_last().as_deref(), Some("first"));
        assert_eq!(state.editing, Some(MessageId(1)));
        state.cancel_compose();
        state.apply(said(3, "me", "second", "c3"), 0.0);
        assert_eq!(state.edit_last().as_deref(), Some("second"));
        state.current = Some(Target::Direct(nick("bob")));
        state.cancel_compose();
        assert_eq!(state.edit_last(), None);
    }
}
