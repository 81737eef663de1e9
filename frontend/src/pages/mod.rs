//! One module per page of the app.

pub mod chat;
pub mod echo;

pub use chat::ChatPage;
pub use echo::EchoPage;
