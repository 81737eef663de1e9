//! One module per page of the app.

pub mod account;
pub mod chat;
pub mod echo;

pub use account::ChatGate;
pub use chat::ChatPage;
pub use echo::EchoPage;
