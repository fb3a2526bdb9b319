//! Item decoders (both formats) on arbitrary attribute maps: parsing never
//! panics; format detection agrees with the parse; an item that parses can be
//! asked for its KMS context and opened with any key without a panic, and an
//! arbitrary key never opens it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox::backend::ItemSummary;
use lockbox::envelope::{Envelope, ItemFormat};
use lockbox::EncryptionContext;
use lockbox_fuzz::{item, FuzzAttr, FuzzName};

fuzz_target!(
    |input: (Vec<(FuzzName, FuzzAttr)>, Vec<(String, String)>, Vec<u8>)| {
        let (attrs, pairs, data_key) = input;
        let item = item(&attrs);
        let _ = ItemSummary::from_attributes(&item);
        let detected = ItemFormat::detect(&item);
        let Ok(envelope) = Envelope::parse(&item) else {
            return;
        };
        assert_eq!(detected.ok(), Some(envelope.format()));
        let _ = format!("{envelope:?}");
        let mut context = EncryptionContext::new();
        for (k, v) in pairs {
            let _ = context.insert(k, v);
        }
        if let Ok(kms) = envelope.kms_context(&context) {
            // The fuzzer cannot forge an HMAC or a commitment: nothing opens.
            assert!(envelope.open(&kms, &data_key).is_err());
        }
    }
);
