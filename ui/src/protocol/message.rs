//! The envelopes that travel in frames: a client's [`Request`], the server's [`Reply`] to it, and
//! the [`Push`] frames a `subscribe`d client receives between replies.
//!
//! Shapes are Gunicorn 27's (`gunicorn/ctl/protocol.py`): `{"id", "command", "args"}` and
//! `{"id", "status": "ok", "data"}` / `{"id", "status": "error", "error"}`. A push has no `status`
//! and carries `"push": <kind>` instead, so a client tells them apart by one key
//! ([`ServerMessage::from_payload`]).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::command::Command;
use super::data::Snapshot;
use super::event::{Event, LogLine};

/// A client's request. `command` may hold the whole command line (`"worker add 2"`, which is
/// what `gunicornc` sends) or only the verb with the rest in `args` (`"worker add"`, `["2"]`,
/// which is what our clients send): the server joins both, as Gunicorn's `_dispatch` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    #[serde(default)]
    pub id: u64,
    pub command: String,
    #[serde(default, deserialize_with = "args_as_strings")]
    pub args: Vec<String>,
}

/// Gunicorn applies `str()` to each argument, so numbers and booleans are accepted as words.
fn args_as_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let values = Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default();
    values
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(if b { "True" } else { "False" }.to_string()),
            other => Err(D::Error::custom(format!("argument is not a word: {other}"))),
        })
        .collect()
}

impl Request {
    pub fn new(id: u64, command: &Command) -> Self {
        let (command, args) = command.to_words();
        Request { id, command, args }
    }

    /// The command line split into words: `command` split on whitespace, then `args`.
    pub fn words(&self) -> Vec<String> {
        let mut words: Vec<String> = self.command.split_whitespace().map(String::from).collect();
        words.extend(self.args.iter().cloned());
        words
    }

    /// The typed command, or the error text the server replies with.
    pub fn parse(&self) -> Result<Command, String> {
        Command::parse(&self.words())
    }
}

/// Decodes a request payload. On failure it also returns the id, when one can be salvaged, so the
/// server's error reply still matches the client's request (Gunicorn replies with id 0 otherwise).
pub fn decode_request(payload: &[u8]) -> Result<Request, (u64, String)> {
    match serde_json::from_slice::<Request>(payload) {
        Ok(req) => Ok(req),
        Err(e) => {
            let id = serde_json::from_slice::<Value>(payload)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_u64))
                .unwrap_or(0);
            Err((id, format!("Invalid request: {e}")))
        }
    }
}

/// The server's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub id: u64,
    pub result: Result<Value, String>,
}

impl Reply {
    pub fn ok<T: Serialize>(id: u64, data: &T) -> Self {
        let result = serde_json::to_value(data).map_err(|e| format!("Command failed: {e}"));
        Reply { id, result }
    }

    pub fn error(id: u64, error: impl Into<String>) -> Self {
        Reply {
            id,
            result: Err(error.into()),
        }
    }

    /// The `data` of an ok reply, parsed as `T`; an error reply's text otherwise.
    pub fn data<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        match &self.result {
            Ok(v) => T::deserialize(v).map_err(|e| format!("unexpected reply: {e}")),
            Err(e) => Err(e.clone()),
        }
    }
}

/// The wire form of [`Reply`]; `status` decides which of `data` / `error` is meaningful.
#[derive(Serialize, Deserialize)]
struct WireReply {
    #[serde(default)]
    id: u64,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match &self.result {
            Ok(data) => WireReply {
                id: self.id,
                status: "ok".into(),
                // Gunicorn's `make_response` sends `{}` for no data, never null.
                data: Some(if data.is_null() {
                    Value::Object(Default::default())
                } else {
                    data.clone()
                }),
                error: None,
            },
            Err(e) => WireReply {
                id: self.id,
                status: "error".into(),
                data: None,
                error: Some(e.clone()),
            },
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Reply {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = WireReply::deserialize(d)?;
        let result = match wire.status.as_str() {
            "ok" => Ok(wire.data.unwrap_or(Value::Object(Default::default()))),
            "error" => Err(wire.error.unwrap_or_else(|| "Unknown error".into())),
            other => return Err(D::Error::custom(format!("unknown status {other:?}"))),
        };
        Ok(Reply {
            id: wire.id,
            result,
        })
    }
}

/// A frame the server sends on its own to a subscribed client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "push", content = "data", rename_all = "snake_case")]
pub enum Push {
    /// `show stats` and `show workers` taken at one instant, every `interval_ms`.
    Snapshot(Box<Snapshot>),
    /// Something happened to the server or a worker.
    Event(Event),
    /// Output lines of the master and the workers, in arrival order.
    Logs(Vec<LogLine>),
    /// The client read too slowly and this many pushes were dropped for it.
    Lagged(u64),
}

/// Anything a client can receive.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    Reply(Reply),
    Push(Push),
}

impl ServerMessage {
    /// Decodes one payload; a frame with a `push` key is a [`Push`], anything else a [`Reply`].
    pub fn from_payload(payload: &[u8]) -> Result<Self, serde_json::Error> {
        let value: Value = serde_json::from_slice(payload)?;
        if value.get("push").is_some() {
            Ok(ServerMessage::Push(Push::deserialize(value)?))
        } else {
            Ok(ServerMessage::Reply(Reply::deserialize(value)?))
        }
    }
}
