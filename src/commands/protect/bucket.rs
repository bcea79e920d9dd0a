//! The state bucket as the `BlobStore` the protection library writes to: `s3://BUCKET/PREFIX`
//! (PREFIX is `backups` in an env's bucket), in the bucket's region.

use crate::exit::BadInput;
use spotctl_aws::sdk::Aws;
use spotctl_aws::state::{parse_s3_url, S3Store, StoreBlobs};
use std::sync::Arc;

/// The bucket at `url` and the prefix under it. Call from the runtime; use the blobs from a
/// blocking thread.
pub async fn open(url: &str, region: Option<&str>) -> anyhow::Result<(StoreBlobs, String)> {
    let Some((bucket, prefix)) = parse_s3_url(url) else {
        return Err(BadInput(format!("`{url}` is not an s3://BUCKET/PREFIX URL")).into());
    };
    let aws = Aws::load().await;
    let region = region
        .map(String::from)
        .unwrap_or_else(|| std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()));
    // Every S3 call names the bucket's expected owner: this instance's own account.
    let account = aws.account_id(&region).await?;
    let blobs = StoreBlobs {
        store: Arc::new(S3Store::new(aws.s3(&region, &account), bucket)),
        handle: tokio::runtime::Handle::current(),
    };
    Ok((blobs, prefix))
}
