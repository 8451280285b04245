//! GPT on-disk structures: the protective MBR, the GPT header and the
//! partition entry array (UEFI Specification 2.10, section 5 "GUID Partition
//! Table (GPT) Disk Layout"), plus sgdisk's table of partition type codes.

#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::{Error, Result};

/// `"EFI PART"` (UEFI 5.3.2, table 5-5 Signature).
pub const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
/// Revision 1.0 (UEFI 5.3.2, table 5-5 Revision).
pub const GPT_REVISION: u32 = 0x0001_0000;
/// HeaderSize: the bytes covered by HeaderCRC32 (UEFI 5.3.2).
pub const GPT_HEADER_SIZE: u32 = 92;
/// SizeOfPartitionEntry as sgdisk writes it (UEFI 5.3.3: 128 * 2^n).
pub const GPT_ENTRY_SIZE: u32 = 128;
/// NumberOfPartitionEntries as sgdisk writes it (UEFI 5.3.2: at least
/// 16384 bytes of entries must be reserved).
pub const GPT_NUM_ENTRIES: u32 = 128;
/// Characters in PartitionName (UEFI 5.3.3, table 5-6: 72 bytes, UTF-16LE).
pub const GPT_NAME_CHARS: usize = 36;
/// OSType of the protective MBR's one partition record (UEFI 5.2.3).
pub const PMBR_OS_TYPE: u8 = 0xEE;

/// A GUID, held in the order it is written as text
/// (`C12A7328-F81F-11D2-BA4B-00A0C93EC93B` is bytes `C1 2A 73 28 F8 1F ...`).
/// On disk the first three fields are little-endian (UEFI appendix A,
/// "EFI_GUID"): see [`Guid::from_disk`] and [`Guid::to_disk`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    pub const ZERO: Guid = Guid([0; 16]);

    /// Reads the mixed-endian on-disk form.
    pub fn from_disk(b: &[u8; 16]) -> Guid {
        let mut g = *b;
        g[0..4].reverse();
        g[4..6].reverse();
        g[6..8].reverse();
        Guid(g)
    }

    /// The mixed-endian on-disk form.
    pub fn to_disk(&self) -> [u8; 16] {
        let mut b = self.0;
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        b
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Parses `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` (any case).
    pub fn parse(s: &str) -> Option<Guid> {
        let s = s.trim();
        let groups: Vec<&str> = s.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        if groups.len() != 5 || groups.iter().zip(lens).any(|(g, l)| g.len() != l) {
            return None;
        }
        let hex: String = groups.concat();
        let mut g = [0u8; 16];
        for (i, b) in g.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(Guid(g))
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = crate::seed::format_uuid(&self.0).to_ascii_uppercase();
        f.write_str(&s)
    }
}

impl std::fmt::Debug for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Guid({self})")
    }
}

fn guid_at(r: &Reader, at: usize) -> Result<Guid> {
    Ok(Guid::from_disk(&r.array(at)?))
}

/// The GPT header (UEFI 5.3.2, table 5-5), fields named as the spec names
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptHeader {
    pub revision: u32,
    pub header_size: u32,
    pub header_crc32: u32,
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    pub disk_guid: Guid,
    pub partition_entry_lba: u64,
    pub number_of_partition_entries: u32,
    pub size_of_partition_entry: u32,
    pub partition_entry_array_crc32: u32,
}

impl GptHeader {
    /// Parses a header sector. Checks the signature, HeaderSize and
    /// HeaderCRC32; the caller checks the LBAs against the disk.
    pub fn parse(sector: &[u8], which: &str) -> Result<GptHeader> {
        let what = format!("{which} header");
        let r = Reader::new("gpt", &what, sector);
        if sector.len() < GPT_HEADER_SIZE as usize || r.bytes(0, 8)? != GPT_SIGNATURE {
            return Err(Error::corrupt("gpt", what, "no \"EFI PART\" signature"));
        }
        let header_size = r.le32(12)?;
        if header_size < GPT_HEADER_SIZE || header_size as usize > sector.len() {
            return Err(Error::corrupt(
                "gpt",
                what,
                format!("HeaderSize {header_size} is not between 92 and the sector size"),
            ));
        }
        let header_crc32 = r.le32(16)?;
        let mut h = r.bytes(0, header_size as usize)?.to_vec();
        Writer::new("gpt", &what, &mut h).fill(16, 4, 0)?;
        let crc = crc32fast::hash(&h);
        if crc != header_crc32 {
            return Err(Error::corrupt(
                "gpt",
                what,
                format!("bad header CRC (stored {header_crc32:08X}, computed {crc:08X})"),
            ));
        }
        Ok(GptHeader {
            revision: r.le32(8)?,
            header_size,
            header_crc32,
            my_lba: r.le64(24)?,
            alternate_lba: r.le64(32)?,
            first_usable_lba: r.le64(40)?,
            last_usable_lba: r.le64(48)?,
            disk_guid: guid_at(&r, 56)?,
            partition_entry_lba: r.le64(72)?,
            number_of_partition_entries: r.le32(80)?,
            size_of_partition_entry: r.le32(84)?,
            partition_entry_array_crc32: r.le32(88)?,
        })
    }

    /// The header as a full sector of `sector_size` bytes (zeros after the
    /// 92 header bytes), with HeaderCRC32 computed.
    pub fn to_sector(&self, sector_size: usize) -> Result<Vec<u8>> {
        let mut s = vec![0u8; sector_size];
        let mut w = Writer::new("gpt", "header", &mut s);
        w.put(0, GPT_SIGNATURE)?;
        w.le32(8, self.revision)?;
        w.le32(12, GPT_HEADER_SIZE)?;
        w.le64(24, self.my_lba)?;
        w.le64(32, self.alternate_lba)?;
        w.le64(40, self.first_usable_lba)?;
        w.le64(48, self.last_usable_lba)?;
        w.put(56, &self.disk_guid.to_disk())?;
        w.le64(72, self.partition_entry_lba)?;
        w.le32(80, self.number_of_partition_entries)?;
        w.le32(84, self.size_of_partition_entry)?;
        w.le32(88, self.partition_entry_array_crc32)?;
        let crc = crc32fast::hash(w.bytes(0, GPT_HEADER_SIZE as usize)?);
        w.le32(16, crc)?;
        Ok(s)
    }
}

/// One GPT partition entry (UEFI 5.3.3, table 5-6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptEntry {
    pub partition_type_guid: Guid,
    pub unique_partition_guid: Guid,
    pub starting_lba: u64,
    pub ending_lba: u64,
    pub attributes: u64,
    pub partition_name: [u16; GPT_NAME_CHARS],
}

impl GptEntry {
    /// Parses one entry (at least 128 bytes).
    pub fn parse(b: &[u8]) -> Result<GptEntry> {
        let r = Reader::new("gpt", "partition entry", b);
        let mut partition_name = [0u16; GPT_NAME_CHARS];
        for (i, c) in partition_name.iter_mut().enumerate() {
            *c = r.le16(56 + 2 * i)?;
        }
        Ok(GptEntry {
            partition_type_guid: guid_at(&r, 0)?,
            unique_partition_guid: guid_at(&r, 16)?,
            starting_lba: r.le64(32)?,
            ending_lba: r.le64(40)?,
            attributes: r.le64(48)?,
            partition_name,
        })
    }

    /// Writes the entry into the first 128 bytes of `b`.
    pub fn write_to(&self, b: &mut [u8]) -> Result<()> {
        let mut w = Writer::new("gpt", "partition entry", b);
        w.put(0, &self.partition_type_guid.to_disk())?;
        w.put(16, &self.unique_partition_guid.to_disk())?;
        w.le64(32, self.starting_lba)?;
        w.le64(40, self.ending_lba)?;
        w.le64(48, self.attributes)?;
        for (i, c) in self.partition_name.iter().enumerate() {
            w.le16(56 + 2 * i, *c)?;
        }
        Ok(())
    }

    /// The name up to the first NUL (lossy for unpaired surrogates).
    pub fn name(&self) -> String {
        let end = self
            .partition_name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(GPT_NAME_CHARS);
        String::from_utf16_lossy(self.partition_name.get(..end).unwrap_or_default())
    }
}

/// Encodes a partition name as UTF-16LE code units, refusing names over 36
/// units (sgdisk truncates silently; a clear error is kinder).
pub fn encode_name(name: &str, key: &str) -> Result<[u16; GPT_NAME_CHARS]> {
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > GPT_NAME_CHARS {
        return Err(Error::invalid(
            key,
            format!(
                "name '{name}' is {} UTF-16 characters; a GPT name holds at most 36",
                units.len()
            ),
        ));
    }
    let mut out = [0u16; GPT_NAME_CHARS];
    for (o, u) in out.iter_mut().zip(units) {
        *o = u;
    }
    Ok(out)
}

/// Attribute bits with names as `sgdisk -A N:show` prints them (UEFI 5.3.3,
/// table 5-7, and the Microsoft basic data bits 60-63).
pub const ATTRIBUTE_NAMES: &[(u32, &str)] = &[
    (0, "system partition"),
    (1, "hide from EFI"),
    (2, "legacy BIOS bootable"),
    (60, "read-only"),
    (61, "shadow copy"),
    (62, "hidden"),
    (63, "do not automount"),
];

/// The named list of set attribute bits (`bit N` for unnamed ones).
pub fn attribute_names(attributes: u64) -> Vec<String> {
    (0..64u32)
        .filter(|b| attributes & (1u64 << b) != 0)
        .map(|b| {
            ATTRIBUTE_NAMES
                .iter()
                .find(|(n, _)| *n == b)
                .map(|(_, s)| s.to_string())
                .unwrap_or_else(|| format!("bit {b}"))
        })
        .collect()
}

/// A partition type as sgdisk knows it: its 4-hex-digit code, GUID and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartType {
    pub code: u16,
    pub guid: Guid,
    pub name: &'static str,
}

/// sgdisk's default type for new partitions (8300, Linux filesystem).
pub const DEFAULT_TYPE_CODE: u16 = 0x8300;

/// Looks up a type by sgdisk hex code.
pub fn type_by_code(code: u16) -> Option<PartType> {
    PART_TYPES
        .iter()
        .find(|t| t.0 == code)
        .and_then(|t| to_part_type(*t))
}

/// Looks up a type by GUID; the code is the first one sgdisk lists for it
/// (EBD0A0A2-... is 0700, not one of its MBR-derived aliases).
pub fn type_by_guid(guid: &Guid) -> Option<PartType> {
    PART_TYPES
        .iter()
        .filter_map(|t| to_part_type(*t))
        .find(|t| t.guid == *guid)
}

fn to_part_type((code, guid, name): (u16, &'static str, &'static str)) -> Option<PartType> {
    Some(PartType {
        code,
        guid: Guid::parse(guid)?,
        name,
    })
}

/// Parses a type as `-t` takes it: a hex code (`ef00`, `8304`; a 1-2 digit
/// MBR byte like `83` means `8300`) or a GUID.
pub fn parse_type(s: &str, key: &str) -> Result<Guid> {
    let s = s.trim();
    if s.len() == 36 {
        return Guid::parse(s).ok_or_else(|| Error::invalid(key, format!("'{s}' is not a GUID")));
    }
    let code = u16::from_str_radix(s.trim_start_matches("0x"), 16)
        .ok()
        .filter(|_| !s.is_empty() && s.len() <= 6)
        .map(|c| if s.len() <= 2 { c << 8 } else { c });
    match code.and_then(type_by_code) {
        Some(t) => Ok(t.guid),
        None => Err(Error::invalid(
            key,
            format!("unknown partition type code '{s}' (use a code from `sgdisk -L`, like ef00 or 8300, or a GUID)"),
        )),
    }
}

/// The sgdisk type table (the common part of `sgdisk -L`; sgdisk 1.0.9).
/// Codes after 0x0700's aliases map several MBR bytes onto one GUID.
#[rustfmt::skip]
pub const PART_TYPES: &[(u16, &str, &str)] = &[
    (0x0700, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x0701, "558D43C5-A1AC-43C0-AAC8-D1472B2923D1", "Microsoft Storage Replica"),
    (0x0702, "90B6FF38-B98F-4358-A21F-48F35B4A8AD3", "ArcaOS Type 1"),
    (0x0c01, "E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "Microsoft reserved"),
    (0x2700, "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC", "Windows RE"),
    (0x3000, "7412F7D5-A156-4B13-81DC-867174929325", "ONIE boot"),
    (0x3001, "D4E6E2CD-4469-46F3-B5CB-1BFF57AFC149", "ONIE config"),
    (0x3900, "C91818F9-8025-47AF-89D2-F030D7000C2C", "Plan 9"),
    (0x4100, "9E1A2D38-C612-4316-AA26-8B49521E5A8B", "PowerPC PReP boot"),
    (0x4200, "AF9B60A0-1431-4F62-BC68-3311714A69AD", "Windows LDM data"),
    (0x4201, "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3", "Windows LDM metadata"),
    (0x4202, "E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D", "Windows Storage Spaces"),
    (0x7501, "37AFFC90-EF7D-4E96-91C3-2D7AE055B174", "IBM GPFS"),
    (0x7f00, "FE3A2A5D-4F32-41A7-B725-ACCC3285A309", "ChromeOS kernel"),
    (0x7f01, "3CB8E202-3B7E-47DD-8A3C-7FF2A13CFCEC", "ChromeOS root"),
    (0x7f02, "2E0A753D-9E48-43B0-8337-B15192CB1B5E", "ChromeOS reserved"),
    (0x7f03, "CAB6E88E-ABF3-4102-A07A-D4BB9BE3C1D3", "ChromeOS firmware"),
    (0x7f04, "09845860-705F-4BB5-B16C-8A8A099CAF52", "ChromeOS mini-OS"),
    (0x7f05, "3F0F8318-F146-4E6B-8222-C28C8F02E0D5", "ChromeOS hibernate"),
    (0x8200, "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "Linux swap"),
    (0x8300, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "Linux filesystem"),
    (0x8301, "8DA63339-0007-60C0-C436-083AC8230908", "Linux reserved"),
    (0x8302, "933AC7E1-2EB4-4F13-B844-0E14E2AEF915", "Linux /home"),
    (0x8303, "44479540-F297-41B2-9AF7-D131D5F0458A", "Linux x86 root (/)"),
    (0x8304, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "Linux x86-64 root (/)"),
    (0x8305, "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "Linux ARM64 root (/)"),
    (0x8306, "3B8F8425-20E0-4F3B-907F-1A25A76F98E8", "Linux /srv"),
    (0x8307, "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3", "Linux ARM32 root (/)"),
    (0x8308, "7FFEC5C9-2D00-49B7-8941-3EA10A5586B7", "Linux dm-crypt"),
    (0x8309, "CA7D7CCB-63ED-4C53-861C-1742536059CC", "Linux LUKS"),
    (0x830a, "993D8D3D-F80E-4225-855A-9DAF8ED7EA97", "Linux IA-64 root (/)"),
    (0x830b, "D13C5D3B-B5D1-422A-B29F-9454FDC89D76", "Linux x86 root verity"),
    (0x830c, "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5", "Linux x86-64 root verity"),
    (0x830d, "7386CDF2-203C-47A9-A498-F2ECCE45A2D6", "Linux ARM32 root verity"),
    (0x830e, "DF3300CE-D69F-4C92-978C-9BFB0F38D820", "Linux ARM64 root verity"),
    (0x830f, "86ED10D5-B607-45BB-8957-D350F23D0571", "Linux IA-64 root verity"),
    (0x8310, "4D21B016-B534-45C2-A9FB-5C16E091FD2D", "Linux /var"),
    (0x8311, "7EC6F557-3BC5-4ACA-B293-16EF5DF639D1", "Linux /var/tmp"),
    (0x8312, "773F91EF-66D4-49B5-BD83-D683BF40AD16", "Linux user's home"),
    (0x8313, "75250D76-8CC6-458E-BD66-BD47CC81A812", "Linux x86 /usr "),
    (0x8314, "8484680C-9521-48C6-9C11-B0720656F69E", "Linux x86-64 /usr"),
    (0x8315, "7D0359A3-02B3-4F0A-865C-654403E70625", "Linux ARM32 /usr"),
    (0x8316, "B0E01050-EE5F-4390-949A-9101B17104E9", "Linux ARM64 /usr"),
    (0x8317, "4301D2A6-4E3B-4B2A-BB94-9E0B2C4225EA", "Linux IA-64 /usr"),
    (0x8318, "8F461B0D-14EE-4E81-9AA9-049B6FB97ABD", "Linux x86 /usr verity"),
    (0x8319, "77FF5F63-E7B6-4633-ACF4-1565B864C0E6", "Linux x86-64 /usr verity"),
    (0x831a, "C215D751-7BCD-4649-BE90-6627490A4C05", "Linux ARM32 /usr verity"),
    (0x831b, "6E11A4E7-FBCA-4DED-B9E9-E1A512BB664E", "Linux ARM64 /usr verity"),
    (0x831c, "6A491E03-3BE7-4545-8E38-83320E0EA880", "Linux IA-64 /usr verity"),
    (0x8400, "D3BFE2DE-3DAF-11DF-BA40-E3A556D89593", "Intel Rapid Start"),
    (0x8401, "7C5222BD-8F5D-4087-9C00-BF9843C7B58C", "SPDK block device"),
    (0x8500, "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "Container Linux /usr"),
    (0x8501, "3884DD41-8582-4404-B9A8-E9B84F2DF50E", "Container Linux resizable rootfs"),
    (0x8502, "C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0", "Container Linux /OEM customizations"),
    (0x8503, "BE9067B9-EA49-4F15-B4F6-F36F8C9E1818", "Container Linux root on RAID"),
    (0x8e00, "E6D6D379-F507-44C2-A23C-238F2A3DF928", "Linux LVM"),
    (0xa200, "734E5AFE-F61A-11E6-BC64-92361F002671", "Atari TOS basic data"),
    (0xa500, "516E7CB4-6ECF-11D6-8FF8-00022D09712B", "FreeBSD disklabel"),
    (0xa501, "83BD6B9D-7F41-11DC-BE0B-001560B84F0F", "FreeBSD boot"),
    (0xa502, "516E7CB5-6ECF-11D6-8FF8-00022D09712B", "FreeBSD swap"),
    (0xa503, "516E7CB6-6ECF-11D6-8FF8-00022D09712B", "FreeBSD UFS"),
    (0xa504, "516E7CBA-6ECF-11D6-8FF8-00022D09712B", "FreeBSD ZFS"),
    (0xa505, "516E7CB8-6ECF-11D6-8FF8-00022D09712B", "FreeBSD Vinum/RAID"),
    (0xa506, "74BA7DD9-A689-11E1-BD04-00E081286ACF", "FreeBSD nandfs"),
    (0xa600, "824CC7A0-36A8-11E3-890A-952519AD3F61", "OpenBSD disklabel"),
    (0xa800, "55465300-0000-11AA-AA11-00306543ECAC", "Apple UFS"),
    (0xa901, "49F48D32-B10E-11DC-B99B-0019D1879648", "NetBSD swap"),
    (0xa902, "49F48D5A-B10E-11DC-B99B-0019D1879648", "NetBSD FFS"),
    (0xa903, "49F48D82-B10E-11DC-B99B-0019D1879648", "NetBSD LFS"),
    (0xa904, "2DB519C4-B10F-11DC-B99B-0019D1879648", "NetBSD concatenated"),
    (0xa905, "2DB519EC-B10F-11DC-B99B-0019D1879648", "NetBSD encrypted"),
    (0xa906, "49F48DAA-B10E-11DC-B99B-0019D1879648", "NetBSD RAID"),
    (0xab00, "426F6F74-0000-11AA-AA11-00306543ECAC", "Recovery HD"),
    (0xaf00, "48465300-0000-11AA-AA11-00306543ECAC", "Apple HFS/HFS+"),
    (0xaf01, "52414944-0000-11AA-AA11-00306543ECAC", "Apple RAID"),
    (0xaf02, "52414944-5F4F-11AA-AA11-00306543ECAC", "Apple RAID offline"),
    (0xaf03, "4C616265-6C00-11AA-AA11-00306543ECAC", "Apple label"),
    (0xaf04, "5265636F-7665-11AA-AA11-00306543ECAC", "AppleTV recovery"),
    (0xaf05, "53746F72-6167-11AA-AA11-00306543ECAC", "Apple Core Storage"),
    (0xaf06, "B6FA30DA-92D2-4A9A-96F1-871EC6486200", "Apple SoftRAID Status"),
    (0xaf07, "2E313465-19B9-463F-8126-8A7993773801", "Apple SoftRAID Scratch"),
    (0xaf08, "FA709C7E-65B1-4593-BFD5-E71D61DE9B02", "Apple SoftRAID Volume"),
    (0xaf09, "BBBA6DF5-F46F-4A89-8F59-8765B2727503", "Apple SoftRAID Cache"),
    (0xaf0a, "7C3457EF-0000-11AA-AA11-00306543ECAC", "Apple APFS"),
    (0xaf0b, "69646961-6700-11AA-AA11-00306543ECAC", "Apple APFS Pre-Boot"),
    (0xaf0c, "52637672-7900-11AA-AA11-00306543ECAC", "Apple APFS Recovery"),
    (0xb000, "3DE21764-95BD-54BD-A5C3-4ABE786F38A8", "U-Boot boot loader"),
    (0xb300, "CEF5A9AD-73BC-4601-89F3-CDEEEEE321A1", "QNX6 Power-Safe"),
    (0xbb00, "4778ED65-BF42-45FA-9C5B-287A1DC4AAB1", "Barebox boot loader"),
    (0xbc00, "0311FC50-01CA-4725-AD77-9ADBB20ACE98", "Acronis Secure Zone"),
    (0xbe00, "6A82CB45-1DD2-11B2-99A6-080020736631", "Solaris boot"),
    (0xbf00, "6A85CF4D-1DD2-11B2-99A6-080020736631", "Solaris root"),
    (0xbf01, "6A898CC3-1DD2-11B2-99A6-080020736631", "Solaris /usr & Mac ZFS"),
    (0xbf02, "6A87C46F-1DD2-11B2-99A6-080020736631", "Solaris swap"),
    (0xbf03, "6A8B642B-1DD2-11B2-99A6-080020736631", "Solaris backup"),
    (0xbf04, "6A8EF2E9-1DD2-11B2-99A6-080020736631", "Solaris /var"),
    (0xbf05, "6A90BA39-1DD2-11B2-99A6-080020736631", "Solaris /home"),
    (0xbf06, "6A9283A5-1DD2-11B2-99A6-080020736631", "Solaris alternate sector"),
    (0xbf07, "6A945A3B-1DD2-11B2-99A6-080020736631", "Solaris Reserved 1"),
    (0xbf08, "6A9630D1-1DD2-11B2-99A6-080020736631", "Solaris Reserved 2"),
    (0xbf09, "6A980767-1DD2-11B2-99A6-080020736631", "Solaris Reserved 3"),
    (0xbf0a, "6A96237F-1DD2-11B2-99A6-080020736631", "Solaris Reserved 4"),
    (0xbf0b, "6A8D2AC7-1DD2-11B2-99A6-080020736631", "Solaris Reserved 5"),
    (0xc001, "75894C1E-3AEB-11D3-B7C1-7B03A0000000", "HP-UX data"),
    (0xc002, "E2A1E728-32E3-11D6-A682-7B03A0000000", "HP-UX service"),
    (0xe100, "7412F7D5-A156-4B13-81DC-867174929325", "ONIE boot"),
    (0xe101, "D4E6E2CD-4469-46F3-B5CB-1BFF57AFC149", "ONIE config"),
    (0xe900, "8C8F8EFF-AC95-4770-814A-21994F2DBC8F", "Veracrypt data"),
    (0xea00, "BC13C2FF-59E6-4262-A352-B275FD6F7172", "XBOOTLDR partition"),
    (0xeb00, "42465331-3BA3-10F1-802A-4861696B7521", "Haiku BFS"),
    (0xed00, "F4019732-066E-4E12-8273-346C5641494F", "Sony system partition"),
    (0xed01, "BFBFAFE7-A34F-448A-9A5B-6213EB736C22", "Lenovo system partition"),
    (0xef00, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI system partition"),
    (0xef01, "024DEE41-33E7-11D3-9D69-0008C781F39F", "MBR partition scheme"),
    (0xef02, "21686148-6449-6E6F-744E-656564454649", "BIOS boot partition"),
    (0xfb00, "AA31E02A-400F-11DB-9590-000C2911D1B8", "VMWare VMFS"),
    (0xfb01, "9198EFFC-31C0-11DB-8F78-000C2911D1B8", "VMWare reserved"),
    (0xfc00, "9D275380-40AD-11DB-BF97-000C2911D1B8", "VMWare kcore crash protection"),
    (0xfd00, "A19D880F-05FC-4D3B-A006-743F0F84911E", "Linux RAID"),
    (0x0100, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x0400, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x0600, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x0b00, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x0c00, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x0e00, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x1100, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x1400, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x1600, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x1700, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x1b00, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x1c00, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
    (0x1e00, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"),
];

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_ieee_one_gpt_uses() {
        // UEFI appendix: GPT uses the standard CRC-32 (check value CBF43926).
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn guid_byte_order_is_mixed_endian_on_disk() {
        let esp = Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93B").unwrap();
        let disk = esp.to_disk();
        assert_eq!(
            disk,
            [
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
        assert_eq!(Guid::from_disk(&disk), esp);
        assert_eq!(esp.to_string(), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert!(Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93").is_none());
        assert!(Guid::parse("G12A7328-F81F-11D2-BA4B-00A0C93EC93B").is_none());
    }

    #[test]
    fn type_table_round_trips() {
        for &(code, guid, _) in PART_TYPES {
            let t = type_by_code(code).unwrap();
            assert_eq!(t.guid.to_string(), guid);
            // The GUID maps back to a code with the same GUID (aliases go to
            // the first code sgdisk lists).
            let back = type_by_guid(&t.guid).unwrap();
            assert_eq!(back.guid, t.guid);
            assert_eq!(type_by_code(back.code).unwrap().guid, t.guid);
        }
        let codes: std::collections::BTreeSet<u16> = PART_TYPES.iter().map(|t| t.0).collect();
        assert_eq!(codes.len(), PART_TYPES.len(), "codes are unique");
        assert_eq!(
            type_by_guid(&parse_type("0c00", "t").unwrap())
                .unwrap()
                .code,
            0x0700
        );
        assert_eq!(type_by_code(0x8304).unwrap().name, "Linux x86-64 root (/)");
        assert_eq!(type_by_code(0xea00).unwrap().name, "XBOOTLDR partition");
        assert_eq!(
            parse_type("ef", "t").unwrap(),
            parse_type("EF00", "t").unwrap()
        );
        let g = parse_type("0fc63daf-8483-4772-8e79-3d69d8477de4", "t").unwrap();
        assert_eq!(type_by_guid(&g).unwrap().code, 0x8300);
        for bad in ["zz00", "ef99", "", "12345678"] {
            let e = parse_type(bad, "partition 1 type").unwrap_err().to_string();
            assert!(e.contains("partition 1 type"), "{e}");
        }
    }

    #[test]
    fn header_crc_is_checked() {
        let h = GptHeader {
            revision: GPT_REVISION,
            header_size: GPT_HEADER_SIZE,
            header_crc32: 0,
            my_lba: 1,
            alternate_lba: 99,
            first_usable_lba: 34,
            last_usable_lba: 66,
            disk_guid: Guid([7; 16]),
            partition_entry_lba: 2,
            number_of_partition_entries: 128,
            size_of_partition_entry: 128,
            partition_entry_array_crc32: 0x1234,
        };
        let mut s = h.to_sector(512).unwrap();
        let back = GptHeader::parse(&s, "primary").unwrap();
        assert_eq!(back.alternate_lba, 99);
        assert_eq!(back.disk_guid, h.disk_guid);
        s[40] ^= 1;
        let e = GptHeader::parse(&s, "primary").unwrap_err().to_string();
        assert!(e.contains("bad header CRC"), "{e}");
    }

    #[test]
    fn names_are_utf16_and_limited() {
        let n = encode_name("EFI System", "n").unwrap();
        assert_eq!(n[0], 'E' as u16);
        assert_eq!(n[10], 0);
        assert!(encode_name(&"x".repeat(37), "partition 2 name").is_err());
        assert!(encode_name(&"é".repeat(36), "n").is_ok());
        assert_eq!(
            attribute_names(4 | (1 << 63)),
            vec!["legacy BIOS bootable", "do not automount"]
        );
    }
}
