//! A front for moto's S3 that does what moto does not: check `ExpectedBucketOwner`. Every request
//! is recorded with the owner it named (if any); one naming an owner other than this front's
//! answers 403 `AccessDenied`, as S3 does for a bucket of another account; the rest is forwarded
//! to moto as it came. Point `AWS_ENDPOINT_URL_S3` at it.
//!
//! It can also be as unkind as S3 is to conditional writes ([`S3OwnerFront::next_conditional`]):
//! answer `409 ConditionalRequestConflict` (another conditional write to the key in flight), or
//! carry the write to moto and drop the reply (a timeout: the SDK retries, and the retry meets the
//! first attempt's effect).

use crate::http::{exchange, forward, read_request};
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request as the front saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The `x-amz-expected-bucket-owner` header.
    pub owner: Option<String>,
}

pub struct S3OwnerFront {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    faults: Arc<Mutex<std::collections::VecDeque<ConditionalFault>>>,
}

/// What the front does to the next conditional PUT (`If-None-Match` or `If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionalFault {
    /// `409 ConditionalRequestConflict`, touching nothing.
    InFlight,
    /// The write reaches moto; its reply is dropped with the connection.
    LoseReply,
}

impl S3OwnerFront {
    /// A front for the moto at `upstream` (`127.0.0.1:PORT`) whose buckets belong to `owner`.
    pub fn start(upstream: &str, owner: &str) -> S3OwnerFront {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the S3 front");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let (log, upstream, owner) = (seen.clone(), upstream.to_string(), owner.to_string());
        let queued = faults.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, upstream, owner) = (log.clone(), upstream.clone(), owner.clone());
                let queued = queued.clone();
                std::thread::spawn(move || {
                    let Ok(Some(req)) = read_request(&stream) else { return };
                    let named = req.header("x-amz-expected-bucket-owner").map(String::from);
                    if let Ok(mut l) = log.lock() {
                        l.push(Seen {
                            method: req.method.clone(),
                            path: req.path.clone(),
                            owner: named.clone(),
                        });
                    }
                    if named.as_ref().is_some_and(|n| *n != owner) {
                        let body =
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
                                    <Message>Access Denied</Message></Error>";
                        let mut s = &stream;
                        let _ = write!(
                            s,
                            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                             Connection: close\r\n\r\n{body}",
                            body.len()
                        );
                        return;
                    }
                    let conditional =
                        req.header("if-none-match").is_some() || req.header("if-match").is_some();
                    let fault = (req.method == "PUT" && conditional)
                        .then(|| queued.lock().ok().and_then(|mut q| q.pop_front()))
                        .flatten();
                    match fault {
                        Some(ConditionalFault::InFlight) => {
                            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ConditionalRequestConflict</Code>\
                                        <Message>A conflicting conditional operation is currently in progress</Message></Error>";
                            let mut s = &stream;
                            let _ = write!(
                                s,
                                "HTTP/1.1 409 Conflict\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                                 Connection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                        Some(ConditionalFault::LoseReply) => {
                            // Carried out upstream; the client never hears of it.
                            let _ = exchange(&req, &upstream);
                            let _ = stream.shutdown(std::net::Shutdown::Both);
                        }
                        None => {
                            let _ = forward(&stream, &req, &upstream);
                        }
                    }
                });
            }
        });
        S3OwnerFront { port, seen, faults }
    }

    /// Queues `fault` for the next conditional PUT through the front.
    pub fn next_conditional(&self, fault: ConditionalFault) {
        if let Ok(mut q) = self.faults.lock() {
            q.push_back(fault);
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|l| l.clone()).unwrap_or_default()
    }
}
