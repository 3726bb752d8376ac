//! Fixtures shared by the integration tests. Each test file (`lab_*`, `test_run`, `lists`)
//! imports its shared helpers from here and from nowhere else: no test file reaches into
//! another, so one can be read, moved or deleted alone. Helpers used by one file stay in
//! that file.
//!
//! - `pins`: bpffs pin directories and a loaded (unattached) datapath.
//! - `office`: the office lab with the daemon running (`Office`), the standard one or
//!   with its configuration or groups rewritten.
//! - `browser`: a step of `web/tests/browser.mjs` in headless Chromium on a PC.
//! - `dns`: asking the gateway's DNS from a PC (`dig`, `short`).
//! - `http`: the admin API from a PC: the bearer `TOKEN`, `get`, users and their
//!   cookie sessions (`add_user`, `login`, `call`); `reaches`, whether a PC gets an HTTP
//!   answer from a URL.
//!
//! Within `support`, `office` builds on `pins`, `http` on `office`; nothing points back.

pub mod browser;
pub mod dns;
pub mod http;
pub mod office;
pub mod pins;
