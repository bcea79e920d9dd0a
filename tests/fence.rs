//! The notice fences first, with real parts: the real agent (`spotctl agent watch`) on a real
//! MariaDB that booted read-only and was turned writable as the recorded primary; then the state
//! bucket is cut off (its server stopped), and only then does the notice appear in instance
//! metadata. The agent turns writes off within 2 s, with nothing from the bucket, and the
//! application's account is refused.

mod support;

use spotctl_testkit::mariadb::MariaDb;
use spotctl_testkit::moto::Moto;
use std::time::{Duration, Instant};
use support::handoff::{imds, writable, Env, NOTICE};

/// The goal: from the notice in instance metadata to `read_only = 1`.
const FENCE_WITHIN: Duration = Duration::from_secs(2);

/// Polls `ok` every 20 ms for at most `limit`; how long it took, if it came true.
fn within(limit: Duration, ok: impl Fn() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if ok() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_cut_off_from_the_bucket_fences_on_the_notice_within_two_seconds() {
    let Some(db) = MariaDb::start() else { return };
    let mut moto = Moto::start();
    let env = Env::applied(&moto, "fence", &db, 100).await;
    let primary = env.instances().await[0].0.clone();
    // As user-data leaves a database instance: booted read-only, with the application's account
    // (all privileges on its database, none that passes read_only).
    let root = db.root_dsn("");
    let mut c = mysql::Conn::new(mysql::Opts::from_url(&root).expect("dsn")).expect("connect");
    use mysql::prelude::Queryable;
    c.query_drop("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-password'").expect("app user");
    c.query_drop("GRANT ALL PRIVILEGES ON appdb.* TO 'app'@'127.0.0.1'").expect("grant");
    c.query_drop("SET GLOBAL read_only = ON").expect("booted fenced");
    let app = format!("mysql://app:app-password@127.0.0.1:{}/appdb", db.port);

    let metadata = imds(&primary, "ap-northeast-1a", &[("spotctl:role", "primary")]);
    let _agent = env.watch(&moto, &metadata, &root, &[]);
    // The recorded primary: its agent turns writes on.
    assert!(within(Duration::from_secs(60), || writable(&root)).is_some(), "the agent never served");

    moto.stop();
    // The bucket is unreachable now: the agent's next looks fail on it.
    std::thread::sleep(Duration::from_secs(3));
    assert!(writable(&root), "nothing fences a primary before its notice");
    metadata.update(|m| m.instance_action = Some(NOTICE.into()));
    let took = within(Duration::from_secs(10), || !writable(&root));
    println!("notice → read_only = 1: {took:?} (goal {FENCE_WITHIN:?}), with the bucket cut off");
    let took = took.expect("the agent never fenced the server");
    assert!(took <= FENCE_WITHIN, "fenced {took:?} after the notice; the goal is {FENCE_WITHIN:?}");

    let mut app = mysql::Conn::new(mysql::Opts::from_url(&app).expect("dsn")).expect("the app connects");
    let refused = app.query_drop("INSERT INTO employees (id, name, email) VALUES (100001, 'late', 'l@x')");
    let code = match &refused {
        Err(mysql::Error::MySqlError(e)) => Some(e.code),
        _ => None,
    };
    assert_eq!(code, Some(1290), "the application's insert is refused by read_only: {refused:?}");
}
