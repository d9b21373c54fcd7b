//! The eBPF toolchain: nightly `rust-src` and a bpf-linker built against the nightly rustc's own
//! LLVM (Debian 12 has no matching system libLLVM). Everything comes from rustup and crates.io.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{Result, run, workspace_root};

const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_FEATURE: &str = "llvm-22";

fn tools_dir() -> PathBuf {
    workspace_root().join("target/switchyard-tools")
}

/// `cargo +nightly` with our tools on PATH and nothing inherited that would pin another toolchain.
pub fn nightly_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly").env_remove("RUSTUP_TOOLCHAIN").env_remove("RUSTC").env_remove("CARGO");
    // Host flags would replace the BPF target's own (ebpf/switchyard-xdp/.cargo/config.toml).
    cmd.env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS");
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", tools_dir().join("bin").display()));
    cmd
}

fn nightly_sysroot() -> Result<PathBuf> {
    let out = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .map_err(|e| format!("cannot run rustc +nightly: {e}"))?;
    if !out.status.success() {
        return Err("the nightly toolchain is missing: install it with `rustup toolchain install nightly`".into());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The nightly's shared libLLVM (its file name changes with the nightly).
fn nightly_libllvm() -> Result<PathBuf> {
    let lib = nightly_sysroot()?.join("lib");
    std::fs::read_dir(&lib)
        .map_err(|e| format!("{}: {e}", lib.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libLLVM.so.")))
        .ok_or_else(|| format!("no libLLVM.so.* in {}", lib.display()))
}

fn has_rust_src() -> bool {
    nightly_sysroot().is_ok_and(|s| s.join("lib/rustlib/src/rust/library/core").exists())
}

fn linker_link() -> PathBuf {
    tools_dir().join("llvm/lib/libLLVM.so")
}

/// bpf-linker is usable when it exists and its rpath symlink points at the current nightly's LLVM.
fn has_linker() -> bool {
    let Ok(llvm) = nightly_libllvm() else {
        return false;
    };
    tools_dir().join("bin/bpf-linker").exists() && std::fs::read_link(linker_link()).is_ok_and(|t| t == llvm)
}

/// Installs whatever is missing; cheap when everything is there.
pub fn ensure() -> Result {
    if has_rust_src() && has_linker() { Ok(()) } else { setup() }
}

pub fn setup() -> Result {
    if !has_rust_src() {
        eprintln!("xtask: installing rust-src for nightly");
        run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))?;
    }
    if !has_linker() {
        install_linker()?;
    }
    eprintln!("xtask: eBPF toolchain ready ({})", tools_dir().display());
    Ok(())
}

fn install_linker() -> Result {
    let llvm = nightly_libllvm()?;
    let link = linker_link();
    let prefix = link.parent().and_then(Path::parent).expect("llvm/lib/libLLVM.so").to_path_buf();
    std::fs::create_dir_all(link.parent().unwrap()).map_err(|e| format!("{}: {e}", prefix.display()))?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&llvm, &link).map_err(|e| format!("{}: {e}", link.display()))?;
    eprintln!("xtask: building bpf-linker {BPF_LINKER_VERSION} against {}", llvm.display());
    run(Command::new("cargo")
        .args(["install", &format!("bpf-linker@{BPF_LINKER_VERSION}"), "--locked", "--force"])
        .args(["--no-default-features", "--features", LLVM_FEATURE, "--root"])
        .arg(tools_dir())
        .env("LLVM_PREFIX", &prefix)
        .env_remove("RUSTUP_TOOLCHAIN"))
}
