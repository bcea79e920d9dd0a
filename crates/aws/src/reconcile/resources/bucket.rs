//! The state bucket (private, encrypted, public access blocked, versioned, TLS only, with lifecycle
//! rules and a policy saying who writes which keys and how) and the objects spotctl keeps in it as
//! resources: the resolved env (`state/env.json`) and the Lambda/agent zip.

use super::{owned, Ctx};
use crate::sdk::error::is_not_found;
use anyhow::{bail, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLifecycleConfiguration, BucketVersioningStatus, VersioningConfiguration};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use spotctl_core::desired::bucket::lifecycle_value;
use spotctl_core::desired::{sha256_hex, LifecycleRule};
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};
use spotctl_core::templates::canonical_json;

pub async fn discover(ctx: &Ctx<'_>, object_keys: &[String]) -> Result<Vec<LiveResource>> {
    let s3 = ctx.aws.s3(ctx.home(), &ctx.names.account);
    let bucket = ctx.names.bucket();
    let tags = match s3.get_bucket_tagging().bucket(&bucket).send().await {
        Ok(t) => t,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading tags of bucket {bucket}")),
    };
    if !owned(ctx.names, tags.tag_set().iter().map(|t| (t.key(), t.value()))) {
        bail!(
            "bucket {bucket} exists but is not tagged spotctl:env={}; spotctl will not touch it",
            ctx.names.env
        );
    }
    let encryption = match s3.get_bucket_encryption().bucket(&bucket).send().await {
        Ok(out) => out
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_string())
            .unwrap_or_default(),
        Err(e) if is_not_found(&e) => String::new(),
        Err(e) => return Err(e).context("reading bucket encryption"),
    };
    let pab = match s3.get_public_access_block().bucket(&bucket).send().await {
        Ok(out) => {
            let c = out.public_access_block_configuration();
            let all = c.is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            });
            if all { "all" } else { "partial" }.to_string()
        }
        Err(e) if is_not_found(&e) => "none".to_string(),
        Err(e) => return Err(e).context("reading public access block"),
    };
    let versioning = match s3.get_bucket_versioning().bucket(&bucket).send().await {
        Ok(out) => out.status().map(|v| v.as_str().to_string()).unwrap_or_default(),
        // moto answers with a `GetBucketVersioningResponse` root the SDK refuses to parse; the
        // status inside is the same element, so read it from the raw body.
        Err(e) => match e.raw_response().filter(|r| r.status().is_success()).and_then(|r| r.body().bytes()) {
            Some(body) => xml_element(&String::from_utf8_lossy(body), "Status").unwrap_or_default(),
            None => return Err(e).context("reading bucket versioning"),
        },
    };
    let policy = match s3.get_bucket_policy().bucket(&bucket).send().await {
        Ok(out) => {
            out.policy().map(|p| canonical_json(p).unwrap_or_else(|_| p.to_string())).unwrap_or_default()
        }
        Err(e) if matches!(e.code(), Some("NoSuchBucketPolicy")) => String::new(),
        Err(e) => return Err(e).context("reading the bucket policy"),
    };
    let lifecycle = match s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await {
        Ok(out) => lifecycle_value(&out.rules().iter().map(rule_of).collect::<Vec<_>>()),
        Err(e) if matches!(e.code(), Some("NoSuchLifecycleConfiguration")) => lifecycle_value(&[]),
        Err(e) => return Err(e).context("reading the bucket lifecycle"),
    };
    let mut out = vec![LiveResource::new(Address::new(Kind::Bucket, ctx.home(), &bucket), &bucket)
        .with("encryption", encryption)
        .with("public_access_block", pab)
        .with("versioning", versioning)
        .with("lifecycle", lifecycle)
        .with("policy", policy)];
    for key in object_keys {
        match s3.head_object().bucket(&bucket).key(key).send().await {
            Ok(head) => {
                let sha = head.metadata().and_then(|m| m.get("sha256")).cloned().unwrap_or_default();
                out.push(
                    LiveResource::new(Address::new(Kind::StateObject, ctx.home(), key), key)
                        .with("sha256", sha),
                );
            }
            Err(e) if is_not_found(&e) || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
            Err(e) => return Err(e).with_context(|| format!("reading s3://{bucket}/{key}")),
        }
    }
    Ok(out)
}

pub async fn create_bucket(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let s3 = ctx.aws.s3(ctx.home(), &ctx.names.account);
    let bucket = &want.address.name;
    let mut req = s3.create_bucket().bucket(bucket);
    if ctx.home() != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(ctx.home()))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => {}
        // A crashed earlier apply may have created it: converge instead of failing.
        Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou")) => {}
        Err(e) => return Err(e).with_context(|| format!("creating bucket {bucket}")),
    }
    let tags: Vec<Tag> = ctx
        .tags("state")
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()?;
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(Tagging::builder().set_tag_set(Some(tags)).build()?)
        .send()
        .await
        .context("tagging the state bucket")?;
    update_bucket(ctx, want).await?;
    Ok(bucket.clone())
}

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub async fn update_bucket(ctx: &Ctx<'_>, want: &Resource) -> Result<()> {
    let s3 = ctx.aws.s3(ctx.home(), &ctx.names.account);
    let bucket = &want.address.name;
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .context("blocking public access to the state bucket")?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256).build()?,
        )
        .build();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder().rules(rule).build()?,
        )
        .send()
        .await
        .context("encrypting the state bucket")?;
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
        )
        .send()
        .await
        .context("turning on versioning of the state bucket")?;
    let wanted: Vec<LifecycleRule> = serde_json::from_str(want.value("lifecycle").unwrap_or("[]"))
        .context("the planned lifecycle rules are not readable")?;
    let rules = wanted.iter().map(lifecycle_rule).collect::<Result<Vec<_>, _>>()?;
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build()?)
        .send()
        .await
        .context("setting the state bucket's lifecycle rules")?;
    match want.value("policy").unwrap_or_default() {
        "" => match s3.delete_bucket_policy().bucket(bucket).send().await {
            Ok(_) => {}
            Err(e) if matches!(e.code(), Some("NoSuchBucketPolicy")) => {}
            Err(e) => return Err(e).context("removing the state bucket's policy"),
        },
        policy => {
            s3.put_bucket_policy()
                .bucket(bucket)
                .policy(policy)
                .send()
                .await
                .context("setting the state bucket's policy")?;
        }
    }
    Ok(())
}

/// The text of the first `<name>…</name>` in an XML body.
fn xml_element(body: &str, name: &str) -> Option<String> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = body[start..].find(&format!("</{name}>"))?;
    Some(body[start..start + end].trim().to_string())
}

/// A lifecycle rule as S3 returns it, in spotctl's form.
fn rule_of(r: &aws_sdk_s3::types::LifecycleRule) -> LifecycleRule {
    let prefix = r.filter().and_then(|f| f.prefix()).unwrap_or_default().to_string();
    #[allow(deprecated)]
    let prefix = if prefix.is_empty() { r.prefix().unwrap_or_default().to_string() } else { prefix };
    LifecycleRule {
        id: r.id().unwrap_or_default().to_string(),
        prefix,
        expire_days: r.expiration().and_then(|e| e.days()),
        noncurrent_days: r.noncurrent_version_expiration().and_then(|e| e.noncurrent_days()),
        abort_incomplete_days: r.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()),
    }
}

fn lifecycle_rule(r: &LifecycleRule) -> Result<aws_sdk_s3::types::LifecycleRule> {
    use aws_sdk_s3::types::{
        AbortIncompleteMultipartUpload, ExpirationStatus, LifecycleExpiration, LifecycleRuleFilter,
        NoncurrentVersionExpiration,
    };
    Ok(aws_sdk_s3::types::LifecycleRule::builder()
        .id(&r.id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(&r.prefix).build())
        .set_expiration(r.expire_days.map(|d| LifecycleExpiration::builder().days(d).build()))
        .set_noncurrent_version_expiration(
            r.noncurrent_days.map(|d| NoncurrentVersionExpiration::builder().noncurrent_days(d).build()),
        )
        .set_abort_incomplete_multipart_upload(
            r.abort_incomplete_days
                .map(|d| AbortIncompleteMultipartUpload::builder().days_after_initiation(d).build()),
        )
        .build()?)
}

/// Rounds of listing and deleting before `delete_bucket` gives up on objects that will not go.
const EMPTYING_ROUNDS: usize = 5;

/// Empties the bucket of every version and delete marker (it is versioned), then deletes it. Keys
/// S3 refuses to delete are retried a few rounds, then named in the error: never a loop forever.
pub async fn delete_bucket(ctx: &Ctx<'_>, bucket: &str) -> Result<()> {
    let s3 = ctx.aws.s3(ctx.home(), &ctx.names.account);
    let mut refused: Vec<String> = Vec::new();
    for _ in 0..EMPTYING_ROUNDS {
        refused.clear();
        let mut ids: Vec<ObjectIdentifier> = Vec::new();
        let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = match s3
                .list_object_versions()
                .bucket(bucket)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
            {
                Ok(p) => p,
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => return Err(e).with_context(|| format!("listing versions in {bucket}")),
            };
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            for (key, version) in versions.chain(markers) {
                ids.push(
                    ObjectIdentifier::builder()
                        .key(key.unwrap_or_default())
                        .set_version_id(version.map(String::from))
                        .build()?,
                );
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(String::from);
            version_marker = page.next_version_id_marker().map(String::from);
        }
        if ids.is_empty() {
            break;
        }
        for chunk in ids.chunks(1000) {
            let out = s3
                .delete_objects()
                .bucket(bucket)
                .delete(Delete::builder().set_objects(Some(chunk.to_vec())).quiet(true).build()?)
                .send()
                .await
                .with_context(|| format!("emptying {bucket}"))?;
            refused.extend(out.errors().iter().map(|e| {
                format!(
                    "{} ({}: {})",
                    e.key().unwrap_or_default(),
                    e.code().unwrap_or_default(),
                    e.message().unwrap_or_default()
                )
            }));
        }
        if refused.is_empty() {
            continue;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    if !refused.is_empty() {
        bail!(
            "bucket {bucket} still holds {} object version(s) after {EMPTYING_ROUNDS} rounds, e.g. {}; \
             fix what refuses them (an object lock, a policy) and run destroy again",
            refused.len(),
            refused.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    match s3.delete_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting bucket {bucket}")),
    }
}

/// Writes a state object: its body is either in the resource (`body`) or an artifact named by key.
pub async fn put_object(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let key = &want.address.name;
    let body: Vec<u8> = match (want.value("body"), ctx.artifacts.get(key)) {
        (Some(b), _) => b.as_bytes().to_vec(),
        (None, Some(b)) => b.clone(),
        (None, None) => {
            bail!("no content for s3 object {key}: the plan names content this run does not have")
        }
    };
    let sha = sha256_hex(&body);
    if want.value("sha256") != Some(sha.as_str()) {
        bail!("content of {key} does not match the planned hash; plan again");
    }
    ctx.aws
        .s3(ctx.home(), &ctx.names.account)
        .put_object()
        .bucket(ctx.names.bucket())
        .key(key)
        .metadata("sha256", &sha)
        .body(ByteStream::from(body))
        .send()
        .await
        .with_context(|| format!("writing s3://{}/{key}", ctx.names.bucket()))?;
    Ok(key.clone())
}

pub async fn delete_object(ctx: &Ctx<'_>, key: &str) -> Result<()> {
    ctx.aws
        .s3(ctx.home(), &ctx.names.account)
        .delete_object()
        .bucket(ctx.names.bucket())
        .key(key)
        .send()
        .await
        .with_context(|| format!("deleting s3://{}/{key}", ctx.names.bucket()))?;
    Ok(())
}
