//! A small HTTP/1.1 client on a plain `TcpStream`: enough for the API's
//! JSON responses, and free to send what no well-behaved client would
//! (half a request, hostile header bytes, a body dribbled in, a chosen
//! source address). [`Conn`] is one connection; [`Client`] keeps one
//! alive across requests and opens another when the server closed it, as
//! load generators need.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::PATIENCE;

/// The bytes of a request: `Host`, `Content-Length` for a body (or for any
/// POST), `Connection: close` if asked, then `headers` as given.
pub fn request_bytes(
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n").into_bytes();
    if !body.is_empty() || method == "POST" {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// One HTTP/1.1 response.
pub struct Response {
    pub status: u16,
    /// Names lower-cased; values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} {:?} {}",
            self.status,
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

impl Response {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (asserts the content type too).
    pub fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "not JSON: {self:?}"
        );
        serde_json::from_slice(&self.body).unwrap_or_else(|err| panic!("bad JSON ({err}): {self:?}"))
    }

    /// Asserts this is the contract's error: HTTP `status`, a JSON body
    /// with exactly `status`, `error` (= `phrase`) and a non-empty
    /// `message`, and the headers its kind requires. Returns the message.
    pub fn assert_error(&self, status: u16, phrase: &str) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        let object = body
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {self:?}"));
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["error", "message", "status"], "{self:?}");
        assert_eq!(body["status"], status, "{self:?}");
        assert_eq!(body["error"], phrase, "{self:?}");
        let message = body["message"].as_str().unwrap();
        assert!(!message.is_empty(), "{self:?}");
        match status {
            401 => assert_eq!(
                self.header("www-authenticate"),
                Some(r#"Bearer realm="Authentication Required""#),
                "{self:?}"
            ),
            405 => assert!(self.header("allow").is_some(), "405 without Allow: {self:?}"),
            429 | 503 => {
                let secs: u64 = self.header("retry-after").unwrap().parse().unwrap();
                assert!(secs >= 1, "{self:?}");
            }
            _ => {}
        }
        message.to_owned()
    }

    /// The body as JSON, or why it is not (for load generators, which
    /// count failures instead of stopping).
    pub fn try_json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("bad JSON ({e}): {}", self.text()))
    }

    /// `HTTP <status>: <body on one line>`.
    pub fn describe(&self) -> String {
        format!("HTTP {}: {}", self.status, self.text())
    }

    /// The body on one line, cut after 200 characters.
    fn text(&self) -> String {
        let line = String::from_utf8_lossy(&self.body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        match line.char_indices().nth(200) {
            Some((cut, _)) => format!("{}...", &line[..cut]),
            None => line,
        }
    }

    /// `Retry-After` in seconds.
    pub fn retry_after(&self) -> u64 {
        self.header("retry-after").unwrap().parse().unwrap()
    }
}

/// One client connection, read with a generous timeout so that no test can
/// hang forever on a silent server.
pub struct Conn {
    pub stream: TcpStream,
    /// Bytes read but not yet consumed.
    buf: Vec<u8>,
}

/// How a connection ended when the test waited for it to.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The server closed it (EOF or reset).
    Closed,
    /// The server sent these bytes before closing (or before `within`).
    Data(Vec<u8>),
    /// Nothing happened within the wait.
    StillOpen,
}

impl Conn {
    /// Connects; panics if it cannot.
    pub fn open(addr: SocketAddr) -> Conn {
        Conn::connect(addr).unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"))
    }

    pub fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        loop {
            match TcpStream::connect_timeout(&addr, PATIENCE) {
                Ok(stream) => return Conn::configured(stream),
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// A connection from a chosen local address (any 127.x.y.z works on
    /// Linux loopback), to look like another client to the daemon.
    pub fn open_from(local: IpAddr, addr: SocketAddr) -> Conn {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let stream = runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(local, 0)).unwrap();
            socket.connect(addr).await.unwrap()
        });
        let stream = {
            let _guard = runtime.enter();
            stream.into_std().unwrap()
        };
        stream.set_nonblocking(false).unwrap();
        Conn::from_stream(stream)
    }

    fn from_stream(stream: TcpStream) -> Conn {
        Conn::configured(stream).expect("socket options on a fresh connection")
    }

    fn configured(stream: TcpStream) -> std::io::Result<Conn> {
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.set_write_timeout(Some(PATIENCE))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Sends a request (see [`request_bytes`]) and reads its response.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Response {
        self.send(&request_bytes(method, path, headers, body, false))
            .unwrap();
        self.read_response().unwrap()
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF.
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = loop {
            match self.stream.read(&mut chunk) {
                // A socket with a read timeout is not restarted after a
                // signal handler ran (signal(7)); just read again.
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response (a `1xx` too). Bodies are delimited by
    /// `Content-Length`, or by the end of the connection.
    pub fn read_response(&mut self) -> std::io::Result<Response> {
        let head_end = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                break pos;
            }
            if self.fill()? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "closed before a full response head: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let (status, headers) = parse_head(&head);
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse::<usize>().unwrap());
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
        let body = if (100..200).contains(&status) || status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            self.chunked_body()?
        } else if let Some(length) = length {
            while self.buf.len() < length {
                if self.fill()? == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "closed in the middle of a body",
                    ));
                }
            }
            self.buf.drain(..length).collect()
        } else {
            while self.fill()? != 0 {}
            std::mem::take(&mut self.buf)
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// A `Transfer-Encoding: chunked` body (trailers read and dropped).
    fn chunked_body(&mut self) -> std::io::Result<Vec<u8>> {
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(body);
            }
            while self.buf.len() < size + 2 {
                if self.fill()? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }

    /// The next CRLF-terminated line, without its CRLF.
    fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Waits up to `within` for the server to close the connection,
    /// collecting anything it sends first.
    pub fn wait_close(&mut self, within: Duration) -> Ending {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let ending = loop {
            match self.fill() {
                Ok(0) => break Ending::Closed,
                Ok(_) => continue,
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break Ending::StillOpen
                }
                // A reset is a close too.
                Err(_) => break Ending::Closed,
            }
        };
        self.stream.set_read_timeout(Some(PATIENCE)).unwrap();
        match ending {
            Ending::Closed if !self.buf.is_empty() => Ending::Data(std::mem::take(&mut self.buf)),
            other => other,
        }
    }
}

/// Requests on a kept-alive connection: a new one when there is none, the
/// server closed the last one (`Connection: close`), or an exchange failed.
pub struct Client {
    addr: SocketAddr,
    conn: Option<Conn>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    /// One request; `auth` is the `Authorization` value (empty: none).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        auth: &str,
        body: &[u8],
    ) -> std::io::Result<Response> {
        match auth.is_empty() {
            true => self.send(method, path, &[], body),
            false => self.send(method, path, &[("Authorization", auth)], body),
        }
    }

    /// One request with these headers (besides `Host` and, for a body or a
    /// POST, `Content-Length`).
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let result = self.exchange(method, path, headers, body);
        match &result {
            Ok(response) if response.header("connection") == Some("close") => self.conn = None,
            Ok(_) => {}
            Err(_) => self.conn = None,
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            empty => empty.insert(Conn::connect(self.addr)?),
        };
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        conn.send(&request_bytes(method, path, &headers, body, false))?;
        conn.read_response()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a complete response out of raw bytes (e.g. what
/// [`Conn::wait_close`] collected).
pub fn parse_response(bytes: &[u8]) -> Response {
    let head_end = find(bytes, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(bytes)));
    let (status, headers) = parse_head(&String::from_utf8_lossy(&bytes[..head_end]));
    let rest = &bytes[head_end + 4..];
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(rest.len(), |(_, v)| v.parse::<usize>().unwrap());
    Response {
        status,
        headers,
        body: rest[..length.min(rest.len())].to_vec(),
    }
}

/// Status code and headers (names lower-cased) of a response head.
fn parse_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `responses` (raw bytes, one per request) on a loopback port.
    fn serve(responses: Vec<&'static [u8]>) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("one client");
            for response in responses {
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    request.push(byte[0]);
                }
                stream.write_all(response).expect("the response");
            }
        });
        addr
    }

    #[test]
    fn a_client_reads_sized_and_chunked_bodies_on_one_connection() {
        let addr = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nTrailer: t\r\n\r\n",
        ]);
        let mut client = Client::new(addr);
        let sized = client.request("GET", "/one", "", b"").expect("the first answer");
        assert_eq!((sized.status, sized.body.as_slice()), (200, &b"hello"[..]));
        let chunked = client
            .send("GET", "/two", &[("Accept", "application/json")], b"")
            .expect("the second");
        assert_eq!(chunked.try_json(), Ok(serde_json::json!({"a": 1})));
        assert_eq!(chunked.describe(), "HTTP 200: {\"a\": 1}");
    }
}
