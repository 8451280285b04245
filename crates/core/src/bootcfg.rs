//! Boot loader configuration files for a kernel and an initramfs:
//! isolinux/syslinux (`isolinux.cfg`), GRUB (`grub.cfg`) and systemd-boot
//! (`loader/loader.conf` + `loader/entries/NAME.conf`).
//!
//! The first entry is the default; every menu times out at once so an
//! unattended boot (a test, a CI runner) goes straight to it. With `serial`,
//! the loader talks on the first serial port at 115200 baud and the kernel
//! gets `console=ttyS0,115200` unless its command line names a console.

/// One bootable kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootEntry {
    /// The menu title.
    pub title: String,
    /// Absolute path of the kernel inside the image (`/boot/vmlinuz`).
    pub kernel: String,
    /// Absolute path of the initramfs inside the image, if any.
    pub initrd: Option<String>,
    /// The kernel command line.
    pub cmdline: String,
    /// Loader menu and kernel console on the serial port.
    pub serial: bool,
}

impl BootEntry {
    /// The command line with `console=ttyS0,115200` added for serial entries
    /// (unless the command line already chooses a console).
    pub fn full_cmdline(&self) -> String {
        let mut c = self.cmdline.trim().to_string();
        if self.serial && !c.split_whitespace().any(|w| w.starts_with("console=")) {
            if !c.is_empty() {
                c.push(' ');
            }
            c.push_str("console=ttyS0,115200");
        }
        c
    }

    /// A label made of the title's letters, digits and dashes (`debian-12`).
    pub fn label(&self) -> String {
        let mut s = String::new();
        for ch in self.title.chars() {
            if ch.is_ascii_alphanumeric() {
                s.push(ch.to_ascii_lowercase());
            } else if !s.ends_with('-') && !s.is_empty() {
                s.push('-');
            }
        }
        let s = s.trim_end_matches('-').to_string();
        if s.is_empty() {
            "linux".to_string()
        } else {
            s
        }
    }
}

/// Unique labels: the title label, with `-2`, `-3`... for repeats.
fn labels(entries: &[BootEntry]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in entries {
        let base = e.label();
        let mut l = base.clone();
        let mut n = 2;
        while out.contains(&l) {
            l = format!("{base}-{n}");
            n += 1;
        }
        out.push(l);
    }
    out
}

/// `isolinux.cfg` (also `syslinux.cfg`, `extlinux.conf`). isolinux needs
/// `DEFAULT` to name a `LABEL` with `KERNEL` and `APPEND`: a bare
/// `DEFAULT kernel args` line does not boot a modern kernel with an initrd.
pub fn isolinux_cfg(entries: &[BootEntry]) -> String {
    let labels = labels(entries);
    let mut s = String::new();
    if entries.first().is_some_and(|e| e.serial) {
        s.push_str("SERIAL 0 115200\n");
    }
    if let Some(l) = labels.first() {
        s.push_str(&format!("DEFAULT {l}\n"));
    }
    s.push_str("PROMPT 0\nTIMEOUT 1\n");
    for (e, l) in entries.iter().zip(&labels) {
        // The title as a comment: plain isolinux (no menu.c32) has no menu.
        s.push_str(&format!("\n# {}\nLABEL {l}\n", one_line(&e.title)));
        s.push_str(&format!("  KERNEL {}\n", e.kernel));
        let mut append = String::new();
        if let Some(i) = &e.initrd {
            append.push_str(&format!("initrd={i}"));
        }
        let cmd = e.full_cmdline();
        if !cmd.is_empty() {
            if !append.is_empty() {
                append.push(' ');
            }
            append.push_str(&cmd);
        }
        s.push_str(&format!("  APPEND {append}\n"));
    }
    s
}

/// `grub.cfg` with one `menuentry` per entry.
pub fn grub_cfg(entries: &[BootEntry]) -> String {
    let mut s = String::new();
    if entries.first().is_some_and(|e| e.serial) {
        s.push_str("serial --unit=0 --speed=115200\n");
        s.push_str("terminal_input serial console\n");
        s.push_str("terminal_output serial console\n");
    }
    s.push_str("set timeout=1\nset default=0\n");
    for e in entries {
        s.push_str(&format!("\nmenuentry \"{}\" {{\n", grub_quote(&e.title)));
        let cmd = e.full_cmdline();
        if cmd.is_empty() {
            s.push_str(&format!("\tlinux {}\n", e.kernel));
        } else {
            s.push_str(&format!("\tlinux {} {cmd}\n", e.kernel));
        }
        if let Some(i) = &e.initrd {
            s.push_str(&format!("\tinitrd {i}\n"));
        }
        s.push_str("}\n");
    }
    s
}

/// systemd-boot: `(path, contents)` of `loader/loader.conf` and one
/// `loader/entries/LABEL.conf` per entry, paths relative to the ESP root.
pub fn systemd_boot(entries: &[BootEntry]) -> Vec<(String, String)> {
    let labels = labels(entries);
    let mut out = Vec::new();
    let mut loader = String::new();
    if let Some(l) = labels.first() {
        loader.push_str(&format!("default {l}.conf\n"));
    }
    loader.push_str("timeout 1\n");
    out.push(("loader/loader.conf".to_string(), loader));
    for (e, l) in entries.iter().zip(&labels) {
        let mut s = format!("title {}\nlinux {}\n", one_line(&e.title), e.kernel);
        if let Some(i) = &e.initrd {
            s.push_str(&format!("initrd {i}\n"));
        }
        let cmd = e.full_cmdline();
        if !cmd.is_empty() {
            s.push_str(&format!("options {cmd}\n"));
        }
        out.push((format!("loader/entries/{l}.conf"), s));
    }
    out
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Inside GRUB double quotes, `\`, `"` and `$` are special.
fn grub_quote(s: &str) -> String {
    let mut o = String::new();
    for c in one_line(s).chars() {
        if matches!(c, '\\' | '"' | '$') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(serial: bool) -> BootEntry {
        BootEntry {
            title: "Imgforge Linux".into(),
            kernel: "/boot/vmlinuz".into(),
            initrd: Some("/boot/initrd.gz".into()),
            cmdline: "panic=-1 quiet".into(),
            serial,
        }
    }

    #[test]
    fn isolinux_text() {
        assert_eq!(
            isolinux_cfg(&[entry(true)]),
            "SERIAL 0 115200\nDEFAULT imgforge-linux\nPROMPT 0\nTIMEOUT 1\n\n\
             # Imgforge Linux\nLABEL imgforge-linux\n  KERNEL /boot/vmlinuz\n  \
             APPEND initrd=/boot/initrd.gz panic=-1 quiet console=ttyS0,115200\n"
        );
        let mut e = entry(false);
        e.initrd = None;
        e.cmdline = String::new();
        assert_eq!(
            isolinux_cfg(&[e.clone(), e]),
            "DEFAULT imgforge-linux\nPROMPT 0\nTIMEOUT 1\n\n\
             # Imgforge Linux\nLABEL imgforge-linux\n  KERNEL /boot/vmlinuz\n  APPEND \n\n\
             # Imgforge Linux\nLABEL imgforge-linux-2\n  KERNEL /boot/vmlinuz\n  APPEND \n"
        );
    }

    #[test]
    fn grub_text() {
        assert_eq!(
            grub_cfg(&[entry(true)]),
            "serial --unit=0 --speed=115200\nterminal_input serial console\n\
             terminal_output serial console\nset timeout=1\nset default=0\n\n\
             menuentry \"Imgforge Linux\" {\n\tlinux /boot/vmlinuz panic=-1 quiet console=ttyS0,115200\n\
             \tinitrd /boot/initrd.gz\n}\n"
        );
        let mut e = entry(false);
        e.title = "a \"b\" $c".into();
        e.cmdline = "console=tty0".into();
        assert_eq!(
            grub_cfg(&[e]),
            "set timeout=1\nset default=0\n\nmenuentry \"a \\\"b\\\" \\$c\" {\n\
             \tlinux /boot/vmlinuz console=tty0\n\tinitrd /boot/initrd.gz\n}\n"
        );
    }

    #[test]
    fn systemd_boot_text() {
        let files = systemd_boot(&[entry(true)]);
        assert_eq!(
            files,
            vec![
                (
                    "loader/loader.conf".to_string(),
                    "default imgforge-linux.conf\ntimeout 1\n".to_string()
                ),
                (
                    "loader/entries/imgforge-linux.conf".to_string(),
                    "title Imgforge Linux\nlinux /boot/vmlinuz\ninitrd /boot/initrd.gz\n\
                     options panic=-1 quiet console=ttyS0,115200\n"
                        .to_string()
                ),
            ]
        );
    }
}
