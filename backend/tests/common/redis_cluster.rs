//! A real Redis Cluster for the cluster suites: three primaries and three replicas, each a
//! `redis-server --cluster-enabled yes` on a free loopback port with a data directory of its
//! own (AOF, `appendfsync always`), joined by `redis-cli --cluster create`. Started and stopped
//! by the test; `cargo xtask test` installs the Debian package (`redis-cli` comes with it).

use std::process::{Command, Stdio};

use std::time::Duration;

use super::{
    eventually_within,
    redis_server::{RedisServer, free_port},
};

/// How long forming the cluster, or a replica's taking over, may take: a failover is
/// detected after `cluster-node-timeout` (1 s here) and an election follows.
const CLUSTER_WAIT: Duration = Duration::from_secs(20);

/// Primaries of a test cluster (each with one replica).
pub const PRIMARIES: usize = 3;

/// Six `redis-server`s forming one Redis Cluster; every process is killed when dropped.
pub struct RedisCluster {
    /// Primaries first (as created), then their replicas.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts six servers and creates the cluster; returns once every node reports
    /// `cluster_state:ok` and sees all six.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`RedisCluster::start`] with extra settings for every node.
    pub async fn start_with(extra: &[&str]) -> Self {
        let mut nodes = Vec::with_capacity(PRIMARIES * 2);
        for _ in 0..PRIMARIES * 2 {
            nodes.push(Self::start_node(extra).await);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = tokio::time::timeout(
            CLUSTER_WAIT,
            tokio::task::spawn_blocking(move || {
                Command::new("redis-cli")
                    .args(["--cluster", "create"])
                    .args(&addresses)
                    .args(["--cluster-replicas", "1", "--cluster-yes"])
                    .stdin(Stdio::null())
                    .output()
            }),
        )
        .await
        .expect("redis-cli --cluster create finishes in time")
        .expect("redis-cli runs")
        .expect("redis-cli starts (it comes with the redis-server package)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ok().await;
        cluster
    }

    /// One cluster-enabled server on free ports (its own, and its cluster bus's: the default,
    /// port + 10000, may be past 65535 or taken), tried again on other ports if one was taken
    /// between [`free_port`] and the start.
    async fn start_node(extra: &[&str]) -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            let mut settings = vec![
                "--cluster-enabled".to_owned(),
                "yes".to_owned(),
                "--cluster-port".to_owned(),
                free_port().to_string(),
                "--cluster-config-file".to_owned(),
                format!("nodes-{port}.conf"),
                // Fail over soon after a primary dies, so that a test sees the replica
                // take over within seconds.
                "--cluster-node-timeout".to_owned(),
                "1000".to_owned(),
            ];
            settings.extend(extra.iter().map(|s| (*s).to_owned()));
            let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
            if let Some(node) = RedisServer::try_start_on(port, &settings).await {
                return node;
            }
        }
        panic!("no cluster node started in five tries on free ports");
    }

    /// Waits until every live node says the cluster is ok and knows all six nodes, and every
    /// live replica's link to its primary is up (its first sync done: until then a `WAIT`
    /// finds no replica).
    pub async fn wait_until_ok(&self) {
        eventually_within(
            "the Redis Cluster is ok on every node",
            CLUSTER_WAIT,
            || async {
                self.nodes.iter().filter(|n| n.is_running()).all(|node| {
                    let info = node.cluster_info();
                    let replication = node.info("replication");
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_known_nodes:6")
                        && (!replication.contains("role:slave")
                            || replication.contains("master_link_status:up"))
                })
            },
        )
        .await;
    }

    /// SIGKILLs every node, then starts each again on its port and data (its AOF and its
    /// `nodes.conf`): the cluster forms again as it was.
    pub async fn restart(&mut self) {
        for node in &mut self.nodes {
            node.kill9();
        }
        for node in &mut self.nodes {
            node.start_again().await;
        }
        self.wait_until_ok().await;
    }

    /// `--redis` for a node: the URL of one cluster node (the client finds the rest).
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// The server that is the primary for `key`'s hash slot now.
    pub fn primary_of(&self, key: &str) -> &RedisServer {
        let slot = match self.nodes[0].cmd(&["CLUSTER", "KEYSLOT", key]) {
            redis::Value::Int(slot) => slot,
            other => panic!("CLUSTER KEYSLOT answered {other:?}"),
        };
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .find(|node| node.info("replication").contains("role:master") && node.owns(slot))
            .expect("a live primary owns every slot")
    }

    /// The index in [`RedisCluster::nodes`] of the replica of the primary at `primary`.
    pub fn replica_index_of(&self, primary: usize) -> usize {
        let port = format!("master_port:{}", self.nodes[primary].port);
        self.nodes
            .iter()
            .position(|node| {
                node.is_running() && {
                    let info = node.info("replication");
                    info.contains("role:slave") && info.lines().any(|line| line.trim() == port)
                }
            })
            .expect("every primary has a replica")
    }

    /// The index in [`RedisCluster::nodes`] of the primary for `key`'s slot now.
    pub fn primary_index_of(&self, key: &str) -> usize {
        let port = self.primary_of(key).port;
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .expect("the primary is one of ours")
    }

    /// Waits until `key`'s slot is served by a primary other than the one on `old_port`
    /// (a replica took over after it died).
    pub async fn wait_for_failover(&self, key: &str, old_port: u16) {
        eventually_within(
            "a replica takes over the dead primary's slots",
            CLUSTER_WAIT,
            || async {
                let live: Vec<&RedisServer> =
                    self.nodes.iter().filter(|n| n.is_running()).collect();
                let slot = match live[0].cmd(&["CLUSTER", "KEYSLOT", key]) {
                    redis::Value::Int(slot) => slot,
                    _ => return false,
                };
                live.iter().any(|node| {
                    node.port != old_port
                        && node.info("replication").contains("role:master")
                        && node.owns(slot)
                }) && live
                    .iter()
                    .all(|node| node.cluster_info().contains("cluster_state:ok"))
            },
        )
        .await;
    }
}
