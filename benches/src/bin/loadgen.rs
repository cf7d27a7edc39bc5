//! The load generator: one scenario against one running server, on one thread (the runner pins it to core 1).
//! Prints one JSON object with the measured window's numbers, the server's and its own CPU seconds.
//!
//! `loadgen --driver grest|jsonrpc|socketio|grest-client --port P --server-pid PID --scenario s1|s2|s3|s4in|
//!  s4push|s5|s5-slow|s6|s7|s8 [--conns N] [--inflight K] [--warmup S] [--secs S] [--window W] [--slow K]
//!  [--concurrency C] [--settle-ms MS] [--rate R] [--broker-pid PID]`
//!
//! S8 (cross-node fan-out) takes several servers: `--port P1,P2 --server-pid PID1,PID2`. Subscribers are spread
//! over them round-robin, the publisher talks to the first, and the servers' CPU seconds are summed; the broker's
//! (`--broker-pid`) are reported apart. `--rate R` paces the publisher at R publishes/s (still at most `--window`
//! in flight) instead of publishing as fast as the window allows.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use grest_ws::client::Client;
use grest_ws_bench::proto::{Event, Proto, reply_number};
use grest_ws_bench::wsclient::{OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, WsConn, push_frame};
use grest_ws_bench::{Control, ECHO_API, Payload, TEXT, arg, args, cpu_seconds, echo, find_seq, rss_kib};
use serde::Serialize;
use tokio::task::{LocalSet, spawn_local};
use tokio::time::{Instant, sleep, sleep_until, timeout_at};

/// How long after the window closes outstanding work may still finish before it counts as lost.
const GRACE: Duration = Duration::from_secs(5);
/// Connections opened at once while setting up.
const CONNECT_CONCURRENCY: usize = 64;

#[derive(Debug, Clone, Copy)]
enum Driver {
    Wire(Proto),
    /// grest-ws's own typed client (against the grest-ws server).
    Client,
}

#[derive(Debug, Clone)]
struct Opts {
    driver: Driver,
    /// The first server: the only one outside S8.
    addr: SocketAddr,
    /// Every server (S8: subscribers are spread over them); `addrs[0]` is `addr`.
    addrs: Vec<SocketAddr>,
    /// The first server's process.
    server_pid: u32,
    /// Every server's process, summed in the server CPU seconds.
    server_pids: Vec<u32>,
    /// S8: the backplane broker's process (Redis or NATS), whose CPU seconds are reported apart.
    broker_pid: Option<u32>,
    /// S8: publishes per second, when the publisher is paced rather than closed-loop.
    rate: Option<f64>,
    scenario: String,
    conns: usize,
    inflight: usize,
    warmup: Duration,
    secs: Duration,
    window: usize,
    /// S5-slow: subscribers, on top of the `conns` healthy ones, that never read after subscribing.
    slow: usize,
    concurrency: usize,
    /// S6: how long to wait after closing every connection before reading the RSS again.
    settle: Duration,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    ok: bool,
    error: Option<String>,
    errors: u64,
    lost: u64,
    conns: usize,
    ops: u64,
    secs: f64,
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    server_cpu_s: f64,
    gen_cpu_s: f64,
    gen_busy: f64,
    per_cpu: f64,
    /// S8: the backplane broker's CPU seconds in the window.
    broker_cpu_s: f64,
    /// S5/S8: publishes that completed in the window.
    publishes: u64,
    rss0_kib: u64,
    rssn_kib: u64,
    rss_after_kib: u64,
    per_conn_bytes: f64,
    /// S5/S5-slow: the server's RSS at the end of the window.
    rss_end_kib: u64,
    /// S5-slow: the slow subscribers, and how each one ended when read after the window: closed by the server
    /// (`slow_closed`: with a Close frame, `slow_close_frames`, or by end of stream or reset, `slow_eof`) or still
    /// open after `SLOW_PROBE` (`slow_open`).
    slow_conns: usize,
    slow_closed: u64,
    slow_close_frames: u64,
    slow_eof: u64,
    slow_open: u64,
}

#[derive(Debug, Default)]
struct Tally {
    ops: u64,
    errors: u64,
    lost: u64,
    lat_ns: Vec<u64>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.ops += other.ops;
        self.errors += other.errors;
        self.lost += other.lost;
        self.lat_ns.extend(other.lat_ns);
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn new(o: &Opts) -> Window {
        let start = Instant::now() + o.warmup;
        Window {
            start,
            end: start + o.secs,
        }
    }

    fn contains(&self, sent: Instant, now: Instant) -> bool {
        sent >= self.start && now < self.end
    }
}

fn main() {
    let a = args();
    let get = |k: &str, d: &str| arg(&a, k).unwrap_or(d).to_owned();
    let driver = match get("driver", "grest").as_str() {
        "grest-client" => Driver::Client,
        other => Driver::Wire(Proto::parse(other).unwrap_or_else(|| panic!("unknown driver {other}"))),
    };
    let secs = |k: &str, d: &str| Duration::from_secs_f64(get(k, d).parse().expect("seconds"));
    let list = |k: &str| -> Vec<String> { get(k, "0").split(',').map(str::to_owned).collect() };
    let addrs: Vec<SocketAddr> = list("port")
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p.parse().expect("port"))))
        .collect();
    let server_pids: Vec<u32> = list("server-pid").iter().map(|p| p.parse().expect("pid")).collect();
    let opts = Opts {
        driver,
        addr: addrs[0],
        addrs,
        server_pid: server_pids[0],
        server_pids,
        broker_pid: arg(&a, "broker-pid").map(|p| p.parse().expect("broker pid")),
        rate: arg(&a, "rate").map(|r| r.parse().expect("rate")),
        scenario: get("scenario", "s1"),
        conns: get("conns", "1").parse().expect("conns"),
        inflight: get("inflight", "1").parse().expect("inflight"),
        warmup: secs("warmup", "1"),
        secs: secs("secs", "3"),
        window: get("window", "4").parse().expect("window"),
        slow: get("slow", "0").parse().expect("slow"),
        concurrency: get("concurrency", "64").parse().expect("concurrency"),
        settle: Duration::from_millis(get("settle-ms", "1000").parse().expect("settle-ms")),
    };
    let rt = grest_ws_bench::runtime();
    let report = LocalSet::new().block_on(&rt, run(opts));
    println!("{}", serde_json::to_string(&report).expect("json"));
}

async fn run(o: Opts) -> Report {
    let result = match (o.scenario.as_str(), o.driver) {
        ("s1" | "s2", Driver::Wire(p)) => rpc_wire(&o, p).await,
        ("s1" | "s2", Driver::Client) => rpc_client(&o).await,
        ("s3", Driver::Wire(p)) => ask_wire(&o, p).await,
        ("s3", Driver::Client) => ask_client(&o).await,
        ("s4in", Driver::Wire(p)) => ingest_wire(&o, p).await,
        ("s4push", Driver::Wire(p)) => push_wire(&o, p).await,
        ("s5" | "s5-slow" | "s8", Driver::Wire(p)) => fanout_wire(&o, p).await,
        ("s6", Driver::Wire(p)) => memory_wire(&o, p).await,
        ("s7", Driver::Wire(p)) => storm_wire(&o, p).await,
        (s, d) => Err(format!("scenario {s} is not implemented for {d:?}")),
    };
    match result {
        Ok(mut r) => {
            r.ok = r.errors == 0 && r.lost == 0;
            r
        }
        Err(e) => Report {
            error: Some(e),
            ..Report::default()
        },
    }
}

/// Samples the servers' (summed) and the generator's CPU seconds at the window's edges.
fn sample_cpu(pids: &[u32], w: Window) -> tokio::task::JoinHandle<(f64, f64)> {
    let pids = pids.to_vec();
    let servers = move || pids.iter().map(|&pid| cpu_seconds(pid)).sum::<f64>();
    spawn_local(async move {
        sleep_until(w.start).await;
        let (s0, g0) = (servers(), cpu_seconds(std::process::id()));
        sleep_until(w.end).await;
        (servers() - s0, cpu_seconds(std::process::id()) - g0)
    })
}

fn finish(o: &Opts, mut t: Tally, secs: f64, cpu: (f64, f64), conns: usize) -> Report {
    t.lat_ns.sort_unstable();
    let pct = |q: f64| {
        if t.lat_ns.is_empty() {
            0.0
        } else {
            let i = ((t.lat_ns.len() as f64 * q).ceil() as usize).clamp(1, t.lat_ns.len()) - 1;
            t.lat_ns[i] as f64 / 1000.0
        }
    };
    let _ = o;
    Report {
        errors: t.errors,
        lost: t.lost,
        conns,
        ops: t.ops,
        secs,
        rate: t.ops as f64 / secs,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        server_cpu_s: cpu.0,
        gen_cpu_s: cpu.1,
        gen_busy: cpu.1 / secs,
        per_cpu: if cpu.0 > 0.0 { t.ops as f64 / cpu.0 } else { 0.0 },
        ..Report::default()
    }
}

fn payload_json(out: &mut Vec<u8>, seq: u64) {
    use std::io::Write as _;
    out.clear();
    let _ = write!(out, "{{\"seq\":{seq},\"text\":\"{TEXT}\"}}");
}

async fn connect(addr: SocketAddr, proto: Proto) -> io::Result<WsConn> {
    connect_with(addr, proto, None).await
}

/// [`connect`] with `SO_RCVBUF` set to `recv_buffer` first, if given.
async fn connect_with(addr: SocketAddr, proto: Proto, recv_buffer: Option<u32>) -> io::Result<WsConn> {
    let mut c = WsConn::connect(addr, proto.path(), recv_buffer).await?;
    proto.handshake(&mut c).await?;
    Ok(c)
}

/// Runs `open(i)` for `i` in `0..n`, `CONNECT_CONCURRENCY` at a time (results in completion order); fails on the
/// first error, reported as `what: error`.
async fn open_all<T, F: Future<Output = io::Result<T>>>(
    n: usize,
    what: &str,
    open: impl FnMut(usize) -> F,
) -> Result<Vec<T>, String> {
    futures_util::stream::iter(0..n)
        .map(open)
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| format!("{what}: {e}"))
}

/// Opens `n` connections; fails on the first error.
async fn connect_all(addr: SocketAddr, proto: Proto, n: usize) -> Result<Vec<WsConn>, String> {
    open_all(n, "connect", |_| connect(addr, proto)).await
}

/// One request/reply on a fresh connection, outside any window (setup): the number in the reply's data, if any.
async fn call(c: &mut WsConn, proto: Proto, method: &str, id: u64, data: &[u8]) -> io::Result<u64> {
    let reply = proto.call(c, method, id, data).await?;
    Ok(reply_number(&reply).unwrap_or(0))
}

/// Answers pings found in a frame; returns the event for the caller otherwise.
fn handle_control(c_wbuf: &mut Vec<u8>, opcode: u8, payload: &[u8]) -> bool {
    match opcode {
        OP_PING => {
            push_frame(c_wbuf, OP_PONG, payload);
            true
        }
        OP_PONG => true,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// S1 / S2: closed-loop RPC, K requests in flight per connection.

async fn rpc_wire(o: &Opts, proto: Proto) -> Result<Report, String> {
    let conns = connect_all(o.addr, proto, o.conns).await?;
    let w = Window::new(o);
    let cpu = sample_cpu(&o.server_pids, w);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| spawn_local(rpc_conn(c, proto, o.inflight, w)))
        .collect();
    let mut total = Tally::default();
    for t in tasks {
        total.add(t.await.map_err(|e| e.to_string())?);
    }
    let cpu = cpu.await.map_err(|e| e.to_string())?;
    Ok(finish(o, total, o.secs.as_secs_f64(), cpu, o.conns))
}

async fn rpc_conn(mut c: WsConn, proto: Proto, inflight: usize, w: Window) -> Tally {
    const RING: usize = 1024;
    let mut t = Tally::default();
    let mut sent = vec![(0u64, w.start); RING];
    let mut next_id: u64 = 1;
    let mut outstanding = 0usize;
    let (mut frame, mut data) = (Vec::new(), Vec::new());
    loop {
        let now = Instant::now();
        if now < w.end {
            while outstanding < inflight {
                payload_json(&mut data, next_id);
                proto.request(&mut frame, "echo", next_id, &data);
                c.queue_text(&frame);
                sent[next_id as usize % RING] = (next_id, now);
                next_id += 1;
                outstanding += 1;
            }
        } else if outstanding == 0 {
            break;
        }
        if c.flush().await.is_err() {
            t.errors += 1;
            t.lost += outstanding as u64;
            break;
        }
        match timeout_at(w.end + GRACE, c.read_more()).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => {
                t.errors += 1;
                t.lost += outstanding as u64;
                break;
            }
            Err(_) => {
                t.lost += outstanding as u64;
                break;
            }
        }
        let now = Instant::now();
        loop {
            let f = match c.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    t.errors += 1;
                    return t;
                }
            };
            let payload = &c.rbuf[f.start..f.end];
            if handle_control(&mut c.wbuf, f.opcode, payload) {
                continue;
            }
            if f.opcode == OP_CLOSE {
                t.errors += 1;
                t.lost += outstanding as u64;
                return t;
            }
            match proto.classify(payload) {
                Event::Reply { id, ok, .. } => {
                    let (sid, at) = sent[id as usize % RING];
                    if sid != id {
                        t.errors += 1;
                        continue;
                    }
                    outstanding -= 1;
                    if !ok {
                        t.errors += 1;
                    } else if w.contains(at, now) {
                        t.ops += 1;
                        t.lat_ns.push((now - at).as_nanos() as u64);
                    }
                }
                Event::Ping => push_frame(&mut c.wbuf, OP_TEXT, proto.pong()),
                _ => {}
            }
        }
    }
    c.close().await;
    t
}

/// `n` typed clients, each on its own socket.
async fn connect_clients(o: &Opts, handlers: impl Fn() -> echo::Handlers) -> Result<Vec<echo::Client>, String> {
    let url = format!("ws://{}", o.addr);
    let clients: Vec<_> = futures_util::stream::iter(0..o.conns)
        .map(|_| Client::new(ECHO_API, url.clone()).connect(handlers()))
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    clients
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("connect: {e}"))
}

async fn rpc_client(o: &Opts) -> Result<Report, String> {
    let clients = connect_clients(o, echo::Handlers::new).await?;
    let w = Window::new(o);
    let cpu = sample_cpu(&o.server_pids, w);
    let mut tasks = Vec::new();
    for (n, client) in clients.iter().enumerate() {
        for k in 0..o.inflight {
            let client = client.clone();
            let mut seq = ((n * o.inflight + k) as u64) << 32;
            tasks.push(spawn_local(async move {
                let mut t = Tally::default();
                loop {
                    let at = Instant::now();
                    if at >= w.end {
                        break;
                    }
                    seq += 1;
                    match timeout_at(w.end + GRACE, client.echo(&Payload::new(seq))).await {
                        Ok(Ok(p)) if p.seq == seq => {
                            let now = Instant::now();
                            if w.contains(at, now) {
                                t.ops += 1;
                                t.lat_ns.push((now - at).as_nanos() as u64);
                            }
                        }
                        Ok(_) => t.errors += 1,
                        Err(_) => {
                            t.lost += 1;
                            break;
                        }
                    }
                }
                t
            }));
        }
    }
    let mut total = Tally::default();
    for t in tasks {
        total.add(t.await.map_err(|e| e.to_string())?);
    }
    let cpu = cpu.await.map_err(|e| e.to_string())?;
    for c in &clients {
        c.disconnect().await;
    }
    Ok(finish(o, total, o.secs.as_secs_f64(), cpu, o.conns))
}

// ---------------------------------------------------------------------------------------------------------------
// S3: the server keeps K requests in flight to each client; the client answers.

async fn ask_wire(o: &Opts, proto: Proto) -> Result<Report, String> {
    let conns = connect_all(o.addr, proto, o.conns).await?;
    let w = Window::new(o);
    let cpu = sample_cpu(&o.server_pids, w);
    let control = format!("{{\"n\":{}}}", o.inflight);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let mut frame = Vec::new();
            proto.message(&mut frame, "startAsk", control.as_bytes());
            c.queue_text(&frame);
            spawn_local(answer_conn(c, proto, w))
        })
        .collect();
    let mut total = Tally::default();
    for t in tasks {
        total.add(t.await.map_err(|e| e.to_string())?);
    }
    let cpu = cpu.await.map_err(|e| e.to_string())?;
    Ok(finish(o, total, o.secs.as_secs_f64(), cpu, o.conns))
}

async fn answer_conn(mut c: WsConn, proto: Proto, w: Window) -> Tally {
    let mut t = Tally::default();
    let mut out = Vec::new();
    loop {
        if c.flush().await.is_err() {
            t.errors += 1;
            break;
        }
        match timeout_at(w.end, c.read_more()).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => {
                t.errors += 1;
                break;
            }
            Err(_) => break,
        }
        let now = Instant::now();
        loop {
            let f = match c.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    t.errors += 1;
                    return t;
                }
            };
            let payload = &c.rbuf[f.start..f.end];
            if handle_control(&mut c.wbuf, f.opcode, payload) {
                continue;
            }
            match proto.classify(payload) {
                Event::ServerRequest { id, data } => {
                    proto.answer(&mut out, id, data);
                    push_frame(&mut c.wbuf, OP_TEXT, &out);
                    if now >= w.start && now < w.end {
                        t.ops += 1;
                    }
                }
                Event::Ping => push_frame(&mut c.wbuf, OP_TEXT, proto.pong()),
                _ => {}
            }
        }
    }
    c.close().await;
    t
}

async fn ask_client(o: &Opts) -> Result<Report, String> {
    let answered = Arc::new(AtomicU64::new(0));
    let counter = answered.clone();
    let clients = connect_clients(o, move || {
        let counter = counter.clone();
        echo::Handlers::new().on_ask(move |p: Payload| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move { Ok(p) }
        })
    })
    .await?;
    let w = Window::new(o);
    let cpu = sample_cpu(&o.server_pids, w);
    for c in &clients {
        c.start_ask(&Control { n: o.inflight as u32 })
            .await
            .map_err(|e| format!("startAsk: {e}"))?;
    }
    sleep_until(w.start).await;
    let before = answered.load(Ordering::Relaxed);
    sleep_until(w.end).await;
    let ops = answered.load(Ordering::Relaxed) - before;
    let cpu = cpu.await.map_err(|e| e.to_string())?;
    for c in &clients {
        c.disconnect().await;
    }
    let t = Tally {
        ops,
        ..Tally::default()
    };
    Ok(finish(o, t, o.secs.as_secs_f64(), cpu, o.conns))
}

// ---------------------------------------------------------------------------------------------------------------
// S4: fire-and-forget ingest (client floods) and push (server floods).

async fn ingest_wire(o: &Opts, proto: Proto) -> Result<Report, String> {
    let mut control = connect(o.addr, proto).await.map_err(|e| format!("connect: {e}"))?;
    let conns = connect_all(o.addr, proto, o.conns).await?;
    let w = Window::new(o);
    let mut batch = Vec::new();
    let (mut frame, mut data) = (Vec::new(), Vec::new());
    for seq in 0..64 {
        payload_json(&mut data, seq);
        proto.message(&mut frame, "ingest", &data);
        push_frame(&mut batch, OP_TEXT, &frame);
    }
    let batch = Rc::new(batch);
    let failed = Rc::new(Cell::new(0u64));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let (batch, failed) = (batch.clone(), failed.clone());
            spawn_local(async move {
                while Instant::now() < w.end {
                    c.wbuf.extend_from_slice(&batch);
                    if c.flush().await.is_err() || c.discard_available().is_err() {
                        failed.set(failed.get() + 1);
                        return;
                    }
                }
                c.close().await;
            })
        })
        .collect();
    // The count is read at the server; CPU and time are taken when each answer arrives, so the three agree
    // up to one reply's latency.
    sleep_until(w.start).await;
    let n0 = call(&mut control, proto, "stats", 1, b"")
        .await
        .map_err(|e| format!("stats: {e}"))?;
    let (t0, s0, g0) = (
        Instant::now(),
        cpu_seconds(o.server_pid),
        cpu_seconds(std::process::id()),
    );
    sleep_until(w.end).await;
    let n1 = call(&mut control, proto, "stats", 2, b"")
        .await
        .map_err(|e| format!("stats: {e}"))?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu_seconds(o.server_pid) - s0, cpu_seconds(std::process::id()) - g0);
    for t in tasks {
        let _ = t.await;
    }
    let mut r = finish(
        o,
        Tally {
            ops: n1.saturating_sub(n0),
            errors: failed.get(),
            ..Tally::default()
        },
        secs,
        cpu,
        o.conns,
    );
    if r.ops == 0 {
        r.errors += 1;
    }
    Ok(r)
}

async fn push_wire(o: &Opts, proto: Proto) -> Result<Report, String> {
    let conns = connect_all(o.addr, proto, o.conns).await?;
    let w = Window::new(o);
    let cpu = sample_cpu(&o.server_pids, w);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let mut frame = Vec::new();
            proto.message(&mut frame, "startPush", b"{\"n\":0}");
            c.queue_text(&frame);
            spawn_local(async move {
                let mut t = Tally::default();
                loop {
                    if c.flush().await.is_err() {
                        t.errors += 1;
                        break;
                    }
                    match timeout_at(w.end, c.read_more()).await {
                        Ok(Ok(n)) if n > 0 => {}
                        Ok(_) => {
                            t.errors += 1;
                            break;
                        }
                        Err(_) => break,
                    }
                    let now = Instant::now();
                    let counting = now >= w.start && now < w.end;
                    while let Ok(Some(f)) = c.next_frame() {
                        let payload = &c.rbuf[f.start..f.end];
                        if handle_control(&mut c.wbuf, f.opcode, payload) {
                            continue;
                        }
                        match proto.classify(payload) {
                            Event::Push(_) if counting => t.ops += 1,
                            Event::Ping => push_frame(&mut c.wbuf, OP_TEXT, proto.pong()),
                            _ => {}
                        }
                    }
                }
                drop(c);
                t
            })
        })
        .collect();
    let mut total = Tally::default();
    for t in tasks {
        total.add(t.await.map_err(|e| e.to_string())?);
    }
    let cpu = cpu.await.map_err(|e| e.to_string())?;
    Ok(finish(o, total, o.secs.as_secs_f64(), cpu, o.conns))
}

// ---------------------------------------------------------------------------------------------------------------
// S5: one publisher, N subscribers; a publish is done when the last subscriber has it. S5-slow: the same plus K
// slow subscribers that subscribe and then never read again; a publish is done when the last healthy subscriber
// has it, and after the window the slow ones are read to see whether the server closed them.

const FAN_RING: usize = 4096;
/// S5-slow: the `SO_RCVBUF` asked for on the slow subscribers' sockets, so their receive window closes at once.
const SLOW_RCVBUF: u32 = 4096;
/// S5-slow: how long after the window the slow subscribers are read for a Close frame or the end of the stream.
const SLOW_PROBE: Duration = Duration::from_secs(2);

struct Fan {
    counts: Vec<u32>,
    target: u32,
    done: tokio::sync::mpsc::UnboundedSender<u64>,
}

/// How a slow subscriber's connection stood when it was read after the window.
enum SlowEnd {
    /// The server sent a Close frame.
    CloseFrame,
    /// End of stream or reset.
    Eof,
    /// Neither before the deadline.
    Open,
}

/// Opens and subscribes `o.conns` healthy and `o.slow` slow subscribers (`SLOW_RCVBUF`), the slow ones spread
/// evenly among the others in the order they are opened, and all of them round-robin over the servers (S8);
/// returns (healthy, slow).
async fn subscribe_all(o: &Opts, proto: Proto) -> Result<(Vec<WsConn>, Vec<WsConn>), String> {
    let total = o.conns + o.slow;
    let subs = open_all(total, "subscribe", |i| {
        // Exactly `o.slow` of the `total` indices, evenly spaced.
        let slow = (i + 1) * o.slow / total > i * o.slow / total;
        let addr = o.addrs[i % o.addrs.len()];
        async move {
            let mut c = connect_with(addr, proto, slow.then_some(SLOW_RCVBUF)).await?;
            call(&mut c, proto, "subscribe", 1, b"").await?;
            Ok((slow, c))
        }
    })
    .await?;
    let (slow, healthy): (Vec<_>, Vec<_>) = subs.into_iter().partition(|(slow, _)| *slow);
    let conns = |v: Vec<(bool, WsConn)>| v.into_iter().map(|(_, c)| c).collect();
    Ok((conns(healthy), conns(slow)))
}

/// Reads a slow subscriber until a Close frame, the end of the stream or `deadline`; fails on a malformed frame.
async fn probe_slow(mut c: WsConn, deadline: Instant) -> io::Result<SlowEnd> {
    loop {
        while let Some(f) = c.next_frame()? {
            if f.opcode == OP_CLOSE {
                return Ok(SlowEnd::CloseFrame);
            }
        }
        match timeout_at(deadline, c.read_more()).await {
            Ok(Ok(0) | Err(_)) => return Ok(SlowEnd::Eof),
            Ok(Ok(_)) => {}
            Err(_) => return Ok(SlowEnd::Open),
        }
    }
}

/// The sequence numbers of [`settle`]'s probes, far from the measured publishes'.
const PROBE_SEQ: u64 = 1 << 40;
/// How many probes [`settle`] sends, each given [`PROBE_WAIT`] to reach every subscriber.
const PROBES: u64 = 20;
const PROBE_WAIT: Duration = Duration::from_millis(500);

/// Publishes probes until one reaches every subscriber in `subs` (with a backplane, a node subscribes to the
/// room's channel shortly after its first member joins; a publish before that would never complete), reading each
/// subscriber up to that probe so that none is left for the measurement. Fails after [`PROBES`] attempts.
async fn settle(publisher: &mut WsConn, subs: &mut [WsConn], proto: Proto) -> Result<(), String> {
    let (mut frame, mut data) = (Vec::new(), Vec::new());
    for k in 0..PROBES {
        let seq = PROBE_SEQ + k;
        payload_json(&mut data, seq);
        proto.request(&mut frame, "publish", seq, &data);
        publisher.queue_text(&frame);
        publisher.flush().await.map_err(|e| format!("probe: {e}"))?;
        let deadline = Instant::now() + PROBE_WAIT;
        let mut everyone = true;
        for c in subs.iter_mut() {
            if !read_until_seq(c, proto, seq, deadline).await? {
                everyone = false;
            }
        }
        if everyone {
            return Ok(());
        }
    }
    Err(format!("no probe reached every subscriber in {PROBES} attempts"))
}

/// Reads `c` until it has `news` with sequence number `seq` (true) or `deadline` passes (false).
async fn read_until_seq(c: &mut WsConn, proto: Proto, seq: u64, deadline: Instant) -> Result<bool, String> {
    loop {
        while let Some(f) = c.next_frame().map_err(|e| format!("probe: {e}"))? {
            let payload = &c.rbuf[f.start..f.end];
            if handle_control(&mut c.wbuf, f.opcode, payload) {
                continue;
            }
            match proto.classify(payload) {
                Event::Push(data) if find_seq(data) == Some(seq) => return Ok(true),
                Event::Ping => push_frame(&mut c.wbuf, OP_TEXT, proto.pong()),
                _ => {}
            }
        }
        match timeout_at(deadline, c.read_more()).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Err("probe: a subscriber's connection ended".into()),
            Err(_) => return Ok(false),
        }
    }
}

async fn fanout_wire(o: &Opts, proto: Proto) -> Result<Report, String> {
    let (mut subscribed, slow) = subscribe_all(o, proto).await?;
    let mut publisher = connect(o.addr, proto).await.map_err(|e| format!("connect: {e}"))?;
    settle(&mut publisher, &mut subscribed, proto).await?;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let fan = Rc::new(RefCell::new(Fan {
        counts: vec![0; FAN_RING],
        target: o.conns as u32,
        done: done_tx,
    }));
    let w = Window::new(o);
    let cpu = sample_cpu(&o.server_pids, w);
    let broker_cpu = o.broker_pid.map(|pid| sample_cpu(&[pid], w));
    let pid = o.server_pid;
    let rss_end = spawn_local(async move {
        sleep_until(w.end).await;
        rss_kib(pid)
    });
    let sub_errors = Rc::new(Cell::new(0u64));
    let sub_tasks: Vec<_> = subscribed
        .into_iter()
        .map(|mut c| {
            let (fan, errors) = (fan.clone(), sub_errors.clone());
            spawn_local(async move {
                loop {
                    if c.flush().await.is_err() {
                        errors.set(errors.get() + 1);
                        return;
                    }
                    match timeout_at(w.end + GRACE, c.read_more()).await {
                        Ok(Ok(n)) if n > 0 => {}
                        Ok(_) => {
                            errors.set(errors.get() + 1);
                            return;
                        }
                        Err(_) => return,
                    }
                    while let Ok(Some(f)) = c.next_frame() {
                        let payload = &c.rbuf[f.start..f.end];
                        if handle_control(&mut c.wbuf, f.opcode, payload) {
                            continue;
                        }
                        match proto.classify(payload) {
                            Event::Push(data) => {
                                if let Some(seq) = find_seq(data) {
                                    let mut fan = fan.borrow_mut();
                                    let slot = seq as usize % FAN_RING;
                                    fan.counts[slot] += 1;
                                    if fan.counts[slot] == fan.target {
                                        fan.counts[slot] = 0;
                                        let _ = fan.done.send(seq);
                                    }
                                }
                            }
                            Event::Ping => push_frame(&mut c.wbuf, OP_TEXT, proto.pong()),
                            _ => {}
                        }
                    }
                }
            })
        })
        .collect();

    let mut t = Tally::default();
    let mut sent = vec![w.start; FAN_RING];
    let mut next: u64 = 1;
    let mut outstanding = 0usize;
    let (mut frame, mut data) = (Vec::new(), Vec::new());
    // Paced (`--rate`): the next publish is due at `due`; publishes the window held back are not made up later.
    let interval = o.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut due = Instant::now();
    loop {
        let now = Instant::now();
        if now < w.end {
            while outstanding < o.window && (interval.is_none() || due <= now) {
                payload_json(&mut data, next);
                proto.request(&mut frame, "publish", next, &data);
                publisher.queue_text(&frame);
                sent[next as usize % FAN_RING] = now;
                next += 1;
                outstanding += 1;
                if let Some(interval) = interval {
                    // On schedule, whatever the timer's granularity; at most one publish of catching up.
                    due = (due + interval).max(now - interval);
                }
            }
        } else if outstanding == 0 {
            break;
        }
        if publisher.flush().await.is_err() {
            t.errors += 1;
            break;
        }
        let waiting_to_publish = interval.is_some() && now < w.end && outstanding < o.window;
        tokio::select! {
            () = sleep_until(due), if waiting_to_publish => {}
            seq = done_rx.recv() => {
                let Some(seq) = seq else { break };
                let now = Instant::now();
                outstanding -= 1;
                let at = sent[seq as usize % FAN_RING];
                if w.contains(at, now) {
                    t.ops += 1;
                    t.lat_ns.push((now - at).as_nanos() as u64);
                }
            }
            n = publisher.read_more() => {
                match n {
                    Ok(n) if n > 0 => {}
                    _ => { t.errors += 1; break; }
                }
                while let Ok(Some(f)) = publisher.next_frame() {
                    let payload = &publisher.rbuf[f.start..f.end];
                    if handle_control(&mut publisher.wbuf, f.opcode, payload) {
                        continue;
                    }
                    match proto.classify(payload) {
                        Event::Reply { ok: false, .. } => t.errors += 1,
                        Event::Ping => push_frame(&mut publisher.wbuf, OP_TEXT, proto.pong()),
                        _ => {}
                    }
                }
            }
            () = sleep_until(w.end + GRACE) => {
                t.lost += outstanding as u64;
                break;
            }
        }
    }
    let cpu = cpu.await.map_err(|e| e.to_string())?;
    let rss_end = rss_end.await.map_err(|e| e.to_string())?;
    for task in sub_tasks {
        task.abort();
    }
    t.errors += sub_errors.get();
    let mut r = finish(o, t, o.secs.as_secs_f64(), cpu, o.conns);
    if let Some(broker_cpu) = broker_cpu {
        r.broker_cpu_s = broker_cpu.await.map_err(|e| e.to_string())?.0;
    }
    r.publishes = r.ops;
    // Deliveries: every completed publish reached every healthy subscriber.
    r.rate *= o.conns as f64;
    r.per_cpu *= o.conns as f64;
    r.rss_end_kib = rss_end;
    // A server that closes (or drops) a slow subscriber is not in error: that is what is counted here.
    r.slow_conns = slow.len();
    let deadline = Instant::now() + SLOW_PROBE;
    for end in futures_util::future::join_all(slow.into_iter().map(|c| probe_slow(c, deadline))).await {
        match end {
            Ok(SlowEnd::CloseFrame) => r.slow_close_frames += 1,
            Ok(SlowEnd::Eof) => r.slow_eof += 1,
            Ok(SlowEnd::Open) => r.slow_open += 1,
            Err(_) => r.errors += 1,
        }
    }
    r.slow_closed = r.slow_close_frames + r.slow_eof;
    Ok(r)
}

// ---------------------------------------------------------------------------------------------------------------
// S6: idle memory per connection; S7: connect storm.

async fn memory_wire(o: &Opts, proto: Proto) -> Result<Report, String> {
    let warm = connect_all(o.addr, proto, 16).await?;
    for c in warm {
        c.close().await;
    }
    sleep(Duration::from_millis(300)).await;
    let rss0 = rss_kib(o.server_pid);
    let conns = open_all(o.conns, "connect+call", |i| async move {
        let mut c = connect(o.addr, proto).await?;
        let mut data = Vec::new();
        payload_json(&mut data, i as u64);
        call(&mut c, proto, "echo", 1, &data).await?;
        Ok(c)
    })
    .await?;
    sleep(Duration::from_millis(500)).await;
    let rssn = rss_kib(o.server_pid);
    for c in conns {
        c.close().await;
    }
    sleep(o.settle).await;
    let rss_after = rss_kib(o.server_pid);
    Ok(Report {
        conns: o.conns,
        ops: o.conns as u64,
        rss0_kib: rss0,
        rssn_kib: rssn,
        rss_after_kib: rss_after,
        per_conn_bytes: (rssn as f64 - rss0 as f64) * 1024.0 / o.conns as f64,
        ..Report::default()
    })
}

async fn storm_wire(o: &Opts, proto: Proto) -> Result<Report, String> {
    let tickets = Rc::new(Cell::new(0usize));
    let total = o.conns;
    let start = Instant::now();
    let (s0, g0) = (cpu_seconds(o.server_pid), cpu_seconds(std::process::id()));
    let tasks: Vec<_> = (0..o.concurrency)
        .map(|_| {
            let tickets = tickets.clone();
            let addr = o.addr;
            spawn_local(async move {
                let mut t = Tally::default();
                let mut kept = Vec::new();
                loop {
                    let n = tickets.get();
                    if n >= total {
                        break;
                    }
                    tickets.set(n + 1);
                    let at = Instant::now();
                    match timeout_at(at + GRACE, connect(addr, proto)).await {
                        Ok(Ok(c)) => {
                            t.ops += 1;
                            t.lat_ns.push(at.elapsed().as_nanos() as u64);
                            kept.push(c);
                        }
                        _ => t.errors += 1,
                    }
                }
                (t, kept)
            })
        })
        .collect();
    let mut all = Tally::default();
    let mut kept = Vec::new();
    for task in tasks {
        let (t, k) = task.await.map_err(|e| e.to_string())?;
        all.add(t);
        kept.extend(k);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds(o.server_pid) - s0, cpu_seconds(std::process::id()) - g0);
    drop(kept);
    Ok(finish(o, all, secs, cpu, total))
}
