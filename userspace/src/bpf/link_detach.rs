//! Detaching a pinned XDP link at once. Removing its pin alone frees the link only after an RCU
//! grace period (bpffs frees the inode later), so the program could still be answering when
//! `switchyard cleanup` or a reload said it was gone. BPF_LINK_DETACH ends it synchronously,
//! whatever network namespace the interface is in; aya has no call for it on a pinned link.

use std::{ffi::CString, io, os::unix::ffi::OsStrExt, path::Path};

const BPF_OBJ_GET: libc::c_long = 7;
const BPF_LINK_DETACH: libc::c_long = 34;

/// The leading fields of `union bpf_attr` for BPF_OBJ_GET; the rest must be zero.
#[repr(C)]
#[derive(Default)]
struct ObjGet {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
    path_fd: i32,
    _pad: u32,
}

/// `union bpf_attr` for BPF_LINK_DETACH.
#[repr(C)]
struct LinkDetach {
    link_fd: u32,
}

/// Detaches the link pinned at `path` from its interface, then removes the pin. A link that
/// cannot be detached (its interface gone, say) is logged and its pin removed all the same.
pub fn detach_and_unpin(path: &Path) -> io::Result<()> {
    let name = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let get = ObjGet { pathname: name.as_ptr() as u64, ..ObjGet::default() };
    // SAFETY: bpf(2) with an attribute struct of the size given that outlives the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_OBJ_GET, &raw const get, size_of::<ObjGet>()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let detach = LinkDetach { link_fd: fd as u32 };
    // SAFETY: as above; `fd` is the link descriptor just obtained.
    let detached = unsafe { libc::syscall(libc::SYS_bpf, BPF_LINK_DETACH, &raw const detach, size_of::<LinkDetach>()) };
    if detached < 0 {
        let error = io::Error::last_os_error();
        tracing::warn!(path = %path.display(), %error, "XDP link not detached at once; it goes with its pin");
    }
    // SAFETY: closing the descriptor obtained above, used nowhere else.
    unsafe { libc::close(fd as i32) };
    std::fs::remove_file(path)
}
