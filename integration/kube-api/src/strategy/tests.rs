//! Behaviour tests of the strategies through the public API.
