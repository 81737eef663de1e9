//! The app's words in English and Korean: [`Words`], one table per [`Lang`], chosen once when
//! the page loads ([`words`]).
//!
//! Why hand-written tables and not `leptos_i18n`: that crate, with two strings in it, added
//! 22 KB gzipped to the release wasm (8 %, over a budget the app is already past) and 170
//! crates to the build (measured 2026-12-01; docs/DEVELOPMENT.md). A struct with a field per
//! phrase keeps the property that matters: a phrase missing in either language does not
//! compile. Phrases with values in them are functions.
//!
//! The language is the one the user picked (the switch in the top bar, kept in
//! `localStorage`), else the first of the browser's languages we have, else English. Switching
//! reloads the page, as Slack and Discord do: the chat reconnects and catches up exactly, and
//! no view needs to re-render its words. The server's error messages are English; in Korean
//! the app says each [`ErrorCode`] in its own words.

use std::cell::Cell;

use shared::{ErrorCode, InvalidName};

/// A language of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Korean.
    Ko,
}

/// Where the user's choice is kept.
const STORAGE_KEY: &str = "chat.lang";

impl Lang {
    /// Both, in the switch's order.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ko];

    /// The BCP 47 tag (`<html lang>`, dates and times).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    /// The table of this language.
    pub fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Ko => &KO,
        }
    }

    /// The first of `preferred` (browser language tags, best first) that we have, or English.
    pub fn negotiate<'a>(preferred: impl IntoIterator<Item = &'a str>) -> Lang {
        preferred
            .into_iter()
            .find_map(|tag| {
                let primary = tag.split(['-', '_']).next().unwrap_or("");
                Lang::ALL
                    .into_iter()
                    .find(|lang| primary.eq_ignore_ascii_case(lang.tag()))
            })
            .unwrap_or(Lang::En)
    }
}

thread_local! {
    /// The page's language: set once by [`init`]; English until then (and in native tests).
    static CURRENT: Cell<Lang> = const { Cell::new(Lang::En) };
}

/// The page's language.
pub fn lang() -> Lang {
    CURRENT.with(Cell::get)
}

/// The page's words.
pub fn words() -> &'static Words {
    lang().words()
}

/// Chooses the page's language (the stored choice, else the browser's), names it on
/// `<html lang>` (for screen readers and fonts) and titles the page in it.
pub fn init() {
    let window = web_sys::window();
    let stored = window
        .as_ref()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    let browser: Vec<String> = window
        .as_ref()
        .map(|w| {
            w.navigator()
                .languages()
                .iter()
                .filter_map(|l| l.as_string())
                .collect()
        })
        .unwrap_or_default();
    let lang = Lang::negotiate(stored.iter().chain(&browser).map(String::as_str));
    CURRENT.with(|c| c.set(lang));
    if let Some(document) = window.and_then(|w| w.document()) {
        document.set_title(lang.words().chat);
        if let Some(root) = document.document_element() {
            let _ = root.set_attribute("lang", lang.tag());
        }
    }
}

/// Keeps `lang` as the user's choice and reloads the page in it.
pub fn switch_to(lang: Lang) {
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Ok(Some(storage)) = window.local_storage() {
        let _ = storage.set_item(STORAGE_KEY, lang.tag());
    }
    let _ = window.location().reload();
}

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
    pub react_other: &'static str,
    pub react_prompt: &'static str,
    pub quote_title: &'static str,
    pub image: &'static str,
    pub image_full: &'static str,
    pub show_full_size: &'static str,
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
}

/// English.
pub static EN: Words = Words {
    name: "English",
    language: "Language",
    chat: "Chat",
    echo: "Echo",
    echo_hint: "The server returns every message unchanged; the time is the round trip.",
    echo_placeholder: "Type a message and press Enter",
    echo_waiting: "waiting for echo…",
    echo_rtt: |ms| format!("echoed in {ms} ms"),
    echo_lost: "no echo: connection dropped",
    echo_empty: "Nothing sent yet.",
    echo_transport: "Transport",
    echo_count: "Echoes",
    echo_median: "Median round trip",
    echo_bytes: "Bytes per message (headers included)",
    message: "Message",
    send: "Send",
    connecting: "connecting…",
    online: "online",
    offline: |reason, secs| format!("offline ({reason}): reconnecting in {secs} s"),
    close_normal: "closed normally",
    close_going_away: "server shutting down",
    close_lost: "connection lost",
    close_invalid_text: "invalid text sent",
    close_too_big: "message too big",
    close_timed_out: "timed out",
    close_not_logged_in: "not logged in",
    close_slow: "reading too slowly",
    close_other: "closed",
    unreachable: "server unreachable",
    interrupted: "connection interrupted",
    no_network: "offline",
    connection_error: "connection error",
    welcome: "Welcome to the chat",
    nick_hint: "Pick a nickname (1–32 characters). Others see it next to your messages.",
    nickname: "Nickname",
    start_chatting: "Start chatting",
    gate_asking: "Connecting…",
    try_again: "Try again",
    account_hint: "Log in, or create an account: your name is your nickname here.",
    account_name: "Name",
    password: "Password",
    log_in: "Log in",
    create_account: "Create account",
    logged_in_as: "Logged in as ",
    change_password: "Change password",
    log_out: "Log out",
    current_password: "Current password",
    new_password: "New password",
    change: "Change",
    password_changed: "Password changed; your other sessions were logged out.",
    rooms: "Rooms",
    change_nickname: "Change nickname",
    new_nickname: "New nickname",
    ok: "OK",
    join_placeholder: "Join or create a room",
    room_name: "Room name",
    join: "Join",
    private_toggle: " new private room (invited people only)",
    invitations: "Invitations",
    invited_by: |by| format!("invited by {by}"),
    accept: "join",
    other_rooms: "Other rooms",
    direct_messages: "Direct messages",
    members_count_title: "members",
    mentions_title: "mentions of you",
    unread_title: "unread messages",
    show_rooms: "Show rooms",
    show_members: "Show members",
    no_conversation: "No conversation",
    leave: "Leave",
    notifications_on: "Notifications on ✓",
    turn_on_notifications: "Turn on notifications",
    notifications_hint: "Mentions and direct messages notify you while this page is hidden",
    notifications_unsupported: "This browser cannot show notifications.",
    notifications_blocked: "The browser blocked notifications for this site.",
    notifications_unavailable: "Notifications are unavailable.",
    direct_alert: |from| format!("{from} (direct message)"),
    room_alert: |from, room| format!("{from} in #{room}"),
    dismiss: "Dismiss",
    typing_one: |a| format!("{a} is typing…"),
    typing_two: |a, b| format!("{a} and {b} are typing…"),
    typing_several: "Several people are typing…",
    loading: "Loading…",
    load_older: "Load older messages",
    new_messages: "New messages",
    messages_label: "Messages",
    sending: "sending… (kept until it is delivered)",
    not_sent: |reason| format!("not sent: {reason}"),
    retry: "Retry",
    edited: " (edited)",
    deleted: "message deleted",
    reply: "Reply",
    edit: "Edit",
    delete: "Delete",
    delete_title: "Delete this message for everyone",
    react_with: |emoji| format!("React with {emoji}"),
    react_other: "React with another emoji",
    react_prompt: "React with which emoji?",
    quote_title: "Show the message answered",
    image: "image",
    image_full: "image, full size",
    show_full_size: "Show full size",
    composer_placeholder: "Message (Enter to send, Shift+Enter for a new line)",
    attach_title: "Send an image (PNG, JPEG, GIF or WebP)",
    editing: "Editing your message",
    replying_to: |from, text| format!("Replying to {from}: {text}"),
    cancel: "Cancel",
    connecting_note: "Connecting… messages are sent once connected.",
    offline_note: |reason, secs| {
        format!("Offline ({reason}); reconnecting in {secs} s. Messages are sent then.")
    },
    not_connected: "not connected yet",
    pick_conversation: "pick a room or a person first",
    too_long: |chars, max| format!("message is {chars} characters; the limit is {max}"),
    images_rooms_only: "Images can be sent to rooms only.",
    image_not_sent: |reason| format!("The image was not sent: {reason}"),
    not_an_emoji: "That reaction is not an emoji.",
    members: |n| format!("Members — {n}"),
    search_members: "Search members",
    no_member_found: "No member by that name",
    loading_members: "Loading members…",
    you: " (you)",
    invite_label: "Invite by nickname",
    invite: "Invite",
    direct_title: "Send a direct message",
    kick: "Kick",
    kick_title: "Remove from the room (may come back)",
    mute: "Mute",
    mute_title: "Mute for 10 minutes",
    ban: "Ban",
    ban_title: "Remove and keep out",
    invited_you: |by, room| format!("{by} invited you to the private room {room}"),
    removed_you: |room, by, why| {
        let why = match why {
            shared::RemovedReason::Uninvited => "took back your invitation",
            shared::RemovedReason::Kicked => "removed you (you may join again)",
            shared::RemovedReason::Banned => "banned you",
        };
        format!("You were removed from {room}: {by} {why}.")
    },
    moderated: |room, by, what| {
        let what = match what {
            ModPhrase::Invited(u) => format!("{by} invited {u}"),
            ModPhrase::Uninvited(u) => format!("{by} took back {u}'s invitation"),
            ModPhrase::ModeratorAdded(u) => format!("{by} made {u} a moderator"),
            ModPhrase::ModeratorRemoved(u) => format!("{by} made {u} a moderator no longer"),
            ModPhrase::Kicked(u) => format!("{by} removed {u}"),
            ModPhrase::Banned(u) => format!("{by} banned {u}"),
            ModPhrase::Unbanned(u) => format!("{by} lifted {u}'s ban"),
            ModPhrase::Muted(u) => format!("{by} muted {u}"),
            ModPhrase::Unmuted(u) => format!("{by} unmuted {u}"),
        };
        format!("{room}: {what}")
    },
    room_reset: |room| {
        format!(
            "You were away longer than #{room} keeps messages for a catch-up; showing the \
             latest ones."
        )
    },
    directs_reset: "You were away too long to catch up on every direct message.",
    unreadable: "A message from the server could not be read.",
    error: |_| None,
    invalid: InvalidName::to_string,
};

/// Korean.
pub static KO: Words = Words {
    name: "한국어",
    language: "언어",
    chat: "채팅",
    echo: "에코",
    echo_hint: "서버가 모든 메시지를 그대로 돌려보냅니다. 시간은 왕복 시간입니다.",
    echo_placeholder: "메시지를 입력하고 Enter를 누르세요",
    echo_waiting: "에코를 기다리는 중…",
    echo_rtt: |ms| format!("{ms}ms 만에 돌아옴"),
    echo_lost: "에코 없음: 연결이 끊겼습니다",
    echo_empty: "아직 보낸 메시지가 없습니다.",
    echo_transport: "전송 방식",
    echo_count: "에코 수",
    echo_median: "왕복 시간 중앙값",
    echo_bytes: "메시지당 바이트(헤더 포함)",
    message: "메시지",
    send: "보내기",
    connecting: "연결 중…",
    online: "온라인",
    offline: |reason, secs| format!("오프라인({reason}): {secs}초 후 다시 연결"),
    close_normal: "정상 종료",
    close_going_away: "서버 종료 중",
    close_lost: "연결 끊김",
    close_invalid_text: "잘못된 텍스트 전송",
    close_too_big: "메시지가 너무 큼",
    close_timed_out: "시간 초과",
    close_not_logged_in: "로그인하지 않음",
    close_slow: "수신이 너무 느림",
    close_other: "닫힘",
    unreachable: "서버에 연결할 수 없음",
    interrupted: "연결이 중단됨",
    no_network: "네트워크 없음",
    connection_error: "연결 오류",
    welcome: "채팅에 오신 것을 환영합니다",
    nick_hint: "닉네임을 정하세요(1–32자). 다른 사람에게 메시지 옆에 보입니다.",
    nickname: "닉네임",
    start_chatting: "채팅 시작",
    gate_asking: "연결 중…",
    try_again: "다시 시도",
    account_hint: "로그인하거나 계정을 만드세요. 이름이 곧 닉네임입니다.",
    account_name: "이름",
    password: "비밀번호",
    log_in: "로그인",
    create_account: "계정 만들기",
    logged_in_as: "로그인: ",
    change_password: "비밀번호 변경",
    log_out: "로그아웃",
    current_password: "현재 비밀번호",
    new_password: "새 비밀번호",
    change: "변경",
    password_changed: "비밀번호를 바꿨습니다. 다른 세션은 로그아웃되었습니다.",
    rooms: "방",
    change_nickname: "닉네임 변경",
    new_nickname: "새 닉네임",
    ok: "확인",
    join_placeholder: "방에 들어가거나 새로 만들기",
    room_name: "방 이름",
    join: "들어가기",
    private_toggle: " 새 비공개 방(초대한 사람만)",
    invitations: "초대",
    invited_by: |by| format!("{by}님의 초대"),
    accept: "들어가기",
    other_rooms: "다른 방",
    direct_messages: "다이렉트 메시지",
    members_count_title: "참여자 수",
    mentions_title: "나를 언급한 메시지",
    unread_title: "읽지 않은 메시지",
    show_rooms: "방 목록 보기",
    show_members: "참여자 보기",
    no_conversation: "대화 없음",
    leave: "나가기",
    notifications_on: "알림 켜짐 ✓",
    turn_on_notifications: "알림 켜기",
    notifications_hint: "이 페이지가 가려져 있을 때 멘션과 다이렉트 메시지를 알려 줍니다",
    notifications_unsupported: "이 브라우저는 알림을 표시할 수 없습니다.",
    notifications_blocked: "브라우저가 이 사이트의 알림을 차단했습니다.",
    notifications_unavailable: "알림을 사용할 수 없습니다.",
    direct_alert: |from| format!("{from}(다이렉트 메시지)"),
    room_alert: |from, room| format!("#{room}의 {from}"),
    dismiss: "닫기",
    typing_one: |a| format!("{a}님이 입력 중…"),
    typing_two: |a, b| format!("{a}님과 {b}님이 입력 중…"),
    typing_several: "여러 명이 입력 중…",
    loading: "불러오는 중…",
    load_older: "이전 메시지 불러오기",
    new_messages: "새 메시지",
    messages_label: "메시지",
    sending: "보내는 중…(전달될 때까지 보관)",
    not_sent: |reason| format!("보내지 못함: {reason}"),
    retry: "다시 보내기",
    edited: " (수정됨)",
    deleted: "삭제된 메시지",
    reply: "답장",
    edit: "수정",
    delete: "삭제",
    delete_title: "모두에게서 이 메시지 삭제",
    react_with: |emoji| format!("{emoji}(으)로 반응"),
    react_other: "다른 이모지로 반응",
    react_prompt: "어떤 이모지로 반응할까요?",
    quote_title: "답장한 메시지 보기",
    image: "이미지",
    image_full: "이미지, 원본 크기",
    show_full_size: "원본 크기로 보기",
    composer_placeholder: "메시지(Enter로 보내기, Shift+Enter로 줄바꿈)",
    attach_title: "이미지 보내기(PNG, JPEG, GIF, WebP)",
    editing: "메시지 수정 중",
    replying_to: |from, text| format!("{from}님에게 답장: {text}"),
    cancel: "취소",
    connecting_note: "연결 중… 연결되면 메시지를 보냅니다.",
    offline_note: |reason, secs| {
        format!("오프라인({reason}). {secs}초 후 다시 연결합니다. 메시지는 그때 보냅니다.")
    },
    not_connected: "아직 연결되지 않았습니다",
    pick_conversation: "먼저 방이나 사람을 고르세요",
    too_long: |chars, max| format!("메시지가 {chars}자입니다. 최대 {max}자까지 보낼 수 있습니다"),
    images_rooms_only: "이미지는 방에만 보낼 수 있습니다.",
    image_not_sent: |reason| format!("이미지를 보내지 못했습니다: {reason}"),
    not_an_emoji: "그 반응은 이모지가 아닙니다.",
    members: |n| format!("참여자 — {n}명"),
    search_members: "참여자 검색",
    no_member_found: "그런 이름의 참여자가 없습니다",
    loading_members: "참여자를 불러오는 중…",
    you: " (나)",
    invite_label: "닉네임으로 초대",
    invite: "초대",
    direct_title: "다이렉트 메시지 보내기",
    kick: "내보내기",
    kick_title: "방에서 내보내기(다시 들어올 수 있음)",
    mute: "발언 금지",
    mute_title: "10분 동안 발언 금지",
    ban: "차단",
    ban_title: "내보내고 다시 못 들어오게 하기",
    invited_you: |by, room| format!("{by}님이 비공개 방 {room}에 초대했습니다"),
    removed_you: |room, by, why| {
        let why = match why {
            shared::RemovedReason::Uninvited => "초대를 취소했습니다",
            shared::RemovedReason::Kicked => "나를 내보냈습니다(다시 들어갈 수 있음)",
            shared::RemovedReason::Banned => "나를 차단했습니다",
        };
        format!("{room}에서 나왔습니다: {by}님이 {why}.")
    },
    moderated: |room, by, what| {
        let what = match what {
            ModPhrase::Invited(u) => format!("{by}님이 {u}님을 초대했습니다"),
            ModPhrase::Uninvited(u) => format!("{by}님이 {u}님의 초대를 취소했습니다"),
            ModPhrase::ModeratorAdded(u) => format!("{by}님이 {u}님을 운영자로 지정했습니다"),
            ModPhrase::ModeratorRemoved(u) => {
                format!("{by}님이 {u}님의 운영자 지정을 해제했습니다")
            }
            ModPhrase::Kicked(u) => format!("{by}님이 {u}님을 내보냈습니다"),
            ModPhrase::Banned(u) => format!("{by}님이 {u}님을 차단했습니다"),
            ModPhrase::Unbanned(u) => format!("{by}님이 {u}님의 차단을 풀었습니다"),
            ModPhrase::Muted(u) => format!("{by}님이 {u}님의 발언을 막았습니다"),
            ModPhrase::Unmuted(u) => format!("{by}님이 {u}님의 발언 금지를 풀었습니다"),
        };
        format!("{room}: {what}")
    },
    room_reset: |room| {
        format!(
            "#{room}이(가) 따라잡기용으로 보관하는 기간보다 오래 떠나 있었습니다. 최근 메시지를 보여 줍니다."
        )
    },
    directs_reset: "너무 오래 떠나 있어서 다이렉트 메시지를 모두 따라잡지 못했습니다.",
    unreadable: "서버에서 온 메시지를 읽을 수 없습니다.",
    error: |code| {
        Some(match code {
            ErrorCode::Malformed => "요청을 읽을 수 없습니다.",
            ErrorCode::UnknownType => "알 수 없는 요청입니다.",
            ErrorCode::Invalid => "요청의 값이 올바르지 않습니다.",
            ErrorCode::BinaryNotSupported => "바이너리 메시지는 지원하지 않습니다.",
            ErrorCode::NotIdentified => "먼저 닉네임을 정해야 합니다.",
            ErrorCode::AlreadyIdentified => "이미 닉네임을 정했습니다.",
            ErrorCode::NickTaken => "다른 사람이 쓰고 있는 닉네임입니다.",
            ErrorCode::NotInRoom => "그 방에 들어가 있지 않습니다.",
            ErrorCode::TooManyRooms => "들어갈 수 있는 방의 수를 넘었습니다.",
            ErrorCode::TooLong => "메시지가 너무 깁니다.",
            ErrorCode::RateLimited => "너무 빨리 보내고 있습니다. 잠시 후 다시 시도하세요.",
            ErrorCode::NoSuchUser => "그런 사용자가 없습니다.",
            ErrorCode::StoreFailed => "서버가 메시지를 저장하지 못했습니다. 다시 시도하세요.",
            ErrorCode::Overloaded => "서버가 바쁩니다. 잠시 후 다시 시도하세요.",
            ErrorCode::Forbidden => "그 작업을 할 권한이 없습니다.",
            ErrorCode::RoomExists => "이미 있는 방입니다.",
            ErrorCode::RoomFull => "방이 가득 찼습니다.",
            ErrorCode::Banned => "그 방에서 차단되었습니다.",
            ErrorCode::Muted => "이 방에서 발언이 금지되어 있습니다.",
            ErrorCode::Unauthenticated => "로그인이 필요합니다.",
            ErrorCode::NoSuchMessage => "그 메시지가 없습니다.",
            ErrorCode::TooManyReactions => "이 메시지에 더 이상 반응을 달 수 없습니다.",
        })
    },
    invalid: korean_invalid,
};

/// [`Words::invalid`] in Korean. Outside the table: it matches the validators' English words
/// (`what`, `rule`), which the table's language test would take for untranslated phrases.
fn korean_invalid(err: &InvalidName) -> String {
    // `what` and `rule` are the validators' own words (shared/src/ids.rs, chat.rs): the
    // ones a user can meet are said here; any other stays as it is.
    let what = |what: &str| match what {
        "nickname" => "닉네임".to_owned(),
        "room name" => "방 이름".to_owned(),
        "message text" | "message text (in bytes)" => "메시지".to_owned(),
        "emoji" => "이모지".to_owned(),
        other => other.to_owned(),
    };
    match err {
        InvalidName::Empty { what: w } => format!("{}이(가) 비어 있습니다", what(w)),
        InvalidName::TooLong { what: w, max } => {
            format!("{}은(는) {max}자를 넘을 수 없습니다", what(w))
        }
        InvalidName::BadCharacter {
            what: w,
            found,
            rule,
        } => {
            let rule = match *rule {
                "no control characters" => "제어 문자는 쓸 수 없음",
                "no leading or trailing spaces" => "앞뒤에 공백을 둘 수 없음",
                "letters, digits, '-' and '_' only" => "글자, 숫자, '-', '_'만 쓸 수 있음",
                "one emoji" => "이모지 하나만",
                other => other,
            };
            format!(
                "{}에 쓸 수 없는 문자 '{found}'(U+{:04X})이(가) 있습니다({rule})",
                what(w),
                u32::from(*found)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_languages_choose_the_first_we_have() {
        assert_eq!(Lang::negotiate(["ko-KR", "en-US"]), Lang::Ko);
        assert_eq!(Lang::negotiate(["fr-FR", "ko"]), Lang::Ko);
        assert_eq!(Lang::negotiate(["en-GB", "ko"]), Lang::En);
        assert_eq!(Lang::negotiate(["fr"]), Lang::En);
        assert_eq!(Lang::negotiate([]), Lang::En);
    }

    /// Every literal of the Korean table is Korean, and none of the English one is: a phrase
    /// copied from the other language (a missing translation) fails here, as a phrase missing
    /// altogether fails to compile. Placeholders (`{room}`) and punctuation do not count.
    #[test]
    fn each_table_speaks_its_language() {
        let source = include_str!("i18n.rs");
        let table = |from: &str, to: &str| {
            let start = source.find(from).expect("table start");
            let end = start + source[start..].find(to).expect("table end");
            literals(&source[start..end])
        };
        let hangul = |s: &str| s.chars().any(|c| ('가'..='힣').contains(&c));
        let latin = |s: &str| {
            strip_placeholders(s)
                .chars()
                .any(|c| c.is_ascii_alphabetic())
        };
        let korean = table("pub static KO", "/// [`Words::invalid`] in Korean");
        assert!(korean.len() > 100, "{}", korean.len());
        for phrase in &korean {
            assert!(
                hangul(phrase) || !latin(phrase),
                "not Korean in the Korean table: {phrase:?}"
            );
        }
        let english = table("pub static EN", "pub static KO");
        assert!(english.len() > 100, "{}", english.len());
        for phrase in &english {
            assert!(!hangul(phrase), "Korean in the English table: {phrase:?}");
        }
        assert_eq!(
            (EN.error)(ErrorCode::NickTaken),
            None,
            "English shows the server's words"
        );
        assert!((KO.error)(ErrorCode::NickTaken).is_some_and(hangul));
        let refused = shared::Nick::try_from(" x").unwrap_err();
        assert_eq!((EN.invalid)(&refused), refused.to_string());
        assert!(
            hangul(&(KO.invalid)(&refused)),
            "{}",
            (KO.invalid)(&refused)
        );
    }

    /// The string literals in `code` (no escapes but `\"` are used in the tables).
    fn literals(code: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = code;
        while let Some(open) = rest.find('"') {
            let after = &rest[open + 1..];
            let close = after.find('"').expect("closed literal");
            found.push(after[..close].to_owned());
            rest = &after[close + 1..];
        }
        found
    }

    fn strip_placeholders(text: &str) -> String {
        let mut out = String::new();
        let mut depth = 0;
        for c in text.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    }
}
