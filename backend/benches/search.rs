//! W8, search (issue #30, which calls it W6; W6 and W7 had been given to other benchmarks by
//! then): what the search index costs and what it buys, in one run.
//!
//! 1. A corpus of generated team chat (Korean with words glued together, English, file paths,
//!    a little Japanese; 200 rooms and direct messages; deterministic, nothing downloaded).
//! 2. The index's cost per message: the real store ([`Store`]) with and without
//!    `search_index`, on the same messages and writers.
//! 3. The whole corpus indexed directly ([`index::put`], big transactions) and its size on
//!    disk per message, against the text itself.
//! 4. Search latency (p50, p99) per kind of query ([`index::search`], a page of 20), against a
//!    plain `LIKE '%…%'` scan of the same messages, with the share of queries both answer with
//!    the same page.
//!
//! `cargo bench -p backend --bench search` measures a million messages (or `cargo xtask bench`,
//! which also saves the report to bench/results/search.md; `W8_MESSAGES=N` changes the size);
//! plain `cargo test` runs it as a tiny smoke test so it cannot rot. Numbers are reported,
//! never asserted.

// A benchmark reports by printing, and stops on the first failure.
#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    path::Path,
    sync::LazyLock,
    time::{Duration, Instant},
};

use backend::engine::{
    Appended, Body, Event, NewMessage, StoreOptions, Target, now_ms,
    search::{
        Query, Request,
        index::{self, Doc},
        query::In,
    },
    sqlite::Store,
};
use rusqlite::{Connection, OpenFlags, ToSql};
use shared::{MessageId, Nick, RoomName, Text, search::SearchOrder};

/// How big a run is.
struct Sizes {
    /// Messages in the corpus.
    messages: usize,
    /// Store runs: (writers, messages), each with and without the index.
    store: &'static [(usize, usize)],
    /// Store runs of each kind; the best is reported (the machine is noisy).
    rounds: usize,
    /// Queries per kind.
    queries: usize,
}

const FULL: Sizes = Sizes {
    messages: 1_000_000,
    store: &[(1, 3_000), (64, 50_000)],
    rounds: 2,
    queries: 200,
};

const SMOKE: Sizes = Sizes {
    messages: 3_000,
    store: &[(1, 100), (8, 400)],
    rounds: 1,
    queries: 5,
};

/// Messages per transaction while the corpus is indexed.
const BATCH: usize = 10_000;

/// Hits per page, as the app asks.
const PAGE: usize = 20;

/// The goal for one node.
const GOAL: Duration = Duration::from_millis(50);

/// 2026-01-01 00:00 UTC, when the corpus begins (ms since the epoch).
const START_MS: u64 = 1_767_225_600_000;

const DAY_MS: u64 = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------------------------

/// A word list, written as one string (one line holds many words).
type Words = LazyLock<Vec<&'static str>>;

fn words(list: &'static str) -> Vec<&'static str> {
    list.split_whitespace().collect()
}

static KO_NOUNS: Words = LazyLock::new(|| {
    words(
        "회의 내일 오늘 모레 어제 점심 저녁 커피 서버 배포 일정 보고서 회의실 자료 문서 \
         발표 고객 계약 예산 출장 휴가 마감 검토 수정 확인 테스트 버그 장애 로그 설정 \
         데이터 데이터베이스 프로젝트 디자인 기획 개발 운영 팀장 대표 매니저 신규 기능 \
         화면 버튼 결제 주문 배송 알림 메일 일정표 주간 월간 분기 목표 성과 채용 면접 \
         교육 워크숍 백업 보안 인증 권한 계정 비밀번호 링크 파일 사진 영상 공지 질문 \
         답변 의견 피드백 리뷰 코드 브랜치 빌드 릴리스 서비스 사용자 속도 성능 메모리 \
         네트워크 연결 오류 문제 해결 요청 승인 다음주 이번주 오전 오후 월요일 금요일 \
         회식 간식 택배 주차장 사무실 재택 출근 퇴근 야근 일 안",
    )
});

/// Particles in pairs: after a final consonant, without one.
const KO_PARTICLES: &[(&str, &str)] = &[
    ("은", "는"),
    ("이", "가"),
    ("을", "를"),
    ("과", "와"),
    ("으로", "로"),
    ("에", "에"),
    ("에서", "에서"),
    ("도", "도"),
    ("까지", "까지"),
    ("부터", "부터"),
    ("만", "만"),
    ("의", "의"),
    ("이랑", "랑"),
];

static KO_ENDINGS: Words = LazyLock::new(|| {
    words(
        "했어요 할게요 했습니다 하겠습니다 해주세요 부탁드려요 부탁드립니다 \
         확인했습니다 확인해주세요 올렸어요 공유드립니다 끝났어요 시작할까요? 괜찮아요 \
         어때요? 됐나요? 있어요 없어요 필요해요 늦어요 가능할까요? 감사합니다 \
         수고하셨습니다 잠시만요 알겠습니다 좋아요",
    )
});

/// Glued to a noun: "배포했어요".
static KO_VERB_SUFFIXES: Words =
    LazyLock::new(|| words("했어요 할게요 해주세요 했습니다 중이에요"));

static KO_COUNTERS: Words = LazyLock::new(|| words("시 분 개 명 일 번 층 건 월"));

static KO_REACTIONS: Words =
    LazyLock::new(|| words("ㅋㅋㅋ ㅎㅎ 넵 네 ㅇㅋ 감사합니다! ㅠㅠ 헐 대박 오케이"));

static EN_REACTIONS: Words = LazyLock::new(|| words("ok lgtm thanks! +1 👍 sure done nice"));

static EN_WORDS: Words = LazyLock::new(|| {
    words(
        "deploy deployment config server meeting review merge branch release staging \
         production database query latency cache ticket sprint standup lunch coffee \
         tomorrow today please check build tests failed passed rollback hotfix docker \
         kubernetes token login customer invoice design mockup slides report budget \
         schedule deadline update issue error warning timeout memory network backup \
         migration schema index search message channel notification mobile android \
         iphone browser frontend backend pipeline metrics dashboard alert incident \
         oncall weekend holiday contract agenda minutes draft feedback approve pending \
         blocked priority estimate refactor cleanup performance crash bug fix typo docs \
         readme version upgrade install password account admin permission invite \
         calendar zoom call sync thanks morning afternoon office remote",
    )
});

/// Short words between the others (what two-letter prefixes also meet).
static EN_FILLERS: Words = LazyLock::new(|| {
    words(
        "the a to is we can on for and it i you this that in of at be my so do if no up \
         or as",
    )
});

static PATH_DIRS: Words = LazyLock::new(|| {
    words("rust src backend frontend docs config scripts deploy infra assets tests bench")
});

static PATH_FILES: Words = LazyLock::new(|| {
    words(
        "config.toml main.rs lib.rs index.html Cargo.lock Cargo.toml README.md \
         docker-compose.yml app.tsx settings.json nginx.conf schema.sql",
    )
});

static JA_LINES: Words = LazyLock::new(|| {
    words(
        "明日の会議は三時からです 資料を共有します 了解しました お疲れ様です \
         デプロイが完了しました 確認お願いします サーバーが落ちています \
         ランチに行きましょう 少し遅れます ありがとうございます",
    )
});

static ROOM_BASES: Words = LazyLock::new(|| {
    words(
        "dev ops design sales support qa infra data mobile web hr finance marketing \
         random general 개발 기획 디자인 영업 공지",
    )
});

static NAMES: Words = LazyLock::new(|| {
    words(
        "민지 지훈 서연 도윤 하은 준호 수빈 예준 지우 현우 유나 태민 소희 재원 은비 \
         Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Oscar Peggy \
         Trent Victor Walter",
    )
});

const ROOMS: usize = 200;
const PEOPLE: usize = 300;

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Small numbers far more often than large ones (busy rooms, chatty people).
    fn skewed(&mut self, n: usize) -> usize {
        let bound = self.below(n) + 1;
        self.below(bound)
    }
}

struct Message {
    /// Its room (index into [`Corpus::rooms`]); none: a direct message.
    room: Option<u16>,
    from: u16,
    /// A direct message's recipient.
    to: u16,
    ts: u64,
    text: String,
}

struct Corpus {
    rooms: Vec<RoomName>,
    nicks: Vec<Nick>,
    /// User keys (what the store calls `sender`), one per nickname.
    users: Vec<String>,
    messages: Vec<Message>,
}

impl Corpus {
    fn generate(count: usize) -> Self {
        let mut rng = Rng::new(0x5EED);
        let rooms = (0..ROOMS)
            .map(|i| {
                let base = ROOM_BASES[i % ROOM_BASES.len()];
                format!("{base}-{}", i / ROOM_BASES.len()).parse().unwrap()
            })
            .collect();
        let nicks = (0..PEOPLE)
            .map(|i| {
                let base = NAMES[i % NAMES.len()];
                match i / NAMES.len() {
                    0 => base.parse().unwrap(),
                    n => format!("{base}{n}").parse().unwrap(),
                }
            })
            .collect();
        let users = (0..PEOPLE).map(|i| format!("user-{i}")).collect();
        let mut ts = START_MS;
        let messages = (0..count)
            .map(|_| {
                // Strictly increasing, 30 s apart on average: a million span most of 2026.
                ts += 1 + rng.below(60_000) as u64;
                let from = rng.skewed(PEOPLE);
                let (room, to) = if rng.chance(5) {
                    let to = rng.skewed(PEOPLE);
                    (None, if to == from { (to + 1) % PEOPLE } else { to })
                } else {
                    (Some(rng.skewed(ROOMS) as u16), 0)
                };
                Message {
                    room,
                    from: from as u16,
                    to: to as u16,
                    ts,
                    text: message_text(&mut rng),
                }
            })
            .collect();
        Self {
            rooms,
            nicks,
            users,
            messages,
        }
    }

    fn text_bytes(&self) -> usize {
        self.messages.iter().map(|m| m.text.len()).sum()
    }

    fn days(&self) -> u64 {
        self.messages
            .last()
            .map_or(0, |m| (m.ts - START_MS) / DAY_MS)
    }
}

fn message_text(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..45 => korean(rng),
        45..80 => english(rng),
        80..84 => format!("{} {}", path(rng), korean(rng)),
        84..88 => format!("{} {}", english(rng), path(rng)),
        88..90 => {
            let line = rng.pick(&JA_LINES);
            if rng.chance(30) {
                format!("{line}。{}", rng.pick(&JA_LINES))
            } else {
                line.to_owned()
            }
        }
        90..96 => rng.pick(&KO_REACTIONS).to_owned(),
        _ => rng.pick(&EN_REACTIONS).to_owned(),
    }
}

/// Whether a Hangul syllable ends in a consonant (which particle follows it).
fn has_final(syllable: char) -> bool {
    ('가'..='힣').contains(&syllable) && (u32::from(syllable) - u32::from('가')) % 28 != 0
}

fn with_particle(rng: &mut Rng, noun: &str) -> String {
    let (after_final, after_vowel) = rng.pick(KO_PARTICLES);
    let last = noun.chars().next_back().unwrap_or('가');
    let particle = if has_final(last) {
        after_final
    } else {
        after_vowel
    };
    format!("{noun}{particle}")
}

/// "내일회의는 3시 서버 배포했어요": nouns with particles, compounds written without spaces,
/// some English, times and counts, an ending.
fn korean(rng: &mut Rng) -> String {
    let mut words: Vec<String> = Vec::new();
    for _ in 0..1 + rng.below(4) {
        match rng.below(100) {
            0..15 => words.push(rng.pick(&EN_WORDS).to_owned()),
            15..25 => words.push(format!("{}{}", 1 + rng.below(12), rng.pick(&KO_COUNTERS))),
            _ => {
                let mut noun = rng.pick(&KO_NOUNS).to_owned();
                if rng.chance(30) {
                    noun.push_str(rng.pick(&KO_NOUNS));
                }
                if rng.chance(65) {
                    noun = with_particle(rng, &noun);
                }
                words.push(noun);
            }
        }
    }
    if rng.chance(25) {
        words.push(format!(
            "{}{}",
            rng.pick(&KO_NOUNS),
            rng.pick(&KO_VERB_SUFFIXES)
        ));
    } else {
        words.push(rng.pick(&KO_ENDINGS).to_owned());
    }
    if rng.chance(10) {
        words.push("ㅋㅋ".to_owned());
    }
    words.join(" ")
}

fn english(rng: &mut Rng) -> String {
    let count = 3 + rng.below(10);
    let mut words: Vec<String> = Vec::with_capacity(count);
    for _ in 0..count {
        match rng.below(100) {
            0..35 => words.push(rng.pick(&EN_FILLERS).to_owned()),
            35..40 => words.push(format!("{}pm", 1 + rng.below(12))),
            _ => words.push(rng.pick(&EN_WORDS).to_owned()),
        }
    }
    if rng.chance(40) {
        let mut first = words[0].chars();
        if let Some(c) = first.next() {
            words[0] = c.to_uppercase().chain(first).collect();
        }
    }
    let mut text = words.join(" ");
    text.push_str(match rng.below(4) {
        0 => ".",
        1 => "?",
        _ => "",
    });
    text
}

fn path(rng: &mut Rng) -> String {
    let mut path = rng.pick(&PATH_DIRS).to_owned();
    if rng.chance(40) {
        path.push('/');
        path.push_str(rng.pick(&PATH_DIRS));
    }
    path.push('/');
    path.push_str(rng.pick(&PATH_FILES));
    path
}

// ---------------------------------------------------------------------------------------------
// 2. The index's cost in the real store
// ---------------------------------------------------------------------------------------------

/// Messages per second through the real store: `writers` each send one of the corpus's first
/// `count` messages and wait for its acknowledgement before the next (closed loop, as in
/// `store.rs`), each one durable before it counts.
fn store_rate(corpus: &Corpus, writers: usize, count: usize, search_index: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        search_index,
        ..StoreOptions::default()
    };
    let (store, mut events) = Store::<usize>::open(dir.path(), options, None).unwrap();
    let message = |n: usize| {
        let m = &corpus.messages[n];
        let target = match m.room {
            Some(room) => Target::Room(corpus.rooms[usize::from(room)].clone()),
            None => Target::Direct {
                recipient: Some(corpus.users[usize::from(m.to)].clone()),
                to: corpus.nicks[usize::from(m.to)].clone(),
                away: false,
            },
        };
        NewMessage {
            target,
            sender: corpus.users[usize::from(m.from)].clone(),
            from: corpus.nicks[usize::from(m.from)].clone(),
            body: Body::text(Text::try_from(m.text.as_str()).unwrap()),
            client_id: format!("m{n}").parse().unwrap(),
            ts: now_ms(),
        }
    };
    let started = Instant::now();
    let mut next = 0;
    for writer in 0..writers.min(count) {
        store.append(writer, message(next)).unwrap();
        next += 1;
    }
    let mut acknowledged = 0;
    while acknowledged < count {
        match events.blocking_recv().unwrap() {
            Event::Appended {
                ctx: writer,
                outcome: Appended::New(_),
            } => {
                acknowledged += 1;
                if next < count {
                    store.append(writer, message(next)).unwrap();
                    next += 1;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// 3. The corpus, indexed, and the LIKE baseline
// ---------------------------------------------------------------------------------------------

const LIKE_SCHEMA: &str = "
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        room TEXT,
        sender TEXT NOT NULL,
        recipient TEXT,
        from_key TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL
    );
    CREATE INDEX messages_room ON messages (room);
    CREATE INDEX messages_from ON messages (from_key);
    CREATE INDEX messages_ts ON messages (ts);
";

fn open_for_writing(path: &Path) -> Connection {
    let db = Connection::open(path).unwrap();
    let mode: String = db
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // Durability is the store's part (measured above); this only fills files.
    db.execute_batch("PRAGMA synchronous = OFF").unwrap();
    db
}

/// As the search thread opens the index (`search::Searcher`).
fn open_for_reading(path: &Path) -> Connection {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap()
}

struct Built {
    /// The writers stay open while the searches run, as the store's does: a read-only
    /// connection to a WAL database needs its `-shm` file.
    _writers: [Connection; 2],
    ours: Connection,
    like: Connection,
    /// Time to index each tenth of the corpus.
    tenths: Vec<Duration>,
    like_seconds: f64,
    /// Bytes on disk: the index file, by part (documents, trigrams, short words), and the
    /// baseline's file.
    docs_bytes: u64,
    trigram_bytes: u64,
    short_bytes: u64,
    index_bytes: u64,
    like_bytes: u64,
}

/// Indexes the corpus as the store does (a direct message once for each of its two people)
/// and fills the baseline's table with the same messages.
fn build(corpus: &Corpus, dir: &Path) -> Built {
    let index_path = dir.join("index.sqlite3");
    let like_path = dir.join("like.sqlite3");
    let mut ours = open_for_writing(&index_path);
    ours.execute_batch(index::SCHEMA).unwrap();
    let mut seqs = vec![0u64; corpus.rooms.len()];
    let tenth = corpus.messages.len().div_ceil(10).max(1);
    let mut tenths = Vec::new();
    for chunk in corpus.messages.chunks(tenth) {
        let started = Instant::now();
        let done = tenths.len() * tenth;
        for (batch_start, batch) in chunk.chunks(BATCH).enumerate() {
            let tx = ours.transaction().unwrap();
            for (offset, m) in batch.iter().enumerate() {
                let id = MessageId((done + batch_start * BATCH + offset + 1) as u64);
                let from = &corpus.nicks[usize::from(m.from)];
                match m.room {
                    Some(room) => {
                        let room = usize::from(room);
                        seqs[room] += 1;
                        let doc = Doc {
                            room: Some(&corpus.rooms[room]),
                            owner: None,
                            seq: seqs[room],
                            id,
                            from,
                            to: None,
                            ts: m.ts,
                            image: false,
                            text: &m.text,
                        };
                        index::put(&tx, &doc).unwrap();
                    }
                    None => {
                        for owner in [m.from, m.to] {
                            let doc = Doc {
                                room: None,
                                owner: Some(&corpus.users[usize::from(owner)]),
                                seq: 0,
                                id,
                                from,
                                to: Some(&corpus.nicks[usize::from(m.to)]),
                                ts: m.ts,
                                image: false,
                                text: &m.text,
                            };
                            index::put(&tx, &doc).unwrap();
                        }
                    }
                }
            }
            tx.commit().unwrap();
        }
        tenths.push(started.elapsed());
        eprintln!(
            "search bench: indexed {} of {} messages",
            done + chunk.len(),
            corpus.messages.len()
        );
    }

    let started = Instant::now();
    let mut like = open_for_writing(&like_path);
    like.execute_batch(LIKE_SCHEMA).unwrap();
    for (batch_start, batch) in corpus.messages.chunks(BATCH).enumerate() {
        let tx = like.transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO messages (id, room, sender, recipient, from_key, text, ts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .unwrap();
            for (offset, m) in batch.iter().enumerate() {
                let id = (batch_start * BATCH + offset + 1) as i64;
                let room = m.room.map(|room| corpus.rooms[usize::from(room)].as_str());
                let recipient = m
                    .room
                    .is_none()
                    .then(|| corpus.users[usize::from(m.to)].as_str());
                insert
                    .execute(rusqlite::params![
                        id,
                        room,
                        corpus.users[usize::from(m.from)],
                        recipient,
                        corpus.nicks[usize::from(m.from)].key(),
                        m.text,
                        m.ts as i64,
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let like_seconds = started.elapsed().as_secs_f64();

    let (mut docs_bytes, mut trigram_bytes, mut short_bytes) = (0, 0, 0);
    let mut parts = ours
        .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
        .unwrap();
    let rows = parts
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?))
        })
        .unwrap();
    for row in rows {
        let (name, bytes) = row.unwrap();
        if name.starts_with("search_tri") {
            trigram_bytes += bytes;
        } else if name.starts_with("search_short") {
            short_bytes += bytes;
        } else {
            docs_bytes += bytes;
        }
    }
    drop(parts);
    let index_bytes = file_bytes(&ours, &index_path);
    let like_bytes = file_bytes(&like, &like_path);
    Built {
        ours: open_for_reading(&index_path),
        like: open_for_reading(&like_path),
        _writers: [ours, like],
        tenths,
        like_seconds,
        docs_bytes,
        trigram_bytes,
        short_bytes,
        index_bytes,
        like_bytes,
    }
}

/// The database's size once its log is folded in: pages × page size (the file's size too).
fn file_bytes(db: &Connection, path: &Path) -> u64 {
    db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let pages: u64 = db
        .query_row("PRAGMA page_count", [], |row| row.get(0))
        .unwrap();
    let page_size: u64 = db
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .unwrap();
    let on_disk = std::fs::metadata(path).unwrap().len();
    assert_eq!(on_disk, pages * page_size, "{}", path.display());
    on_disk
}

// ---------------------------------------------------------------------------------------------
// 4. Searches
// ---------------------------------------------------------------------------------------------

/// Who searches: the chattiest person, who has the most direct messages.
const ME: usize = 0;

/// A kind of query: its name, its order, and how one is made.
struct Kind {
    name: &'static str,
    order: SearchOrder,
    make: fn(&mut Rng, &Corpus) -> String,
}

const KINDS: &[Kind] = &[
    Kind {
        name: "Korean, 1 syllable",
        order: SearchOrder::Newest,
        make: |rng, _| syllables(rng, 1),
    },
    Kind {
        name: "Korean, 2 syllables",
        order: SearchOrder::Newest,
        make: |rng, _| syllables(rng, 2),
    },
    Kind {
        name: "Korean, inside a word (3+ syllables)",
        order: SearchOrder::Newest,
        make: |rng, _| inside_korean_word(rng),
    },
    Kind {
        name: "English word",
        order: SearchOrder::Newest,
        make: |rng, _| rng.pick(&EN_WORDS).to_owned(),
    },
    Kind {
        name: "English prefix (2 letters)",
        order: SearchOrder::Newest,
        make: |rng, _| rng.pick(&EN_WORDS)[..2].to_owned(),
    },
    Kind {
        name: "English, inside a word (3+ letters)",
        order: SearchOrder::Newest,
        make: |rng, _| inside_english_word(rng),
    },
    Kind {
        name: "Korean + English words",
        order: SearchOrder::Newest,
        make: korean_and_english,
    },
    Kind {
        name: "from: + a word",
        order: SearchOrder::Newest,
        make: |rng, corpus| {
            let nick = &corpus.nicks[rng.skewed(PEOPLE)];
            format!("from:{} {}", nick.as_str(), any_word(rng))
        },
    },
    Kind {
        name: "from: alone",
        order: SearchOrder::Newest,
        make: |rng, corpus| format!("from:{}", corpus.nicks[rng.skewed(PEOPLE)].as_str()),
    },
    Kind {
        name: "in: + a word",
        order: SearchOrder::Newest,
        make: |rng, corpus| {
            let room = &corpus.rooms[rng.skewed(ROOMS)];
            format!("in:{} {}", room.as_str(), any_word(rng))
        },
    },
    Kind {
        name: "after: before: (15 days) + a word",
        order: SearchOrder::Newest,
        make: |rng, corpus| {
            let day = rng.below(corpus.days() as usize + 1);
            format!(
                "after:{} before:{} {}",
                date(day),
                date(day + 15),
                any_word(rng)
            )
        },
    },
    Kind {
        name: "English word, best first",
        order: SearchOrder::Best,
        make: |rng, _| rng.pick(&EN_WORDS).to_owned(),
    },
    Kind {
        name: "Korean, 2 syllables, best first",
        order: SearchOrder::Best,
        make: |rng, _| syllables(rng, 2),
    },
];

/// `length` syllables in a row from one noun.
fn syllables(rng: &mut Rng, length: usize) -> String {
    loop {
        let chars: Vec<char> = rng.pick(&KO_NOUNS).chars().collect();
        if chars.len() >= length {
            let start = rng.below(chars.len() - length + 1);
            return chars[start..start + length].iter().collect();
        }
    }
}

/// Three or four syllables from a noun with what is glued to it (another noun, a particle):
/// "일회의" from "내일회의는".
fn inside_korean_word(rng: &mut Rng) -> String {
    loop {
        let noun = rng.pick(&KO_NOUNS);
        let word = if rng.chance(50) {
            format!("{noun}{}", rng.pick(&KO_NOUNS))
        } else {
            with_particle(rng, noun)
        };
        let chars: Vec<char> = word.chars().collect();
        let length = if rng.chance(30) { 4 } else { 3 };
        if chars.len() >= length {
            let start = rng.below(chars.len() - length + 1);
            return chars[start..start + length].iter().collect();
        }
    }
}

/// Three or four letters from inside an English word: "ploy" from "deploy".
fn inside_english_word(rng: &mut Rng) -> String {
    loop {
        let word = rng.pick(&EN_WORDS);
        let length = if rng.chance(50) { 4 } else { 3 };
        if word.len() > length {
            let start = 1 + rng.below(word.len() - length);
            return word[start..start + length].to_owned();
        }
    }
}

/// A Korean noun and an English word that one message of the corpus has together.
fn korean_and_english(rng: &mut Rng, corpus: &Corpus) -> String {
    loop {
        let text = &corpus.messages[rng.below(corpus.messages.len())].text;
        let korean: Vec<&str> = KO_NOUNS
            .iter()
            .copied()
            .filter(|n| n.chars().count() > 1 && text.contains(n))
            .collect();
        let english: Vec<&str> = EN_WORDS
            .iter()
            .copied()
            .filter(|w| text.contains(w))
            .collect();
        if !korean.is_empty() && !english.is_empty() {
            return format!("{} {}", rng.pick(&korean), rng.pick(&english));
        }
    }
}

fn any_word(rng: &mut Rng) -> String {
    if rng.chance(50) {
        syllables(rng, 2)
    } else {
        rng.pick(&EN_WORDS).to_owned()
    }
}

/// Day `day` of 2026 (0 is January 1st; later days stay in December), as `YYYY-MM-DD`.
fn date(day: usize) -> String {
    const MONTHS: [usize; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut left = day.min(364);
    for (month, length) in MONTHS.iter().enumerate() {
        if left < *length {
            return format!("2026-{:02}-{:02}", month + 1, left + 1);
        }
        left -= length;
    }
    unreachable!("a day of 2026")
}

/// What the baseline finds for `query`: the newest page of messages whose text has every
/// term (`LIKE`, which ignores ASCII case as the index folds it), with the same filters and
/// the same rule for direct messages (only the asker's).
fn like_search(db: &Connection, query: &Query, me: &str) -> Vec<u64> {
    let mut sql = String::from(
        "SELECT id FROM messages WHERE (room IS NOT NULL OR sender = ? OR recipient = ?)",
    );
    let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(me.to_owned()), Box::new(me.to_owned())];
    for term in &query.terms {
        sql.push_str(" AND text LIKE ? ESCAPE '\\'");
        let escaped = term
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(Box::new(format!("%{escaped}%")));
    }
    if let Some(from) = &query.from {
        sql.push_str(" AND from_key = ?");
        args.push(Box::new(from.clone()));
    }
    match &query.place {
        Some(In::Room(room)) => {
            sql.push_str(" AND room = ?");
            args.push(Box::new(room.as_str().to_owned()));
        }
        Some(In::Direct(_)) => panic!("the benchmark asks no in:@nick query"),
        None => {}
    }
    if let Some(before) = query.before {
        sql.push_str(" AND ts < ?");
        args.push(Box::new(before as i64));
    }
    if let Some(after) = query.after {
        sql.push_str(" AND ts >= ?");
        args.push(Box::new(after as i64));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {PAGE}"));
    let mut statement = db.prepare_cached(&sql).unwrap();
    let ids = statement
        .query_map(rusqlite::params_from_iter(args.iter()), |row| row.get(0))
        .unwrap();
    ids.collect::<Result<_, _>>().unwrap()
}

/// One kind's measurements.
struct Measured {
    example: String,
    ours: Vec<Duration>,
    like: Vec<Duration>,
    ours_hits: usize,
    like_hits: usize,
    /// Queries both answered with the same messages in the same order.
    same: usize,
}

fn measure(built: &Built, corpus: &Corpus, kind: &Kind, queries: usize, seed: u64) -> Measured {
    let mut rng = Rng::new(seed);
    let texts: Vec<String> = (0..queries)
        .map(|_| (kind.make)(&mut rng, corpus))
        .collect();
    let me = &corpus.users[ME];
    let mut measured = Measured {
        example: texts[0].clone(),
        ours: Vec::with_capacity(queries),
        like: Vec::with_capacity(queries),
        ours_hits: 0,
        like_hits: 0,
        same: 0,
    };
    let request = |text: &str| Request {
        query: Query::parse(text, 0).unwrap(),
        order: kind.order,
        cursor: None,
        me: me.clone(),
        excluded: vec![],
        limit: PAGE,
    };
    // Once unmeasured: the statements compiled, as the search thread keeps them.
    index::search(&built.ours, &request(&texts[0])).unwrap();
    like_search(&built.like, &request(&texts[0]).query, me);
    for text in &texts {
        let request = request(text);
        let started = Instant::now();
        let page = index::search(&built.ours, &request).unwrap();
        measured.ours.push(started.elapsed());
        let started = Instant::now();
        let like = like_search(&built.like, &request.query, me);
        measured.like.push(started.elapsed());
        let ours: Vec<u64> = page.hits.iter().map(|hit| hit.id.0).collect();
        measured.ours_hits += ours.len();
        measured.like_hits += like.len();
        measured.same += usize::from(ours == like);
    }
    measured
}

/// The `p`-th percentile (nearest rank) of `samples`, in milliseconds.
fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `x` as a factor with two significant digits (`0.0048×`, `0.65×`, `3.1×`, `240×`).
fn ratio(x: f64) -> String {
    if !(x.is_finite() && x > 0.0) {
        return format!("{x}×");
    }
    let decimals = (1.0 - x.abs().log10().floor()).max(0.0) as usize;
    format!("{x:.decimals$}×")
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let mut sizes = if full { FULL } else { SMOKE };
    if let Some(messages) = std::env::var("W8_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        sizes.messages = messages;
    }
    let corpus = Corpus::generate(sizes.messages);
    let n = corpus.messages.len();
    let direct = corpus.messages.iter().filter(|m| m.room.is_none()).count();
    println!("### Corpus\n");
    println!(
        "{} generated messages (deterministic; word lists in `backend/benches/search.rs`): \
         Korean with compounds and particles written without spaces, English, file paths, a \
         little Japanese, short reactions; {ROOMS} rooms and {PEOPLE} people, a few of each \
         far busier than the rest; {:.1}% direct messages; {} days; {:.0} bytes of text per \
         message. Searches are by `{}`, newest first, {PAGE} hits a page.\n",
        thousands(n as u64),
        100.0 * direct as f64 / n as f64,
        corpus.days() + 1,
        corpus.text_bytes() as f64 / n as f64,
        corpus.users[ME],
    );

    println!("### What the index costs a write\n");
    println!(
        "The real store (`engine::sqlite::Store`: WAL, `synchronous=FULL`, group commit) \
         with `search_index` off and on, on the corpus's first messages (a sub-sample: a \
         million through the durable store would take too long), starting empty; W writers \
         each send a message and wait for its acknowledgement before the next. Best of {} \
         runs each.\n",
        sizes.rounds
    );
    println!(
        "| writers | messages | without index msg/s | with index msg/s | with/without \
         | index µs a message |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for &(writers, count) in sizes.store {
        let count = count.min(n);
        let (mut without, mut with) = (0f64, 0f64);
        for _ in 0..sizes.rounds {
            without = without.max(store_rate(&corpus, writers, count, false));
            with = with.max(store_rate(&corpus, writers, count, true));
        }
        // What each message spends on the index, the store's thread being the bottleneck.
        let index_us = (1.0 / with - 1.0 / without) * 1e6;
        println!(
            "| {writers} | {} | {without:.0} | {with:.0} | {} | {index_us:.0} |",
            thousands(count as u64),
            ratio(with / without)
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let built = build(&corpus, dir.path());
    let total: Duration = built.tenths.iter().sum();
    let per_message = |time: Duration, count: usize| time.as_secs_f64() * 1e6 / count as f64;
    let tenth = n.div_ceil(10).max(1);
    let last_tenth = n - tenth * (built.tenths.len() - 1);
    println!(
        "\nThe whole corpus indexed directly (`index::put`, {} messages a transaction, \
         `synchronous=OFF`; direct messages twice, once per person, as the store does): \
         {:.0} µs a message, {:.0} in the first tenth, {:.0} in the last (the index grows); \
         {:.1} s in all. The baseline's table: {:.1} µs a message.\n",
        thousands(BATCH as u64),
        per_message(total, n),
        per_message(built.tenths[0], tenth),
        per_message(built.tenths[built.tenths.len() - 1], last_tenth),
        total.as_secs_f64(),
        built.like_seconds * 1e6 / n as f64,
    );

    println!("### Size on disk\n");
    println!(
        "After `PRAGMA wal_checkpoint(TRUNCATE)`: page count × page size, which is the file's \
         size; the parts from `dbstat`.\n"
    );
    println!("| | bytes a message | MB in all |");
    println!("|---|---:|---:|");
    let row = |what: &str, bytes: u64| {
        println!(
            "| {what} | {:.0} | {:.1} |",
            bytes as f64 / n as f64,
            bytes as f64 / 1e6
        );
    };
    row("message text (UTF-8)", corpus.text_bytes() as u64);
    row("**search index file**", built.index_bytes);
    row(
        "… `search_docs` (the text again, who, where, when; its 5 b-tree indexes)",
        built.docs_bytes,
    );
    row("… `search_tri` (trigrams)", built.trigram_bytes);
    row(
        "… `search_short` (words, Korean/Japanese characters and pairs)",
        built.short_bytes,
    );
    row(
        "LIKE baseline file (text, who, where, when; indexes on room, sender, time)",
        built.like_bytes,
    );

    println!("\n### Search latency\n");
    println!(
        "{} queries of each kind, drawn from the word lists; each run once by the index \
         (`index::search` on a read-only connection, as the search thread does) and once by \
         the baseline (`SELECT id FROM messages WHERE text LIKE ? [AND …] ORDER BY id DESC \
         LIMIT {PAGE}`, with the same filters and the same direct-message rule). \
         \"Same page\": queries both answered with the same messages in the same order. \
         The baseline has no \"best first\": its newest page is timed instead.\n",
        sizes.queries
    );
    println!(
        "| kind | example | ours p50 ms | ours p99 ms | LIKE p50 ms | LIKE p99 ms \
         | ours/LIKE p50 | ours/LIKE p99 | hits a page, ours / LIKE | same page \
         | p99 ≤ {} ms |",
        GOAL.as_millis()
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut met = 0;
    for (i, kind) in KINDS.iter().enumerate() {
        let m = measure(&built, &corpus, kind, sizes.queries, 0xC0FFEE + i as u64);
        let (ours50, ours99) = (percentile(&m.ours, 0.5), percentile(&m.ours, 0.99));
        let (like50, like99) = (percentile(&m.like, 0.5), percentile(&m.like, 0.99));
        let count = m.ours.len() as f64;
        let within = ours99 <= GOAL.as_secs_f64() * 1000.0;
        met += usize::from(within);
        // Best first has nothing to compare with: the baseline's page is the newest.
        let same = match kind.order {
            SearchOrder::Newest => format!("{}/{}", m.same, m.ours.len()),
            SearchOrder::Best => "—".to_owned(),
        };
        println!(
            "| {} | `{}` | {ours50:.2} | {ours99:.2} | {like50:.2} | {like99:.2} | {} | {} \
             | {:.1} / {:.1} | {same} | {} |",
            kind.name,
            m.example,
            ratio(ours50 / like50),
            ratio(ours99 / like99),
            m.ours_hits as f64 / count,
            m.like_hits as f64 / count,
            if within { "yes" } else { "**no**" },
        );
    }
    println!(
        "\nThe goal (p99 ≤ {} ms) is met by {met} of the {} kinds.",
        GOAL.as_millis(),
        KINDS.len()
    );
}
