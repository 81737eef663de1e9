//! Small view pieces shared by the pages.

pub mod status_badge;

pub use status_badge::StatusBadge;
