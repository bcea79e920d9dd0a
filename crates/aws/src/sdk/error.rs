//! Reading AWS errors: which ones mean "not there", which ones a retry could help, and
//! [`AwsError`], a failed call read once into a value the rooms' typed errors carry.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The error code AWS returned (`NoSuchBucket`, `InvalidGroup.NotFound`, …), if any.
pub fn code<E: ProvideErrorMetadata>(err: &E) -> Option<&str> {
    err.code()
}

/// True when the error says the thing asked about does not exist.
pub fn is_not_found<E: ProvideErrorMetadata>(err: &E) -> bool {
    matches!(
        err.code(),
        Some(
            "NoSuchBucket"
                | "NoSuchKey"
                | "NotFound"
                | "NoSuchEntity"
                | "ResourceNotFoundException"
                | "ResourceNotFound"
                | "ParameterNotFound"
                | "InvalidGroup.NotFound"
                | "InvalidKeyPair.NotFound"
                | "InvalidInstanceID.NotFound"
                | "NoSuchTagSet"
                | "ServerSideEncryptionConfigurationNotFoundError"
                | "NoSuchPublicAccessBlockConfiguration"
                | "AWS.SimpleQueueService.NonExistentQueue"
                | "QueueDoesNotExist"
        )
    )
}

/// True when trying the same call again later can succeed: throttling, timeouts, a connection
/// that failed, a server error. Access denied, validation errors and missing resources are not.
pub fn is_retryable<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(s) => is_retryable_code(s.err().code()),
        _ => false,
    }
}

/// Error codes AWS uses for "slow down" and "try again".
pub fn is_retryable_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "Throttling"
                | "ThrottlingException"
                | "ThrottledException"
                | "RequestLimitExceeded"
                | "RequestThrottled"
                | "RequestThrottledException"
                | "TooManyRequestsException"
                | "SlowDown"
                | "ServiceUnavailable"
                | "ServiceUnavailableException"
                | "InternalError"
                | "InternalFailure"
                | "InternalServerError"
                | "RequestTimeout"
                | "RequestTimeoutException"
                | "PriorRequestNotComplete"
                | "EC2ThrottledException"
        )
    )
}

/// The whole error, its causes included, on one line.
pub fn describe<E: std::error::Error + 'static>(err: &E) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(err).to_string()
}

/// A failed AWS call, read: what was being done, AWS's error code and message, and whether trying
/// again later can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct AwsError {
    pub what: String,
    pub code: Option<String>,
    pub message: String,
    pub retryable: bool,
}

impl AwsError {
    /// Reads `err`, the failure of `what`.
    pub fn of<E, R>(what: impl Into<String>, err: &SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        AwsError {
            what: what.into(),
            code: err.code().map(String::from),
            message: describe(err),
            retryable: is_retryable(err),
        }
    }

    /// A failure that is not an AWS call's (a reply without what it must hold, say).
    pub fn other(what: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError { what: what.into(), code: None, message: message.into(), retryable: false }
    }

    /// A refusal with an AWS error code, as the twins give it.
    pub fn coded(what: impl Into<String>, code: &str) -> AwsError {
        AwsError {
            what: what.into(),
            code: Some(code.to_string()),
            message: code.to_string(),
            retryable: is_retryable_code(Some(code)),
        }
    }
}
