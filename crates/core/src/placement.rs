//! (placement engine: being written)
