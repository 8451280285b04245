//! The one integration test binary; each module says what it covers.

mod cli_basics;
mod gpt; // GPT/MBR tables, raw images, resize, inspect, copy --sparse (sgdisk, sfdisk, qemu-img)
