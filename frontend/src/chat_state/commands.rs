//! Slash commands typed in the composer: each is a request the protocol already has
//! (`/nick` is `rename`, `/kick` is `kick`, …), read from the text here so that the composer
//! only sends what comes back.
//!
//! A message starting with `/` is a command; `//` sends the rest as a message starting with
//! one `/` (for a path, say). `/me` is not a command but a message: its text is sent as
//! typed, and the app draws a message starting with `/me ` as an action (in italics: "ann
//! waves"), so the stored message stays the source text, as with all formatting.

use shared::{ClientMsg, Nick, RoomName};

use super::model::{ChatState, Target};

/// What a command asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Send these requests.
    Send(Vec<ClientMsg>),
    /// Open the room: join it (the request), then show it.
    Join(RoomName, ClientMsg),
    /// Send this text as a message (`/me`, and `//`).
    Say(String),
    /// Show the list of commands.
    Help,
}

/// How long `/mute NICK` mutes without a duration: ten minutes.
const DEFAULT_MUTE_SECS: u64 = 600;

/// `10m`, `30s`, `2h`, `1d` or a number of minutes, in seconds.
fn duration(typed: &str) -> Option<u64> {
    let (digits, unit) = match typed.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => typed.split_at(i),
        None => (typed, "m"),
    };
    let n: u64 = digits.parse().ok()?;
    let unit = match unit {
        "s" | "초" => 1,
        "m" | "분" => 60,
        "h" | "시간" => 3600,
        "d" | "일" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit).filter(|&secs| secs > 0)
}

impl ChatState {
    /// The command `text` is, if it starts with `/`: `None` for a message (including `//…`,
    /// which is [`Command::Say`] of the rest), else what to do or why it cannot be done.
    pub fn command(&self, text: &str) -> Option<Result<Command, String>> {
        let w = crate::i18n::words();
        let text = text.trim();
        let rest = text.strip_prefix('/')?;
        if rest.starts_with('/') {
            return Some(Ok(Command::Say(rest.to_owned())));
        }
        let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let (name, args) = (name.to_lowercase(), args.trim());
        let name = name.as_str();
        let room = || match &self.current {
            Some(Target::Room(room)) => Ok(room.clone()),
            _ => Err(w.command_needs_room.to_owned()),
        };
        let nick = |typed: &str| {
            typed
                .strip_prefix('@')
                .unwrap_or(typed)
                .parse::<Nick>()
                .map_err(|e| (w.invalid)(&e))
        };
        // How to use it: its line of `/help`.
        let usage = || {
            let named = format!("/{name} ");
            w.command_help
                .lines()
                .find(|line| line.contains(&named))
                .unwrap_or(w.command_help)
                .to_owned()
        };
        let one = |request: ClientMsg| Ok(Command::Send(vec![request]));
        let result = match name {
            "me" if args.is_empty() => Err(usage()),
            "me" => Ok(Command::Say(text.to_owned())),
            "help" => Ok(Command::Help),
            "nick" => nick(args).and_then(|nick| one(ClientMsg::Rename { nick })),
            "join" => args
                .strip_prefix('#')
                .unwrap_or(args)
                .parse::<RoomName>()
                .map_err(|e| (w.invalid)(&e))
                .map(|room| {
                    let request = ClientMsg::Join {
                        room: room.clone(),
                        since: None,
                        epoch: None,
                    };
                    Command::Join(room, request)
                }),
            "leave" => room().and_then(|room| {
                one(if self.is_group(&room) {
                    ClientMsg::LeaveGroup { room }
                } else {
                    ClientMsg::Leave { room }
                })
            }),
            "topic" => room().and_then(|room| {
                one(ClientMsg::SetTopic {
                    room,
                    topic: args.to_owned(),
                })
            }),
            "invite" | "kick" | "ban" | "unban" | "mute" | "unmute" => {
                let mut words = args.split_whitespace();
                let (who, how_long, extra) = (words.next(), words.next(), words.next());
                let Some(who) = who.filter(|_| extra.is_none()) else {
                    return Some(Err(usage()));
                };
                room().and_then(|room| {
                    let user = nick(who)?;
                    let request = match (name, how_long) {
                        ("invite", None) => ClientMsg::Invite { room, user },
                        ("kick", None) => ClientMsg::Kick { room, user },
                        ("ban", None) => ClientMsg::Ban { room, user },
                        ("unban", None) => ClientMsg::Unban { room, user },
                        ("unmute", None) => ClientMsg::Mute {
                            room,
                            user,
                            for_secs: 0,
                        },
                        ("mute", how_long) => ClientMsg::Mute {
                            room,
                            user,
                            for_secs: match how_long {
                                None => DEFAULT_MUTE_SECS,
                                Some(typed) => duration(typed).ok_or_else(usage)?,
                            },
                        },
                        _ => return Err(usage()),
                    };
                    one(request)
                })
            }
            _ => Err((w.unknown_command)(name)),
        };
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::{nick, room};

    fn in_room(name: &str) -> ChatState {
        ChatState {
            current: Some(Target::Room(room(name))),
            ..ChatState::default()
        }
    }

    fn sent(state: &ChatState, text: &str) -> Vec<ClientMsg> {
        match state.command(text) {
            Some(Ok(Command::Send(requests))) => requests,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn a_message_is_no_command_and_a_double_slash_sends_one_slash() {
        let state = in_room("lobby");
        assert_eq!(state.command("hello /there"), None);
        assert_eq!(
            state.command("//usr/bin is where"),
            Some(Ok(Command::Say("/usr/bin is where".into())))
        );
        assert_eq!(
            state.command("/me waves"),
            Some(Ok(Command::Say("/me waves".into())))
        );
        assert!(matches!(state.command("/me"), Some(Err(_))));
        assert!(matches!(state.command("/frobnicate x"), Some(Err(_))));
        assert_eq!(state.command("/HELP"), Some(Ok(Command::Help)));
        assert!(matches!(
            state.command("/Kick bob"),
            Some(Ok(Command::Send(_)))
        ));
    }

    #[test]
    fn moderation_commands_name_the_current_room() {
        let state = in_room("lobby");
        assert_eq!(
            sent(&state, "/mute @bob 10m"),
            [ClientMsg::Mute {
                room: room("lobby"),
                user: nick("bob"),
                for_secs: 600
            }]
        );
        assert_eq!(
            sent(&state, "/mute bob 2h"),
            [ClientMsg::Mute {
                room: room("lobby"),
                user: nick("bob"),
                for_secs: 7200
            }]
        );
        assert_eq!(
            sent(&state, "/mute bob"),
            [ClientMsg::Mute {
                room: room("lobby"),
                user: nick("bob"),
                for_secs: DEFAULT_MUTE_SECS
            }]
        );
        assert_eq!(
            sent(&state, "/unmute bob"),
            [ClientMsg::Mute {
                room: room("lobby"),
                user: nick("bob"),
                for_secs: 0
            }]
        );
        assert_eq!(
            sent(&state, "/kick bob"),
            [ClientMsg::Kick {
                room: room("lobby"),
                user: nick("bob")
            }]
        );
        assert_eq!(
            sent(&state, "/ban bob"),
            [ClientMsg::Ban {
                room: room("lobby"),
                user: nick("bob")
            }]
        );
        assert_eq!(
            sent(&state, "/invite bob"),
            [ClientMsg::Invite {
                room: room("lobby"),
                user: nick("bob")
            }]
        );
        assert_eq!(
            sent(&state, "/topic  Release 1.2 on Friday "),
            [ClientMsg::SetTopic {
                room: room("lobby"),
                topic: "Release 1.2 on Friday".into()
            }]
        );
        assert_eq!(
            sent(&state, "/leave"),
            [ClientMsg::Leave {
                room: room("lobby")
            }]
        );
        for wrong in [
            "/mute bob soon",
            "/mute bob 0m",
            "/kick",
            "/kick bob now",
            "/ban a b",
        ] {
            assert!(matches!(state.command(wrong), Some(Err(_))), "{wrong}");
        }
        // A misuse is answered with the command's line of /help.
        let Some(Err(usage)) = state.command("/unmute") else {
            panic!("/unmute alone is refused");
        };
        assert!(usage.starts_with("/mute NICK 10m"), "{usage}");
    }

    #[test]
    fn room_commands_need_a_room_and_join_and_nick_do_not() {
        let mut state = in_room("lobby");
        state.current = Some(Target::Direct(nick("bob")));
        assert!(matches!(state.command("/kick carol"), Some(Err(_))));
        assert!(matches!(state.command("/topic hi"), Some(Err(_))));
        assert_eq!(
            state.command("/join #dev"),
            Some(Ok(Command::Join(
                room("dev"),
                ClientMsg::Join {
                    room: room("dev"),
                    since: None,
                    epoch: None
                }
            )))
        );
        assert_eq!(
            sent(&state, "/nick 민수"),
            [ClientMsg::Rename {
                nick: nick("민수")
            }]
        );
        assert!(matches!(state.command("/nick"), Some(Err(_))));
    }
}
