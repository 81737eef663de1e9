//! One module per page of the app.

pub mod echo;

pub use echo::EchoPage;
