//! Health tests against tiny HTTP servers on 127.0.0.1.

mod config_tests;
mod database_tests;
mod exec_tests;
mod https_tests;
mod monitor_tests;
mod probe_tests;
mod rules_tests;
mod test_server;
mod tls_server;
mod wait;
