//! Encoding and decoding of wire messages: JSON text frames, chosen here and nowhere else.

use serde::{Serialize, de::DeserializeOwned};

/// A frame that could not be turned into a typed message.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The text was not valid JSON, or did not have the message's shape (missing field, wrong
    /// type, unknown variant). The inner error names the line, column and problem.
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Encodes a message as the text of one WebSocket text frame.
///
/// The wire types contain only strings, integers and enums, which always serialize; a failure
/// here would be a bug in a type definition, so it is reported rather than hidden.
pub fn encode<T: Serialize>(message: &T) -> Result<String, ProtocolError> {
    Ok(serde_json::to_string(message)?)
}

/// Decodes the text of one WebSocket text frame into a typed message.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ProtocolError> {
    Ok(serde_json::from_str(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EchoFrame;

    #[test]
    fn round_trips_an_echo_frame() {
        let frame = EchoFrame {
            id: 7,
            text: "안녕하세요 hello".to_owned(),
        };
        let text = encode(&frame).unwrap();
        assert_eq!(decode::<EchoFrame>(&text).unwrap(), frame);
    }

    #[test]
    fn malformed_json_is_a_typed_error_naming_the_problem() {
        let err = decode::<EchoFrame>(r#"{"id":1}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `text`"), "{err}");
        let err = decode::<EchoFrame>("not json").unwrap_err();
        assert!(matches!(err, ProtocolError::Malformed(_)));
    }
}
