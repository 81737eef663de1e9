//! Small view pieces shared by the pages.

pub mod note;
pub mod status_badge;

pub use note::note;
pub use status_badge::StatusBadge;
