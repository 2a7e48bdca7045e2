//! Orders' tests run on the whole buying stack of the testkit.

pub use numhub_testkit::stack::orders::*;
#[allow(unused_imports)]
pub use numhub_testkit::status::{assert_status, bad_fields, reason};
