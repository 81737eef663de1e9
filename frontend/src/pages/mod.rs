//! One module per page of the app.

pub mod account;
pub mod admin;
pub mod chat;
pub mod echo;

pub use account::ChatGate;
pub use admin::AdminPage;
pub use chat::ChatPage;
pub use echo::EchoPage;
