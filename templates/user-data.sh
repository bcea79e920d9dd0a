#!/bin/bash
# spotctl user-data for env "{{env}}". Rendered by spotctl; it holds no secret: the MySQL password
# is read from SSM Parameter Store ({{password_param}}) at boot and never written to a log.
set -euo pipefail
exec > >(tee -a /var/log/spotctl-user-data.log | logger -t spotctl-user-data) 2>&1

# IMDSv2 only: every metadata read takes a session token.
imds() {
  local token
  token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -fsS -H "X-aws-ec2-metadata-token: ${token}" "http://169.254.169.254/latest/$1"
}
REGION=$(imds meta-data/placement/region)

# MariaDB 10.5 from the Amazon Linux 2023 repositories (ARD.md: why MariaDB rather than MySQL).
dnf install -y mariadb105-server unzip
mkdir -p /etc/my.cnf.d
cat > /etc/my.cnf.d/spotctl.cnf <<'CNF'
[mysqld]
# Fenced from boot: only the agent of the instance the primary record names turns writes on.
read_only = 1
log-bin = mysql-bin
server-id = 1
binlog_format = ROW
local-infile = 1
innodb_flush_log_at_trx_commit = 1
CNF
systemctl enable --now mariadb

PASSWORD=$(aws ssm get-parameter --region {{home_region}} --name '{{password_param}}' --with-decryption --query Parameter.Value --output text)
mysql --user=root <<SQL
CREATE DATABASE IF NOT EXISTS \`{{database}}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '${PASSWORD}';
ALTER USER 'app'@'%' IDENTIFIED BY '${PASSWORD}';
GRANT ALL PRIVILEGES ON \`{{database}}\`.* TO 'app'@'%';
SQL
unset PASSWORD
echo '{{schema_b64}}' | base64 -d | mysql --user=root '{{database}}'

# The agent is the spotctl binary itself, the same build as the handoff Lambda.
aws s3 cp --region {{home_region}} 's3://{{bucket}}/{{agent_key}}' /tmp/spotctl.zip
unzip -p /tmp/spotctl.zip bootstrap > /usr/local/bin/spotctl
chmod 0755 /usr/local/bin/spotctl
rm -f /tmp/spotctl.zip

cat > /etc/systemd/system/spotctl-agent.service <<UNIT
[Unit]
Description=spotctl agent: watches for spot interruption and drain requests, drains or restores MariaDB
After=mariadb.service network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/spotctl agent watch --bucket {{bucket}} --bucket-region {{home_region}} --env {{env}} --database {{database}} --mysql mysql://root@localhost/{{database}}?socket=/var/lib/mysql/mysql.sock
Restart=always
RestartSec=2
SyslogIdentifier=spot-handler
Environment=AWS_REGION=${REGION}

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now spotctl-agent.service
