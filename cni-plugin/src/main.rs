//! The `flannel` CNI plugin (see issue 3): not implemented yet.
fn main() {
    eprintln!("flannel CNI plugin: not implemented yet");
    std::process::exit(1);
}
