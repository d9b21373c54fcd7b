//! A running daemon hands its sockets to the daemon that replaces it (a restart or a new
//! binary), over the admin socket: the new daemon asks (`{"cmd":"handoff"}`), the old one sends
//! every listening socket (SCM_RIGHTS) and keeps serving while the new one starts on the same
//! sockets and takes over the pinned XDP program and maps. When the new one is ready it says
//! `done`; the old one stops without detaching anything and says `stopped`; then the new one
//! starts its heartbeats. Both serve the same sockets meanwhile, so no query is refused or
//! lost. If the new daemon goes away before `done`, the old one carries on.

use std::{
    io::{IoSlice, IoSliceMut, Read, Write},
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
        unix::net::UnixStream,
    },
    path::Path,
    time::Duration,
};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use serde::{Deserialize, Serialize};

/// Most sockets handed over in one message.
const MAX_FDS: usize = 64;
/// How long the old daemon waits for its successor to be ready.
const READY_WAIT: Duration = Duration::from_secs(60);
/// How long the new daemon waits for the old one to send its sockets, and to stop.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

pub const REQUEST: &str = "{\"cmd\":\"handoff\"}\n";
const DONE: &str = "done\n";
const STOPPED: &str = "stopped\n";

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("taking over from the running daemon at {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the running daemon's answer to a hand-off is unreadable: {0}")]
    Answer(String),
}

/// What the old daemon says with its sockets.
#[derive(Debug, Serialize, Deserialize)]
struct Offer {
    pid: u32,
}

/// The daemon being replaced, as the new daemon sees it.
pub struct Predecessor {
    stream: UnixStream,
    pub pid: u32,
}

/// Asks the daemon on `admin_socket` for its sockets; `None` when no daemon answers there.
pub fn take_over(admin_socket: &Path) -> Result<Option<(Predecessor, Vec<OwnedFd>)>, HandoffError> {
    let io = |source| HandoffError::Io { path: admin_socket.display().to_string(), source };
    let mut stream = match UnixStream::connect(admin_socket) {
        Ok(stream) => stream,
        Err(_) => return Ok(None),
    };
    stream.set_read_timeout(Some(ANSWER_WAIT)).map_err(io)?;
    stream.write_all(REQUEST.as_bytes()).map_err(io)?;
    let (line, fds) = receive_with_fds(&stream).map_err(io)?;
    let offer: Offer = serde_json::from_str(line.trim()).map_err(|e| HandoffError::Answer(format!("{e}: {line:?}")))?;
    Ok(Some((Predecessor { stream, pid: offer.pid }, fds)))
}

impl Predecessor {
    /// Tells the old daemon to stop, and waits until it has.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.stream.write_all(DONE.as_bytes())?;
        let said = read_line(&mut self.stream)?;
        // End of file: it stopped without a word.
        if said.is_empty() || said == STOPPED {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("unexpected word from the old daemon: {said:?}")))
        }
    }
}

/// What became of a hand-off, on the old daemon's side.
pub enum Outcome {
    /// The successor is ready: stop, then say so on this stream (`stopped`).
    Replaced(UnixStream),
    /// The successor went away: carry on.
    Abandoned(String),
}

/// Sends `fds` to the daemon that asked on `stream` and waits for it to be ready. Blocking.
pub fn give(mut stream: UnixStream, fds: Vec<OwnedFd>) -> Outcome {
    let offer = serde_json::to_string(&Offer { pid: std::process::id() }).expect("serialisable") + "\n";
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).take(MAX_FDS).collect();
    let sent = sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(offer.as_bytes())],
        &[ControlMessage::ScmRights(&raw)],
        MsgFlags::empty(),
        None,
    );
    drop(fds);
    if let Err(e) = sent {
        return Outcome::Abandoned(format!("sending the sockets: {e}"));
    }
    if let Err(e) = stream.set_read_timeout(Some(READY_WAIT)) {
        return Outcome::Abandoned(e.to_string());
    }
    match read_line(&mut stream) {
        Ok(line) if line == DONE => Outcome::Replaced(stream),
        Ok(line) => Outcome::Abandoned(format!("the new daemon went away ({line:?})")),
        Err(e) => Outcome::Abandoned(format!("the new daemon went away: {e}")),
    }
}

/// Tells the successor this daemon has stopped.
pub fn stopped(mut stream: UnixStream) {
    let _ = stream.write_all(STOPPED.as_bytes());
}

/// One message: a line of text and the descriptors that came with it.
fn receive_with_fds(stream: &UnixStream) -> std::io::Result<(String, Vec<OwnedFd>)> {
    let mut buffer = vec![0u8; 4096];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut iov = [IoSliceMut::new(&mut buffer)];
    let message = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(std::io::Error::from)?;
    let mut fds = Vec::new();
    for cmsg in message.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            // SAFETY: the kernel just installed these descriptors in this process for us.
            fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    let len = message.bytes;
    Ok((String::from_utf8_lossy(&buffer[..len]).into_owned(), fds))
}

/// Reads up to and including a newline, a byte at a time (nothing past it is consumed).
fn read_line(stream: &mut UnixStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 256 {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}
