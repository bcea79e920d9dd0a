//! Keeping the old primary is a recorded operation, with real parts: moto, two real MariaDB
//! servers, the IMDSv2 stand-in. The schedule relocates the primary (its type was dropped from
//! the env): the handler launches a standby and tags the old primary to drain; its agent fences
//! and seals. A person then keeps it (`spotctl keep-primary`): the record moves to epoch 2 naming
//! the same instance, the handoff is given up, the drain tag is removed; the standby of the
//! given-up handoff never promotes and leaves; the old primary's agent lowers the drain tag's
//! fence and takes writes again; the watchdog's next look starts nothing. Exactly one primary.

mod support;

use serde_json::json;
use spotctl_testkit::mariadb::MariaDb;
use spotctl_testkit::moto::Moto;
use support::handoff::{count, imds, insert, scheduled, shipping_primary, writable, Env};

/// Whether EC2 says `id` is pending or running, and its tag `key`.
async fn alive_and_tag(env: &Env, id: &str, key: &str) -> (bool, Option<String>) {
    let i = env.instance(id).await.expect("the instance");
    let state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default();
    let tag = i.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(String::from);
    (state == "pending" || state == "running", tag)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_primary_takes_writes_again_and_the_given_up_handoff_never_promotes() {
    let (Some(old_db), Some(new_db)) = (MariaDb::start_protected(), MariaDb::start_protected()) else {
        return;
    };
    let moto = Moto::start();
    let (env, primary, old_imds, mut shipper) = shipping_primary(&moto, &old_db).await;
    let old_dsn = old_db.root_dsn("");
    insert(&old_dsn, 1001..=1100);

    // The primary's type leaves the env; the schedule moves the database through the drain tag.
    let toml = env.env.dir.join("spotctl.toml");
    let text = std::fs::read_to_string(&toml).expect("env");
    std::fs::write(&toml, text.replace("\"m5.large\", ", "")).expect("edit env");
    let applied = env.run(&moto, &["apply", &env.dir, "--auto-approve"], None);
    assert!(applied.ok, "{}{}", applied.stdout, applied.stderr);
    let moved = env.handle(&moto, "relocate.json", &scheduled("dev", "relocation", "reloc-1"), None).json();
    assert_eq!(moved["next"]["decision"], "move", "{moved:#}");
    assert_eq!(alive_and_tag(&env, &primary, "spotctl:drain").await, (true, Some("epoch-1".into())));
    let standby = moved["next"]["handoff"]["standby"].as_str().expect("a standby").to_string();

    // The old primary's agent sees its tag (as IMDS shows it): it fences and seals.
    old_imds.update(|m| {
        m.tags.insert("spotctl:drain".into(), "epoch-1".into());
    });
    let drained = env.watch_once(&moto, &old_imds, &old_dsn, None).json();
    assert_eq!(drained["did"]["kind"], "sealed", "{drained:#}");
    assert!(!writable(&old_dsn), "fenced by the drain tag");

    // A person keeps it instead.
    let kept = env.run(&moto, &["keep-primary", &env.dir, "--auto-approve"], None);
    assert!(kept.ok, "{}{}", kept.stdout, kept.stderr);
    assert!(kept.stdout.contains("handoff epoch-1 (Relocation) is given up"), "{}", kept.stdout);
    assert!(kept.stdout.contains(&format!("its standby {standby} never promotes")), "{}", kept.stdout);
    let record = env.object("state/primary.json").await.expect("record");
    assert_eq!(
        (&record["epoch"], &record["instance_id"], &record["kept"]["gave_up"], &record["format"]),
        (&json!(2), &json!(primary), &json!("epoch-1"), &json!(4)),
        "{record:#}"
    );
    let h = env.object("state/handoffs/epoch-1.json").await.expect("the handoff");
    assert!(h["steps"]["failed"].as_i64().is_some(), "given up: {h:#}");
    assert_eq!(alive_and_tag(&env, &primary, "spotctl:drain").await, (true, None), "the tag is removed");
    // Kept again: nothing is handing it off any more, so nothing is changed.
    let again = env.run(&moto, &["keep-primary", &env.dir, "--auto-approve"], None);
    assert!(!again.ok && again.stderr.contains("nothing to give up"), "{}{}", again.stdout, again.stderr);
    assert_eq!(env.object("state/primary.json").await.expect("record")["epoch"], 2, "unchanged");

    // The standby of the given-up handoff, however late, never promotes: it leaves.
    let new_imds =
        imds(&standby, "ap-northeast-1c", &[("spotctl:role", "standby"), ("spotctl:handoff", "epoch-1")]);
    env.give_addresses(&standby, &new_imds).await;
    let left = env.watch_once(&moto, &new_imds, &new_db.root_dsn(""), None).json();
    assert_eq!(left["did"]["kind"], "abandoned", "{left:#}");
    assert!(!writable(&new_db.root_dsn("")), "the standby never took writes");
    assert!(!alive_and_tag(&env, &standby, "spotctl:role").await.0, "the standby terminated itself");

    // The kept primary's agent (its tag gone, as IMDS shows it) lowers the fence: writes again.
    old_imds.update(|m| {
        m.tags.remove("spotctl:drain");
    });
    let served = env.watch_once(&moto, &old_imds, &old_dsn, None).json();
    assert_eq!(served["did"]["kind"], "served", "{served:#}");
    assert!(writable(&old_dsn), "the kept primary takes writes");
    insert(&old_dsn, 1101..=1110);
    assert_eq!(count(&old_dsn), 1110);

    // The watchdog's look: nothing to resume, nothing reopened. One primary, the kept one.
    let tick = env.handle(&moto, "tick.json", &scheduled("dev", "watchdog", "tick-1"), None).json();
    assert_ne!(tick["next"]["handoff"], "started", "{tick:#}");
    let primaries: Vec<String> = env
        .instances()
        .await
        .into_iter()
        .filter(|(_, role, _)| role == "primary")
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(primaries, vec![primary.clone()], "exactly one primary");
    let status = env.run(&moto, &["status", &env.dir], None);
    assert!(status.stdout.contains(&format!("primary: {primary}")), "{}", status.stdout);
    let _ = shipper.kill();
    let _ = shipper.wait();
    let allowed = support::permissions::check(&moto, &env.aws, &env.name, support::handoff::REGION).await;
    println!("requests AWS would allow, by role: {allowed:?}");
}
