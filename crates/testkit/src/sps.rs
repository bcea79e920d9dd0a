//! A stand-in EC2 endpoint that answers `GetSpotPlacementScores` (moto does not implement it) in
//! the EC2 Query/XML protocol, and forwards every other request to moto unchanged.
//!
//! The test sets how it behaves (scores, a refusal such as `MaxConfigLimitExceeded`, throttling)
//! and reads back the requests it saw, so budget, cache and fallback logic are tested over real
//! HTTP through the real SDK.

use crate::http::{forward, read_request, respond};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq)]
pub enum SpsBehaviour {
    /// Answer with these (region, availability zone id, score) rows.
    Scores(Vec<(String, Option<String>, u8)>),
    /// Answer with an EC2 error: code and HTTP status (`MaxConfigLimitExceeded`/400,
    /// `RequestLimitExceeded`/503, `UnauthorizedOperation`/403 …).
    Error(String, u16),
}

/// One `GetSpotPlacementScores` request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpsRequest {
    pub instance_types: Vec<String>,
    pub regions: Vec<String>,
    pub target_capacity: Option<String>,
    pub single_az: Option<String>,
}

pub struct SpsServer {
    pub port: u16,
    behaviour: Arc<Mutex<SpsBehaviour>>,
    seen: Arc<Mutex<Vec<SpsRequest>>>,
}

impl SpsServer {
    /// Listens on a free port; forwards everything but SPS to `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: String, behaviour: SpsBehaviour) -> SpsServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SPS stand-in");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let behaviour = Arc::new(Mutex::new(behaviour));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (b, s) = (behaviour.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (b, s, upstream) = (b.clone(), s.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let Ok(Some(req)) = read_request(&stream) else { return };
                    if req.form("Action").as_deref() == Some("GetSpotPlacementScores") {
                        let seen_req = SpsRequest {
                            instance_types: req.form_all("InstanceType"),
                            regions: req.form_all("RegionName"),
                            target_capacity: req.form("TargetCapacity"),
                            single_az: req.form("SingleAvailabilityZone"),
                        };
                        if let Ok(mut v) = s.lock() {
                            v.push(seen_req);
                        }
                        let current = b.lock().map(|g| g.clone()).unwrap_or(SpsBehaviour::Scores(vec![]));
                        let (status, body) = answer(&current);
                        let _ = respond(&stream, status, "text/xml", body.as_bytes());
                    } else {
                        let _ = forward(&stream, &req, &upstream);
                    }
                });
            }
        });
        SpsServer { port, behaviour, seen }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, behaviour: SpsBehaviour) {
        if let Ok(mut b) = self.behaviour.lock() {
            *b = behaviour;
        }
    }

    /// The SPS requests received so far.
    pub fn requests(&self) -> Vec<SpsRequest> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

fn answer(b: &SpsBehaviour) -> (u16, String) {
    match b {
        SpsBehaviour::Scores(rows) => {
            let items: String = rows
                .iter()
                .map(|(region, az, score)| {
                    let az = az.as_ref().map(|a| format!("<availabilityZoneId>{a}</availabilityZoneId>")).unwrap_or_default();
                    format!("<item><region>{region}</region>{az}<score>{score}</score></item>")
                })
                .collect();
            (
                200,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetSpotPlacementScoresResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                     <requestId>spotctl-testkit</requestId><spotPlacementScoreSet>{items}</spotPlacementScoreSet>\
                     </GetSpotPlacementScoresResponse>"
                ),
            )
        }
        SpsBehaviour::Error(code, status) => (
            *status,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
                 <Message>stand-in refusal: {code}</Message></Error></Errors><RequestID>spotctl-testkit</RequestID></Response>"
            ),
        ),
    }
}
