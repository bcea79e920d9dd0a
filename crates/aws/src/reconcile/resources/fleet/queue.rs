//! The env's SQS queues — a fleet's job queue, the handler's dead letters: found by name prefix,
//! ownership checked by tag.

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
            .attribute_names(QueueAttributeName::MessageRetentionPeriod)
            .send()
            .await
            .with_context(|| format!("reading queue {url}"))?;
        let a = attrs.attributes();
        let get = |k: QueueAttributeName| a.and_then(|m| m.get(&k)).cloned().unwrap_or_default();
        let name = url.rsplit('/').next().unwrap_or_default();
        let mut live = LiveResource::new(Address::new(Kind::Queue, region, name), url)
            .with("receive_wait_s", get(QueueAttributeName::ReceiveMessageWaitTimeSeconds))
            .with("sse", get(QueueAttributeName::SqsManagedSseEnabled).to_lowercase());
        // Only queues that set it compare it (a fleet's job queue keeps SQS's default).
        if name == ctx.names.dead_letter_queue() {
            live = live.with("retention_s", get(QueueAttributeName::MessageRetentionPeriod));
        }
        out.push(live);
    }
    Ok(out)
}

pub async fn create_queue(ctx: &Ctx<'_>, want: &Resource) -> Result<String> {
    let region = &want.address.region;
    let mut req = ctx.aws.sqs(region).create_queue().queue_name(&want.address.name);
    for (k, v) in queue_attrs(want) {
        req = req.attributes(k, v);
    }
    for (k, v) in ctx.tags("queue") {
        req = req.tags(k, v);
    }
    let out =
        req.send().await.with_context(|| format!("creating queue {} in {region}", want.address.name))?;
    Ok(out.queue_url().unwrap_or_default().to_string())
}

fn queue_attrs(want: &Resource) -> Vec<(QueueAttributeName, String)> {
    let mut attrs = vec![
        (
            QueueAttributeName::ReceiveMessageWaitTimeSeconds,
            want.value("receive_wait_s").unwrap_or("20").into(),
        ),
        (QueueAttributeName::SqsManagedSseEnabled, want.value("sse").unwrap_or("true").into()),
    ];
    if let Some(r) = want.value("retention_s") {
        attrs.push((QueueAttributeName::MessageRetentionPeriod, r.into()));
    }
    attrs
}

pub async fn update_queue(ctx: &Ctx<'_>, want: &Resource, url: &str) -> Result<()> {
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
