//! The OVF 1.0 names (DSP0243) an OVA's descriptor uses. The archive
//! around it is a ustar (POSIX.1-1988, OVF 1.0 section 5.3 requires it):
//! the crate's `ustar` module.

/// OVF 1.0 envelope namespaces (DSP0243 1.0, DSP8023 schema).
pub const NS_OVF: &str = "http://schemas.dmtf.org/ovf/envelope/1";
pub const NS_RASD: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData";
pub const NS_VSSD: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// DiskSection `ovf:format` of a stream-optimized VMDK.
pub const FORMAT_STREAM_OPTIMIZED: &str =
    "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized";

/// CIM ResourceType values (CIM_ResourceAllocationSettingData).
pub const RT_PROCESSOR: u32 = 3;
pub const RT_MEMORY: u32 = 4;
pub const RT_IDE_CONTROLLER: u32 = 5;
pub const RT_ETHERNET_ADAPTER: u32 = 10;
pub const RT_DISK_DRIVE: u32 = 17;
pub const RT_SATA_CONTROLLER: u32 = 20;
