//! A stand-in for the EC2 instance metadata service (IMDSv2 only): a session token from
//! `PUT /latest/api/token`, then metadata reads that must present it. The test sets the instance
//! id, region, the spot `instance-action` (absent → 404, as on a healthy instance) and instance
//! tags (what the agent reads through instance metadata tags).

use crate::http::{read_request, respond};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct InstanceMetadata {
    pub instance_id: String,
    pub region: String,
    pub availability_zone: String,
    pub instance_type: String,
    /// The body of `spot/instance-action`, e.g. `{"action":"terminate","time":"…"}`.
    pub instance_action: Option<String>,
    /// The body of `events/recommendations/rebalance`.
    pub rebalance: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// `public-ipv4` and `local-ipv4`: absent (404) unless set, as for an instance without one.
    pub public_ipv4: Option<String>,
    pub local_ipv4: Option<String>,
}

pub struct ImdsServer {
    pub port: u16,
    state: Arc<Mutex<InstanceMetadata>>,
    /// Requests refused for lack of a valid token (IMDSv1 attempts show up here).
    pub unauthorized: Arc<Mutex<u32>>,
}

const TOKEN: &str = "spotctl-testkit-imds-token";

impl ImdsServer {
    pub fn start(meta: InstanceMetadata) -> ImdsServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind IMDS stand-in");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let state = Arc::new(Mutex::new(meta));
        let unauthorized = Arc::new(Mutex::new(0));
        let (st, un) = (state.clone(), unauthorized.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (st, un) = (st.clone(), un.clone());
                std::thread::spawn(move || {
                    let Ok(Some(req)) = read_request(&stream) else { return };
                    if req.method == "PUT" && req.path == "/latest/api/token" {
                        // As IMDS does: the token, and its lifetime echoed in a header.
                        let ttl =
                            req.header("x-aws-ec2-metadata-token-ttl-seconds").unwrap_or("21600").to_string();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-aws-ec2-metadata-token-ttl-seconds: {ttl}\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{TOKEN}",
                            TOKEN.len()
                        );
                        let mut w = &stream;
                        use std::io::Write;
                        let _ = w.write_all(head.as_bytes());
                        return;
                    }
                    if req.header("x-aws-ec2-metadata-token") != Some(TOKEN) {
                        if let Ok(mut n) = un.lock() {
                            *n += 1;
                        }
                        let _ = respond(&stream, 401, "text/plain", b"");
                        return;
                    }
                    let meta = st.lock().map(|m| m.clone()).unwrap_or_default();
                    match lookup(&meta, &req.path) {
                        Some(body) => {
                            let _ = respond(&stream, 200, "text/plain", body.as_bytes());
                        }
                        None => {
                            let _ = respond(&stream, 404, "text/plain", b"");
                        }
                    }
                });
            }
        });
        ImdsServer { port, state, unauthorized }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The instance this stand-in describes.
    pub fn instance_id(&self) -> String {
        self.state.lock().map(|m| m.instance_id.clone()).unwrap_or_default()
    }

    pub fn update(&self, f: impl FnOnce(&mut InstanceMetadata)) {
        if let Ok(mut m) = self.state.lock() {
            f(&mut m);
        }
    }
}

fn lookup(m: &InstanceMetadata, path: &str) -> Option<String> {
    let p = path.strip_prefix("/latest/")?;
    match p {
        "meta-data/instance-id" => Some(m.instance_id.clone()),
        "meta-data/placement/region" => Some(m.region.clone()),
        "meta-data/placement/availability-zone" => Some(m.availability_zone.clone()),
        "meta-data/instance-type" => Some(m.instance_type.clone()),
        "meta-data/spot/instance-action" => m.instance_action.clone(),
        "meta-data/events/recommendations/rebalance" => m.rebalance.clone(),
        "meta-data/public-ipv4" => m.public_ipv4.clone(),
        "meta-data/local-ipv4" => m.local_ipv4.clone(),
        "meta-data/tags/instance" | "meta-data/tags/instance/" => {
            Some(m.tags.keys().cloned().collect::<Vec<_>>().join("\n"))
        }
        other => other.strip_prefix("meta-data/tags/instance/").and_then(|k| m.tags.get(k).cloned()),
    }
}
