//! The env's SQS queues — a fleet's job queue and its dead-letter queue, the handler's dead
//! letters: found by name prefix, ownership checked by tag. A job queue's visibility timeout comes
//! from the env file and its redrive policy names its dead-letter queue, which is created first
//! when both are new (they are created together).

use super::super::Ctx;
use crate::sdk::error::is_not_found;
use anyhow::{bail, Context, Result};
use aws_sdk_sqs::types::QueueAttributeName;
use spotctl_core::names::TAG_ENV;
use spotctl_core::plan::{Address, Kind, LiveResource, Resource};

pub async fn discover(ctx: &Ctx<'_>, region: &str) -> Result<Vec<LiveResource>> {
    let sqs = ctx.aws.sqs(region);
    let listed = sqs
        .list_queues()
        .queue_name_prefix(ctx.names.prefix())
        .send()
        .await
        .with_context(|| format!("listing SQS queues in {region}"))?;
    let mut out = Vec::new();
    for url in listed.queue_urls() {
        let tags = sqs.list_queue_tags().queue_url(url).send().await?;
        let ours = tags.tags().is_some_and(|t| t.get(TAG_ENV).is_some_and(|v| *v == ctx.names.env));
        if !ours {
            continue;
        }
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ReceiveMessageWaitTimeSeconds)
            .attribute_names(QueueAttributeName::SqsManagedSseEnabled)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .attribute_names(QueueAttributeName::MessageRetentionPeriod)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .with_context(|| format!("reading queue {url}"))?;
        let a = attrs.attributes();
        let get = |k: QueueAttributeName| a.and_then(|m| m.get(&k)).cloned().unwrap_or_default();
        let name = url.rsplit('/').next().unwrap_or_default();
        out.push(
            LiveResource::new(Address::new(Kind::Queue, region, name), url)
                .with("receive_wait_s", get(QueueAttributeName::ReceiveMessageWaitTimeSeconds))
                .with("sse", get(QueueAttributeName::SqsManagedSseEnabled).to_lowercase())
                .with("visibility_timeout_s", get(QueueAttributeName::VisibilityTimeout))
                .with("retention_s", get(QueueAttributeName::MessageRetentionPeriod))
                .with("redrive", redrive_value(&get(QueueAttributeName::RedrivePolicy))),
        );
    }
    Ok(out)
}

/// A redrive policy in canonical form (sorted keys, the count a number: SQS and emulators differ).
fn redrive_value(text: &str) -> String {
    let Ok(serde_json::Value::Object(mut v)) = serde_json::from_str::<serde_json::Value>(text) else {
        return String::new();
    };
    if let Some(n) = v.get("maxReceiveCount").and_then(|n| n.as_str().and_then(|s| s.parse::<u64>().ok())) {
        v.insert("maxReceiveCount".into(), n.into());
    }
    spotctl_core::templates::canonical_json(&serde_json::Value::Object(v).to_string()).unwrap_or_default()
}

pub async fn create_queue(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let region = &want.address.region;
    // The work queue names its dead-letter queue, which must exist first; both are created in
    // one batch, so the work queue makes sure of it (CreateQueue with the same attributes is
    // idempotent).
    if let Some(dead) = dead_letter_of(want) {
        create_one(ctx, region, &dead, &dead_letter_attrs(want)).await?;
    }
    create_one(ctx, region, &want.address.name, &queue_attrs(want)).await
}

async fn create_one(
    ctx: &Ctx<'_>,
    region: &str,
    name: &str,
    attrs: &[(QueueAttributeName, String)],
) -> Result<String> {
    let mut req = ctx.aws.sqs(region).create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), v);
    }
    for (k, v) in ctx.tags("queue") {
        req = req.tags(k, v);
    }
    let out = req.send().await.with_context(|| format!("creating queue {name} in {region}"))?;
    Ok(out.queue_url().unwrap_or_default().to_string())
}

/// The dead-letter queue a work queue's redrive policy names.
fn dead_letter_of(want: &Resource) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(want.value("redrive")?).ok()?;
    v["deadLetterTargetArn"].as_str()?.rsplit(':').next().map(String::from)
}

/// The attributes of the dead-letter queue as its own resource plans them.
fn dead_letter_attrs(work: &Resource) -> Vec<(QueueAttributeName, String)> {
    vec![
        (QueueAttributeName::ReceiveMessageWaitTimeSeconds, "20".into()),
        (QueueAttributeName::SqsManagedSseEnabled, "true".into()),
        (QueueAttributeName::VisibilityTimeout, work.value("visibility_timeout_s").unwrap_or("300").into()),
        (
            QueueAttributeName::MessageRetentionPeriod,
            spotctl_core::desired::fleet::DEAD_LETTER_RETENTION_S.to_string(),
        ),
    ]
}

fn queue_attrs(want: &Resource) -> Vec<(QueueAttributeName, String)> {
    let mut attrs = vec![
        (
            QueueAttributeName::ReceiveMessageWaitTimeSeconds,
            want.value("receive_wait_s").unwrap_or("20").into(),
        ),
        (QueueAttributeName::SqsManagedSseEnabled, want.value("sse").unwrap_or("true").into()),
    ];
    if let Some(v) = want.value("visibility_timeout_s") {
        attrs.push((QueueAttributeName::VisibilityTimeout, v.into()));
    }
    if let Some(v) = want.value("retention_s") {
        attrs.push((QueueAttributeName::MessageRetentionPeriod, v.into()));
    }
    if let Some(v) = want.value("redrive").filter(|v| !v.is_empty()) {
        attrs.push((QueueAttributeName::RedrivePolicy, v.into()));
    }
    attrs
}

pub async fn update_queue(ctx: &Ctx<'_>, want: &Resource, url: &str) -> Result<()> {
    if let Some(dead) = dead_letter_of(want) {
        create_one(ctx, &want.address.region, &dead, &dead_letter_attrs(want)).await?;
    }
    let mut req = ctx.aws.sqs(&want.address.region).set_queue_attributes().queue_url(url);
    for (k, v) in queue_attrs(want) {
        req = req.attributes(k, v);
    }
    req.send().await.with_context(|| format!("updating queue {url}"))?;
    Ok(())
}

pub async fn delete_queue(ctx: &Ctx<'_>, region: &str, url: &str) -> Result<()> {
    let sqs = ctx.aws.sqs(region);
    match sqs.list_queue_tags().queue_url(url).send().await {
        Ok(t) if t.tags().is_some_and(|t| t.get(TAG_ENV).is_some_and(|v| *v == ctx.names.env)) => {}
        Ok(_) => bail!("queue {url} is not tagged {TAG_ENV}={}; spotctl will not delete it", ctx.names.env),
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading the tags of queue {url}")),
    }
    match sqs.delete_queue().queue_url(url).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting queue {url}")),
    }
}
