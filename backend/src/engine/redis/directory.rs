//! The cluster's nickname directory: who last held each nickname (by its lower case), and
//! when, in one Redis hash that every node writes, so that a direct message to someone who
//! is away reaches them on their next visit to any node. The single node keeps the same in
//! SQLite (`sqlite/directory.rs`); [`crate::engine::rules::reachable`] decides for both.

use std::sync::LazyLock;

use redis::{RedisResult, Script};

use crate::redis_set::Conn;
use shared::Nick;

use crate::engine::vocabulary::Holder;

/// The hash: field = a nickname's lower case, value = its [`Holder`] as JSON.
const DIRECTORY: &str = "chat:directory";

/// Writes the holder unless the one noted is later (a release that arrives after someone
/// else's claim changes nothing). `ARGV`: field, holder JSON, its time.
static REMEMBER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local old = redis.call('HGET', KEYS[1], ARGV[1])
        if old and tonumber(cjson.decode(old).at) > tonumber(ARGV[3]) then
            return 0
        end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        return 1
        ",
    )
});

/// Notes `holder` as its nickname's last holder.
pub(super) async fn remember(conn: &mut Conn, holder: &Holder) -> RedisResult<()> {
    let json = serde_json::to_string(holder)
        .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
    REMEMBER
        .key(DIRECTORY)
        .arg(holder.nick.key())
        .arg(json)
        .arg(holder.at)
        .invoke_async::<i64>(conn)
        .await
        .map(drop)
}

/// The last holder of `nick` (ignoring case), if anyone ever held it. A value that does not
/// read as a holder names nobody (and is logged).
pub(super) async fn holder(conn: &mut Conn, nick: &Nick) -> RedisResult<Option<Holder>> {
    let json: Option<String> = redis::cmd("HGET")
        .arg(DIRECTORY)
        .arg(nick.key())
        .query_async(conn)
        .await?;
    Ok(json.and_then(|json| {
        serde_json::from_str(&json)
            .inspect_err(|err| tracing::warn!(error = %err, "an unreadable directory entry"))
            .ok()
    }))
}
