//! Embeds the XDP object built by `cargo xtask build`.
use std::path::PathBuf;

fn main() {
    let object = std::env::var_os("SWITCHYARD_XDP_OBJECT").map(PathBuf::from).unwrap_or_else(|| {
        let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
        manifest.join("../target/bpf/bpfel-unknown-none/release/switchyard-xdp")
    });
    println!("cargo:rerun-if-env-changed=SWITCHYARD_XDP_OBJECT");
    println!("cargo:rerun-if-changed={}", object.display());
    if !object.exists() {
        panic!(
            "the XDP object {} is missing: build it with `cargo xtask build` (or point SWITCHYARD_XDP_OBJECT at it)",
            object.display()
        );
    }
    println!("cargo:rustc-env=SWITCHYARD_XDP_OBJECT={}", object.canonicalize().unwrap().display());
}
