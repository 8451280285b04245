//! OVA writer: a ustar archive of the OVF descriptor, a streamOptimized
//! VMDK (`<name>-disk1.vmdk`) and a `<name>.mf` manifest of SHA-256 sums,
//! in that order (OVF 1.0 section 5.3 puts the descriptor first).
//!
//! A tar header holds its member's size, so the VMDK is measured before its
//! bytes go out (`ustar::emit`: buffered when small, produced a
//! second time when not).

use super::raw::*;
use crate::image::WriteOptions;
use crate::io::{Progress, Sink};
use crate::ustar::{emit, emit_bytes, end, hex, Measure, BUFFER_CAP};
use crate::{Disk, Error, Result};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use sha2::{Digest, Sha256};

/// The virtual hardware family and disk controller an OVF names.
#[derive(Debug, Clone)]
pub struct OvfOptions {
    /// `vmx-07` (VMware, also imported by VirtualBox) or `virtualbox-2.2`.
    pub system_type: String,
    /// `ide` or `sata`.
    pub controller: String,
    /// `NAT` or `bridged`.
    pub network: String,
}

impl Default for OvfOptions {
    fn default() -> Self {
        OvfOptions {
            system_type: "vmx-07".into(),
            controller: "ide".into(),
            network: "NAT".into(),
        }
    }
}

/// Splits the OVA's own `-o` keys (`hardware=vmware|virtualbox`,
/// `controller=ide|sata`, `network=nat|bridged`) from the VMDK's.
pub fn split_options(opts: &WriteOptions) -> Result<(OvfOptions, WriteOptions)> {
    let mut o = OvfOptions::default();
    let mut vmdk = opts.clone();
    vmdk.extra.clear();
    vmdk.subformat = Some("streamOptimized".into());
    for (k, v) in &opts.extra {
        match (k.as_str(), v.to_ascii_lowercase().as_str()) {
            ("hardware", "vmware" | "vmx-07") => o.system_type = "vmx-07".into(),
            ("hardware", "virtualbox" | "virtualbox-2.2") => {
                o.system_type = "virtualbox-2.2".into()
            }
            ("controller", c @ ("ide" | "sata")) => o.controller = c.into(),
            ("network", "nat") => o.network = "NAT".into(),
            ("network", "bridged") => o.network = "Bridged".into(),
            ("hardware" | "controller" | "network", _) => {
                return Err(Error::invalid(
                    k.clone(),
                    format!("'{v}' is not a valid value"),
                ))
            }
            _ => vmdk.extra.push((k.clone(), v.clone())),
        }
    }
    if let Some(sub) = &opts.subformat {
        if sub != "streamOptimized" {
            return Err(Error::invalid(
                "subformat",
                "an OVA always holds a streamOptimized VMDK",
            ));
        }
    }
    Ok((o, vmdk))
}

struct X {
    w: quick_xml::Writer<Vec<u8>>,
}

impl X {
    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<()> {
        let mut s = BytesStart::new(name);
        for (k, v) in attrs {
            s.push_attribute((*k, *v));
        }
        self.ev(Event::Start(s))
    }
    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<()> {
        let mut s = BytesStart::new(name);
        for (k, v) in attrs {
            s.push_attribute((*k, *v));
        }
        self.ev(Event::Empty(s))
    }
    fn end(&mut self, name: &str) -> Result<()> {
        self.ev(Event::End(BytesEnd::new(name)))
    }
    fn text(&mut self, name: &str, text: &str) -> Result<()> {
        self.start(name, &[])?;
        self.ev(Event::Text(BytesText::new(text)))?;
        self.end(name)
    }
    fn ev(&mut self, e: Event) -> Result<()> {
        self.w
            .write_event(e)
            .map_err(|e| Error::io("writing OVF", std::io::Error::other(e)))
    }
    /// A rasd Item; `fields` must be in the schema's (alphabetical) order.
    fn item(&mut self, fields: &[(&str, String)]) -> Result<()> {
        self.start("Item", &[])?;
        for (k, v) in fields {
            self.text(&format!("rasd:{k}"), v)?;
        }
        self.end("Item")
    }
}

/// What the OVF says about the disk file.
#[derive(Debug, Clone)]
pub struct DiskRef {
    /// The disk member's file name.
    pub file: String,
    /// Its size in the archive.
    pub file_size: u64,
    /// The disk's capacity in bytes.
    pub capacity: u64,
    /// Bytes of grains stored (OVF `populatedSize`).
    pub populated_size: u64,
}

/// The OVF 1.0 envelope for one VM with one disk.
pub fn ovf_xml(opts: &WriteOptions, o: &OvfOptions, d: &DiskRef) -> Result<String> {
    let vm = &opts.vm;
    let mut x = X {
        w: quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2),
    };
    x.ev(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    x.start(
        "Envelope",
        &[
            ("ovf:version", "1.0"),
            ("xml:lang", "en-US"),
            ("xmlns", NS_OVF),
            ("xmlns:ovf", NS_OVF),
            ("xmlns:rasd", NS_RASD),
            ("xmlns:vssd", NS_VSSD),
            ("xmlns:xsi", NS_XSI),
        ],
    )?;
    x.start("References", &[])?;
    let size = d.file_size.to_string();
    x.empty(
        "File",
        &[
            ("ovf:href", &d.file),
            ("ovf:id", "file1"),
            ("ovf:size", &size),
        ],
    )?;
    x.end("References")?;

    x.start("DiskSection", &[])?;
    x.text("Info", "List of the virtual disks used in the package")?;
    let cap = d.capacity.to_string();
    let pop = d.populated_size.to_string();
    x.empty(
        "Disk",
        &[
            ("ovf:capacity", &cap),
            ("ovf:capacityAllocationUnits", "byte"),
            ("ovf:diskId", "vmdisk1"),
            ("ovf:fileRef", "file1"),
            ("ovf:format", FORMAT_STREAM_OPTIMIZED),
            ("ovf:populatedSize", &pop),
        ],
    )?;
    x.end("DiskSection")?;

    x.start("NetworkSection", &[])?;
    x.text("Info", "Logical networks used in the package")?;
    x.start("Network", &[("ovf:name", &o.network)])?;
    x.text("Description", "Logical network used by this appliance.")?;
    x.end("Network")?;
    x.end("NetworkSection")?;

    x.start("VirtualSystem", &[("ovf:id", &vm.name)])?;
    x.text("Info", "A virtual machine")?;
    x.text("Name", &vm.name)?;
    // CIM OS 101: "Linux 64-Bit" (VirtualBox maps it to Other Linux 64-bit).
    x.start("OperatingSystemSection", &[("ovf:id", "101")])?;
    x.text("Info", "The kind of installed guest operating system")?;
    x.text("Description", "Linux 64-Bit")?;
    x.end("OperatingSystemSection")?;

    x.start("VirtualHardwareSection", &[])?;
    x.text(
        "Info",
        "Virtual hardware requirements for a virtual machine",
    )?;
    x.start("System", &[])?;
    x.text("vssd:ElementName", "Virtual Hardware Family")?;
    x.text("vssd:InstanceID", "0")?;
    x.text("vssd:VirtualSystemIdentifier", &vm.name)?;
    x.text("vssd:VirtualSystemType", &o.system_type)?;
    x.end("System")?;
    let cpus = format!("{} virtual CPU(s)", vm.cpus);
    x.item(&[
        ("Caption", cpus.clone()),
        ("Description", "Number of virtual CPUs".into()),
        ("ElementName", cpus),
        ("InstanceID", "1".into()),
        ("ResourceType", RT_PROCESSOR.to_string()),
        ("VirtualQuantity", vm.cpus.to_string()),
    ])?;
    let mem = format!("{} MB of memory", vm.memory_mib);
    x.item(&[
        ("AllocationUnits", "MegaBytes".into()),
        ("Caption", mem.clone()),
        ("Description", "Memory Size".into()),
        ("ElementName", mem),
        ("InstanceID", "2".into()),
        ("ResourceType", RT_MEMORY.to_string()),
        ("VirtualQuantity", vm.memory_mib.to_string()),
    ])?;
    if o.controller == "sata" {
        x.item(&[
            ("Address", "0".into()),
            ("Caption", "sataController0".into()),
            ("Description", "SATA Controller".into()),
            ("ElementName", "sataController0".into()),
            ("InstanceID", "3".into()),
            ("ResourceSubType", "AHCI".into()),
            ("ResourceType", RT_SATA_CONTROLLER.to_string()),
        ])?;
    } else {
        x.item(&[
            ("Address", "0".into()),
            ("Caption", "ideController0".into()),
            ("Description", "IDE Controller".into()),
            ("ElementName", "ideController0".into()),
            ("InstanceID", "3".into()),
            ("ResourceSubType", "PIIX4".into()),
            ("ResourceType", RT_IDE_CONTROLLER.to_string()),
        ])?;
    }
    x.item(&[
        ("AddressOnParent", "0".into()),
        ("Caption", "disk1".into()),
        ("Description", "Disk Image".into()),
        ("ElementName", "disk1".into()),
        ("HostResource", "ovf:/disk/vmdisk1".into()),
        ("InstanceID", "4".into()),
        ("Parent", "3".into()),
        ("ResourceType", RT_DISK_DRIVE.to_string()),
    ])?;
    let nic = format!("Ethernet adapter on '{}'", o.network);
    x.item(&[
        ("AutomaticAllocation", "true".into()),
        ("Caption", nic.clone()),
        ("Connection", o.network.clone()),
        ("Description", "E1000 ethernet adapter".into()),
        ("ElementName", nic),
        ("InstanceID", "5".into()),
        ("ResourceSubType", "E1000".into()),
        ("ResourceType", RT_ETHERNET_ADAPTER.to_string()),
    ])?;
    x.end("VirtualHardwareSection")?;
    x.end("VirtualSystem")?;
    x.end("Envelope")?;
    let mut out = x.w.into_inner();
    out.push(b'\n');
    String::from_utf8(out).map_err(|_| Error::invalid("vm name", "not UTF-8"))
}

/// The disk as a streamOptimized VMDK, measured: (measure, populated
/// bytes, the producer for a second pass).
#[allow(clippy::type_complexity)]
pub fn vmdk_member<'a>(
    disk: &'a Disk,
    vmdk_opts: &'a WriteOptions,
    file: &'a str,
    progress: &'a dyn Progress,
) -> Result<(Measure, u64, impl Fn(&mut dyn Sink) -> Result<()> + 'a)> {
    let produce = move |s: &mut dyn Sink| -> Result<()> {
        crate::vmdk::write::write_named(disk, vmdk_opts, file, s, progress).map(|_| ())
    };
    let mut m = Measure::new(BUFFER_CAP);
    let populated = crate::vmdk::write::write_named(disk, vmdk_opts, file, &mut m, progress)?;
    Ok((m, populated, produce))
}

/// Streams `disk` as an OVA.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let (o, vmdk_opts) = split_options(opts)?;
    let name = &opts.vm.name;
    if name.is_empty() || name.contains(['/', '\\', '\0']) {
        return Err(Error::invalid(
            "vm name",
            format!("'{name}' cannot name files in an OVA"),
        ));
    }
    let disk_file = format!("{name}-disk1.vmdk");
    let (m, populated, produce) = vmdk_member(disk, &vmdk_opts, &disk_file, progress)?;
    let ovf = ovf_xml(
        opts,
        &o,
        &DiskRef {
            file: disk_file.clone(),
            file_size: m.size,
            capacity: disk.size().div_ceil(512) * 512,
            populated_size: populated,
        },
    )?;
    let ovf_name = format!("{name}.ovf");
    let manifest = format!(
        "SHA256({ovf_name})= {}\nSHA256({disk_file})= {}\n",
        hex(&Sha256::digest(ovf.as_bytes())),
        m.sha256_hex()
    );
    let mtime = opts.ctx.epoch;
    emit_bytes(&ovf_name, ovf.as_bytes(), mtime, sink)?;
    emit(&disk_file, &m, &produce, mtime, sink)?;
    emit_bytes(&format!("{name}.mf"), manifest.as_bytes(), mtime, sink)?;
    end(sink)?;
    sink.finish()
}
