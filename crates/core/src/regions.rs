//! (env file: being written)
