//! Just enough HTTP/1.1 for the stand-in servers: read one request, write one response, close.
//! (Every response says `Connection: close`, so clients open a new connection per request.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The request exactly as received, to forward it.
    pub raw: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A form field of an `application/x-www-form-urlencoded` body (the EC2 Query protocol).
    pub fn form(&self, key: &str) -> Option<String> {
        let body = String::from_utf8_lossy(&self.body);
        body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| percent_decode(v))
        })
    }

    /// Every value of form fields whose name starts with `prefix` (`InstanceTypes.1`, `.2`, …).
    pub fn form_all(&self, prefix: &str) -> Vec<String> {
        let body = String::from_utf8_lossy(&self.body);
        let mut found: Vec<(String, String)> = body
            .split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.starts_with(prefix).then(|| (k.to_string(), percent_decode(v)))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, v)| v).collect()
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one request; `None` when the peer closed without sending one.
pub fn read_request(stream: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut raw = Vec::new();
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    raw.extend_from_slice(line.as_bytes());
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        raw.extend_from_slice(h.as_bytes());
        let trimmed = h.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((k, v)) = trimmed.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    raw.extend_from_slice(&body);
    Ok(Some(Request { method, path, headers, body, raw }))
}

pub fn respond(mut stream: &TcpStream, status: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

/// Sends `req` to `upstream` as it came and relays the whole response back.
pub fn forward(client: &TcpStream, req: &Request, upstream: &str) -> std::io::Result<()> {
    let resp = exchange(req, upstream)?;
    let mut c = client;
    c.write_all(&resp)?;
    c.flush()
}

/// Sends `req` to `upstream` and reads its whole response.
pub fn exchange(req: &Request, upstream: &str) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream)?;
    // Ask the upstream to close after answering, so reading to the end reads one response.
    let text = String::from_utf8_lossy(&req.raw);
    let (head, _) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut head: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    head.push_str("\r\nConnection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    Ok(resp)
}

/// Serves one fixed body to every GET (a stand-in for a public file such as the Spot Advisor
/// feed), counting the requests.
pub struct StaticServer {
    pub port: u16,
    pub hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl StaticServer {
    pub fn start(body: Vec<u8>) -> StaticServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind static server");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (h, body) = (hits.clone(), std::sync::Arc::new(body));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (h, body) = (h.clone(), body.clone());
                std::thread::spawn(move || {
                    if let Ok(Some(_)) = read_request(&stream) {
                        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _ = respond(&stream, 200, "application/json", &body);
                    }
                });
            }
        });
        StaticServer { port, hits }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/spot-advisor-data.json", self.port)
    }
}
