//! A steady UDP query load in which every query is accounted for: a sender at a fixed rate
//! and a receiver that matches answers by id. A query unanswered after `TIMEOUT` is lost; an
//! answer the check refuses is wrong. Windows of the counts are taken with `take`.

use std::{
    net::{SocketAddr, UdpSocket},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use hickory_proto::{op::Message, rr::RecordType};

use crate::{client::query_message, netns::Netns};

const TIMEOUT: Duration = Duration::from_secs(1);
/// Queries are sent in a burst every tick.
const TICK: Duration = Duration::from_millis(1);

/// Whether an answer to query number `n` (its question chosen by `n`) is right.
pub type Check = fn(usize, &Message) -> bool;

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    answered: AtomicU64,
    lost: AtomicU64,
    wrong: AtomicU64,
}

/// Sent, answered, lost and wrong queries in a window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    pub sent: u64,
    pub answered: u64,
    pub lost: u64,
    pub wrong: u64,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    threads: Vec<JoinHandle<()>>,
    pending: Pending,
    last: Window,
}

/// In flight per id: when it was sent and which question it asked.
type Pending = Arc<Mutex<Vec<Option<(Instant, usize)>>>>;

impl Load {
    /// Sends `rate` queries a second from `ns` to `server`; question `n % questions.len()`.
    pub fn start(
        ns: &Netns,
        server: SocketAddr,
        rate: u64,
        questions: Vec<(String, RecordType)>,
        check: Check,
    ) -> Load {
        let socket = ns.enter(|| UdpSocket::bind("0.0.0.0:0")).expect("bind");
        socket.connect(server).expect("connect");
        receive_buffer(&socket, 4 << 20);
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let (stop, counts) = (Arc::new(AtomicBool::new(false)), Arc::new(Counts::default()));
        let pending: Pending = Arc::new(Mutex::new(vec![None; 65536]));
        let receiver = {
            let (socket, stop, counts, pending) =
                (socket.try_clone().unwrap(), stop.clone(), counts.clone(), pending.clone());
            std::thread::spawn(move || receive(&socket, &stop, &counts, &pending, check))
        };
        let sender = {
            let (stop, counts, pending) = (stop.clone(), counts.clone(), pending.clone());
            std::thread::spawn(move || send(&socket, rate, &questions, &stop, &counts, &pending))
        };
        Load { stop, counts, threads: vec![sender, receiver], pending, last: Window::default() }
    }

    /// Counts since the previous `take`; a query unanswered for `TIMEOUT` is lost by then.
    pub fn take(&mut self) -> Window {
        let expired = self
            .pending
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|slot| slot.is_some_and(|(sent, _)| sent.elapsed() > TIMEOUT))
            .map(|slot| slot.take())
            .count();
        self.counts.lost.fetch_add(expired as u64, Ordering::Relaxed);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let now = Window {
            sent: get(&self.counts.sent),
            answered: get(&self.counts.answered),
            lost: get(&self.counts.lost),
            wrong: get(&self.counts.wrong),
        };
        let window = Window {
            sent: now.sent - self.last.sent,
            answered: now.answered - self.last.answered,
            lost: now.lost - self.last.lost,
            wrong: now.wrong - self.last.wrong,
        };
        self.last = now;
        window
    }

    /// Stops sending, waits out the timeout of the last queries, and returns the last window.
    pub fn finish(mut self) -> Window {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.take()
    }
}

fn send(
    socket: &UdpSocket,
    rate: u64,
    questions: &[(String, RecordType)],
    stop: &AtomicBool,
    counts: &Counts,
    pending: &Pending,
) {
    let messages: Vec<Vec<u8>> =
        questions.iter().map(|(name, qtype)| query_message(name, *qtype, false).to_vec().unwrap()).collect();
    let started = Instant::now();
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while n < due {
            let id = (n % 65536) as usize;
            let question = (n as usize) % messages.len();
            let mut bytes = messages[question].clone();
            bytes[..2].copy_from_slice(&(id as u16).to_be_bytes());
            {
                let mut slots = pending.lock().unwrap();
                if slots[id].take().is_some() {
                    counts.lost.fetch_add(1, Ordering::Relaxed);
                }
                slots[id] = Some((Instant::now(), question));
            }
            let _ = socket.send(&bytes);
            counts.sent.fetch_add(1, Ordering::Relaxed);
            n += 1;
        }
        std::thread::sleep(TICK);
    }
    // What is still unanswered after the timeout is lost.
    std::thread::sleep(TIMEOUT);
    let lost = pending.lock().unwrap().iter_mut().filter_map(Option::take).count();
    counts.lost.fetch_add(lost as u64, Ordering::Relaxed);
}

fn receive(socket: &UdpSocket, stop: &AtomicBool, counts: &Counts, pending: &Pending, check: Check) {
    let mut buf = [0u8; 4096];
    let mut stopped_at = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            let at = *stopped_at.get_or_insert_with(Instant::now);
            if at.elapsed() > TIMEOUT {
                return;
            }
        }
        let Ok(len) = socket.recv(&mut buf) else { continue };
        let Ok(message) = Message::from_vec(&buf[..len]) else { continue };
        let id = message.metadata.id as usize;
        let Some((sent, question)) = pending.lock().unwrap()[id].take() else { continue };
        if sent.elapsed() > TIMEOUT {
            counts.lost.fetch_add(1, Ordering::Relaxed);
        } else if check(question, &message) {
            counts.answered.fetch_add(1, Ordering::Relaxed);
        } else {
            counts.wrong.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Room for the answers of a burst while the receiver is short of CPU.
fn receive_buffer(socket: &UdpSocket, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    // SAFETY: an int option on a socket we own, with its size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
