//! A front for moto's S3 that does what moto does not: check `ExpectedBucketOwner`. Every request
//! is recorded with the owner it named (if any); one naming an owner other than this front's
//! answers 403 `AccessDenied`, as S3 does for a bucket of another account; the rest is forwarded
//! to moto as it came. Point `AWS_ENDPOINT_URL_S3` at it.

use crate::http::{forward, read_request};
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
}

impl S3OwnerFront {
    /// A front for the moto at `upstream` (`127.0.0.1:PORT`) whose buckets belong to `owner`.
    pub fn start(upstream: &str, owner: &str) -> S3OwnerFront {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the S3 front");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, upstream, owner) = (seen.clone(), upstream.to_string(), owner.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, upstream, owner) = (log.clone(), upstream.clone(), owner.clone());
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
                    let _ = forward(&stream, &req, &upstream);
                });
            }
        });
        S3OwnerFront { port, seen }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|l| l.clone()).unwrap_or_default()
    }
}
