//! Lab: `mptcp proxy`'s fronts against real programs, with the converter
//! and the server one routed hop away from the proxy's host, as a
//! multi-homed host reaches a converter in the network:
//!
//! ```text
//!  namespace near (forwards)                              namespace far (forwards)
//!  mptcp proxy  ours 10.132.0.2 ─mcg0─ 10.132.0.1 ┐
//!               ours 10.133.0.2 ─mcg1─ 10.133.0.1 ├pxn 10.130.0.1 ── pxf 10.130.0.2
//!  capture      ours 10.134.0.2 ─cap0─ 10.134.0.1 ┘                  10.131.0.1 ─cvf0─ 10.131.0.2 mptcp convert
//!  curl, 198.51.100.0/24 routed into cap0                            lo 198.51.100.10: python3 -m http.server
//!  (IPv6: fd00:132::/64, fd00:133::/64, fd00:130::/64, fd00:131::/64, the server 2001:db8:100::10)
//! ```
//!
//! - curl through the SOCKS5 front with the proxy's first path cut
//!   mid-download: the download completes on the second, byte-exact.
//! - The same over IPv6 end to end (paths, converter, server).
//! - Transparent capture: an unmodified curl, no proxy option, reaches the
//!   server's address, which near routes into the capture device.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use umptcp_lab::{Netns, require_lab, run_in};

/// The file the server offers.
const SIZE: usize = 64 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    V4,
    V6,
}

impl Family {
    /// Address `host` of the lab's subnet `net` (10.NET.0.HOST or fdNET::HOST).
    fn addr(self, net: u16, host: u16) -> String {
        match self {
            Family::V4 => format!("10.{net}.0.{host}"),
            Family::V6 => format!("fd00:{net}::{host}"),
        }
    }

    fn cidr(self, net: u16, host: u16) -> String {
        let len = if self == Family::V4 { 24 } else { 64 };
        format!("{}/{len}", self.addr(net, host))
    }

    fn server(self) -> &'static str {
        match self {
            Family::V4 => "198.51.100.10",
            Family::V6 => "2001:db8:100::10",
        }
    }

    fn socket(self, ip: &str, port: u16) -> String {
        match self {
            Family::V4 => format!("{ip}:{port}"),
            Family::V6 => format!("[{ip}]:{port}"),
        }
    }
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every line `reader` gives, as it comes (read on a thread of its own so
/// that the child never blocks on a full pipe).
fn lines(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// A program of ours running in a namespace: its stdout and stderr lines.
struct Running {
    _child: Killed,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
}

impl Running {
    fn start(ns: &Netns, args: &[&str]) -> Running {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mptcp");
        let out = lines(child.stdout.take().unwrap());
        let err = lines(child.stderr.take().unwrap());
        Running {
            _child: Killed(child),
            out,
            err,
        }
    }

    /// Wait for a stderr line containing `text`.
    fn wait_for(&self, text: &str) {
        let mut seen = Vec::new();
        loop {
            match self.err.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(text) => return,
                Ok(line) => seen.push(line),
                Err(_) => panic!("no line with {text:?} on stderr; saw {seen:?}"),
            }
        }
    }

    fn next_line(&self) -> String {
        self.out
            .recv_timeout(Duration::from_secs(30))
            .expect("a result line")
    }
}

/// The two namespaces, the converter, the server and its file.
struct Lab {
    near: Netns,
    /// Kept until the end: the converter and the server live there.
    _far: Netns,
    family: Family,
    converter: Running,
    _server: Killed,
    dir: std::path::PathBuf,
    sha256: Vec<u8>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    fn new(tag: &str, family: Family) -> Lab {
        Lab::with_converter(tag, family, &[])
    }

    /// The lab with `extra` arguments for `mptcp convert`.
    fn with_converter(tag: &str, family: Family, extra: &[&str]) -> Lab {
        let near = Netns::new(&format!("{tag}n")).expect("namespace");
        let far = Netns::new(&format!("{tag}f")).expect("namespace");
        for ns in [&near, &far] {
            ns.sysctl("net.ipv4.ip_forward", "1").unwrap();
            ns.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap();
            ns.sysctl("net.ipv4.conf.all.rp_filter", "0").unwrap();
            ns.sysctl("net.ipv4.conf.default.rp_filter", "0").unwrap();
            ns.sysctl("net.ipv6.conf.all.accept_dad", "0").unwrap();
            ns.sysctl("net.ipv6.conf.default.accept_dad", "0").unwrap();
        }
        near.ip(&[
            "link",
            "add",
            "pxn",
            "type",
            "veth",
            "peer",
            "name",
            "pxf",
            "netns",
            far.name(),
        ])
        .unwrap();
        let add = |ns: &Netns, addr: &str, dev: &str| {
            let mut args = vec!["addr", "add", addr, "dev", dev];
            if family == Family::V6 {
                args.push("nodad");
            }
            ns.ip(&args).unwrap();
        };
        add(&near, &family.cidr(130, 1), "pxn");
        add(&far, &family.cidr(130, 2), "pxf");
        near.ip(&["link", "set", "pxn", "up"]).unwrap();
        far.ip(&["link", "set", "pxf", "up"]).unwrap();
        let v = if family == Family::V4 { "-4" } else { "-6" };
        // near reaches the converter's subnet by far; far reaches
        // everything else by near.
        near.ip(&[
            v,
            "route",
            "add",
            &family.cidr(131, 0),
            "via",
            &family.addr(130, 2),
        ])
        .unwrap();
        far.ip(&[v, "route", "add", "default", "via", &family.addr(130, 1)])
            .unwrap();
        let server_cidr = match family {
            Family::V4 => format!("{}/32", family.server()),
            Family::V6 => format!("{}/128", family.server()),
        };
        add(&far, &server_cidr, "lo");

        let path = format!("cvf0={}", family.addr(131, 2));
        let mut args = vec!["convert", "--path", &path, "--port", "5124"];
        args.extend_from_slice(extra);
        let converter = Running::start(&far, &args);
        converter.wait_for("converting on port 5124");

        let dir =
            std::env::temp_dir().join(format!("umptcp-lab-proxy-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file: Vec<u8> = (0..SIZE)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[1])
            .collect();
        std::fs::write(dir.join("file"), &file).unwrap();
        let sha256 = Sha256::digest(&file).to_vec();
        let server = Killed(
            Command::new("ip")
                .args(["netns", "exec", far.name(), "python3", "-m", "http.server"])
                .args(["8000", "--bind", family.server(), "--directory"])
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("python3 -m http.server"),
        );
        let server_addr: SocketAddr = family.socket(family.server(), 8000).parse().unwrap();
        let up = (0..100).any(|_| {
            let up = run_in(&far, || std::net::TcpStream::connect(server_addr))
                .unwrap()
                .is_ok();
            if !up {
                std::thread::sleep(Duration::from_millis(100));
            }
            up
        });
        assert!(up, "the HTTP server listens on {server_addr}");
        Lab {
            near,
            _far: far,
            family,
            converter,
            _server: server,
            dir,
            sha256,
        }
    }

    /// `mptcp proxy` in near over its two paths through the converter,
    /// with `extra` arguments.
    fn proxy(&self, extra: &[&str]) -> Running {
        let f = self.family;
        let (p0, p1) = (
            format!("mcg0={}", f.addr(132, 2)),
            format!("mcg1={}", f.addr(133, 2)),
        );
        let converter = f.socket(&f.addr(131, 2), 5124);
        let mut args = vec![
            "proxy",
            "--path",
            &p0,
            "--path",
            &p1,
            "--converter",
            &converter,
        ];
        args.extend_from_slice(extra);
        Running::start(&self.near, &args)
    }

    fn url(&self) -> String {
        match self.family {
            Family::V4 => format!("http://{}:8000/file", self.family.server()),
            Family::V6 => format!("http://[{}]:8000/file", self.family.server()),
        }
    }

    /// curl in near, with `args` before the URL; the downloaded file.
    fn curl(&self, args: &[&str]) -> Child {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                self.near.name(),
                "curl",
                "-sS",
                "--max-time",
                "120",
            ])
            .args(args)
            .arg(self.url())
            .arg("-o")
            .arg(self.dir.join("got"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("curl")
    }

    /// curl's exit and the file it wrote, compared with the server's.
    fn check_download(&self, curl: Child, what: &str) {
        let out = curl.wait_with_output().expect("curl ends");
        assert!(
            out.status.success(),
            "curl {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = std::fs::read(self.dir.join("got")).expect("curl's output");
        let equal = Sha256::digest(&got).as_slice() == self.sha256.as_slice();
        assert!(
            got.len() == SIZE && equal,
            "curl {what}: {} of {SIZE} bytes, SHA-256 {}",
            got.len(),
            if equal { "equal" } else { "differs" }
        );
    }

    fn converter_line(&self) -> String {
        self.converter.next_line()
    }
}

/// curl through the SOCKS5 front, and mid-download the path the
/// connection began on goes down: the rest comes over the other path.
fn socks5_with_a_path_cut(test: &str, tag: &str, family: Family) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let lab = Lab::new(tag, family);
    let proxy = lab.proxy(&["--socks5", "127.0.0.1:1080"]);
    proxy.wait_for("SOCKS5 on 127.0.0.1:1080");
    // 64 MiB at 16 MB/s: about four seconds, cut after one.
    let curl = lab.curl(&["--socks5", "127.0.0.1:1080", "--limit-rate", "16M"]);
    std::thread::sleep(Duration::from_secs(1));
    let mut curl = curl;
    assert!(
        curl.try_wait().expect("curl's status").is_none(),
        "the download was still running when the path was cut"
    );
    // The initial subflow's device: the route to the converter leaves by
    // the first path.
    lab.near.ip(&["link", "set", "mcg0", "down"]).unwrap();
    lab.check_download(curl, "with mcg0 cut");
    let dst = family.socket(family.server(), 8000);
    let line = proxy.next_line();
    assert!(
        line.contains(&format!("-> {dst} mptcp=true ")) && line.ends_with(": relayed"),
        "{line}"
    );
    let line = lab.converter_line();
    assert!(
        line.contains(&format!("-> {dst} mptcp=true up=")) && line.ends_with(": relayed"),
        "{line}"
    );
}

#[test]
fn lab_curl_through_socks5_survives_a_path_cut() {
    socks5_with_a_path_cut(
        "lab_curl_through_socks5_survives_a_path_cut",
        "pcut4",
        Family::V4,
    );
}

#[test]
fn lab_curl_through_socks5_over_ipv6_survives_a_path_cut() {
    socks5_with_a_path_cut(
        "lab_curl_through_socks5_over_ipv6_survives_a_path_cut",
        "pcut6",
        Family::V6,
    );
}

/// An unmodified curl, no proxy setting: near routes the server's
/// address into the capture device, and the proxy carries each
/// connection through the converter to where it was going.
#[test]
fn lab_curl_captured_transparently_reaches_the_server_through_the_converter() {
    let test = "lab_curl_captured_transparently_reaches_the_server_through_the_converter";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let family = Family::V4;
    let lab = Lab::new("capt", family);
    let capture = format!("cap0={}", family.addr(134, 2));
    let proxy = lab.proxy(&["--capture", &capture]);
    proxy.wait_for("capturing on cap0");
    lab.near
        .ip(&["route", "add", "198.51.100.0/24", "dev", "cap0"])
        .expect("route the server's prefix into the capture device");
    let curl = lab.curl(&[]);
    lab.check_download(curl, "captured");
    let dst = family.socket(family.server(), 8000);
    let line = proxy.next_line();
    assert!(
        line.starts_with(&format!("proxied {}:", family.addr(134, 1)))
            && line.contains(&format!("-> {dst} mptcp=true subflows=2 "))
            && line.ends_with(": relayed"),
        "{line}"
    );
    let line = lab.converter_line();
    assert!(
        line.contains(&format!("-> {dst} mptcp=true up=")) && line.ends_with(": relayed"),
        "{line}"
    );
    // A destination nobody listens on: the client's connect is refused
    // (a reset), as it would be without the proxy.
    let refused = run_in(&lab.near, || {
        std::net::TcpStream::connect_timeout(
            &"198.51.100.10:8001".parse().unwrap(),
            Duration::from_secs(10),
        )
    })
    .unwrap();
    let err = refused.expect_err("nobody listens on 8001");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    let line = proxy.next_line();
    assert!(
        line.contains("-> 198.51.100.10:8001 ") && line.contains("failed ("),
        "{line}"
    );
}

/// `mptcp convert --upstream stack`: the converter reaches the server over
/// its own stack, and the server being a kernel MPTCP listener, the
/// upstream is MPTCP too (the server's kernel counts an MP_CAPABLE SYN);
/// a program's SOCKS5 connection gets 16 MiB through it byte-exact.
#[test]
fn lab_converter_upstream_over_our_stack_is_mptcp_to_an_mptcp_server() {
    use std::io::{Read, Write};

    let test = "lab_converter_upstream_over_our_stack_is_mptcp_to_an_mptcp_server";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let family = Family::V4;
    let lab = Lab::with_converter("upst", family, &["--upstream", "stack"]);
    const ANSWER: usize = 16 << 20;
    let server = run_in(&lab._far, || {
        umptcp_lab::kernel_mptcp_listener("198.51.100.10:9000".parse().unwrap())
    })
    .unwrap()
    .expect("a kernel MPTCP server");
    let served = std::thread::spawn(move || {
        let (mut conn, _) = server.accept().expect("the converter connects");
        let body: Vec<u8> = (0..ANSWER).map(|i| (i % 249) as u8).collect();
        conn.write_all(&body).expect("the answer");
    });
    let proxy = lab.proxy(&["--socks5", "127.0.0.1:1080"]);
    proxy.wait_for("SOCKS5 on 127.0.0.1:1080");
    let mut socks = run_in(&lab.near, || {
        std::net::TcpStream::connect("127.0.0.1:1080".parse::<SocketAddr>().unwrap())
    })
    .unwrap()
    .expect("the SOCKS5 front");
    socks
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    socks.write_all(&[5, 1, 0]).unwrap();
    let mut method = [0u8; 2];
    socks.read_exact(&mut method).unwrap();
    assert_eq!(method, [5, 0]);
    socks
        .write_all(&[5, 1, 0, 1, 198, 51, 100, 10, 0x23, 0x28])
        .unwrap();
    let mut reply = [0u8; 10];
    socks.read_exact(&mut reply).unwrap();
    assert_eq!(reply[1], 0, "SOCKS5 success: {reply:?}");
    let mut body = Vec::new();
    socks.read_to_end(&mut body).expect("the answer");
    assert!(
        body.len() == ANSWER && body.iter().enumerate().all(|(i, &b)| b == (i % 249) as u8),
        "{} of {ANSWER} bytes, exact",
        body.len()
    );
    served.join().unwrap();
    // The program closes its side: both directions are then done.
    drop(socks);
    // far forwards the proxy's packets to the converter without counting
    // them: its MPTCP counters are the converter's upstream alone (a
    // kernel socket upstream would leave them at zero).
    let counters = umptcp_lab::nstat(&lab._far).expect("nstat");
    for counter in ["MPTcpExtMPCapableSYNRX", "MPTcpExtMPCapableACKRX"] {
        assert_eq!(
            counters.get(counter).copied(),
            Some(1),
            "{counter}: the converter's upstream is MPTCP"
        );
    }
    let line = lab.converter_line();
    assert!(
        line.contains("-> 198.51.100.10:9000 mptcp=true ") && line.ends_with(": relayed"),
        "{line}"
    );
}

/// `--socks5-auth`: curl with the right user and password gets the file;
/// with a wrong password it is refused (curl's SOCKS5 authentication
/// failure) and the proxy says why.
#[test]
fn lab_curl_through_socks5_with_a_user_and_password() {
    let test = "lab_curl_through_socks5_with_a_user_and_password";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let lab = Lab::new("auth", Family::V4);
    let users = lab.dir.join("users");
    std::fs::write(&users, "# who may use the proxy\nalice:s3cret\n").unwrap();
    let users = users.to_str().unwrap().to_owned();
    let proxy = lab.proxy(&["--socks5", "127.0.0.1:1080", "--socks5-auth", &users]);
    proxy.wait_for("SOCKS5 on 127.0.0.1:1080");
    let curl = lab.curl(&["--socks5", "alice:s3cret@127.0.0.1:1080"]);
    lab.check_download(curl, "with user and password");
    let line = proxy.next_line();
    assert!(line.ends_with(": relayed"), "{line}");
    let out = lab
        .curl(&["--socks5", "alice:wrong@127.0.0.1:1080"])
        .wait_with_output()
        .expect("curl ends");
    assert!(!out.status.success(), "a wrong password is refused");
    let line = proxy.next_line();
    assert!(
        line.contains("failed (SOCKS5: user \"alice\": wrong user name or password)"),
        "{line}"
    );
}

/// The kernel as a Convert client from `ns`: an MPTCP socket whose SYN
/// carries `syn_data` (`MSG_FASTOPEN`, data without a cookie), to the
/// converter at `to`; everything it reads until the converter closes.
fn kernel_convert_client(ns: &Netns, to: SocketAddr, syn_data: &[u8]) -> Vec<u8> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::io::Read;
    run_in(ns, || -> std::io::Result<Vec<u8>> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(262)))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.send_to_with_flags(syn_data, &to.into(), libc::MSG_FASTOPEN)?;
        let mut stream: std::net::TcpStream = s.into();
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        Ok(got)
    })
    .expect("enter namespace")
    .expect("the kernel client")
}

/// `mptcp convert --require-cookie` (RFC 8803 §6.2.7): the kernel as a
/// Convert client without a cookie gets Missing Cookie and a cookie, with
/// it is converted, with another is Not Authorized; our client behind the
/// SOCKS5 front fetches the cookie once (one Missing Cookie, then relayed)
/// and sends it on the next connection at once.
#[test]
fn lab_converter_cookies_are_handed_out_checked_and_cached() {
    use umptcp_proxy::convert::{Connect, ErrorCode, MAX_LEN, Message, TcpOptions};

    let test = "lab_converter_cookies_are_handed_out_checked_and_cached";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let family = Family::V4;
    let lab = Lab::with_converter("cook", family, &["--require-cookie"]);
    lab.near
        .sysctl("net.ipv4.tcp_fastopen", "5")
        .expect("SYN data without a cookie");
    let converter: SocketAddr = "10.131.0.2:5124".parse().unwrap();
    let request = b"HEAD /file HTTP/1.0\r\n\r\n";
    let message = |cookie: Option<&[u8]>| {
        let m = Message {
            connect: Some(Connect {
                addr: "198.51.100.10:8000".parse().unwrap(),
                options: TcpOptions::EMPTY,
            }),
            cookie,
            ..Message::default()
        };
        let mut out = vec![0u8; MAX_LEN];
        let n = m.emit(&mut out).unwrap();
        out.truncate(n);
        out.extend_from_slice(request);
        out
    };
    // No cookie: Missing Cookie, and the cookie.
    let got = kernel_convert_client(&lab.near, converter, &message(None));
    let (reply, _) = Message::parse(&got).expect("a Convert reply");
    let error = reply.error.expect("an Error TLV");
    assert_eq!(error.code, ErrorCode::MissingCookie);
    assert_eq!(
        (error.value, error.extra.len()),
        (0, 16),
        "a 16-byte cookie"
    );
    let cookie = error.extra.to_vec();
    assert!(
        lab.converter_line()
            .ends_with("answered Missing Cookie (3)")
    );
    // With it: converted; the bare reply, then the server's answer.
    let got = kernel_convert_client(&lab.near, converter, &message(Some(&cookie)));
    assert!(
        got.starts_with(&[1, 1, 0x22, 0x63]) && got[4..].starts_with(b"HTTP/1.0 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(lab.converter_line().ends_with(": relayed"));
    // Another cookie: Not Authorized.
    let mut wrong = cookie.clone();
    wrong[0] ^= 0xff;
    let got = kernel_convert_client(&lab.near, converter, &message(Some(&wrong)));
    let (reply, _) = Message::parse(&got).expect("a Convert reply");
    assert_eq!(reply.error.map(|e| e.code), Some(ErrorCode::NotAuthorized));
    assert!(
        lab.converter_line()
            .ends_with("answered Not Authorized (32)")
    );

    // Our client, through the SOCKS5 front: the first connection fetches
    // the cookie and retries, the second sends it at once.
    let proxy = lab.proxy(&["--socks5", "127.0.0.1:1080"]);
    proxy.wait_for("SOCKS5 on 127.0.0.1:1080");
    let curl = lab.curl(&["--socks5", "127.0.0.1:1080"]);
    lab.check_download(curl, "through a converter asking for cookies");
    let lines = [lab.converter_line(), lab.converter_line()];
    let count = |end: &str| lines.iter().filter(|l| l.ends_with(end)).count();
    assert!(
        count("answered Missing Cookie (3)") == 1 && count(": relayed") == 1,
        "one attempt without the cookie, one with: {lines:?}"
    );
    assert!(proxy.next_line().ends_with(": relayed"));
    let curl = lab.curl(&["--socks5", "127.0.0.1:1080"]);
    lab.check_download(curl, "with the cookie cached");
    let line = lab.converter_line();
    assert!(
        line.ends_with(": relayed"),
        "no second Missing Cookie: {line}"
    );
}
