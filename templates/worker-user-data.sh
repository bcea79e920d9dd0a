#!/bin/bash
# spotctl user-data for the workers of fleet "{{fleet}}" in env "{{env}}". Rendered by spotctl; it
# holds no secret. The worker takes messages from the queue, runs the fleet's command on each
# (the message body on stdin), stops taking messages on a spot interruption notice or a rebalance
# recommendation, and retires itself when idle (TerminateInstanceInAutoScalingGroup).
set -euo pipefail
exec > >(tee -a /var/log/spotctl-user-data.log | logger -t spotctl-user-data) 2>&1

dnf install -y unzip
# The worker agent is the spotctl binary itself, the same build as the handler Lambda.
aws s3 cp --region {{home_region}} 's3://{{bucket}}/{{agent_key}}' /tmp/spotctl.zip
unzip -p /tmp/spotctl.zip bootstrap > /usr/local/bin/spotctl
chmod 0755 /usr/local/bin/spotctl
rm -f /tmp/spotctl.zip

mkdir -p /etc/spotctl
cat > /etc/spotctl/worker-command <<'SPOTCTL_WORKER_COMMAND_END'
{{command}}
SPOTCTL_WORKER_COMMAND_END

cat > /etc/systemd/system/spotctl-worker.service <<'UNIT'
[Unit]
Description=spotctl worker: runs the fleet's command per SQS message, retires itself when idle
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/spotctl agent worker --queue {{queue}} --queue-region {{queue_region}} --idle-timeout {{idle_secs}}s --visibility-timeout {{visibility_secs}}s --command-file /etc/spotctl/worker-command
Restart=on-failure
RestartSec=5
SyslogIdentifier=spot-worker

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now spotctl-worker.service
