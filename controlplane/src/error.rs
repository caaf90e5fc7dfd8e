//! The crate's one error type. Each admin surface renders it in its own JSON format
//! (`api::surface`), and the HTTP status is decided here, in [`ErrorKind::status`].

use std::fmt;

/// What went wrong, independent of the surface that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or invalid input (400).
    BadRequest,
    /// Missing or wrong admin token (401).
    Unauthorized,
    /// Refused whatever the credentials (403): e.g. a `Host` outside the allow-list.
    Forbidden,
    /// Unknown id or name (404).
    NotFound,
    /// Duplicate name, or a deletion that would break a reference (409).
    Conflict,
    /// A write whose body is not declared as JSON (415).
    UnsupportedMediaType,
    /// Storage or encryption failure (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status code of this kind (the one place where that mapping lives).
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::UnsupportedMediaType => 415,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::Internal => 500,
        }
    }

    /// Machine-readable code (the orchestrator and canonical APIs' `error.code`).
    pub fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Internal => "internal_error",
        }
    }
}

/// A problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field path in the surface's own payload (`base_url`, `configs[0].base_url`, ...).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An error answered to an admin client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Category (decides the status code).
    pub kind: ErrorKind,
    /// Human-readable summary.
    pub message: String,
    /// Field-level problems (400 only).
    pub fields: Vec<FieldError>,
}

impl ApiError {
    /// A generic error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// 400 about one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self {
            kind: ErrorKind::BadRequest,
            message: format!("{field}: {message}"),
            fields: vec![FieldError { field, message }],
        }
    }

    /// 400 without a specific field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// 500; the detail is logged, the client gets a generic message.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "control plane internal error");
        Self::new(ErrorKind::Internal, "internal error")
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorKind::Unauthorized,
            "missing or invalid admin token (Authorization: Bearer <token> or X-Admin-Key)",
        )
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// 415.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            ErrorKind::UnsupportedMediaType,
            "Content-Type must be application/json for requests with a body",
        )
    }

    /// A whole-state validation failure from `config_from_snapshot` (`path: problem`).
    pub fn invalid_config(text: String) -> Self {
        match text.split_once(": ") {
            Some((field, problem)) if !field.contains(' ') || field.contains('(') => {
                let mut err = Self::field(field.to_string(), problem.to_string());
                err.message = text;
                err
            }
            _ => Self::bad_request(text),
        }
    }

    /// Rewords a 404 in a surface's own words (`Provider not found`); other errors pass.
    pub fn not_found_as(mut self, message: impl FnOnce() -> String) -> Self {
        if self.kind == ErrorKind::NotFound {
            self.message = message();
        }
        self
    }

    /// Renames field paths for a surface whose payload names fields differently.
    pub fn rename_fields(mut self, rename: impl Fn(&str) -> String) -> Self {
        for f in &mut self.fields {
            let renamed = rename(&f.field);
            if renamed != f.field {
                self.message = self.message.replacen(&f.field, &renamed, 1);
                f.field = renamed;
            }
        }
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<sled::Error> for ApiError {
    fn from(e: sled::Error) -> Self {
        Self::internal(format!("sled: {e}"))
    }
}

impl From<sled::transaction::TransactionError<ApiError>> for ApiError {
    fn from(e: sled::transaction::TransactionError<ApiError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => e.into(),
        }
    }
}
