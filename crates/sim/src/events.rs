//! The events EventBridge delivers to the handler in the simulated world.

/// The warning EventBridge delivers for `instance`.
pub fn warning(id: &str, instance: &str) -> Vec<u8> {
    ec2_event(
        id,
        "EC2 Spot Instance Interruption Warning",
        serde_json::json!({"instance-id": instance, "instance-action": "terminate"}),
    )
}

/// EC2's state change for `instance`, terminated.
pub fn state_change(id: &str, instance: &str) -> Vec<u8> {
    ec2_event(
        id,
        "EC2 Instance State-change Notification",
        serde_json::json!({"instance-id": instance, "state": "terminated"}),
    )
}

/// An `aws.ec2` event as EventBridge delivers it in the world's region.
fn ec2_event(id: &str, detail_type: &str, detail: serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "version": "0", "id": id, "detail-type": detail_type,
        "source": "aws.ec2", "account": "123456789012", "time": "2026-11-29T10:00:00Z",
        "region": crate::world::REGION, "resources": [], "detail": detail
    })
    .to_string()
    .into_bytes()
}
