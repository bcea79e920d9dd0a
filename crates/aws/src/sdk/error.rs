//! Reading AWS errors: which ones mean "not there", which ones a retry could help.

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
