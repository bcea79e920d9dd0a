//! (drain/restore: being written)
