//! Reading AWS errors: which ones mean "not there", which ones a retry could help.

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
