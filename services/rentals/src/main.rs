//! The rentals binary: the service skeleton around [`numhub_rentals::Rentals`].

fn main() -> std::process::ExitCode {
    numhub_skeleton::main::<numhub_rentals::Rentals>()
}
