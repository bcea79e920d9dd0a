//! The fleet worker (`spotctl agent worker`): takes one message at a time from the fleet's queue
//! and runs the fleet's command on it (the body on stdin), deleting the message only when the
//! command succeeds. It looks at IMDSv2 before each message: on a spot interruption notice or a
//! rebalance recommendation it stops taking messages (what it holds is finished; the rest stays
//! in the queue for other workers). Idle for the configured time, it retires itself with
//! `TerminateInstanceInAutoScalingGroup` and `ShouldDecrementDesiredCapacity=true`, so the group
//! shrinks by one instead of launching a replacement.
//!
//! While the command runs, the worker extends the message's visibility (to the queue's timeout,
//! every third of it), so a job longer than the timeout is not handed to a second worker. A
//! message whose command keeps failing goes back to the queue and, after the queue's
//! `max_receives`, to its dead-letter queue instead of looping forever.

use crate::sdk::imds::{paths, Metadata};
use crate::sdk::Aws;
use anyhow::{Context, Result};
use serde::Serialize;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

pub struct WorkerOptions {
    pub queue: String,
    pub queue_region: String,
    /// Run with `sh -c`, the message body on stdin.
    pub command: String,
    pub idle: Duration,
    /// The queue's visibility timeout: extended by this much while a command runs.
    pub visibility: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "stopped", rename_all = "snake_case")]
pub enum WorkerExit {
    /// A spot interruption notice is out: no new message was taken.
    Interrupted { processed: u64, failed: u64 },
    /// A rebalance recommendation is out: no new message was taken.
    Rebalance { processed: u64, failed: u64 },
    /// Idle long enough: the instance asked its group to terminate it and shrink.
    Retired { processed: u64, failed: u64, instance_id: String },
}

/// Why a worker stops taking messages, from IMDS; `None` to keep going.
/// Why a worker stops taking messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Interruption,
    Rebalance,
}

/// Why a worker stops taking messages, from instance metadata; `None` to keep going.
async fn stop_reason(imds: &dyn Metadata) -> Result<Option<Stop>> {
    if imds.read(paths::SPOT_ACTION).await?.is_some() {
        return Ok(Some(Stop::Interruption));
    }
    if imds.read(paths::REBALANCE).await?.is_some() {
        return Ok(Some(Stop::Rebalance));
    }
    Ok(None)
}

/// Keeps one received message hidden from other workers while its command runs.
pub struct Lease<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub url: &'a str,
    pub receipt: &'a str,
    pub visibility: Duration,
}

impl Lease<'_> {
    /// How often the lease is extended: a third of the timeout, so two extensions may fail in a
    /// row before the message shows again.
    fn every(&self) -> Duration {
        (self.visibility / 3).max(Duration::from_secs(1))
    }

    async fn extend(&self) {
        let secs = i32::try_from(self.visibility.as_secs()).unwrap_or(43_200).min(43_200);
        let sent = self
            .sqs
            .change_message_visibility()
            .queue_url(self.url)
            .receipt_handle(self.receipt)
            .visibility_timeout(secs)
            .send()
            .await;
        if let Err(e) = sent {
            tracing::warn!("could not extend the message's visibility: {}", crate::sdk::error::describe(&e));
        }
    }
}

async fn run_command(command: &str, id: &str, body: &str, lease: &Lease<'_>) -> Result<bool> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("SPOTCTL_MESSAGE_ID", id)
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{command}`"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is fine: ignore a broken pipe.
        let _ = stdin.write_all(body.as_bytes()).await;
    }
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + lease.every(), lease.every());
    loop {
        tokio::select! {
            status = child.wait() => return Ok(status?.success()),
            _ = tick.tick() => lease.extend().await,
        }
    }
}

pub async fn run(aws: &Aws, imds: &dyn Metadata, o: &WorkerOptions) -> Result<WorkerExit> {
    let sqs = aws.sqs(&o.queue_region);
    let url = sqs
        .get_queue_url()
        .queue_name(&o.queue)
        .send()
        .await
        .with_context(|| format!("finding queue {} in {}", o.queue, o.queue_region))?
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let (mut processed, mut failed) = (0u64, 0u64);
    let mut last_work = Instant::now();
    loop {
        match stop_reason(imds).await? {
            Some(Stop::Interruption) => return Ok(WorkerExit::Interrupted { processed, failed }),
            Some(Stop::Rebalance) => return Ok(WorkerExit::Rebalance { processed, failed }),
            None => {}
        }
        let idle_left = o.idle.saturating_sub(last_work.elapsed());
        if idle_left.is_zero() {
            let instance_id = imds.require(paths::INSTANCE_ID).await?;
            let retired = aws
                .autoscaling(&imds.require(paths::REGION).await?)
                .terminate_instance_in_auto_scaling_group()
                .instance_id(&instance_id)
                .should_decrement_desired_capacity(true)
                .send()
                .await;
            match retired {
                Ok(_) => {
                    tracing::warn!(instance = %instance_id, processed, "idle for {:?}: retired", o.idle);
                    return Ok(WorkerExit::Retired { processed, failed, instance_id });
                }
                // At the group's minimum (a failed-over fallback keeps one): stay and keep working.
                Err(e) => {
                    tracing::warn!(
                        "idle, but the group keeps this worker: {}",
                        crate::sdk::error::code(&e).unwrap_or("error")
                    );
                    last_work = Instant::now();
                    continue;
                }
            }
        }
        // Long polling, but never past the idle deadline.
        let wait = idle_left.as_secs().clamp(1, 20) as i32;
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(1)
            .wait_time_seconds(wait)
            .send()
            .await
            .with_context(|| format!("receiving from {}", o.queue))?;
        for m in got.messages() {
            let id = m.message_id().unwrap_or_default();
            let lease = Lease {
                sqs: &sqs,
                url: &url,
                receipt: m.receipt_handle().unwrap_or_default(),
                visibility: o.visibility,
            };
            if run_command(&o.command, id, m.body().unwrap_or_default(), &lease).await? {
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .with_context(|| format!("deleting message {id}"))?;
                processed += 1;
            } else {
                // Back to the queue at once, for another try; after the queue's max_receives it
                // moves to the dead-letter queue instead.
                tracing::warn!(message = %id, "the command failed; the message goes back to the queue");
                let _ = sqs
                    .change_message_visibility()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .visibility_timeout(0)
                    .send()
                    .await;
                failed += 1;
            }
            last_work = Instant::now();
        }
    }
}
