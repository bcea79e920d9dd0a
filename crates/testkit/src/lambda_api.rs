//! A stand-in for the AWS Lambda Runtime API, so the real handler binary runs its real runtime
//! loop (`lambda_runtime`) outside AWS: the test queues events, the binary fetches them with
//! `GET …/invocation/next`, and its answers (`…/response` or `…/error`) are recorded.

use crate::http::{read_request, respond};
use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub request_id: String,
    /// True for `…/error`.
    pub error: bool,
    pub body: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, String)>,
    answers: Vec<Answer>,
}

pub struct RuntimeApi {
    pub port: u16,
    state: Arc<(Mutex<State>, Condvar)>,
}

pub const FUNCTION_ARN: &str = "arn:aws:lambda:ap-northeast-1:123456789012:function:spotctl-dev-handler";

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind runtime API stand-in");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let st = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || {
                    let Ok(Some(req)) = read_request(&stream) else { return };
                    let (lock, cv) = &*st;
                    if req.method == "GET" && req.path.ends_with("/runtime/invocation/next") {
                        let mut s = match lock.lock() {
                            Ok(s) => s,
                            Err(_) => return,
                        };
                        while s.queue.is_empty() {
                            s = match cv.wait_timeout(s, Duration::from_secs(1)) {
                                Ok((s, _)) => s,
                                Err(_) => return,
                            };
                        }
                        let Some((id, body)) = s.queue.pop_front() else { return };
                        drop(s);
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\n\
                             Lambda-Runtime-Deadline-Ms: 9999999999999\r\nLambda-Runtime-Invoked-Function-Arn: {FUNCTION_ARN}\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let mut w = &stream;
                        use std::io::Write;
                        let _ = w.write_all(head.as_bytes());
                        let _ = w.write_all(body.as_bytes());
                        return;
                    }
                    let parts: Vec<&str> = req.path.split('/').collect();
                    // /2018-06-01/runtime/invocation/{id}/response|error
                    if req.method == "POST" && parts.len() >= 6 {
                        let id = parts[4].to_string();
                        let error = parts[5] == "error";
                        if let Ok(mut s) = lock.lock() {
                            s.answers.push(Answer {
                                request_id: id,
                                error,
                                body: String::from_utf8_lossy(&req.body).into(),
                            });
                        }
                        cv.notify_all();
                        let _ = respond(&stream, 202, "application/json", b"{}");
                        return;
                    }
                    let _ = respond(&stream, 404, "text/plain", b"");
                });
            }
        });
        RuntimeApi { port, state }
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the binary.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn invoke(&self, request_id: &str, event: &str) {
        let (lock, cv) = &*self.state;
        if let Ok(mut s) = lock.lock() {
            s.queue.push_back((request_id.to_string(), event.to_string()));
        }
        cv.notify_all();
    }

    /// Waits until `n` answers arrived (or the timeout passed) and returns them.
    pub fn answers(&self, n: usize, timeout: Duration) -> Vec<Answer> {
        let (lock, cv) = &*self.state;
        let deadline = std::time::Instant::now() + timeout;
        let Ok(mut s) = lock.lock() else { return Vec::new() };
        while s.answers.len() < n && std::time::Instant::now() < deadline {
            s = match cv.wait_timeout(s, Duration::from_millis(200)) {
                Ok((s, _)) => s,
                Err(_) => return Vec::new(),
            };
        }
        s.answers.clone()
    }
}
