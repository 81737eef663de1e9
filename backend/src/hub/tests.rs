//! Tests of [`super`] (`mod.rs`), beside it rather than inside it.

use super::*;

struct Fake {
    conn: ConnId,
    outbox: mpsc::Receiver<Frame>,
    kick: CancellationToken,
}

/// A hub whose store lives in a fresh directory (dropped with the returned guard).
async fn spawn_hub(metrics: Arc<Metrics>) -> (HubHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    let push = crate::push::Push::open(&config, None, CancellationToken::new())
        .await
        .unwrap();
    let hub = HubHandle::spawn(
        &config,
        None,
        metrics,
        push.notifier,
        None,
        CancellationToken::new(),
    )
    .unwrap();
    (hub, dir)
}

async fn connect(hub: &HubHandle, capacity: usize) -> Fake {
    let (tx, outbox) = mpsc::channel(capacity);
    let kick = CancellationToken::new();
    let (farewell, _) = tokio::sync::oneshot::channel();
    let conn = hub.connect(tx, kick.clone(), farewell).await.unwrap();
    Fake { conn, outbox, kick }
}

async fn hello(hub: &HubHandle, fake: &Fake, nick: &str) {
    let message = ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token: format!("{nick}-token-0123456789").parse().unwrap(),
        rooms: vec![],
        since: std::collections::BTreeMap::new(),
        epochs: std::collections::BTreeMap::new(),
        direct_since: None,
        direct_epoch: None,
        jwt: None,
    };
    hub.request(fake.conn, message).await.unwrap();
}

async fn next(fake: &mut Fake) -> Frame {
    tokio::time::timeout(Duration::from_secs(2), fake.outbox.recv())
        .await
        .expect("a frame in time")
        .expect("outbox open")
}

/// A text frame's JSON.
fn text(frame: &Frame) -> &str {
    std::str::from_utf8(frame.payload()).expect("a text frame")
}

/// Reads frames until one contains `needle`, and returns it.
async fn until(fake: &mut Fake, needle: &str) -> Frame {
    loop {
        let frame = next(fake).await;
        if text(&frame).contains(needle) {
            return frame;
        }
    }
}

fn say(text: &str) -> ClientMsg {
    ClientMsg::Say {
        room: RoomName::default_room(),
        text: text.try_into().unwrap(),
        client_id: "c1".parse().unwrap(),
        reply_to: None,
        image: None,
        file: None,
    }
}

#[tokio::test]
async fn a_broadcast_is_encoded_once_and_shared_by_every_recipient() {
    let metrics = Arc::new(Metrics::new().unwrap());
    let (hub, _dir) = spawn_hub(metrics).await;
    let mut alice = connect(&hub, 16).await;
    let mut bob = connect(&hub, 16).await;
    hello(&hub, &alice, "alice").await;
    until(&mut alice, "\"history\"").await;
    hello(&hub, &bob, "bob").await;
    until(&mut bob, "\"history\"").await;
    until(&mut alice, "\"presence\"").await;
    hub.request(alice.conn, say("one buffer")).await.unwrap();
    let (a, b) = (next(&mut alice).await, next(&mut bob).await);
    assert_eq!(text(&a), text(&b));
    assert!(text(&a).contains("one buffer"));
    assert_eq!(
        a.payload().as_ptr(),
        b.payload().as_ptr(),
        "same bytes, not a copy"
    );
}

#[tokio::test]
async fn a_full_outbox_gets_its_connection_kicked_and_removed() {
    let metrics = Arc::new(Metrics::new().unwrap());
    let (hub, _dir) = spawn_hub(Arc::clone(&metrics)).await;
    let mut alice = connect(&hub, 64).await;
    hello(&hub, &alice, "alice").await;
    until(&mut alice, "\"history\"").await;
    // welcome, joined, read_positions, sharing, direct_history and history fill an outbox
    // of 6.
    let slow = connect(&hub, 6).await;
    hello(&hub, &slow, "slow").await;
    until(&mut alice, "\"presence\"").await;
    hub.request(alice.conn, say("overflow")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), slow.kick.cancelled())
        .await
        .expect("the slow connection is kicked");
    // Alice got her message and then saw the slow user leave; nothing stalled.
    assert!(text(&next(&mut alice).await).contains("\"said\""));
    assert!(text(&next(&mut alice).await).contains(r#""left":["slow"]"#));
    assert_eq!(metrics.slow_consumers.get(), 1);
}
