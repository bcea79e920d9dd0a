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
INSTANCE_ID=$(imds meta-data/instance-id)

# MariaDB 10.5 from the Amazon Linux 2023 repositories (ARD.md: why MariaDB rather than MySQL),
# unless the image is a prepared one ([instance] image_parameter) that has it already.
if ! command -v mariadbd >/dev/null || ! command -v unzip >/dev/null; then
  dnf install -y mariadb105-server unzip
fi

# The agent is the spotctl binary itself, the same build as the handoff Lambda.
aws s3 cp --region {{home_region}} 's3://{{bucket}}/{{agent_key}}' /tmp/spotctl.zip
unzip -p /tmp/spotctl.zip bootstrap > /usr/local/bin/spotctl
chmod 0755 /usr/local/bin/spotctl
rm -f /tmp/spotctl.zip

# TLS only (ARD.md, The endpoint): this instance's certificate, signed by the env's CA (read from
# {{ca_param}} with this instance's role), naming the endpoint and this instance's addresses.
/usr/local/bin/spotctl agent tls --env {{env}} --region {{home_region}} --name {{endpoint_name}} --out /etc/my.cnf.d/tls
chown -R mysql:mysql /etc/my.cnf.d/tls

mkdir -p /etc/my.cnf.d
cat > /etc/my.cnf.d/spotctl.cnf <<'CNF'
[mysqld]
# Fenced from boot: only the agent of the instance the primary record names turns writes on.
read_only = 1
log-bin = mysql-bin
binlog_format = ROW
local-infile = 1
innodb_flush_log_at_trx_commit = 1
# Continuous protection (ARD.md): every acknowledged commit is in the binary log, fsynced and
# checksummed, with GTIDs that follow one another; spotctl-ship ships it as it is written.
binlog_row_image = FULL
binlog_checksum = CRC32
sync_binlog = 1
gtid_domain_id = 0
gtid_strict_mode = 1
max_binlog_size = 256M
# A safety net only: the log is shipped within a second; a file purged before that is a gap.
expire_logs_days = 3
# TLS only: every TCP connection is encrypted (the socket, local to root, is exempt).
ssl_ca = /etc/my.cnf.d/tls/ca.pem
ssl_cert = /etc/my.cnf.d/tls/server-cert.pem
ssl_key = /etc/my.cnf.d/tls/server-key.pem
require_secure_transport = ON
CNF
# Each instance its own server_id (replication refuses two servers with one id; the log says which
# server wrote each event): the instance id's last eight hex digits, in 1..2^32-1 (ARD.md).
printf '[mysqld]\nserver-id = %d\n' $(( 16#${INSTANCE_ID: -8} % 4294967295 + 1 )) > /etc/my.cnf.d/spotctl-server-id.cnf
systemctl enable --now mariadb

PASSWORD=$(aws ssm get-parameter --region {{home_region}} --name '{{password_param}}' --with-decryption --query Parameter.Value --output text)
mysql --user=root <<SQL
CREATE DATABASE IF NOT EXISTS \`{{database}}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '${PASSWORD}' REQUIRE SSL;
ALTER USER 'app'@'%' IDENTIFIED BY '${PASSWORD}' REQUIRE SSL;
GRANT ALL PRIVILEGES ON \`{{database}}\`.* TO 'app'@'%';
SQL
unset PASSWORD
echo '{{schema_b64}}' | base64 -d | mysql --user=root '{{database}}'


cat > /etc/systemd/system/spotctl-agent.service <<UNIT
[Unit]
Description=spotctl agent: watches for spot interruption and drain requests, drains or restores MariaDB
After=mariadb.service network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/spotctl agent watch --bucket {{bucket}} --bucket-region {{home_region}} --env {{env}} --database {{database}} --mysql mysql://root@localhost/{{database}}?socket=/var/lib/mysql/mysql.sock --primary-unit spotctl-ship.service --primary-unit spotctl-base.timer
Restart=always
RestartSec=2
SyslogIdentifier=spot-handler
Environment=AWS_REGION=${REGION}

[Install]
WantedBy=multi-user.target
UNIT
# Continuous protection: the binary log to the bucket as it is written, and a base backup (niced:
# on a small instance the backup's CPU is what slows writers) a minute after this instance becomes
# the primary, then every [backup] base_every: until its first base, the log of a primary a handoff
# made cannot be recovered alone. The agent starts both once the primary's log timeline is begun.
# The instance role deletes nothing, so retention runs elsewhere (ARD.md, Continuous protection).
# The shipper is ordered before MariaDB so that on shutdown it stops after the server: its last
# flush stores the commits the server took while the instance was going down. At a reboot it
# starts before the server, fails to reach it and is restarted 5 s later (Restart=on-failure).
cat > /etc/systemd/system/spotctl-ship.service <<UNIT
[Unit]
Description=spotctl ship: the primary's binary log to the state bucket, continuously
Before=mariadb.service
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/spotctl agent ship --mysql mysql://root@localhost/?socket=/var/lib/mysql/mysql.sock --to s3://{{bucket}}/backups --bucket-region {{home_region}} --stats-every 1h
Restart=on-failure
RestartSec=5
SyslogIdentifier=spot-ship
Environment=AWS_REGION=${REGION}

[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/spotctl-base.service <<UNIT
[Unit]
Description=spotctl base backup while writes go on (retention is not the instance's: it may not delete)
After=mariadb.service network-online.target

[Service]
Type=oneshot
Nice=19
IOSchedulingClass=idle
ExecStart=/usr/local/bin/spotctl agent base-backup --mysql mysql://root@localhost/?socket=/var/lib/mysql/mysql.sock --to s3://{{bucket}}/backups --bucket-region {{home_region}} --database {{database}}
SyslogIdentifier=spot-base
Environment=AWS_REGION=${REGION}
UNIT
cat > /etc/systemd/system/spotctl-base.timer <<UNIT
[Unit]
Description=spotctl base backup every {{base_every}}

[Timer]
OnActiveSec=1min
OnUnitActiveSec={{base_every}}

[Install]
WantedBy=timers.target
UNIT

systemctl daemon-reload
systemctl enable --now spotctl-agent.service
# Only the primary ships and takes bases: the agent starts both (--primary-unit) once this
# instance serves as the primary, a first primary at its first look, a standby when it promotes.
