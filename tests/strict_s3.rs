//! The state store on S3 as unkind as S3 is to conditional writes, through a front for moto: a
//! write whose reply is lost (the SDK retries it and the retry meets the first attempt's `412`)
//! is recognised as our own; `409 ConditionalRequestConflict` (another conditional write in
//! flight) is retried, not taken for a lost race; a real conflict stays one.

use spotctl_aws::sdk::Aws;
use spotctl_aws::state::{S3Store, StateStore, StoreError};
use spotctl_testkit::moto::Moto;
use spotctl_testkit::s3_owner::{ConditionalFault, S3OwnerFront};

const ACCOUNT: &str = "123456789012";
const BUCKET: &str = "strict";

#[tokio::test(flavor = "multi_thread")]
async fn own_writes_are_recognised_after_a_lost_reply_and_in_flight_conflicts_are_retried() {
    let moto = Moto::start();
    let upstream = moto.endpoint().trim_start_matches("http://").to_string();
    let front = S3OwnerFront::start(&upstream, ACCOUNT);
    Aws::for_emulator(&moto.endpoint())
        .await
        .s3("us-east-1", ACCOUNT)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
    let store = S3Store::new(Aws::for_emulator(&front.endpoint()).await.s3("us-east-1", ACCOUNT), BUCKET);

    front.next_conditional(ConditionalFault::LoseReply);
    let etag = store
        .put_if_absent("state/lease.json", b"ours".to_vec())
        .await
        .expect("our own create, its reply lost");
    let puts = |f: &S3OwnerFront| f.seen().iter().filter(|s| s.method == "PUT").count();
    assert_eq!(puts(&front), 2, "the SDK sent it again: {:?}", front.seen());
    let got = store.get("state/lease.json").await.expect("get").expect("there");
    assert_eq!((got.body.as_slice(), got.etag.as_str()), (&b"ours"[..], etag.as_str()));

    front.next_conditional(ConditionalFault::LoseReply);
    let etag = store
        .put_if_match("state/lease.json", &etag, b"ours, 2".to_vec())
        .await
        .expect("our own swap, its reply lost");
    assert_eq!(store.get("state/lease.json").await.expect("get").expect("there").etag, etag);

    front.next_conditional(ConditionalFault::InFlight);
    front.next_conditional(ConditionalFault::InFlight);
    let before = puts(&front);
    let etag = store
        .put_if_match("state/lease.json", &etag, b"ours, 3".to_vec())
        .await
        .expect("retried past two 409s");
    assert_eq!(puts(&front) - before, 3, "two 409s, then the write");
    let got = store.get("state/lease.json").await.expect("get").expect("there");
    assert_eq!((got.body.as_slice(), got.etag.as_str()), (&b"ours, 3"[..], etag.as_str()));

    let theirs = store.put_if_absent("state/lease.json", b"theirs".to_vec()).await;
    assert!(matches!(theirs, Err(StoreError::Conflict { .. })), "a real conflict: {theirs:?}");
    let stale = store.put_if_match("state/lease.json", "\"stale\"", b"theirs".to_vec()).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
}
