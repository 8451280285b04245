//! Vagrant box contents (Vagrant docs, "Box File Format"): a tar (usually
//! gzip'd) with `metadata.json` naming the provider, a `Vagrantfile` with
//! defaults, and the provider's disk files.

use crate::image::VmSpec;

/// `metadata.json` of a libvirt box (vagrant-libvirt: provider, format,
/// virtual_size in GiB).
pub fn libvirt_metadata(virtual_size: u64) -> String {
    let gib = virtual_size.div_ceil(1 << 30);
    format!("{{\"provider\":\"libvirt\",\"format\":\"qcow2\",\"virtual_size\":{gib}}}\n")
}

/// `metadata.json` of a VirtualBox box.
pub fn virtualbox_metadata() -> String {
    "{\"provider\":\"virtualbox\"}\n".to_string()
}

/// Ruby string literal contents: only letters, digits and `-_. ` pass.
fn ruby_safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_. ".contains(*c))
        .collect()
}

pub fn libvirt_vagrantfile(vm: &VmSpec) -> String {
    format!(
        "# Defaults for boxes built by imgforge ({name}).\n\
         Vagrant.configure(\"2\") do |config|\n\
         \x20 config.vm.provider :libvirt do |libvirt|\n\
         \x20   libvirt.driver = \"kvm\"\n\
         \x20   libvirt.cpus = {cpus}\n\
         \x20   libvirt.memory = {mem}\n\
         \x20 end\n\
         end\n",
        name = ruby_safe(&vm.name),
        cpus = vm.cpus,
        mem = vm.memory_mib
    )
}

pub fn virtualbox_vagrantfile(vm: &VmSpec) -> String {
    format!(
        "# Defaults for boxes built by imgforge ({name}).\n\
         Vagrant.configure(\"2\") do |config|\n\
         \x20 config.vm.provider \"virtualbox\" do |vb|\n\
         \x20   vb.cpus = {cpus}\n\
         \x20   vb.memory = {mem}\n\
         \x20 end\n\
         end\n",
        name = ruby_safe(&vm.name),
        cpus = vm.cpus,
        mem = vm.memory_mib
    )
}

/// Member names.
pub const METADATA_JSON: &str = "metadata.json";
pub const VAGRANTFILE: &str = "Vagrantfile";
pub const LIBVIRT_DISK: &str = "box.img";
pub const VIRTUALBOX_OVF: &str = "box.ovf";
pub const VIRTUALBOX_DISK: &str = "box-disk001.vmdk";
