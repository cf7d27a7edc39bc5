//! The scaling simulation of the Redis backplane (issue 15): one `redis-server` and `--nodes` grest-ws servers
//! (`srv-grest --redis`) sharing it, all pinned to core 0; this process (the clients) runs wherever it is put
//! (`benches/scaling.sh` pins it to core 1). For each total connection count, fresh processes; every connection
//! subscribes to one room, spread round-robin over the nodes; one publisher on node 1 sends `--broadcasts`
//! broadcasts, at most 4 in flight, and each must reach every subscriber. Measured from Redis itself (`INFO`
//! through `redis-cli`): `PUBLISH` calls and network bytes per broadcast; from `/proc`: the nodes' CPU per broadcast
//! and RSS per connection. A last row puts a second room's members on the last node only and broadcasts to it.
//!
//! The nodes' heartbeats (one `PUBLISH` per node every 2 s on the `nodes` topic) and the `INFO` calls' own bytes
//! are measured while idle before each broadcast phase and subtracted; the raw counts are printed too.
//!
//! `scaling [--nodes 4] [--counts 100,400,1600,4000] [--broadcasts 200] [--solo 100]`: prints a Markdown table.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use grest_ws::server::NODE_HEARTBEAT;
use grest_ws_bench::proto::{Event, Proto};
use grest_ws_bench::wsclient::{OP_PING, OP_PONG, OP_TEXT, WsConn, push_frame};
use grest_ws_bench::{TEXT, arg, args, cpu_seconds, find_seq, rss_kib};
use tokio::sync::mpsc;
use tokio::task::{LocalSet, spawn_local};
use tokio::time::{Instant, sleep, timeout_at};

/// Broadcasts in flight at once.
const WINDOW: u64 = 4;
/// How long a broadcast may take to reach everyone before the phase is abandoned.
const DEADLINE: Duration = Duration::from_secs(20);
/// Idle time over which the heartbeats are measured (two heartbeat periods).
const IDLE: Duration = Duration::from_secs(4);
/// The room every subscriber joins (the `Echo` contract's `subscribe`).
const ROOM: &str = "subscribers";
/// The second room, with members on the last node only.
const SOLO: &str = "solo";
/// Sequence numbers of the settling probes, far from the measured broadcasts'.
const PROBE_SEQ: u64 = 1 << 40;

fn main() {
    let a = args();
    let nodes: usize = arg(&a, "nodes").unwrap_or("4").parse().expect("nodes");
    let counts: Vec<usize> = arg(&a, "counts")
        .unwrap_or("100,400,1600,4000")
        .split(',')
        .map(|n| n.parse().expect("count"))
        .collect();
    let broadcasts: u64 = arg(&a, "broadcasts").unwrap_or("200").parse().expect("broadcasts");
    let solo: usize = arg(&a, "solo").unwrap_or("100").parse().expect("solo");
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("binary directory");
    let rt = grest_ws_bench::runtime();
    let mut rows = Vec::new();
    for &n in &counts {
        eprintln!("== {n} connections over {nodes} nodes");
        let row = LocalSet::new().block_on(&rt, phase(&bin_dir, nodes, n, 0, broadcasts));
        eprintln!("   {row:?}");
        rows.push(row);
    }
    let n = counts.first().copied().unwrap_or(100);
    eprintln!("== {n} connections over {nodes} nodes + room {SOLO:?} with {solo} members on node {nodes} only");
    let row = LocalSet::new().block_on(&rt, phase(&bin_dir, nodes, n, solo, broadcasts));
    eprintln!("   {row:?}");
    rows.push(row);
    print!("{}", markdown(nodes, broadcasts, &rows));
}

/// One row of the table.
#[derive(Debug, Default)]
struct Row {
    /// Members of the room broadcast to, and on how many nodes.
    members: usize,
    member_nodes: usize,
    /// Connections in all.
    conns: usize,
    /// The room broadcast to.
    room: &'static str,
    error: Option<String>,
    broadcasts: u64,
    deliveries: u64,
    secs: f64,
    publish_calls: u64,
    heartbeat_calls: f64,
    in_bytes: f64,
    out_bytes: f64,
    /// Subscribers Redis has on the room's channel (`PUBSUB NUMSUB`).
    numsub: u64,
    /// Each node's CPU seconds during the broadcasts.
    node_cpu: Vec<f64>,
    rss_per_conn: f64,
}

/// What `INFO` says at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    publish_calls: f64,
    in_bytes: f64,
    out_bytes: f64,
}

impl std::ops::Sub for Stats {
    type Output = Stats;
    fn sub(self, o: Stats) -> Stats {
        Stats {
            publish_calls: self.publish_calls - o.publish_calls,
            in_bytes: self.in_bytes - o.in_bytes,
            out_bytes: self.out_bytes - o.out_bytes,
        }
    }
}

/// Runs `redis-cli -p port args…` and returns its output.
fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// `PUBLISH` calls and network bytes so far.
fn stats(port: u16) -> Stats {
    let field = |text: &str, key: &str| -> f64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let commands = redis_cli(port, &["INFO", "commandstats"]);
    let net = redis_cli(port, &["INFO", "stats"]);
    Stats {
        publish_calls: field(&commands, "cmdstat_publish:calls="),
        in_bytes: field(&net, "total_net_input_bytes:"),
        out_bytes: field(&net, "total_net_output_bytes:"),
    }
}

/// The processes of one phase, killed when dropped.
struct Cluster {
    redis: Child,
    redis_port: u16,
    nodes: Vec<(Child, SocketAddr)>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.nodes.iter_mut().map(|(c, _)| c).chain([&mut self.redis]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts Redis on a free loopback port and `nodes` servers on it, all pinned to core 0.
fn start(bin_dir: &Path, nodes: usize) -> Result<Cluster, String> {
    let redis_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let redis = Command::new("taskset")
        .args(["-c", "0", "redis-server", "--bind", "127.0.0.1", "--port"])
        .arg(redis_port.to_string())
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server: {e}"))?;
    let mut cluster = Cluster {
        redis,
        redis_port,
        nodes: Vec::new(),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
        if std::time::Instant::now() > deadline {
            return Err("redis-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("redis://127.0.0.1:{redis_port}");
    let bin: PathBuf = bin_dir.join("srv-grest");
    for _ in 0..nodes {
        let mut child = Command::new("taskset")
            .args(["-c", "0"])
            .arg(&bin)
            .args(["--redis", &url])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("srv-grest: {e}"))?;
        let mut line = String::new();
        let port = child.stdout.take().and_then(|out| {
            let mut reader = BufReader::new(out);
            let _ = reader.read_line(&mut line);
            // Keep the pipe open for the server's life.
            std::mem::forget(reader);
            line.trim().strip_prefix("PORT ")?.parse::<u16>().ok()
        });
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("srv-grest did not announce a port".into());
        };
        cluster.nodes.push((child, SocketAddr::from(([127, 0, 0, 1], port))));
    }
    Ok(cluster)
}

/// Opens a grest connection to `addr` and calls `method` with `data` on it.
async fn member(addr: SocketAddr, method: &str, data: &[u8]) -> std::io::Result<WsConn> {
    let proto = Proto::Grest;
    let mut c = WsConn::connect(addr, proto.path(), None).await?;
    proto.handshake(&mut c).await?;
    proto.call(&mut c, method, 1, data).await?;
    Ok(c)
}

/// The news payload with sequence number `seq`.
fn news(seq: u64) -> String {
    format!("{{\"seq\":{seq},\"text\":\"{TEXT}\"}}")
}

/// One broadcast to `room`: `publish` for the main room, `publishTo` otherwise.
fn broadcast(frame: &mut Vec<u8>, room: &str, seq: u64) {
    if room == ROOM {
        Proto::Grest.request(frame, "publish", seq, news(seq).as_bytes());
    } else {
        let post = format!("{{\"room\":\"{room}\",\"news\":{}}}", news(seq));
        Proto::Grest.request(frame, "publishTo", seq, post.as_bytes());
    }
}

/// Deliveries per sequence number, shared by the subscribers' readers.
struct Tally {
    counts: std::collections::HashMap<u64, usize>,
    target: usize,
    delivered: u64,
    done: mpsc::UnboundedSender<u64>,
}

/// Reads `c` until it fails, counting `news` into `tally` (answers pings).
async fn read_news(mut c: WsConn, tally: Rc<RefCell<Tally>>) {
    let proto = Proto::Grest;
    loop {
        if c.flush().await.is_err() || !matches!(c.read_more().await, Ok(n) if n > 0) {
            return;
        }
        while let Ok(Some(f)) = c.next_frame() {
            let payload = &c.rbuf[f.start..f.end];
            if matches!(f.opcode, OP_PING | OP_PONG) {
                if f.opcode == OP_PING {
                    push_frame(&mut c.wbuf, OP_PONG, payload);
                }
                continue;
            }
            match proto.classify(payload) {
                Event::Push(data) => {
                    let Some(seq) = find_seq(data) else { continue };
                    let mut t = tally.borrow_mut();
                    t.delivered += 1;
                    let target = t.target;
                    let count = t.counts.entry(seq).or_insert(0);
                    *count += 1;
                    if *count == target {
                        t.counts.remove(&seq);
                        let _ = t.done.send(seq);
                    }
                }
                Event::Ping => push_frame(&mut c.wbuf, OP_TEXT, proto.pong()),
                _ => {}
            }
        }
    }
}

/// One row: `n` subscribers of [`ROOM`] over all nodes; with `solo > 0`, also `solo` members of [`SOLO`] on the
/// last node only, and the broadcasts go to [`SOLO`].
async fn phase(bin_dir: &Path, nodes: usize, n: usize, solo: usize, k: u64) -> Row {
    let (room, members, member_nodes) = if solo > 0 {
        (SOLO, solo, 1)
    } else {
        (ROOM, n, nodes.min(n))
    };
    let mut row = Row {
        members,
        member_nodes,
        conns: n + solo,
        room,
        broadcasts: k,
        ..Row::default()
    };
    if let Err(e) = measure(bin_dir, nodes, n, solo, k, &mut row).await {
        row.error = Some(e);
    }
    row
}

async fn measure(bin_dir: &Path, nodes: usize, n: usize, solo: usize, k: u64, row: &mut Row) -> Result<(), String> {
    let cluster = start(bin_dir, nodes)?;
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|(_, a)| *a).collect();
    let pids: Vec<u32> = cluster.nodes.iter().map(|(c, _)| c.id()).collect();
    sleep(Duration::from_millis(300)).await;
    let rss0: u64 = pids.iter().map(|&p| rss_kib(p)).sum();
    let subscribers: Vec<WsConn> = futures_util::stream::iter(0..n)
        .map(|i| member(addrs[i % addrs.len()], "subscribe", b""))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("subscribe: {e}"))?;
    let join = format!("{{\"name\":\"{SOLO}\"}}");
    let last = addrs[addrs.len() - 1];
    let solos: Vec<WsConn> = futures_util::stream::iter(0..solo)
        .map(|_| member(last, "join", join.as_bytes()))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("join: {e}"))?;
    let mut publisher = WsConn::connect(addrs[0], Proto::Grest.path(), None)
        .await
        .map_err(|e| format!("publisher: {e}"))?;
    Proto::Grest
        .handshake(&mut publisher)
        .await
        .map_err(|e| format!("publisher: {e}"))?;
    sleep(Duration::from_millis(500)).await;
    let rss_n: u64 = pids.iter().map(|&p| rss_kib(p)).sum();
    row.rss_per_conn = (rss_n as f64 - rss0 as f64) * 1024.0 / (n + solo) as f64;

    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let tally = Rc::new(RefCell::new(Tally {
        counts: std::collections::HashMap::new(),
        target: if solo > 0 { solo } else { n },
        delivered: 0,
        done: done_tx,
    }));
    // Only the members of the room broadcast to are read; the others' sockets just fill (they get nothing).
    let readers: Vec<_> = (if solo > 0 { solos } else { subscribers })
        .into_iter()
        .map(|c| spawn_local(read_news(c, tally.clone())))
        .collect();
    // Settle: one probe must reach every member (a node subscribes to the room's channel just after its first
    // member joins).
    let mut frame = Vec::new();
    let mut settled = false;
    for probe in 0..20 {
        broadcast(&mut frame, row.room, PROBE_SEQ + probe);
        publisher.queue_text(&frame);
        publisher.flush().await.map_err(|e| format!("probe: {e}"))?;
        if timeout_at(Instant::now() + Duration::from_millis(500), done_rx.recv())
            .await
            .is_ok()
        {
            settled = true;
            break;
        }
    }
    if !settled {
        return Err("no probe reached every member".into());
    }
    tally.borrow_mut().counts.clear();

    // Idle: the INFO calls' own bytes (back to back), then the heartbeats over IDLE.
    let s0 = stats(cluster.redis_port);
    let s1 = stats(cluster.redis_port);
    sleep(IDLE).await;
    let s2 = stats(cluster.redis_port);
    let overhead = s1 - s0;
    let idle = s2 - s1;
    let per_sec = |v: f64, o: f64| (v - o).max(0.0) / IDLE.as_secs_f64();
    let hb = Stats {
        publish_calls: idle.publish_calls / IDLE.as_secs_f64(),
        in_bytes: per_sec(idle.in_bytes, overhead.in_bytes),
        out_bytes: per_sec(idle.out_bytes, overhead.out_bytes),
    };

    let delivered0 = tally.borrow().delivered;
    let before = stats(cluster.redis_port);
    let cpu0: Vec<f64> = pids.iter().map(|&p| cpu_seconds(p)).collect();
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let (mut sent, mut completed) = (0u64, 0u64);
    while completed < k {
        while sent < k && sent - completed < WINDOW {
            broadcast(&mut frame, row.room, sent + 1);
            publisher.queue_text(&frame);
            sent += 1;
        }
        publisher.flush().await.map_err(|e| format!("publish: {e}"))?;
        // The publisher's replies are drained so that its socket never fills.
        let _ = publisher.discard_available();
        match timeout_at(deadline, done_rx.recv()).await {
            Ok(Some(_)) => completed += 1,
            _ => break,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    row.node_cpu = pids.iter().zip(&cpu0).map(|(&p, c0)| cpu_seconds(p) - c0).collect();
    // The Redis window lasts whole heartbeat periods (the nodes started together, so their heartbeats come in
    // bursts): it then holds as many heartbeats as the idle rate says, not a burst more or less.
    let period = NODE_HEARTBEAT.as_secs_f64();
    let window = ((secs + 0.2) / period).ceil() * period;
    tokio::time::sleep_until(started + Duration::from_secs_f64(window)).await;
    let after = stats(cluster.redis_port);
    row.secs = secs;
    row.deliveries = tally.borrow().delivered - delivered0;
    let delta = after - before;
    row.publish_calls = delta.publish_calls as u64;
    row.heartbeat_calls = hb.publish_calls * window;
    row.in_bytes = delta.in_bytes - overhead.in_bytes - hb.in_bytes * window;
    row.out_bytes = delta.out_bytes - overhead.out_bytes - hb.out_bytes * window;
    let channel = redis_cli(
        cluster.redis_port,
        &["PUBSUB", "CHANNELS", &format!("*:room:{}", row.room)],
    );
    if let Some(name) = channel.lines().next().filter(|l| !l.is_empty()) {
        row.numsub = redis_cli(cluster.redis_port, &["PUBSUB", "NUMSUB", name])
            .lines()
            .nth(1)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
    }
    for r in readers {
        r.abort();
    }
    if completed < k {
        return Err(format!(
            "{completed} of {k} broadcasts reached every member within {DEADLINE:?}"
        ));
    }
    Ok(())
}

fn markdown(nodes: usize, k: u64, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n{nodes} grest-ws nodes (`srv-grest --redis`) + 1 redis-server, all on core 0; clients on core 1. {k} \
         broadcasts per row (at most {WINDOW} in flight), 64-byte payload. Redis numbers are deltas of `INFO` over \
         the broadcasts, less the idle rate measured over {} s before them (heartbeats) and the `INFO` calls' own \
         bytes.\n",
        IDLE.as_secs()
    );
    let _ = writeln!(
        s,
        "| room members (nodes) | conns | PUBLISH per broadcast | raw PUBLISH calls (heartbeats est.) | Redis in B/broadcast | Redis out B/broadcast | NUMSUB | deliveries (expected) | node CPU µs/broadcast (per node) | RSS B/conn | broadcasts/s |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let k = r.broadcasts as f64;
        let per_node: Vec<String> = r.node_cpu.iter().map(|c| format!("{:.0}", c * 1e6 / k)).collect();
        let total: f64 = r.node_cpu.iter().sum();
        let _ = writeln!(
            s,
            "| {} in `{}` ({}) | {} | {:.2} | {} ({:.1}) | {:.0} | {:.0} | {} | {} ({}) | {:.0} ({}) | {:.0} | {:.0} |{}",
            r.members,
            r.room,
            r.member_nodes,
            r.conns,
            (r.publish_calls as f64 - r.heartbeat_calls) / k,
            r.publish_calls,
            r.heartbeat_calls,
            r.in_bytes / k,
            r.out_bytes / k,
            r.numsub,
            r.deliveries,
            r.broadcasts * r.members as u64,
            total * 1e6 / k,
            per_node.join(" / "),
            r.rss_per_conn,
            if r.secs > 0.0 { k / r.secs } else { 0.0 },
            r.error.as_ref().map(|e| format!(" **error: {e}**")).unwrap_or_default(),
        );
    }
    s
}
