//! Compiles every `src/*.bpf.c` with clang into a CO-RE object, strips its
//! DWARF (keeping `.BTF`/`.BTF.ext`), and leaves it in OUT_DIR for
//! `include_bytes!`; then reads each object's contract (programs, maps,
//! slot enums: build/contract.rs) and writes `objects.rs`, the `bpf::<object>`
//! modules. A missing tool or header stops the build with the Debian package
//! that provides it; an object breaking the contract's rules stops it with
//! what is wrong.

#[path = "build/btf.rs"]
mod btf;
#[path = "build/contract.rs"]
mod contract;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").unwrap().as_str() {
        "x86_64" => "x86",
        "aarch64" => "arm64",
        "riscv64" => "riscv",
        "powerpc64" => "powerpc",
        "s390x" => "s390",
        other => fail(&format!("no BPF target architecture known for `{other}`")),
    };
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-env-changed=LLVM_STRIP");
    println!("cargo:rerun-if-changed=include");
    println!("cargo:rerun-if-changed=build");
    // The directory too: a new `.bpf.c` is not among the files listed below.
    println!("cargo:rerun-if-changed=src");

    let clang = find_tool("CLANG", "clang").unwrap_or_else(|| {
        fail("no clang found (looked at $CLANG, clang, clang-NN): install it with `apt-get install clang llvm`")
    });
    let strip = find_tool("LLVM_STRIP", "llvm-strip").unwrap_or_else(|| {
        fail("no llvm-strip found (looked at $LLVM_STRIP, llvm-strip, llvm-strip-NN): install it with `apt-get install llvm`")
    });
    if ![
        "/usr/include/bpf/bpf_helpers.h",
        "/usr/local/include/bpf/bpf_helpers.h",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
    {
        fail("the libbpf headers (bpf/bpf_helpers.h) are missing: install them with `apt-get install libbpf-dev`");
    }

    let mut sources: Vec<PathBuf> = std::fs::read_dir(manifest.join("src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    let mut modules = String::new();
    let mut contracts = Vec::new();
    for source in sources {
        println!("cargo:rerun-if-changed={}", source.display());
        let stem = source
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".bpf.c", "");
        let compile = |name: &str, define: Option<&str>| -> PathBuf {
            let object = out.join(name);
            run(Command::new(&clang)
                .args(["-g", "-O2", "-Wall", "-Werror", "-target", "bpf"])
                .arg(format!("-D__TARGET_ARCH_{arch}"))
                .args(define)
                .arg("-I")
                .arg(manifest.join("include"))
                .arg("-c")
                .arg(&source)
                .arg("-o")
                .arg(&object));
            run(Command::new(&strip).arg("-g").arg(&object));
            object
        };
        let object = compile(&format!("{stem}.bpf.o"), None);
        let bytes = std::fs::read(&object).unwrap();
        let contract = contract::Contract::read(&bytes)
            .unwrap_or_else(|e| fail(&format!("src/{stem}.bpf.c: {e}")));
        // The loader picks one build per kernel, so an object has at most
        // one second form.
        let seconds: Vec<_> = contract
            .second_forms(&stem)
            .into_iter()
            .filter_map(|(field, form)| Some((field, form?)))
            .collect();
        if let [(first, _), (second, _), ..] = &seconds[..] {
            fail(&format!(
                "src/{stem}.bpf.c: needs two second builds, `{first}` and `{second}`: the loader has no object for both kernel choices"
            ));
        }
        for (_, form) in seconds {
            compile(&form.file, Some(form.define));
        }
        contract::module(&stem, &contract, &mut modules);
        contracts.push((stem, contract));
    }
    let shared = contract::shared(&contracts).unwrap_or_else(|e| fail(&e));
    std::fs::write(out.join("objects.rs"), modules + &shared).unwrap();
}

/// `$VAR`, then `name`, then the newest `name-NN` on PATH.
fn find_tool(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(explicit) = env::var_os(var) {
        return Some(PathBuf::from(explicit));
    }
    let path = env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = env::split_paths(&path).collect();
    if let Some(found) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
        return Some(found);
    }
    (11..=40)
        .rev()
        .flat_map(|v| dirs.iter().map(move |d| d.join(format!("{name}-{v}"))))
        .find(|p| p.is_file())
}

fn run(command: &mut Command) {
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!("`{command:?}` failed with {status}")),
        Err(e) => fail(&format!("cannot run `{command:?}`: {e}")),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1)
}
