//! Persisted messages per second: group commit (every append waiting in the queue joins one
//! transaction) against one transaction per message, in the same run, on the same disk.
//!
//! `cargo bench -p backend --bench store` measures (or `cargo xtask bench`, which also saves
//! the table to bench/results/); plain `cargo test` runs it as a tiny smoke test so it cannot
//! rot. W writers each send a message and wait for its acknowledgement before the next
//! (closed loop), as W chat users sending at once would; every append is durable
//! (`synchronous=FULL`) before it counts.

// A benchmark reports by printing, and stops on the first failure.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use backend::engine::{
    Appended, Body, Event, NewMessage, StoreOptions, Target,
    sqlite::{Store, StoreMetrics},
};
use prometheus::{Histogram, HistogramOpts, IntCounter};

struct Run {
    writers: usize,
    messages: usize,
    elapsed: Duration,
    transactions: u64,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
}

fn run(writers: usize, per_writer: usize, max_batch: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let metrics = StoreMetrics {
        commit_seconds: Histogram::with_opts(HistogramOpts::new("c", "c")).unwrap(),
        batch_size: Histogram::with_opts(HistogramOpts::new("b", "b")).unwrap(),
        failures: IntCounter::new("f", "f").unwrap(),
    };
    let options = StoreOptions {
        max_batch,
        ..StoreOptions::default()
    };
    let (store, mut events) =
        Store::<usize>::open(dir.path(), options, Some(metrics.clone())).unwrap();
    let message = |writer: usize, n: usize| NewMessage {
        target: Target::Room("bench".parse().unwrap()),
        sender: format!("writer-{writer}"),
        from: format!("writer{writer}").parse().unwrap(),
        body: Body::text(
            "a chat message of about average length, sixty-odd bytes"
                .try_into()
                .unwrap(),
        ),
        client_id: format!("m{n}").parse().unwrap(),
        ts: backend::engine::now_ms(),
    };
    let started = Instant::now();
    let mut sent = vec![0; writers];
    for (writer, count) in sent.iter_mut().enumerate() {
        store.append(writer, message(writer, 0)).unwrap();
        *count = 1;
    }
    let mut acknowledged = 0;
    while acknowledged < writers * per_writer {
        match events.blocking_recv().unwrap() {
            Event::Appended {
                ctx: writer,
                outcome: Appended::New(_),
            } => {
                acknowledged += 1;
                if sent[writer] < per_writer {
                    store.append(writer, message(writer, sent[writer])).unwrap();
                    sent[writer] += 1;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    Run {
        writers,
        messages: acknowledged,
        elapsed: started.elapsed(),
        transactions: metrics.batch_size.get_sample_count(),
    }
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let (writer_counts, total): (&[usize], usize) = if full {
        (&[1, 16, 64, 256], 6000)
    } else {
        (&[1, 8], 40)
    };
    println!("| writers | group commit msg/s | (tx) | one tx per message msg/s | (tx) | ratio |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &writers in writer_counts {
        let per_writer = (total / writers).max(1);
        let group = run(writers, per_writer, StoreOptions::default().max_batch);
        let single = run(writers, per_writer, 1);
        assert_eq!(single.transactions as usize, single.messages);
        if writers > 1 && full {
            assert!(
                group.transactions < group.messages as u64,
                "concurrent writers must share transactions"
            );
        }
        println!(
            "| {} | {:.0} | {} | {:.0} | {} | {:.1}× |",
            group.writers,
            group.per_second(),
            group.transactions,
            single.per_second(),
            single.transactions,
            group.per_second() / single.per_second()
        );
    }
}
