//! A stand-in for CloudWatch's `PutMetricData`. The Rust SDK speaks CloudWatch's current protocol
//! (Smithy RPC v2 CBOR), which moto does not understand (getmoto/moto#9195), so the metrics
//! spotctl publishes are received here instead: the request is decoded from CBOR and each datum
//! is recorded with the region its signature names, for the test to read back. Other operations
//! answer 400, so nothing is silently accepted.

use crate::http::read_request;
use ciborium::Value;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub region: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub value: f64,
}

pub struct CloudWatchServer {
    pub port: u16,
    data: Arc<Mutex<Vec<Datum>>>,
}

fn get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.as_map()?.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_text).unwrap_or_default().to_string()
}

fn number(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Float(f)) => *f,
        Some(Value::Integer(i)) => i128::from(*i) as f64,
        _ => f64::NAN,
    }
}

/// The region in a SigV4 `Authorization` header's credential scope.
fn signed_region(auth: &str) -> String {
    auth.split("Credential=").nth(1).and_then(|c| c.split('/').nth(2)).unwrap_or_default().to_string()
}

fn reply(mut stream: &std::net::TcpStream, status: u16, body: &[u8]) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        if status == 200 { "OK" } else { "Bad Request" },
        body.len()
    );
    let _ = stream.write_all(body);
}

impl CloudWatchServer {
    pub fn start() -> CloudWatchServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind CloudWatch stand-in");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let data = Arc::new(Mutex::new(Vec::new()));
        let sink = data.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let Ok(Some(req)) = read_request(&stream) else { return };
                    if !req.path.ends_with("/operation/PutMetricData") {
                        let mut body = Vec::new();
                        let err = Value::Map(vec![(
                            Value::Text("__type".into()),
                            Value::Text("UnsupportedOperation".into()),
                        )]);
                        let _ = ciborium::ser::into_writer(&err, &mut body);
                        reply(&stream, 400, &body);
                        return;
                    }
                    let region = signed_region(req.header("authorization").unwrap_or_default());
                    let Ok(input) = ciborium::de::from_reader::<Value, _>(req.body.as_slice()) else {
                        reply(&stream, 400, &[0xa0]);
                        return;
                    };
                    let namespace = text(get(&input, "Namespace"));
                    let items =
                        get(&input, "MetricData").and_then(Value::as_array).cloned().unwrap_or_default();
                    let mut got: Vec<Datum> = items
                        .iter()
                        .map(|d| Datum {
                            region: region.clone(),
                            namespace: namespace.clone(),
                            name: text(get(d, "MetricName")),
                            dimensions: get(d, "Dimensions")
                                .and_then(Value::as_array)
                                .map(|ds| {
                                    ds.iter().map(|x| (text(get(x, "Name")), text(get(x, "Value")))).collect()
                                })
                                .unwrap_or_default(),
                            value: number(get(d, "Value")),
                        })
                        .collect();
                    if let Ok(mut all) = sink.lock() {
                        all.append(&mut got);
                    }
                    // PutMetricData's output is an empty structure: an empty CBOR map.
                    reply(&stream, 200, &[0xa0]);
                });
            }
        });
        CloudWatchServer { port, data }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every datum received so far, in arrival order.
    pub fn data(&self) -> Vec<Datum> {
        self.data.lock().map(|d| d.clone()).unwrap_or_default()
    }
}
