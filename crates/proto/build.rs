//! Compiles every .proto under `proto/` with protox (pure Rust, so no system
//! protoc is needed), generates prost messages and tonic clients/servers, and
//! writes the table of every RPC's access rule (the `numhub.common.v1.access`
//! method option), refusing to build when an RPC has none.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, Value};

type BoxError = Box<dyn std::error::Error>;

fn main() -> Result<(), BoxError> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let mut files = Vec::new();
    collect_protos(&root, &mut files)?;
    files.sort();

    // tonic-prost-build does not emit rerun-if-changed; without these lines a
    // changed contract would not rebuild the generated code.
    println!("cargo:rerun-if-changed={}", root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut compiler = protox::Compiler::new([&root])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(&files)?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("access_rules.rs"),
        access_rules(&compiler.descriptor_pool())?,
    )?;

    let descriptors = compiler.file_descriptor_set();
    let descriptor_path = out_dir.join("numhub_descriptor.bin");
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .compile_fds(descriptors)?;
    Ok(())
}

/// Rust source of `ACCESS_RULES`: one entry per numhub RPC.
fn access_rules(pool: &DescriptorPool) -> Result<String, BoxError> {
    let extension = pool
        .get_extension_by_name("numhub.common.v1.access")
        .ok_or("numhub.common.v1.access is not defined")?;
    let mut out = String::from("&[\n");
    for service in pool.services() {
        if !service.full_name().starts_with("numhub.") {
            continue;
        }
        let internal = service.name().ends_with("InternalService");
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            let options = method.options();
            if !options.has_extension(&extension) {
                return Err(format!("{path} declares no (numhub.common.v1.access) option").into());
            }
            let Value::Message(rule) = options.get_extension(&extension).into_owned() else {
                return Err(format!("{path}: access is not a message").into());
            };
            let number = |field: &str| match rule.get_field_by_name(field).as_deref() {
                Some(Value::EnumNumber(n)) => *n,
                _ => 0,
            };
            let credential = match number("credential") {
                1 => "ApiKey",
                2 => "Service",
                _ => return Err(format!("{path}: access.credential must be set").into()),
            };
            let scope = match number("scope") {
                0 => "Unspecified",
                1 => "Read",
                2 => "Write",
                3 => "Admin",
                n => return Err(format!("{path}: unknown scope {n}").into()),
            };
            let moves_money = matches!(
                rule.get_field_by_name("moves_money").as_deref(),
                Some(Value::Bool(true))
            );
            let streams = method.is_server_streaming();
            // The surfaces must be obvious from the service names alone.
            if internal != (credential == "Service") {
                return Err(format!(
                    "{path}: *InternalService methods, and only they, take the service credential"
                )
                .into());
            }
            if (credential == "ApiKey") == (scope == "Unspecified") {
                return Err(format!("{path}: API key methods, and only they, name a scope").into());
            }
            writeln!(
                out,
                "    MethodAccess {{ path: {path:?}, credential: Credential::{credential}, \
                 scope: Scope::{scope}, moves_money: {moves_money}, streams: {streams} }},"
            )?;
        }
    }
    out.push(']');
    Ok(out)
}

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
