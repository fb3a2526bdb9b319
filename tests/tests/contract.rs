//! The backend contract suite against each backend.

mod memory {
    lockbox_tests::contract_suite!(lockbox_tests::MemoryFixture::default());
}

mod emulator {
    lockbox_tests::contract_suite!(lockbox_tests::EmulatorFixture::start().await);
}
