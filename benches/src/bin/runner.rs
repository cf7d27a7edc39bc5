//! Runs the whole suite: for every scenario, each peer server in a fresh process pinned to core 0 and the load
//! generator pinned to core 1, repetitions interleaved A/B/C/A/B/C, medians of the valid runs, ratios to **raw**
//! from the same run. Writes `bench-results.json` and prints Markdown tables.
//!
//! `runner quick|full [--only s1,s2,…] [--peers raw,grest,…] [--out PATH]`: `--only` takes scenario prefixes
//! (`s4` picks s4in and s4push), except that a variant after a `-` needs its own name (`s5` picks S5 only,
//! `s5-slow` S5-slow).
//!
//! S8 (cross-node fan-out) runs its cross-node peers as a broker (`redis-server` or `nats-server`, started per run on
//! a free loopback port) and two servers sharing it, all on core 0, and prints tables of its own.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use grest_ws_bench::{arg, args};
use serde_json::{Value, json};

/// A run whose generator was this busy (CPU seconds per wall second) is generator-bound.
const GEN_BOUND: f64 = 0.9;

struct Peer {
    name: &'static str,
    bin: &'static str,
    server_args: &'static [&'static str],
    driver: &'static str,
    /// S8: the backplane broker the peer's servers share; `None`: one server on its own.
    broker: Option<Broker>,
}

/// A backplane broker started for each run of a cross-node peer (S8), on a free loopback port, pinned to core 0
/// with the servers, and stopped after the run.
#[derive(Clone, Copy)]
enum Broker {
    /// `redis-server --save '' --appendonly no`; the servers get `--redis redis://127.0.0.1:PORT`.
    Redis,
    /// `nats-server -a 127.0.0.1`; the servers get `--nats nats://127.0.0.1:PORT`.
    Nats,
}

/// How many servers a cross-node peer runs (the subscribers are split evenly over them).
const CLUSTER_NODES: usize = 2;

const PEERS: &[Peer] = &[
    Peer {
        name: "raw",
        bin: "srv-raw",
        server_args: &[],
        driver: "grest",
        broker: None,
    },
    Peer {
        name: "raw-flush-each",
        bin: "srv-raw",
        server_args: &["--flush-each"],
        driver: "grest",
        broker: None,
    },
    Peer {
        name: "raw-default",
        bin: "srv-raw",
        server_args: &["--default-buffers"],
        driver: "grest",
        broker: None,
    },
    Peer {
        name: "fastwebsockets",
        bin: "srv-fastws",
        server_args: &[],
        driver: "grest",
        broker: None,
    },
    Peer {
        name: "grest-ws",
        bin: "srv-grest",
        server_args: &[],
        driver: "grest",
        broker: None,
    },
    Peer {
        name: "grest-ws+client",
        bin: "srv-grest",
        server_args: &[],
        driver: "grest-client",
        broker: None,
    },
    Peer {
        name: "jsonrpsee",
        bin: "srv-jsonrpsee",
        server_args: &[],
        driver: "jsonrpc",
        broker: None,
    },
    Peer {
        name: "socketioxide",
        bin: "srv-socketio",
        server_args: &[],
        driver: "socketio",
        broker: None,
    },
    Peer {
        name: "socketioxide-8k",
        bin: "srv-socketio",
        server_args: &["--read-buf", "8192"],
        driver: "socketio",
        broker: None,
    },
    Peer {
        name: "grest-ws-redis",
        bin: "srv-grest",
        server_args: &[],
        driver: "grest",
        broker: Some(Broker::Redis),
    },
    Peer {
        name: "grest-ws-nats",
        bin: "srv-grest",
        server_args: &[],
        driver: "grest",
        broker: Some(Broker::Nats),
    },
    Peer {
        name: "socketioxide-redis",
        bin: "srv-socketio",
        server_args: &[],
        driver: "socketio",
        broker: Some(Broker::Redis),
    },
];

#[derive(Clone, Copy)]
struct Metric {
    key: &'static str,
    label: &'static str,
    higher_is_better: bool,
}

const fn m(key: &'static str, label: &'static str, higher_is_better: bool) -> Metric {
    Metric {
        key,
        label,
        higher_is_better,
    }
}

struct Case {
    id: String,
    scenario: &'static str,
    title: String,
    args: Vec<String>,
    peers: Vec<&'static str>,
    metrics: Vec<Metric>,
}

struct Mode {
    name: &'static str,
    reps: usize,
    warmup: f64,
    secs: f64,
    big: usize,
    storm: usize,
}

fn cases(mode: &Mode) -> Vec<Case> {
    let all_rpc = vec![
        "raw",
        "raw-default",
        "fastwebsockets",
        "grest-ws",
        "grest-ws+client",
        "jsonrpsee",
        "socketioxide",
        "socketioxide-8k",
    ];
    let quick = mode.name == "quick";
    let rpc_peers = if quick {
        vec![
            "raw",
            "fastwebsockets",
            "grest-ws",
            "grest-ws+client",
            "jsonrpsee",
            "socketioxide",
        ]
    } else {
        all_rpc.clone()
    };
    let w = |secs: f64| {
        vec![
            "--warmup".to_owned(),
            mode.warmup.to_string(),
            "--secs".to_owned(),
            secs.to_string(),
        ]
    };
    let with = |mut base: Vec<String>, extra: &[&str]| {
        base.extend(extra.iter().map(|s| (*s).to_owned()));
        base
    };
    let rt = [
        m("rate", "round trips/s", true),
        m("per_cpu", "per server-CPU-s", true),
        m("p99_us", "p99 µs", false),
    ];
    let mut out = vec![Case {
        id: "S1".into(),
        scenario: "s1",
        title: "S1 RPC latency, 1 conn × 1 in flight, 64 B".into(),
        args: with(w(mode.secs), &["--conns", "1", "--inflight", "1"]),
        peers: rpc_peers.clone(),
        metrics: vec![m("p50_us", "p50 µs", false), m("p99_us", "p99 µs", false)],
    }];
    for (conns, inflight) in [(100, 1), (100, 16), (1000, 1)] {
        let mut peers: Vec<&'static str> = if quick && (conns, inflight) != (100, 16) {
            let skip = ["grest-ws+client", "fastwebsockets"];
            rpc_peers.iter().copied().filter(|p| !skip.contains(p)).collect()
        } else {
            rpc_peers.clone()
        };
        if inflight > 1 {
            peers.insert(1, "raw-flush-each");
        }
        out.push(Case {
            id: format!("S2 {conns}×{inflight}"),
            scenario: "s2",
            title: format!("S2 RPC throughput, {conns} conns × {inflight} in flight"),
            args: with(
                w(mode.secs),
                &["--conns", &conns.to_string(), "--inflight", &inflight.to_string()],
            ),
            peers,
            metrics: rt.to_vec(),
        });
    }
    let sio = |full: &[&'static str], extra: &[&'static str]| {
        let mut v = full.to_vec();
        if !quick {
            v.extend_from_slice(extra);
        }
        v
    };
    out.push(Case {
        id: "S3 100×16".into(),
        scenario: "s3",
        title: "S3 server → client RPC, 100 conns × 16 in flight".into(),
        args: with(w(mode.secs), &["--conns", "100", "--inflight", "16"]),
        peers: sio(
            &["raw", "raw-flush-each", "grest-ws", "grest-ws+client", "socketioxide"],
            &["socketioxide-8k"],
        ),
        metrics: vec![m("rate", "round trips/s", true), m("per_cpu", "per server-CPU-s", true)],
    });
    out.push(Case {
        id: "S4 ingest".into(),
        scenario: "s4in",
        title: "S4 fire-and-forget ingest, 100 conns flooding".into(),
        args: with(w(mode.secs), &["--conns", "100"]),
        peers: sio(&["raw", "grest-ws", "jsonrpsee", "socketioxide"], &["socketioxide-8k"]),
        metrics: vec![m("rate", "messages/s", true), m("per_cpu", "per server-CPU-s", true)],
    });
    out.push(Case {
        id: "S4 push".into(),
        scenario: "s4push",
        title: "S4 server push, 100 conns, server floods".into(),
        args: with(w(mode.secs), &["--conns", "100"]),
        peers: sio(
            &["raw", "raw-flush-each", "grest-ws", "socketioxide"],
            &["socketioxide-8k"],
        ),
        metrics: vec![m("rate", "messages/s", true), m("per_cpu", "per server-CPU-s", true)],
    });
    let subs: &[usize] = if quick { &[1000] } else { &[1000, mode.big] };
    let fanout_peers = sio(
        &["raw", "raw-flush-each", "grest-ws", "socketioxide"],
        &["socketioxide-8k"],
    );
    // S5-slow: S5 plus 1 % subscribers that never read after subscribing; only the healthy ones count.
    for slow in [false, true] {
        for &n in subs {
            let mut args = with(w(mode.secs), &["--conns", &n.to_string(), "--window", "4"]);
            let (name, scenario, title, metrics) = if slow {
                args.extend(["--slow".to_owned(), (n / 100).to_string()]);
                (
                    "S5-slow",
                    "s5-slow",
                    format!(
                        "S5-slow fan-out, 1 publisher → {n} subscribers + {} that never read, 4 publishes in flight",
                        n / 100
                    ),
                    vec![
                        m("rate", "healthy deliveries/s", true),
                        m("p99_us", "p99 publish→last healthy µs", false),
                        m("per_cpu", "per server-CPU-s", true),
                        m("rss_end_kib", "RSS at window end KiB", false),
                        m("slow_closed", "slow subscribers closed", true),
                    ],
                )
            } else {
                (
                    "S5",
                    "s5",
                    format!("S5 fan-out, 1 publisher → {n} subscribers, 4 publishes in flight"),
                    vec![
                        m("rate", "deliveries/s", true),
                        m("p99_us", "p99 publish→last µs", false),
                        m("per_cpu", "per server-CPU-s", true),
                    ],
                )
            };
            out.push(Case {
                id: format!("{name} {}", human_n(n)),
                scenario,
                title,
                args,
                peers: fanout_peers.clone(),
                metrics,
            });
        }
    }
    let idle: &[usize] = if quick { &[1000] } else { &[1000, mode.big] };
    for &n in idle {
        out.push(Case {
            id: format!("S6 {}", human_n(n)),
            scenario: "s6",
            title: format!("S6 idle memory, {n} connections after handshake + one call"),
            args: vec![
                "--conns".into(),
                n.to_string(),
                "--settle-ms".into(),
                if quick { "400" } else { "1000" }.into(),
            ],
            peers: if quick {
                vec!["raw", "raw-default", "grest-ws", "jsonrpsee", "socketioxide"]
            } else {
                all_rpc.iter().copied().filter(|p| *p != "grest-ws+client").collect()
            },
            metrics: vec![
                m("per_conn_bytes", "bytes/conn", false),
                m("rss_after_kib", "RSS after close KiB", false),
            ],
        });
    }
    out.push(Case {
        id: format!("S7 {}", human_n(mode.storm)),
        scenario: "s7",
        title: format!("S7 connect storm, {} handshakes by 64 connectors", mode.storm),
        args: vec![
            "--conns".into(),
            mode.storm.to_string(),
            "--concurrency".into(),
            "64".into(),
        ],
        peers: if quick {
            vec!["raw", "grest-ws", "jsonrpsee", "socketioxide"]
        } else {
            rpc_peers.iter().copied().filter(|p| *p != "grest-ws+client").collect()
        },
        metrics: vec![m("rate", "handshakes/s", true), m("p99_us", "p99 µs", false)],
    });
    // S8: cross-node fan-out. Longer windows than the other scenarios: a paced run needs enough publishes for a p99.
    let (warmup, secs) = if quick { (0.3, 1.2) } else { (1.0, 5.0) };
    let s8 = |extra: &[&str]| {
        let mut v = vec![
            "--warmup".to_owned(),
            warmup.to_string(),
            "--secs".to_owned(),
            secs.to_string(),
            "--conns".to_owned(),
            S8_SUBSCRIBERS.to_string(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let s8_metrics = vec![
        m("rate", "deliveries/s", true),
        m("per_cpu", "per server-CPU-s", true),
        m("p50_us", "p50 publish→last µs", false),
        m("p99_us", "p99 publish→last µs", false),
        m("broker_cpu_s", "broker CPU-s", false),
    ];
    for (id, title, extra) in [
        (
            S8_MAX,
            format!(
                "S8 cross-node fan-out, 1 publisher → {S8_SUBSCRIBERS} subscribers on 2 nodes, 4 publishes in flight"
            ),
            vec!["--window", "4"],
        ),
        (
            S8_PACED,
            format!(
                "S8 cross-node fan-out, 1 publisher → {S8_SUBSCRIBERS} subscribers on 2 nodes, {S8_RATE} publishes/s"
            ),
            vec!["--window", "64", "--rate", S8_RATE],
        ),
    ] {
        out.push(Case {
            id: id.into(),
            scenario: "s8",
            title,
            args: s8(&extra),
            peers: S8_PEERS.to_vec(),
            metrics: s8_metrics.clone(),
        });
    }
    out
}

/// S8's subscribers: split evenly over the two nodes of a cross-node peer, all on the one server otherwise.
const S8_SUBSCRIBERS: usize = 200;
/// S8 paced: publishes per second (× 200 subscribers = 100 k deliveries/s), the same load for every peer.
const S8_RATE: &str = "500";
/// S8's cases: closed loop (throughput, CPU) and paced (latency at the same load).
const S8_MAX: &str = "S8 max";
const S8_PACED: &str = "S8 paced";
/// S8's peers: the cross-node ones and their single-node baselines.
const S8_PEERS: &[&str] = &[
    "grest-ws-redis",
    "grest-ws-nats",
    "grest-ws",
    "socketioxide-redis",
    "socketioxide",
];

fn human_n(n: usize) -> String {
    if n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn main() {
    let a = args();
    let mode_name = std::env::args().nth(1).unwrap_or_else(|| "quick".into());
    let mode = match mode_name.as_str() {
        "quick" => Mode {
            name: "quick",
            reps: 2,
            warmup: 0.15,
            secs: 0.4,
            big: 10_000,
            storm: 5_000,
        },
        "full" => Mode {
            name: "full",
            reps: 3,
            warmup: 1.0,
            secs: 3.0,
            big: 10_000,
            storm: 10_000,
        },
        other => {
            eprintln!("usage: runner quick|full [--only s1,s2] [--peers raw,grest-ws] [--out PATH] (got {other:?})");
            std::process::exit(2);
        }
    };
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("binary directory");
    let out_path = arg(&a, "out").map_or_else(|| bin_dir.join("../../../bench-results.json"), PathBuf::from);
    let log_dir = bin_dir.join("bench-logs");
    let _ = std::fs::create_dir_all(&log_dir);
    let only: Option<Vec<String>> = arg(&a, "only").map(|s| s.split(',').map(str::to_lowercase).collect());
    let peer_filter: Option<Vec<String>> = arg(&a, "peers").map(|s| s.split(',').map(str::to_owned).collect());

    let mut cases = cases(&mode);
    if let Some(only) = &only {
        cases.retain(|c| only.iter().any(|o| selects(o, c.scenario)));
    }
    if let Some(peers) = &peer_filter {
        for c in &mut cases {
            c.peers.retain(|p| peers.iter().any(|q| q == p));
        }
    }
    let started = Instant::now();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut results = Vec::new();
    for case in &cases {
        // S1 runs are short and its p50 is the most noise-sensitive number: always take a median of at least 3.
        let reps = if case.scenario == "s1" {
            mode.reps.max(3)
        } else {
            mode.reps
        };
        eprintln!("== {} ({} peers × {reps} reps)", case.title, case.peers.len());
        let mut runs = Vec::new();
        for rep in 0..reps {
            for &peer_name in &case.peers {
                let peer = PEERS.iter().find(|p| p.name == peer_name).expect("peer");
                let result = run_one(&bin_dir, &log_dir, peer, case);
                let (valid, reason) = judge(&result);
                eprintln!(
                    "   {peer_name:<16} rep {rep}: {}",
                    summary(&result, case, reason.as_deref())
                );
                runs.push(
                    json!({"peer": peer_name, "rep": rep, "valid": valid, "discarded": reason, "result": result}),
                );
            }
        }
        let medians = medians(case, &runs);
        results.push(json!({
            "id": case.id, "scenario": case.scenario, "title": case.title, "loadgen_args": case.args,
            "metrics": case.metrics.iter().map(|m| json!({"key": m.key, "label": m.label, "higher_is_better": m.higher_is_better})).collect::<Vec<_>>(),
            "runs": runs, "medians": medians,
        }));
    }
    let machine = machine();
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let targets = targets(&results);
    let doc = json!({
        "mode": mode.name,
        "machine": machine,
        "unix_time": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "elapsed_s": started.elapsed().as_secs_f64(),
        "loadavg_before": load_before.trim(), "loadavg_after": load_after.trim(),
        "params": {"reps": mode.reps, "warmup_s": mode.warmup, "window_s": mode.secs, "gen_bound_threshold": GEN_BOUND},
        "cases": results, "targets": targets,
    });
    if let Err(e) = std::fs::write(&out_path, serde_json::to_string_pretty(&doc).expect("json")) {
        eprintln!("cannot write {}: {e}", out_path.display());
    }
    print!("{}", markdown(&doc));
    eprintln!(
        "wrote {} in {:.0} s",
        out_path.canonicalize().unwrap_or(out_path.clone()).display(),
        started.elapsed().as_secs_f64()
    );
}

/// Whether `--only` entry `only` picks `scenario`: a prefix of it, unless what remains starts a variant (`-slow`).
fn selects(only: &str, scenario: &str) -> bool {
    scenario.strip_prefix(only).is_some_and(|rest| !rest.starts_with('-'))
}

/// The kernel send buffer of every server socket in S5-slow (the kernel doubles it): small enough that a stalled
/// subscriber's socket fills within a window, so the server's slow-consumer handling is what is measured.
const SLOW_SNDBUF: usize = 16 * 1024;

/// Starts the peer's server (or, for a cross-node peer, its broker and [`CLUSTER_NODES`] servers) pinned to core 0,
/// runs the generator pinned to core 1, stops them all.
fn run_one(bin_dir: &Path, log_dir: &Path, peer: &Peer, case: &Case) -> Value {
    let log = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_dir.join(name))
            .map_or_else(|_| Stdio::null(), Stdio::from)
    };
    let mut broker = None;
    let mut extra: Vec<String> = Vec::new();
    if let Some(kind) = peer.broker {
        match start_broker(kind, log(&format!("{}-broker.log", peer.name))) {
            Ok((child, flag, url)) => {
                broker = Some(child);
                extra = vec![flag.to_owned(), url];
            }
            Err(e) => return json!({"ok": false, "error": e}),
        }
    }
    let nodes = if peer.broker.is_some() { CLUSTER_NODES } else { 1 };
    let mut servers: Vec<(Child, String)> = Vec::new();
    let mut failure = None;
    for _ in 0..nodes {
        match start_server(bin_dir, peer, case, &extra, log(&format!("{}.log", peer.name))) {
            Ok(server) => servers.push(server),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let output = failure.is_none().then(|| {
        let join = |items: Vec<String>| items.join(",");
        let mut loadgen = Command::new("timeout");
        loadgen
            .args(["120", "taskset", "-c", "1"])
            .arg(bin_dir.join("loadgen"))
            .args(["--driver", peer.driver])
            .args(["--port", &join(servers.iter().map(|(_, port)| port.clone()).collect())])
            .args([
                "--server-pid",
                &join(servers.iter().map(|(child, _)| child.id().to_string()).collect()),
            ]);
        if let Some(broker) = &broker {
            loadgen.args(["--broker-pid", &broker.id().to_string()]);
        }
        loadgen
            .args(["--scenario", case.scenario])
            .args(&case.args)
            .stderr(log("loadgen.log"))
            .output()
    });
    for mut child in servers.into_iter().map(|(child, _)| child).chain(broker) {
        let _ = child.kill();
        let _ = child.wait();
    }
    // Let the kernel finish tearing the sockets down before the next server starts.
    std::thread::sleep(Duration::from_millis(100));
    match output {
        None => json!({"ok": false, "error": failure}),
        Some(Ok(out)) => serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| json!({"ok": false, "error": format!("loadgen exited with {}", out.status)})),
        Some(Err(e)) => json!({"ok": false, "error": format!("loadgen: {e}")}),
    }
}

/// Starts one server of `peer` pinned to core 0 with `extra` arguments after its own; returns it and the port it
/// announced.
fn start_server(
    bin_dir: &Path,
    peer: &Peer,
    case: &Case,
    extra: &[String],
    stderr: Stdio,
) -> Result<(Child, String), String> {
    let mut server = Command::new("taskset");
    if case.scenario == "s5-slow" {
        server.env("BENCH_SNDBUF", SLOW_SNDBUF.to_string());
    }
    let mut server = server
        .args(["-c", "0"])
        .arg(bin_dir.join(peer.bin))
        .args(peer.server_args)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", peer.bin))?;
    let mut line = String::new();
    let port = server
        .stdout
        .take()
        .map(|out| {
            let mut reader = BufReader::new(out);
            let _ = reader.read_line(&mut line);
            // Keep the pipe open for the server's life (it prints nothing more).
            std::mem::forget(reader);
            line.trim().strip_prefix("PORT ").map(str::to_owned)
        })
        .unwrap_or_default();
    match port {
        Some(port) => Ok((server, port)),
        None => {
            let _ = server.kill();
            let _ = server.wait();
            Err(format!("{} did not announce a port", peer.bin))
        }
    }
}

/// Starts a broker of `kind` on a free loopback port, pinned to core 0, and waits until it accepts connections;
/// returns it, the servers' flag and the URL to give them.
fn start_broker(kind: Broker, log: Stdio) -> Result<(Child, &'static str, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("free port: {e}"))?
        .port()
        .to_string();
    let mut command = Command::new("taskset");
    command.args(["-c", "0"]);
    let (flag, url) = match kind {
        Broker::Redis => {
            command.args([
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                &port,
                "--save",
                "",
                "--appendonly",
                "no",
            ]);
            ("--redis", format!("redis://127.0.0.1:{port}"))
        }
        Broker::Nats => {
            command.args(["nats-server", "-a", "127.0.0.1", "-p", &port]);
            ("--nats", format!("nats://127.0.0.1:{port}"))
        }
    };
    let mut child = command
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("spawn broker: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let addr = format!("127.0.0.1:{port}");
    while std::net::TcpStream::connect(&addr).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("broker on {addr} did not start"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((child, flag, url))
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// Why a run is discarded, if it is: errors, lost requests/connections, or a CPU-bound generator.
fn judge(r: &Value) -> (bool, Option<String>) {
    if let Some(e) = r.get("error").and_then(Value::as_str) {
        return (false, Some(format!("error: {e}")));
    }
    if r.get("ok").and_then(Value::as_bool) != Some(true) {
        return (
            false,
            Some(format!("{} errors, {} lost", num(r, "errors"), num(r, "lost"))),
        );
    }
    if num(r, "gen_busy") > GEN_BOUND {
        return (
            false,
            Some(format!("generator-bound ({:.0}% busy)", num(r, "gen_busy") * 100.0)),
        );
    }
    (true, None)
}

fn summary(r: &Value, case: &Case, reason: Option<&str>) -> String {
    let mut s = String::new();
    for m in &case.metrics {
        let _ = write!(s, "{}={} ", m.key, fmt_num(num(r, m.key)));
    }
    let _ = write!(
        s,
        "srv_cpu={:.2}s gen_busy={:.0}%",
        num(r, "server_cpu_s"),
        num(r, "gen_busy") * 100.0
    );
    if num(r, "slow_conns") > 0.0 {
        let _ = write!(
            s,
            " slow close-frame/eof/open={}/{}/{}",
            num(r, "slow_close_frames"),
            num(r, "slow_eof"),
            num(r, "slow_open")
        );
    }
    if let Some(reason) = reason {
        let _ = write!(s, "  DISCARDED: {reason}");
    }
    s
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per peer: the median of each metric over valid runs. When every run of a peer was discarded only because the
/// generator was CPU-bound, the medians of those runs are kept and marked `generator_bound` (a throughput then is
/// a lower bound for the server).
fn medians(case: &Case, runs: &[Value]) -> Value {
    let mut out = serde_json::Map::new();
    for &peer in &case.peers {
        let mine: Vec<&Value> = runs.iter().filter(|r| r["peer"] == peer).collect();
        let valid: Vec<&Value> = mine.iter().copied().filter(|r| r["valid"] == true).collect();
        let gen_bound: Vec<&Value> = mine
            .iter()
            .copied()
            .filter(|r| {
                r["discarded"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("generator-bound"))
            })
            .collect();
        let (used, marker) = if !valid.is_empty() {
            (valid, None)
        } else if !gen_bound.is_empty() {
            (gen_bound, Some("generator_bound"))
        } else {
            out.insert(peer.to_owned(), json!({"valid_runs": 0}));
            continue;
        };
        let mut entry = serde_json::Map::new();
        entry.insert(
            "valid_runs".into(),
            json!(if marker.is_some() { 0 } else { used.len() }),
        );
        if let Some(marker) = marker {
            entry.insert(marker.into(), json!(true));
        }
        for key in [
            "rate",
            "per_cpu",
            "p50_us",
            "p99_us",
            "per_conn_bytes",
            "rss_after_kib",
            "rss_end_kib",
            "slow_closed",
            "broker_cpu_s",
            "server_cpu_s",
            "gen_busy",
        ] {
            let v = median(used.iter().map(|r| num(&r["result"], key)).collect());
            entry.insert(key.into(), json!(if v.is_finite() { Some(v) } else { None }));
        }
        out.insert(peer.to_owned(), Value::Object(entry));
    }
    Value::Object(out)
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    json!({"cpu": cpu, "cores": cores, "kernel": kernel.trim()})
}

fn med(results: &[Value], case: &str, peer: &str, key: &str) -> Option<f64> {
    let c = results.iter().find(|c| c["id"] == case)?;
    c["medians"][peer][key].as_f64()
}

/// The targets, evaluated on this run's medians.
fn targets(results: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut ratio = |name: String, (a, b): (Option<f64>, Option<f64>), limit: f64, at_most: bool| {
        let r = match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let pass = r.map(|r| if at_most { r <= limit } else { r >= limit });
        out.push(json!({"target": name, "value": r, "limit": limit, "at_most": at_most, "pass": pass}));
    };
    let g = "grest-ws";
    // grest-ws's and `peer`'s medians of `key` in case `id`.
    let vs = |id: &str, peer: &str, key: &str| (med(results, id, g, key), med(results, id, peer, key));
    // grest-ws's medians of `key` in cases `a` and `b`.
    let own = |a: &str, b: &str, key: &str| (med(results, a, g, key), med(results, b, g, key));
    ratio(
        "S1 p50 grest-ws / raw ≤ 1.15".into(),
        vs("S1", "raw", "p50_us"),
        1.15,
        true,
    );
    ratio(
        "S1 p50 grest-ws / jsonrpsee ≤ 0.7".into(),
        vs("S1", "jsonrpsee", "p50_us"),
        0.7,
        true,
    );
    for id in ["S2 100×1", "S2 100×16", "S2 1000×1"] {
        for (peer, limit) in [("raw", 0.8), ("jsonrpsee", 1.5), ("socketioxide", 2.0)] {
            ratio(
                format!("{id} rt/s grest-ws / {peer} ≥ {limit}"),
                vs(id, peer, "rate"),
                limit,
                false,
            );
        }
    }
    ratio(
        "S3 grest-ws / own S2 100×16 ≥ 0.9".into(),
        own("S3 100×16", "S2 100×16", "rate"),
        0.9,
        false,
    );
    ratio(
        "S4 push messages/s grest-ws / raw ≥ 0.85".into(),
        vs("S4 push", "raw", "rate"),
        0.85,
        false,
    );
    for n in ["1k", "10k"] {
        let id = format!("S5 {n}");
        for (peer, limit) in [("raw", 0.9), ("socketioxide", 1.5)] {
            ratio(
                format!("{id} deliveries/s grest-ws / {peer} ≥ {limit}"),
                vs(&id, peer, "rate"),
                limit,
                false,
            );
        }
        ratio(
            format!("{id} p99 publish→last grest-ws / raw ≤ 1.5"),
            vs(&id, "raw", "p99_us"),
            1.5,
            true,
        );
        ratio(
            format!("S5-slow {n} healthy deliveries/s grest-ws / own S5 {n} ≥ 0.8"),
            own(&format!("S5-slow {n}"), &id, "rate"),
            0.8,
            false,
        );
    }
    for id in ["S6 1k", "S6 10k"] {
        for (peer, limit) in [("raw", 1.25), ("jsonrpsee", 0.5)] {
            ratio(
                format!("{id} bytes/conn grest-ws / {peer} ≤ {limit}"),
                vs(id, peer, "per_conn_bytes"),
                limit,
                true,
            );
        }
    }
    for id in ["S7 5k", "S7 10k"] {
        ratio(
            format!("{id} handshakes/s grest-ws / raw ≥ 0.8"),
            vs(id, "raw", "rate"),
            0.8,
            false,
        );
    }
    // `a`'s and `b`'s medians of `key` in case `id`.
    let pair = |id: &str, a: &str, b: &str, key: &str| (med(results, id, a, key), med(results, id, b, key));
    for id in [S8_MAX, S8_PACED] {
        ratio(
            format!("{id} deliveries per server-CPU-s grest-ws-redis / socketioxide-redis ≥ 2"),
            pair(id, "grest-ws-redis", "socketioxide-redis", "per_cpu"),
            2.0,
            false,
        );
    }
    for cluster in ["grest-ws-redis", "grest-ws-nats"] {
        ratio(
            format!("{S8_PACED} p99 publish→last {cluster} / grest-ws single node ≤ 2"),
            pair(S8_PACED, cluster, "grest-ws", "p99_us"),
            2.0,
            true,
        );
    }
    out.retain(|t| !t["value"].is_null());
    out
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn markdown(doc: &Value) -> String {
    let mut s = String::new();
    let mach = &doc["machine"];
    let _ = writeln!(
        s,
        "\n### Results ({} mode) — {} ({} cores), kernel {}; load average before/after: {} / {}\n",
        doc["mode"].as_str().unwrap_or(""),
        mach["cpu"].as_str().unwrap_or(""),
        mach["cores"],
        mach["kernel"].as_str().unwrap_or(""),
        doc["loadavg_before"].as_str().unwrap_or(""),
        doc["loadavg_after"].as_str().unwrap_or(""),
    );
    // The main table leaves out S8, which has tables of its own.
    let header = s.len();
    let (cross_node, cases): (Vec<Value>, Vec<Value>) = doc["cases"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .partition(|c| c["scenario"] == "s8");
    let mut peers: Vec<String> = Vec::new();
    for p in PEERS {
        if cases.iter().any(|c| c["medians"].get(p.name).is_some()) {
            peers.push(p.name.to_owned());
        }
    }
    let _ = writeln!(
        s,
        "Each cell: median of valid runs (ratio to **raw** in the same row). `–`: not applicable or no valid run; \
         `≥`: every run was generator-bound, so the server's number is a lower bound.\n"
    );
    let _ = write!(s, "| scenario | metric |");
    for p in &peers {
        let _ = write!(s, " {p} |");
    }
    let _ = write!(s, "\n|---|---|");
    for _ in &peers {
        let _ = write!(s, "---|");
    }
    s.push('\n');
    for c in &cases {
        let metrics = c["metrics"].as_array().cloned().unwrap_or_default();
        for metric in metrics {
            let key = metric["key"].as_str().unwrap_or("");
            let raw = c["medians"]["raw"][key].as_f64();
            let _ = write!(
                s,
                "| {} | {} |",
                c["id"].as_str().unwrap_or(""),
                metric["label"].as_str().unwrap_or("")
            );
            for p in &peers {
                let entry = &c["medians"][p.as_str()];
                match entry[key].as_f64() {
                    Some(v) => {
                        let mark = if entry["generator_bound"] == true { "≥" } else { "" };
                        let ratio = raw
                            .filter(|r| *r > 0.0)
                            .map(|r| format!(" ({:.2})", v / r))
                            .unwrap_or_default();
                        let _ = write!(s, " {mark}{}{ratio} |", fmt_num(v));
                    }
                    None => {
                        let _ = write!(s, " – |");
                    }
                }
            }
            s.push('\n');
        }
    }
    if cases.is_empty() {
        s.truncate(header);
    }
    for c in &cross_node {
        s.push_str(&cross_node_markdown(c));
    }
    let targets = doc["targets"].as_array().cloned().unwrap_or_default();
    if !targets.is_empty() {
        let _ = writeln!(s, "\n| target | measured | met |\n|---|---|---|");
        for t in targets {
            let v = t["value"].as_f64().unwrap_or(f64::NAN);
            let pass = match t["pass"].as_bool() {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            };
            let _ = writeln!(s, "| {} | {v:.2} | {pass} |", t["target"].as_str().unwrap_or(""));
        }
    }
    s
}

/// An S8 case's table: one row per peer (cross-node peers run 2 servers sharing a broker; the others are the
/// single-node baselines), the servers' CPU summed, the broker's apart.
fn cross_node_markdown(case: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n**{}** (median of valid runs; per server-CPU-s: deliveries ÷ CPU seconds of all the peer's servers)\n",
        case["title"].as_str().unwrap_or("")
    );
    let metrics = case["metrics"].as_array().cloned().unwrap_or_default();
    let _ = write!(s, "| peer | servers |");
    for metric in &metrics {
        let _ = write!(s, " {} |", metric["label"].as_str().unwrap_or(""));
    }
    let _ = write!(s, " valid runs |\n|---|---|");
    for _ in &metrics {
        s.push_str("---|");
    }
    s.push_str("---|\n");
    for p in PEERS {
        let entry = &case["medians"][p.name];
        if entry.is_null() {
            continue;
        }
        let servers = match p.broker {
            Some(Broker::Redis) => format!("{CLUSTER_NODES} + Redis"),
            Some(Broker::Nats) => format!("{CLUSTER_NODES} + NATS"),
            None => "1".to_owned(),
        };
        let _ = write!(s, "| {} | {servers} |", p.name);
        for metric in &metrics {
            let key = metric["key"].as_str().unwrap_or("");
            let mark = if entry["generator_bound"] == true { "≥" } else { "" };
            match entry[key].as_f64() {
                Some(v) if key == "broker_cpu_s" => {
                    let _ = write!(s, " {v:.2} |");
                }
                Some(v) => {
                    let _ = write!(s, " {mark}{} |", fmt_num(v));
                }
                None => s.push_str(" – |"),
            }
        }
        let _ = writeln!(s, " {} |", entry["valid_runs"]);
    }
    s
}
