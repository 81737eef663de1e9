//! Tests of [`super`] (`policy.rs`), beside it rather than inside it.

use super::*;

fn person(key: &str, admin: bool) -> Person {
    Person {
        key: key.into(),
        nick: key.parse().unwrap(),
        admin,
    }
}

fn owned(private: bool) -> RoomPolicy {
    RoomPolicy {
        owner_key: Some("olga".into()),
        owner: Some("olga".parse().unwrap()),
        private,
        version: 1,
        ..RoomPolicy::default()
    }
}

fn room() -> RoomName {
    "secret".parse().unwrap()
}

#[test]
fn private_rooms_admit_their_owner_moderators_and_invited_users_but_never_the_banned() {
    let policy = owned(true);
    assert!(policy.admits("olga"));
    assert!(!policy.admits("gil"));
    let invited = decide(
        &room(),
        Some(&policy),
        &person("olga", false),
        &Act::Invite,
        Some(&person("gil", false)),
    )
    .unwrap();
    assert!(invited.policy.admits("gil"));
    assert_eq!(invited.policy.version, 2);
    let banned = decide(
        &room(),
        Some(&invited.policy),
        &person("olga", false),
        &Act::Ban,
        Some(&person("gil", false)),
    )
    .unwrap();
    assert!(!banned.policy.admits("gil"));
    assert!(owned(false).admits("anyone"));
}

#[test]
fn nobody_acts_on_their_own_rank_or_above() {
    let mut policy = owned(false);
    policy
        .moderators
        .insert("mod".into(), "mod".parse().unwrap());
    let (olga, moderator, member, admin) = (
        person("olga", false),
        person("mod", false),
        person("member", false),
        person("root", true),
    );
    let act = |policy: &RoomPolicy, actor: &Person, act: Act, target: &Person| {
        decide(&room(), Some(policy), actor, &act, Some(target)).is_ok()
    };
    // Moderators moderate members, not the owner or each other, and name nobody.
    assert!(act(&policy, &moderator, Act::Kick, &member));
    assert!(act(&policy, &moderator, Act::Mute { until_ms: 9 }, &member));
    assert!(!act(&policy, &moderator, Act::Ban, &olga));
    assert!(!act(&policy, &moderator, Act::SetModerator(true), &member));
    // Members moderate nobody.
    assert!(!act(&policy, &member, Act::Kick, &moderator));
    assert!(!act(&policy, &member, Act::Invite, &member));
    // The owner names moderators and bans them; an admin outranks the owner.
    assert!(act(&policy, &olga, Act::SetModerator(true), &member));
    assert!(act(&policy, &olga, Act::Ban, &moderator));
    assert!(!act(&policy, &olga, Act::Ban, &admin));
    assert!(act(&policy, &admin, Act::Ban, &olga));
    // A room made by join: admins only.
    assert!(decide(&room(), None, &admin, &Act::Ban, Some(&member)).is_ok());
    assert!(decide(&room(), None, &member, &Act::Ban, Some(&olga)).is_err());
}

#[test]
fn a_banned_or_uninvited_moderator_moderates_no_more() {
    let (olga, moderator, member) = (
        person("olga", false),
        person("mod", false),
        person("member", false),
    );
    for private in [false, true] {
        let mut policy = owned(private);
        policy
            .moderators
            .insert("mod".into(), "mod".parse().unwrap());
        let acts = if private {
            vec![Act::Ban, Act::Uninvite]
        } else {
            vec![Act::Ban]
        };
        for act in acts {
            let after = decide(&room(), Some(&policy), &olga, &act, Some(&moderator))
                .unwrap()
                .policy;
            assert!(!after.moderators.contains_key("mod"), "{act:?}");
            assert!(!after.admits("mod"), "{act:?}");
            assert_eq!(after.rank("mod", false), Rank::Member);
            assert!(decide(&room(), Some(&after), &moderator, &Act::Kick, Some(&member)).is_err());
            assert!(!moderates(Some(&after), &moderator));
        }
        // A policy stored before bans took the rank: the ban alone is enough.
        policy.banned.insert("mod".into(), "mod".parse().unwrap());
        assert_eq!(policy.rank("mod", false), Rank::Member);
        assert!(
            decide(
                &room(),
                Some(&policy),
                &moderator,
                &Act::Unban,
                Some(&member)
            )
            .is_err()
        );
    }
}

#[test]
fn mutes_end() {
    let policy = owned(false);
    let olga = person("olga", false);
    let muted = decide(
        &room(),
        Some(&policy),
        &olga,
        &Act::Mute { until_ms: 1000 },
        Some(&person("gil", false)),
    )
    .unwrap();
    assert_eq!(muted.policy.muted_until("gil", 999), Some(1000));
    assert_eq!(muted.policy.muted_until("gil", 1000), None);
    let unmuted = decide(
        &room(),
        Some(&muted.policy),
        &olga,
        &Act::Mute { until_ms: 0 },
        Some(&person("gil", false)),
    )
    .unwrap();
    assert_eq!(unmuted.policy.muted_until("gil", 0), None);
}

#[tokio::test]
async fn sqlite_store_creates_once_and_acts_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = PolicyStore::open(dir.path(), None).unwrap();
    assert!(store.create(&room(), owned(true), false).await.is_ok());
    assert!(matches!(
        store.create(&room(), owned(false), false).await,
        Err(Refusal::Exists(_))
    ));
    let olga = person("olga", false);
    let gil = person("gil", false);
    let applied = store
        .act(&room(), &olga, &Act::Invite, Some(&gil))
        .await
        .unwrap();
    assert_eq!(applied.policy.version, 2);
    let refused = store.act(&room(), &gil, &Act::Kick, Some(&olga)).await;
    assert!(matches!(refused, Err(Refusal::Forbidden(_))));
    let all = store.load_all().await.unwrap();
    assert_eq!(all.0[&room()], applied.policy);
    assert_eq!(
        store.load_now().unwrap().unwrap().0[&room()],
        applied.policy
    );
}
