//! Issue #8 part 4: one client cannot starve the others. A body is never
//! read (nor `100 Continue` sent) before the caller is authenticated;
//! headers past a small buffer get 431; one address cannot take every
//! connection slot; a client that never reads its answers is cut off.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::Duration;

use crate::common::{Conn, Daemon, Ending};

#[test]
fn r8_an_unauthenticated_expect_continue_gets_401_without_100() {
    let server = Daemon::start(&[]);
    let mut conn = server.conn();
    conn.send(
        b"POST /api/v1.0/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let response = conn.read_response().unwrap();
    assert_eq!(response.status, 401, "{response:?}");
    assert_eq!(response.header("connection"), Some("close"), "{response:?}");
    // And a bad token is refused the same way, before any body.
    let mut conn = server.conn();
    conn.send(b"POST /api/v1.0/tasks/ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Length: 5000\r\n\r\n")
        .unwrap();
    assert_eq!(conn.read_response().unwrap().status, 401);
}

#[test]
fn r8_oversized_headers_get_431() {
    let server = Daemon::start(&[]);
    // 12 KiB of headers are within the 16 KiB bound (docs/api.md).
    let cookie = "c".repeat(12 * 1024);
    assert_eq!(
        server
            .call("GET", "/healthz", &[("Cookie", cookie.as_bytes())], b"")
            .status,
        200
    );
    let mut conn = server.conn();
    let big = "a".repeat(20 * 1024);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    // The daemon may answer and close before the whole request is sent.
    let _ = conn.send(request.as_bytes());
    match conn.wait_close(Duration::from_secs(30)) {
        Ending::Data(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            assert!(text.starts_with("HTTP/1.1 431"), "{text}");
        }
        other => panic!("expected a 431, got {other:?}"),
    }
}

#[test]
fn r8_one_address_cannot_take_every_connection() {
    let server = Daemon::start(&["--max-connections-per-address", "3"]);
    let hog = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
    let _silent: Vec<Conn> = (0..3).map(|_| Conn::open_from(hog, server.addr())).collect();
    let mut fourth = Conn::open_from(hog, server.addr());
    assert!(
        matches!(fourth.wait_close(Duration::from_secs(10)), Ending::Closed),
        "the fourth connection from one address is closed at once"
    );
    // Everyone else is served meanwhile.
    assert_eq!(server.get("/healthz", None).status, 200);
    assert!(
        server.log().contains("open from that address already"),
        "{}",
        server.log()
    );
}

#[test]
fn r8_a_client_that_never_reads_is_cut_off() {
    let server = Daemon::start(&["--send-timeout", "1"]);
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    let mut writer = stream.try_clone().unwrap();
    // Pipeline requests and read nothing, until the daemon stops taking
    // them (its writes are stuck) and then drops the connection.
    let mut sent = 0usize;
    let cut = loop {
        match writer.write_all(&request) {
            Ok(()) => sent += 1,
            Err(err) => break err,
        }
        assert!(
            sent < 100_000,
            "the daemon kept reading from a client that never reads"
        );
    };
    assert!(
        matches!(
            cut.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ),
        "the daemon did not close the connection: {cut:?}"
    );
    assert_eq!(server.get("/healthz", None).status, 200);
    drop(stream);
}
