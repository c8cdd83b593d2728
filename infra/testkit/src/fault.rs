//! A TCP proxy between a function and the local AWS stand-in that injects the faults AWS can
//! show: connections refused, calls that hang past any timeout, and throttling answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Everything passes.
    None,
    /// Every connection is closed as soon as it is made.
    Refuse,
    /// Bytes to AWS are swallowed: calls hang until the caller gives up.
    Stall,
    /// Every request is answered with AWS's throttling error, never forwarded.
    Throttle,
}

impl Fault {
    const ALL: [Fault; 4] = [Fault::None, Fault::Refuse, Fault::Stall, Fault::Throttle];

    fn from_u8(value: u8) -> Self {
        Self::ALL[usize::from(value).min(3)]
    }
}

/// How many times each fault was injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    pub refused: usize,
    pub stalled: usize,
    pub throttled: usize,
}

#[derive(Default)]
struct Counters {
    refused: AtomicUsize,
    stalled: AtomicUsize,
    throttled: AtomicUsize,
}

pub struct FaultProxy {
    url: String,
    fault: Arc<AtomicU8>,
    counters: Arc<Counters>,
    /// Open connections, closed when a fault starts so that pooled ones meet it too.
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl FaultProxy {
    /// A proxy on a free 127.0.0.1 port forwarding to `upstream` (`http://host:port`).
    pub fn to(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a proxy port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let proxy = Self {
            url,
            fault: Arc::new(AtomicU8::new(0)),
            counters: Arc::default(),
            open: Arc::default(),
        };
        let (fault, counters, open) = (
            Arc::clone(&proxy.fault),
            Arc::clone(&proxy.counters),
            Arc::clone(&proxy.open),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                match Fault::from_u8(fault.load(Ordering::SeqCst)) {
                    Fault::Refuse => {
                        counters.refused.fetch_add(1, Ordering::SeqCst);
                        let _ = client.shutdown(Shutdown::Both);
                    }
                    Fault::Throttle => {
                        counters.throttled.fetch_add(1, Ordering::SeqCst);
                        std::thread::spawn(move || throttle(client));
                    }
                    Fault::None | Fault::Stall => {
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
                            let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
                            open.push(a);
                            open.push(b);
                        }
                        let (Ok(client_out), Ok(server_out)) =
                            (client.try_clone(), server.try_clone())
                        else {
                            continue;
                        };
                        pipe(
                            client,
                            server_out,
                            Arc::clone(&fault),
                            Arc::clone(&counters),
                        );
                        pipe(
                            server,
                            client_out,
                            Arc::clone(&fault),
                            Arc::clone(&counters),
                        );
                    }
                }
            }
        });
        proxy
    }

    /// Where to point `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Injects `fault` from now on (on open connections too).
    pub fn set(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
        if fault != Fault::None {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            for stream in open.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    pub fn injected(&self) -> Injected {
        Injected {
            refused: self.counters.refused.load(Ordering::SeqCst),
            stalled: self.counters.stalled.load(Ordering::SeqCst),
            throttled: self.counters.throttled.load(Ordering::SeqCst),
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, fault: Arc<AtomicU8>, counters: Arc<Counters>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            if read == 0 {
                break;
            }
            if Fault::from_u8(fault.load(Ordering::SeqCst)) == Fault::Stall {
                counters.stalled.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            if to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Reads one request and answers it as a throttled AWS service does: JSON services (a request
/// with `X-Amz-Target`) with a `ThrottlingException`, S3 with `503 SlowDown`.
fn throttle(stream: TcpStream) {
    let Ok(reader_stream) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reader_stream);
    let (mut length, mut json) = (0usize, false);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        json |= lower.starts_with("x-amz-target:");
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let (status, headers, body) = if json {
        (
            "400 Bad Request",
            "content-type: application/x-amz-json-1.0\r\nx-amzn-errortype: ThrottlingException",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        )
    } else {
        (
            "503 Slow Down",
            "content-type: application/xml",
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        )
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{headers}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.shutdown(Shutdown::Both);
}
