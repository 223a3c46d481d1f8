//! A small TCP proxy on loopback for fault tests: it forwards to a real source, and can
//! turn into a blackhole (connections are accepted and kept, nothing passes), slow
//! every chunk the source sends, or cut the connections it holds.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FORWARD: u8 = 0;
const BLACKHOLE: u8 = 1;
const SLOW: u8 = 2;

pub struct Proxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    delay_ms: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            mode: Arc::new(AtomicU8::new(FORWARD)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            closed: Arc::new(AtomicBool::new(false)),
            streams: Arc::default(),
        };
        let (mode, delay, closed, streams) =
            (proxy.mode.clone(), proxy.delay_ms.clone(), proxy.closed.clone(), proxy.streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if closed.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                streams.lock().unwrap().push(client.try_clone().unwrap());
                if mode.load(Ordering::SeqCst) == BLACKHOLE {
                    continue; // kept open in `streams`, never answered
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                streams.lock().unwrap().push(server.try_clone().unwrap());
                let pipe = |mut from: TcpStream, mut to: TcpStream, slowed: bool, mode: Arc<AtomicU8>, delay: Arc<AtomicU64>| {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            // A blackhole swallows everything from now on.
                            while mode.load(Ordering::SeqCst) == BLACKHOLE {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            if slowed && mode.load(Ordering::SeqCst) == SLOW {
                                std::thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap(), false, mode.clone(), delay.clone());
                pipe(server, client, true, mode.clone(), delay.clone());
            }
        });
        proxy
    }

    pub fn forward(&self) {
        self.mode.store(FORWARD, Ordering::SeqCst);
    }

    /// From now on nothing passes either way; connections stay open.
    pub fn blackhole(&self) {
        self.mode.store(BLACKHOLE, Ordering::SeqCst);
    }

    /// Every connection open now is cut both ways, as a source that restarts cuts them;
    /// new ones are forwarded as the mode says.
    pub fn cut(&self) {
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Every chunk the source sends waits `delay` first.
    pub fn slow(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
        self.mode.store(SLOW, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        self.mode.store(FORWARD, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
