//! Hardware detection: what machine this is, read from a `/sys` and `/proc` tree, and which
//! hardware profile (`pkg/profiles/*.yaml`) fits it.
//!
//! Reading ([`read`]) and deciding ([`identify::identify`]) are separate: `read` collects the
//! few files that matter from a system root (`/` on a running machine, or a captured tree
//! given with `lumina init --sysroot DIR`) into [`Facts`]; `identify` is pure and is what the
//! fixture tests under `lumina-core/tests/fixtures/sysroot/` exercise.
//!
//! A captured tree is a directory laid out like the root it was taken from:
//!
//! ```text
//! DIR/sys/class/dmi/id/{sys_vendor,product_name,product_family,product_version,board_name,board_vendor}
//! DIR/sys/bus/usb/devices/*/{idVendor,idProduct,product,manufacturer}
//! DIR/sys/bus/pci/devices/*/{class,vendor,device,boot_vga}
//! DIR/proc/cpuinfo            (only the `vendor_id` line is read)
//! ```
//!
//! Every file is optional: a virtual machine without DMI, a container without `/sys/bus/usb`,
//! or a capture missing a file just yields fewer facts, and the generic profile.

pub mod identify;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

pub use identify::{CpuVendor, Detected, Model, Module, ModuleKind, identify};

use crate::error::Result;

/// The DMI files read from `sys/class/dmi/id/` (all world-readable on Linux).
pub const DMI_FILES: &[&str] = &[
    "sys_vendor",
    "product_name",
    "product_family",
    "product_version",
    "board_name",
    "board_vendor",
];

/// A USB device as sysfs describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsbDevice {
    /// The device's directory name under `sys/bus/usb/devices/` (`3-4.2`).
    pub port: String,
    /// `idVendor`, e.g. `0x32ac`.
    pub vendor: u16,
    /// `idProduct`.
    pub product: u16,
    /// The `product` string descriptor, when the device has one.
    pub product_name: Option<String>,
    /// The `manufacturer` string descriptor, when the device has one.
    pub manufacturer: Option<String>,
}

/// A PCI function as sysfs describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PciDevice {
    /// The address, e.g. `0000:03:00.0`.
    pub address: String,
    /// `class`, e.g. `0x030000` (a VGA controller).
    pub class: u32,
    /// `vendor`, e.g. `0x1002`.
    pub vendor: u16,
    /// `device`.
    pub device: u16,
    /// `boot_vga`: the display the firmware used; `None` when the file is absent.
    pub boot_vga: Option<bool>,
}

/// Everything detection looks at, as read from a system root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// DMI values by file name (`sys_vendor` -> `Framework`), trimmed; absent or empty files
    /// are left out.
    pub dmi: BTreeMap<String, String>,
    /// `vendor_id` of the first processor in `/proc/cpuinfo` (`AuthenticAMD`).
    pub cpu_vendor_id: Option<String>,
    /// USB devices (interfaces, whose names contain `:`, are skipped).
    pub usb: Vec<UsbDevice>,
    /// PCI functions.
    pub pci: Vec<PciDevice>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    let bytes = crate::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn hex<T: TryFrom<u64>>(text: Option<String>) -> Option<T> {
    let t = text?;
    let digits = t.strip_prefix("0x").unwrap_or(&t);
    T::try_from(u64::from_str_radix(digits, 16).ok()?).ok()
}

/// The entries of a directory (files and links to directories alike), sorted; empty when it
/// cannot be read.
fn entries(dir: &Path) -> Vec<String> {
    crate::fs::read_dir(dir)
        .map(|v| {
            v.into_iter()
                .map(|(n, _)| n.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The `vendor_id` of the first processor in a `/proc/cpuinfo` text.
pub fn cpuinfo_vendor(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "vendor_id").then(|| v.trim().to_owned())
    })
}

/// Read the facts of the system root `sysroot` (`/` for the running machine).
///
/// # Errors
/// None in practice: unreadable or missing files are simply absent facts. The signature keeps
/// room for a capture that is not a directory at all.
pub fn read(sysroot: &Path) -> Result<Facts> {
    let mut facts = Facts::default();
    let dmi = sysroot.join("sys/class/dmi/id");
    for name in DMI_FILES {
        if let Some(v) = read_trimmed(&dmi.join(name)) {
            facts.dmi.insert((*name).to_owned(), v);
        }
    }
    facts.cpu_vendor_id = crate::fs::read(&sysroot.join("proc/cpuinfo"))
        .ok()
        .and_then(|b| cpuinfo_vendor(&String::from_utf8_lossy(&b)));
    let usb = sysroot.join("sys/bus/usb/devices");
    for port in entries(&usb) {
        if port.contains(':') {
            continue; // an interface of a device, not a device
        }
        let d = usb.join(&port);
        let (Some(vendor), Some(product)) = (
            hex(read_trimmed(&d.join("idVendor"))),
            hex(read_trimmed(&d.join("idProduct"))),
        ) else {
            continue;
        };
        facts.usb.push(UsbDevice {
            port,
            vendor,
            product,
            product_name: read_trimmed(&d.join("product")),
            manufacturer: read_trimmed(&d.join("manufacturer")),
        });
    }
    let pci = sysroot.join("sys/bus/pci/devices");
    for address in entries(&pci) {
        let d = pci.join(&address);
        let (Some(class), Some(vendor), Some(device)) = (
            hex(read_trimmed(&d.join("class"))),
            hex(read_trimmed(&d.join("vendor"))),
            hex(read_trimmed(&d.join("device"))),
        ) else {
            continue;
        };
        facts.pci.push(PciDevice {
            address,
            class,
            vendor,
            device,
            boot_vga: read_trimmed(&d.join("boot_vga")).map(|v| v == "1"),
        });
    }
    Ok(facts)
}

#[cfg(test)]
mod tests;
