//! The events the handler receives, parsed into what they mean for spotctl.
//!
//! EventBridge delivers spot warnings and rebalance recommendations from the instance's region
//! (forwarded to the home bus from other regions), the scheduled relocation and advisor refresh,
//! and Auto Scaling launch results for fleets. Anything else is refused with a reason, and the
//! caller records it: an event is never silently dropped.
//!
//! May use: nothing else of this crate.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an event asks spotctl to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum Trigger {
    /// The 2-minute spot interruption warning for an instance.
    Interruption { instance_id: String, region: String, action: String },
    /// AWS thinks the instance is at elevated risk of interruption.
    Rebalance { instance_id: String, region: String },
    /// A scheduled rule fired: relocation check or advisor refresh.
    Schedule { rule: String },
    /// An Auto Scaling group failed, or managed, to launch an instance.
    FleetLaunch { group: String, region: String, success: bool },
    /// An instance is going or gone (stopping, stopped, shutting down, terminated): for the
    /// primary with no warning, the recovery.
    StateChange { instance_id: String, region: String, state: String },
}

impl Trigger {
    /// A short name of the kind of event, for keys and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Interruption { .. } => "interruption",
            Trigger::Rebalance { .. } => "rebalance",
            Trigger::Schedule { .. } => "schedule",
            Trigger::FleetLaunch { success: true, .. } => "launch-successful",
            Trigger::FleetLaunch { success: false, .. } => "launch-unsuccessful",
            Trigger::StateChange { .. } => "state-change",
        }
    }
}

/// An event as EventBridge wraps it, with the fields spotctl keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    pub time: String,
    pub source: String,
    pub detail_type: String,
    pub region: String,
    pub trigger: Trigger,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("the event is not JSON: {0}")]
    NotJson(String),
    #[error("the event has no `{0}` field; is it an EventBridge event?")]
    Missing(&'static str),
    #[error("spotctl does not handle events of source `{event_source}` and type `{detail_type}`")]
    Unhandled { event_source: String, detail_type: String },
}

fn text<'a>(v: &'a Value, key: &'static str) -> Result<&'a str, EventError> {
    v.get(key).and_then(Value::as_str).ok_or(EventError::Missing(key))
}

/// Parses one EventBridge event.
pub fn parse(raw: &[u8]) -> Result<Envelope, EventError> {
    let v: Value = serde_json::from_slice(raw).map_err(|e| EventError::NotJson(e.to_string()))?;
    let source = text(&v, "source")?.to_string();
    let detail_type = text(&v, "detail-type")?.to_string();
    let region = text(&v, "region")?.to_string();
    let detail = v.get("detail").cloned().unwrap_or(Value::Null);
    let detail_text =
        |key: &'static str| detail.get(key).and_then(Value::as_str).ok_or(EventError::Missing(key));
    let trigger = match (source.as_str(), detail_type.as_str()) {
        ("aws.ec2", "EC2 Spot Instance Interruption Warning") => Trigger::Interruption {
            instance_id: detail_text("instance-id")?.to_string(),
            region: region.clone(),
            action: detail.get("instance-action").and_then(Value::as_str).unwrap_or("terminate").to_string(),
        },
        ("aws.ec2", "EC2 Instance Rebalance Recommendation") => Trigger::Rebalance {
            instance_id: detail_text("instance-id")?.to_string(),
            region: region.clone(),
        },
        ("aws.ec2", "EC2 Instance State-change Notification") => Trigger::StateChange {
            instance_id: detail_text("instance-id")?.to_string(),
            region: region.clone(),
            state: detail_text("state")?.to_string(),
        },
        ("aws.events", "Scheduled Event") => {
            let rule = v
                .get("resources")
                .and_then(Value::as_array)
                .and_then(|r| r.first())
                .and_then(Value::as_str)
                .and_then(|arn| arn.rsplit('/').next())
                .ok_or(EventError::Missing("resources"))?;
            Trigger::Schedule { rule: rule.to_string() }
        }
        ("aws.autoscaling", "EC2 Instance Launch Successful" | "EC2 Instance Launch Unsuccessful") => {
            Trigger::FleetLaunch {
                group: detail_text("AutoScalingGroupName")?.to_string(),
                region: region.clone(),
                success: detail_type == "EC2 Instance Launch Successful",
            }
        }
        _ => return Err(EventError::Unhandled { event_source: source, detail_type }),
    };
    Ok(Envelope {
        id: text(&v, "id")?.to_string(),
        time: v.get("time").and_then(Value::as_str).unwrap_or_default().to_string(),
        source,
        detail_type,
        region,
        trigger,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample event from the project this grew from (its comments removed: they are not JSON).
    const SEED_SAMPLE: &str = r#"{
        "version": "0", "id": "abcd1234-5678-90ab-cdef-EXAMPLE11111",
        "detail-type": "EC2 Spot Instance Interruption Warning", "source": "aws.ec2",
        "account": "123456789012", "time": "2025-12-31T07:15:00Z", "region": "us-west-2",
        "resources": ["arn:aws:ec2:us-west-2:123456789012:instance/i-0abcd1234efgh5678"],
        "detail": {"instance-id": "i-0abcd1234efgh5678", "instance-action": "terminate"}
    }"#;

    #[test]
    fn parses_the_seed_sample() {
        let e = parse(SEED_SAMPLE.as_bytes()).expect("parses");
        assert_eq!(e.id, "abcd1234-5678-90ab-cdef-EXAMPLE11111");
        assert_eq!(
            e.trigger,
            Trigger::Interruption {
                instance_id: "i-0abcd1234efgh5678".into(),
                region: "us-west-2".into(),
                action: "terminate".into()
            }
        );
    }

    #[test]
    fn parses_a_schedule_by_rule_name() {
        let raw = r#"{"id":"1","source":"aws.events","detail-type":"Scheduled Event","region":"ap-northeast-1",
            "resources":["arn:aws:events:ap-northeast-1:123456789012:rule/spotctl-dev-relocation"],"detail":{}}"#;
        assert_eq!(
            parse(raw.as_bytes()).map(|e| e.trigger),
            Ok(Trigger::Schedule { rule: "spotctl-dev-relocation".into() })
        );
    }

    #[test]
    fn parses_fleet_launch_results() {
        let raw = r#"{"id":"2","source":"aws.autoscaling","detail-type":"EC2 Instance Launch Unsuccessful",
            "region":"us-east-1","detail":{"AutoScalingGroupName":"spotctl-fleet-workers-primary"}}"#;
        assert_eq!(
            parse(raw.as_bytes()).map(|e| e.trigger),
            Ok(Trigger::FleetLaunch {
                group: "spotctl-fleet-workers-primary".into(),
                region: "us-east-1".into(),
                success: false
            })
        );
    }

    #[test]
    fn parses_an_instance_going_away() {
        let raw = r#"{"id":"4","source":"aws.ec2","detail-type":"EC2 Instance State-change Notification",
            "region":"ap-northeast-1","detail":{"instance-id":"i-0abc","state":"shutting-down"}}"#;
        let e = parse(raw.as_bytes()).expect("parses");
        assert_eq!(
            e.trigger,
            Trigger::StateChange {
                instance_id: "i-0abc".into(),
                region: "ap-northeast-1".into(),
                state: "shutting-down".into()
            }
        );
        assert_eq!(e.trigger.kind(), "state-change");
    }

    #[test]
    fn refuses_what_it_does_not_handle() {
        let raw = r#"{"id":"3","source":"aws.s3","detail-type":"Object Created","region":"us-east-1"}"#;
        assert!(matches!(parse(raw.as_bytes()), Err(EventError::Unhandled { .. })));
        assert!(matches!(parse(b"not json"), Err(EventError::NotJson(_))));
        assert_eq!(parse(br#"{"source":"aws.ec2"}"#), Err(EventError::Missing("detail-type")));
    }
}
