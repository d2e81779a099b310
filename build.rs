//! Platform link flags for the Lua module: nothing else belongs here.

fn main() {
    // A Lua module resolves the interpreter's symbols when it is loaded;
    // macOS's linker refuses undefined symbols unless told so.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-cdylib-link-arg=-undefined");
        println!("cargo:rustc-cdylib-link-arg=dynamic_lookup");
    }
}
