//! lockbox SDK
