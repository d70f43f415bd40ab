//! Property tests of the parsers.
