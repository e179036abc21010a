fn main() -> std::process::ExitCode {
    wxpay_ops::cli::main()
}
