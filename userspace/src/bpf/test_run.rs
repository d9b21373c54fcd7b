//! BPF_PROG_TEST_RUN: runs a loaded XDP program on a frame in the kernel, without a NIC.
//! aya does not wrap this command, so it is a direct bpf(2) call.

use std::os::fd::{AsFd, AsRawFd};

use aya::programs::Xdp;

const BPF_PROG_TEST_RUN: libc::c_long = 10;
/// Room for the frame to grow (the kernel gives XDP test runs up to a page).
const OUT_CAPACITY: usize = 4096;

/// The `test` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// What one test run returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The XDP action (XDP_PASS = 2, XDP_TX = 3, ...).
    pub action: u32,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
    /// Average nanoseconds per run, as the kernel measured it.
    pub duration_ns: u32,
}

pub const XDP_ABORTED: u32 = 0;
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;

fn bpf_test_run(attr: &mut TestRunAttr) -> std::io::Result<()> {
    // SAFETY: attr points at buffers that outlive the call; the kernel writes at most
    // data_size_out bytes to data_out.
    let rc =
        unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_TEST_RUN, attr as *mut TestRunAttr, size_of::<TestRunAttr>()) };
    if rc != 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

/// Runs `program` on `frame` `repeat` times (at least once). The frame is not reset between
/// repetitions, so a repeat count above one only times programs that leave it unchanged. (The
/// live-frames mode does not help either: it recycles pages without restoring their data, so a
/// responder would see its own previous answer.)
pub fn run(program: &Xdp, frame: &[u8], repeat: u32) -> std::io::Result<TestRun> {
    run_fd(program.fd().map_err(std::io::Error::other)?.as_fd(), frame, repeat)
}

/// `run` for the program behind `fd` (a test that writes the maps from another thread meanwhile).
pub fn run_fd(fd: std::os::fd::BorrowedFd<'_>, frame: &[u8], repeat: u32) -> std::io::Result<TestRun> {
    let mut out = vec![0u8; OUT_CAPACITY];
    let mut attr = TestRunAttr {
        prog_fd: fd.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_size_out: out.len() as u32,
        data_in: frame.as_ptr() as u64,
        data_out: out.as_mut_ptr() as u64,
        repeat: repeat.max(1),
        ..TestRunAttr::default()
    };
    bpf_test_run(&mut attr)?;
    out.truncate(attr.data_size_out as usize);
    Ok(TestRun { action: attr.retval, frame: out, duration_ns: attr.duration })
}
