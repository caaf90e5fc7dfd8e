//! Checks of single top-level values (names, numbers, `messages` verdicts), each a 400
//! naming its parameter.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::limits::RequestLimits;
use super::model_name::check_model_name;
use super::scan::{MessagesCheck, MessagesScan};
use crate::TranslateError;

/// The 400 for a model or provider name that cannot be one.
#[inline]
pub(super) fn check_name(
    name: &str,
    param: &str,
    limits: &RequestLimits,
) -> Result<(), TranslateError> {
    check_model_name(name, limits.max_model_name_bytes)
        .map_err(|why| invalid(param, format!("`{param}` {why}")))
}

#[derive(Deserialize)]
pub(super) struct StreamOptionsShape {
    pub(super) include_usage: Option<bool>,
}

#[inline]
pub(super) fn invalid(param: &str, message: impl Into<String>) -> TranslateError {
    TranslateError {
        message: message.into(),
        param: Some(param.to_string()),
    }
}

pub(super) fn parse_as<'a, T: Deserialize<'a>>(
    raw: &'a RawValue,
    param: &str,
    what: &str,
) -> Result<T, TranslateError> {
    serde_json::from_str(raw.get()).map_err(|_| invalid(param, format!("`{param}` must be {what}")))
}

#[inline]
pub(super) fn check_number(
    raw: &RawValue,
    param: &str,
    lo: f64,
    hi: f64,
) -> Result<(), TranslateError> {
    if raw.get() == "null" {
        return Ok(());
    }
    let v: f64 = parse_as(raw, param, "a number")?;
    if !(lo..=hi).contains(&v) {
        return Err(invalid(
            param,
            format!("`{param}` must be between {lo} and {hi}, got {v}"),
        ));
    }
    Ok(())
}

/// The 400 for a `messages` problem, if any.
#[inline]
pub(super) fn check_messages(
    scan: &MessagesScan,
    limits: &RequestLimits,
) -> Result<(), TranslateError> {
    if scan.len > limits.max_messages {
        return Err(invalid(
            "messages",
            format!(
                "`messages` has {} entries, more than the limit of {}",
                scan.len, limits.max_messages
            ),
        ));
    }
    match &scan.check {
        MessagesCheck::Ok => Ok(()),
        MessagesCheck::NotArray | MessagesCheck::BadShape => Err(invalid(
            "messages",
            "`messages` must be an array of message objects",
        )),
        MessagesCheck::Empty => Err(invalid(
            "messages",
            "`messages` must contain at least one message",
        )),
        MessagesCheck::MissingRole(i) => Err(invalid(
            &format!("messages[{i}].role"),
            format!("messages[{i}] has no `role`"),
        )),
        MessagesCheck::UnknownRole(i, r) => Err(invalid(
            &format!("messages[{i}].role"),
            format!("unknown role `{r}` in messages[{i}]"),
        )),
    }
}
