//! The state bucket as the `BlobStore` the protection library writes to: `s3://BUCKET/PREFIX`
//! (PREFIX is `backups` in an env's bucket), in the bucket's region.

use crate::exit::BadInput;
use spotctl_aws::protect::{BackupsError, StoreBlobs};
use spotctl_aws::sdk::Aws;

/// The bucket at `url`, the prefix under it (a URL that is not one is bad input) and who writes
/// there (the credentials' `aws:userid`). Call from the runtime; use the blobs from a blocking
/// thread.
pub async fn open(url: &str, region: Option<&str>) -> anyhow::Result<(StoreBlobs, String, String)> {
    match spotctl_aws::protect::open(&Aws::load().await, url, region).await {
        Err(e @ BackupsError::BadUrl(_)) => Err(BadInput(e.to_string()).into()),
        other => Ok(other?),
    }
}
