//! The shape of a language's table: [`Words`], a field per phrase (a phrase missing in a
//! language does not compile), and [`ModPhrase`]. A leaf: the tables and `mod.rs` import it.

use shared::{ErrorCode, InvalidName};

/// Every phrase of the app, in one language.
// Each field is named for its phrase, and the English table below says it: docs per field
// would repeat it.
#[allow(missing_docs)]
pub struct Words {
    /// The language's own name (on the switch).
    pub name: &'static str,
    /// The switch's label.
    pub language: &'static str,
    /// Brand and the chat page's link.
    pub chat: &'static str,
    /// The Echo page's link and title.
    pub echo: &'static str,
    pub echo_hint: &'static str,
    pub echo_placeholder: &'static str,
    pub echo_waiting: &'static str,
    pub echo_rtt: fn(&str) -> String,
    pub echo_lost: &'static str,
    pub echo_empty: &'static str,
    pub echo_transport: &'static str,
    pub echo_count: &'static str,
    pub echo_median: &'static str,
    pub echo_bytes: &'static str,
    /// The admin console's link and title, and its parts.
    pub admin: &'static str,
    pub admin_title: &'static str,
    pub admin_asking: &'static str,
    /// Why the console shows nothing: the server's status (401, 403; 0: no answer).
    pub admin_refused: fn(u16) -> String,
    pub admin_connections: &'static str,
    pub admin_users: &'static str,
    pub admin_rate: &'static str,
    pub admin_latency: &'static str,
    pub admin_log: &'static str,
    pub admin_log_empty: &'static str,
    /// Removing a message: the form's title, its message id field, its button, what it
    /// says when done, and when the form is not filled in right.
    pub admin_remove_title: &'static str,
    pub admin_message_id: &'static str,
    pub admin_remove: &'static str,
    pub admin_removed: fn(&str, u64) -> String,
    pub admin_remove_invalid: &'static str,
    /// Closing a room: the column's head, what a closed room's cell says, the buttons, and
    /// what is said when done.
    pub admin_state: &'static str,
    pub admin_room_closed: &'static str,
    pub admin_close: &'static str,
    pub admin_reopen: &'static str,
    pub admin_closed: fn(&str) -> String,
    pub admin_reopened: fn(&str) -> String,
    /// Accounts mode: a user's password and sessions (the form's title, its fields and
    /// buttons, what is said when done).
    pub admin_account_title: &'static str,
    pub admin_new_password: &'static str,
    pub admin_reset_password: &'static str,
    pub admin_revoke: &'static str,
    pub admin_password_reset: fn(&str) -> String,
    pub admin_sessions_revoked: fn(&str) -> String,
    /// Exports (the scope's choices, the name field, the button, a name missing) and imports
    /// (the file field, the button, while it runs, a file missing, the summary: rooms,
    /// messages stored, already there, files; the rooms refused, named with why).
    pub admin_export_title: &'static str,
    pub admin_export_server: &'static str,
    pub admin_export_room: &'static str,
    pub admin_export_user: &'static str,
    pub admin_export_name: &'static str,
    pub admin_export: &'static str,
    pub admin_export_invalid: &'static str,
    pub admin_import_title: &'static str,
    pub admin_import_file: &'static str,
    pub admin_import: &'static str,
    pub admin_importing: &'static str,
    pub admin_import_none: &'static str,
    pub admin_imported: fn(u64, u64, u64, u64) -> String,
    pub admin_import_refused: fn(&str) -> String,
    pub admin_log_older: &'static str,
    pub admin_log_newest: &'static str,
    /// The rooms table: its title and column heads.
    pub admin_rooms: &'static str,
    pub admin_room: &'static str,
    pub admin_access: &'static str,
    pub admin_private: &'static str,
    pub admin_public: &'static str,
    pub admin_owner: &'static str,
    /// A room made by `join` (its owner cell).
    pub admin_no_owner: &'static str,
    pub admin_moderators: &'static str,
    pub admin_banned_count: &'static str,
    pub admin_max_members: &'static str,
    pub admin_online: &'static str,
    pub admin_topic: &'static str,
    /// How many groups there are (not listed).
    pub admin_groups: fn(u32) -> String,
    /// The room opened: who is in it (how many), who its rules name.
    pub admin_members_now: fn(u32) -> String,
    pub admin_invited: &'static str,
    pub admin_banned_list: &'static str,
    pub admin_muted: &'static str,
    /// Why a room cannot be opened (the server's status).
    pub admin_room_refused: fn(u16) -> String,
    pub admin_close_detail: &'static str,
    /// What the log calls an act on the whole server (a server-wide ban), as its room.
    pub admin_server: &'static str,
    pub admin_stale: &'static str,
    pub admin_ban_title: &'static str,
    pub admin_ban_user: &'static str,
    pub admin_ban: &'static str,
    pub admin_unban: &'static str,
    pub admin_banned: fn(&str) -> String,
    pub admin_unbanned: fn(&str) -> String,
    /// "Message" (labels of message inputs).
    pub message: &'static str,
    pub send: &'static str,
    // Connection status.
    pub connecting: &'static str,
    pub online: &'static str,
    pub offline: fn(&str, u32) -> String,
    pub close_normal: &'static str,
    pub close_going_away: &'static str,
    pub close_lost: &'static str,
    pub close_invalid_text: &'static str,
    pub close_too_big: &'static str,
    pub close_timed_out: &'static str,
    pub close_not_logged_in: &'static str,
    pub close_banned: &'static str,
    pub close_slow: &'static str,
    pub close_other: &'static str,
    pub unreachable: &'static str,
    pub interrupted: &'static str,
    pub no_network: &'static str,
    pub connection_error: &'static str,
    // Logging in.
    pub welcome: &'static str,
    pub nick_hint: &'static str,
    pub nickname: &'static str,
    pub start_chatting: &'static str,
    pub gate_asking: &'static str,
    pub try_again: &'static str,
    pub account_hint: &'static str,
    pub account_name: &'static str,
    pub password: &'static str,
    pub log_in: &'static str,
    pub create_account: &'static str,
    pub logged_in_as: &'static str,
    pub change_password: &'static str,
    pub log_out: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub change: &'static str,
    pub password_changed: &'static str,
    // Sidebar.
    pub rooms: &'static str,
    pub change_nickname: &'static str,
    pub new_nickname: &'static str,
    pub ok: &'static str,
    pub join_placeholder: &'static str,
    pub room_name: &'static str,
    pub join: &'static str,
    pub private_toggle: &'static str,
    pub invitations: &'static str,
    pub invited_by: fn(&str) -> String,
    pub accept: &'static str,
    pub other_rooms: &'static str,
    pub direct_messages: &'static str,
    pub members_count_title: &'static str,
    pub mentions_title: &'static str,
    pub unread_title: &'static str,
    pub show_rooms: &'static str,
    pub show_members: &'static str,
    pub no_conversation: &'static str,
    pub leave: &'static str,
    // Notifications.
    pub notifications_on: &'static str,
    pub turn_on_notifications: &'static str,
    pub notifications_hint: &'static str,
    pub notifications_unsupported: &'static str,
    pub notifications_blocked: &'static str,
    pub notifications_unavailable: &'static str,
    // Web Push (the installable app, docs/PWA.md).
    pub push_on_device: &'static str,
    pub push_private: &'static str,
    pub push_unsupported: &'static str,
    pub push_not_on_server: &'static str,
    pub push_failed: fn(&str) -> String,
    /// The server cannot be reached before the chat opens (the app came from the cache).
    pub offline_retrying: &'static str,
    // "Seen" (direct and group conversations).
    pub seen: &'static str,
    pub seen_by: fn(&str) -> String,
    pub share_reads: &'static str,
    // Starting a conversation, groups.
    pub new_conversation: &'static str,
    pub people_placeholder: &'static str,
    pub conversation_size: &'static str,
    pub leave_group: &'static str,
    pub direct_alert: fn(&str) -> String,
    pub room_alert: fn(&str, &str) -> String,
    // Messages.
    pub dismiss: &'static str,
    pub typing_one: fn(&str) -> String,
    pub typing_two: fn(&str, &str) -> String,
    /// Three or more: the server announces at most three typists a room, so no names.
    pub typing_several: &'static str,
    pub loading: &'static str,
    pub load_older: &'static str,
    pub new_messages: &'static str,
    /// The message list's name for screen readers (it takes the keyboard focus to scroll).
    pub messages_label: &'static str,
    pub sending: &'static str,
    pub not_sent: fn(&str) -> String,
    pub retry: &'static str,
    pub edited: &'static str,
    pub deleted: &'static str,
    pub reply: &'static str,
    pub edit: &'static str,
    pub delete: &'static str,
    pub delete_title: &'static str,
    pub react_with: fn(&str) -> String,
    /// A room-only slash command typed elsewhere.
    pub command_needs_room: &'static str,
    /// A slash command that does not exist (named without its `/`).
    pub unknown_command: fn(&str) -> String,
    /// `/help`: one command per line (the line naming a command is also how to use it).
    pub command_help: &'static str,
    /// The sidebar's marker on a conversation with a draft.
    pub draft_marker: &'static str,
    /// A code block's copy button.
    pub copy_code: &'static str,
    /// The copy button once its code was copied.
    pub copied: &'static str,
    pub react_other: &'static str,
    /// The emoji picker (its name as a dialog).
    pub emoji_picker: &'static str,
    /// The picker's search box.
    pub emoji_search: &'static str,
    /// The picker's skin tones (their group).
    pub skin_tones: &'static str,
    /// Skin tone 0 (none) to 5, named.
    pub skin_tone: [&'static str; 6],
    /// The picker found nothing.
    pub no_emoji: &'static str,
    /// The composer's emoji button.
    pub insert_emoji: &'static str,
    pub quote_title: &'static str,
    pub image: &'static str,
    pub image_full: &'static str,
    pub show_full_size: &'static str,
    pub download: &'static str,
    pub download_title: fn(&str) -> String,
    // Composer.
    pub composer_placeholder: &'static str,
    pub attach_title: &'static str,
    pub editing: &'static str,
    pub replying_to: fn(&str, &str) -> String,
    pub cancel: &'static str,
    pub connecting_note: &'static str,
    pub offline_note: fn(&str, u32) -> String,
    pub not_connected: &'static str,
    pub pick_conversation: &'static str,
    pub too_long: fn(usize, usize) -> String,
    pub images_rooms_only: &'static str,
    pub image_not_sent: fn(&str) -> String,
    pub not_an_emoji: &'static str,
    // Members panel.
    pub members: fn(usize) -> String,
    pub you: &'static str,
    pub search_members: &'static str,
    pub no_member_found: &'static str,
    pub loading_members: &'static str,
    pub invite_label: &'static str,
    pub invite: &'static str,
    pub direct_title: &'static str,
    pub kick: &'static str,
    pub kick_title: &'static str,
    pub mute: &'static str,
    pub mute_title: &'static str,
    pub ban: &'static str,
    pub ban_title: &'static str,
    // Search (the box, the results panel).
    pub search: &'static str,
    pub search_placeholder: &'static str,
    /// What a query may hold (the box's tooltip).
    pub search_hint: &'static str,
    pub search_results: &'static str,
    /// The order button's tooltip (pressed: best matches first; else newest first).
    pub search_order: &'static str,
    pub best_match: &'static str,
    pub close_search: &'static str,
    pub searching: &'static str,
    /// How many were found, and whether there are more.
    pub search_found: fn(usize, bool) -> String,
    pub no_results: fn(&str) -> String,
    pub search_failed: fn(&str) -> String,
    pub more_results: &'static str,
    // Notices.
    pub invited_you: fn(&str, &str) -> String,
    pub removed_you: fn(&str, &str, shared::RemovedReason) -> String,
    pub moderated: fn(&str, &str, &ModPhrase) -> String,
    pub room_reset: fn(&str) -> String,
    pub directs_reset: &'static str,
    pub unreadable: &'static str,
    /// The app's own words for a refusal, or `None` to show the server's (English) message.
    pub error: fn(ErrorCode) -> Option<&'static str>,
    /// Why a name or a text was refused before it was sent.
    pub invalid: fn(&InvalidName) -> String,
}

/// A moderation action as the notices say it: what was done, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // One per `shared::ModAction`, holding the user it was done to.
pub enum ModPhrase {
    Invited(String),
    Uninvited(String),
    ModeratorAdded(String),
    ModeratorRemoved(String),
    Kicked(String),
    Banned(String),
    Unbanned(String),
    Muted(String),
    Unmuted(String),
    Left(String),
    /// The room's new topic (empty: cleared); not about a user.
    Topic(String),
    /// A message removed (its id): the moderation log's words only.
    MessageRemoved(u64),
    /// A server admin closed the room, or reopened it.
    Closed,
    Reopened,
    /// A server admin reset a user's password, or ended their sessions (the log only).
    PasswordReset(String),
    SessionsRevoked(String),
}
