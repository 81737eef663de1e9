//! The Korean table, and how it says the validators' refusals.

use shared::{ErrorCode, InvalidName};

use super::table::{ModPhrase, Words};

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
    admin: "관리",
    admin_title: "관리 콘솔",
    admin_asking: "서버에 묻는 중…",
    admin_refused: |status| match status {
        401 => "서버 관리자용 콘솔입니다. 먼저 관리자로 로그인하세요.".to_owned(),
        403 => "서버 관리자만 볼 수 있는 콘솔입니다.".to_owned(),
        _ => "서버에 연결할 수 없습니다. 잠시 후 다시 시도하세요.".to_owned(),
    },
    admin_connections: "연결",
    admin_users: "접속 중인 사용자",
    admin_rate: "분당 메시지",
    admin_latency: "저장 지연",
    admin_log: "관리 기록",
    admin_log_empty: "아직 관리 기록이 없습니다.",
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
    push_on_device: "이 기기에서 알림 받기",
    push_private: "미리보기 숨기기 (보낸 사람과 내용 없이)",
    push_unsupported: "이 브라우저는 앱이 닫혀 있을 때 알림을 받을 수 없습니다.",
    push_not_on_server: "이 서버에서는 알림을 사용할 수 없습니다.",
    push_failed: |why| format!("알림 설정을 바꾸지 못했습니다: {why}"),
    offline_retrying: "오프라인: 서버에 연결할 수 없습니다. 다시 시도하는 중…",
    seen: "읽음",
    seen_by: |names| format!("읽음 · {names}"),
    share_reads: "읽음 표시 공유",
    new_conversation: "새 대화",
    people_placeholder: "새 대화: 이름을 쉼표로 구분해 입력",
    conversation_size: "한 명, 또는 그룹이면 두 명에서 여덟 명까지 입력하세요.",
    leave_group: "그룹 나가기",
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
    command_needs_room: "방에서만 쓸 수 있는 명령입니다.",
    unknown_command: |name| {
        format!("/{name} 명령은 없습니다. 목록은 /help (/로 시작하는 메시지는 //로 보내세요).")
    },
    command_help: "/me 내용 — 하는 일 말하기\n/nick 이름 — 닉네임 바꾸기\n/join 방 — 방 들어가기\n/leave — 이 방 나가기\n/invite 닉네임 — 이 비공개 방에 초대\n/kick 닉네임 — 방에서 내보내기\n/mute 닉네임 10m — 발언 금지(s, m, h, d); /unmute 닉네임\n/ban 닉네임 — 차단; /unban 닉네임\n/topic 내용 — 방 주제 정하기(내용 없으면 지우기)\n/help — 이 목록\n// — /로 시작하는 메시지",
    draft_marker: "임시 저장",
    copy_code: "복사",
    copied: "복사됨",
    react_other: "다른 이모지로 반응",
    emoji_picker: "이모지",
    emoji_search: "이모지 검색",
    skin_tones: "피부색",
    skin_tone: [
        "기본 피부색",
        "밝은 피부색",
        "약간 밝은 피부색",
        "중간 피부색",
        "약간 어두운 피부색",
        "어두운 피부색",
    ],
    no_emoji: "찾는 이모지가 없습니다",
    insert_emoji: "이모지 넣기",
    quote_title: "답장한 메시지 보기",
    image: "이미지",
    image_full: "이미지, 원본 크기",
    show_full_size: "원본 크기로 보기",
    download: "다운로드",
    download_title: |name| format!("{name} 다운로드"),
    composer_placeholder: "메시지(Enter로 보내기, Shift+Enter로 줄바꿈)",
    attach_title: "파일 보내기(PNG, JPEG, GIF, WebP 이미지는 바로 보입니다)",
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
    images_rooms_only: "이미지와 파일은 방에만 보낼 수 있습니다.",
    image_not_sent: |reason| format!("파일을 보내지 못했습니다: {reason}"),
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
    search: "검색",
    search_placeholder: "메시지 검색",
    search_hint: "찾을 단어와 필터: from:이름 in:방 in:@이름 has:image \
                  before:2026-12-31 after:2026-12-01",
    search_results: "검색 결과",
    search_order: "관련도 높은 결과부터(아니면 최신순)",
    best_match: "관련도순",
    close_search: "검색 닫기",
    searching: "검색 중…",
    search_found: |n, more| {
        if more {
            format!("메시지 {n}개 이상을 찾았습니다")
        } else {
            format!("메시지 {n}개를 찾았습니다")
        }
    },
    no_results: |query| format!("“{query}”에 맞는 메시지가 없습니다."),
    search_failed: |reason| format!("검색하지 못했습니다: {reason}"),
    more_results: "결과 더 보기",
    invited_you: |by, room| format!("{by}님이 비공개 방 {room}에 초대했습니다"),
    removed_you: |room, by, why| {
        let why = match why {
            shared::RemovedReason::Uninvited => "초대를 취소했습니다",
            shared::RemovedReason::Kicked => "나를 내보냈습니다(다시 들어갈 수 있음)",
            shared::RemovedReason::Banned => "나를 차단했습니다",
            shared::RemovedReason::Left => "그룹에서 나갔습니다",
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
            ModPhrase::Left(u) => format!("{u}님이 그룹에서 나갔습니다"),
            ModPhrase::Topic(t) if t.is_empty() => format!("{by}님이 주제를 지웠습니다"),
            ModPhrase::Topic(t) => format!("{by}님이 주제를 바꿨습니다: {t}"),
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
