//! A minimal blocking HTTP/1.1 client for loopback servers we start ourselves (the backend and
//! chromedriver): one request per connection, response framed by Content-Length or chunks.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    time::Duration,
};

use crate::Result;

/// A response: status code, raw header block, body bytes.
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The header lines as received (status line included).
    pub head: String,
    /// The body, de-chunked if the server chunked it.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends `method path` to `addr` with an optional JSON body and reads the response.
pub fn request(addr: &str, method: &str, path: &str, json: Option<&str>) -> Result<Response> {
    let context =
        |what: &str, err: std::io::Error| format!("{what} {method} {path} to {addr}: {err}");
    let mut stream = TcpStream::connect(addr).map_err(|e| context("cannot connect for", e))?;
    // Generous: chromedriver answers a new-session request only once the browser is up.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| context("cannot configure", e))?;
    let body = json.unwrap_or("");
    let content_type = if json.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{content_type}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| context("cannot send", e))?;
    // Read by the framing the server announces, not to EOF: chromedriver says
    // `Connection: close` but keeps the socket open.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(response) = parse(&raw)? {
            return Ok(response);
        }
        let n = stream
            .read(&mut chunk)
            .map_err(|e| context("cannot read the answer to", e))?;
        if n == 0 {
            // EOF: the body ends here if its length was not announced.
            return parse_at_eof(&raw)
                .ok_or_else(|| format!("{method} {path}: connection closed mid-response"));
        }
        raw.extend_from_slice(&chunk[..n]);
    }
}

/// The response in `raw` once it is complete by `Content-Length` or chunked framing.
fn parse(raw: &[u8]) -> Result<Option<Response>> {
    let Some((mut response, body)) = split_head(raw)? else {
        return Ok(None);
    };
    if let Some(length) = response.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| format!("bad Content-Length {length:?}"))?;
        if body.len() < length {
            return Ok(None);
        }
        response.body = body[..length].to_vec();
        return Ok(Some(response));
    }
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        return Ok(dechunk(body).map(|body| Response { body, ..response }));
    }
    Ok(None)
}

fn parse_at_eof(raw: &[u8]) -> Option<Response> {
    let (response, body) = split_head(raw).ok()??;
    Some(Response {
        body: body.to_vec(),
        ..response
    })
}

/// Splits off and parses the header block, once it is complete.
fn split_head(raw: &[u8]) -> Result<Option<(Response, &[u8])>> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no HTTP status line in {head:?}"))?;
    let response = Response {
        status,
        head,
        body: Vec::new(),
    };
    Ok(Some((response, &raw[split + 4..])))
}

/// Joins a chunked body's chunks.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks_a_chunked_body() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").as_deref(),
            Some(&b"abcde"[..])
        );
        assert_eq!(dechunk(b"5\r\nab"), None);
    }
}
