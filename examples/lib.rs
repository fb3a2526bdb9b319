//! lockbox-examples: see the `examples` in this package.
