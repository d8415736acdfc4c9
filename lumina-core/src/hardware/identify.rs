//! From [`Facts`] to a [`Detected`] machine and the profile that fits it (pure).
//!
//! Framework laptops are recognised by DMI `sys_vendor` `Framework` and their exact
//! `product_name`. The strings are the ones Framework's own tool matches to tell its
//! platforms apart (`framework_lib/src/smbios.rs`, `get_platform()`, in
//! FrameworkComputer/framework-system): `Laptop` (the 11th Gen Intel Core Laptop 13 predates
//! the size in the name), `Laptop (12th Gen Intel Core)`, `Laptop (13th Gen Intel Core)`,
//! `Laptop 13 (Intel Core Ultra Series 1)`, `Laptop 13 (AMD Ryzen 7040Series)` (the spelling
//! of early firmware, without the space; a `dmidecode` of a 7040 board with firmware 3.x shows
//! it) and `Laptop 13 (AMD Ryzen 7040 Series)`, `Laptop 13 (AMD Ryzen AI 300 Series)`,
//! `Laptop 16 (AMD Ryzen 7040 Series)`, `Laptop 16 (AMD Ryzen AI 300 Series)` and
//! `Laptop 12 (13th Gen Intel Core)`.
//!
//! Modules that identify themselves over USB use Framework's USB vendor id `0x32ac`; the
//! product ids are Framework's: the Laptop 16 keyboards, numpad and macropad run QMK
//! (`keyboards/framework/{ansi,numpad,macropad}/info.json` in FrameworkComputer/qmk_firmware:
//! `0x0012`, `0x0014`, `0x0013`; ISO `0x0018` and JIS `0x0019` from
//! `framework_lib/src/inputmodule.rs`), the LED Matrix is `0x0020` (same file), and the HDMI,
//! DisplayPort and audio expansion cards are `0x0002`, `0x0003` (`framework_lib/src/ccgx/
//! hid.rs`) and `0x0010` (`framework_lib/src/audio_card.rs`).
//!
//! What cannot be seen here: the Laptop 16's expansion bay identifies itself only to the
//! embedded controller, not in DMI or over USB. A graphics module in the bay shows up as a
//! second PCI display controller (one the firmware did not boot on), which is what is reported;
//! an empty bay, the fan-only shell or an SSD module is not told apart. USB-A/C, storage and
//! Ethernet expansion cards carry no Framework USB id (they are plain hubs, bridges and NICs)
//! and are not reported.

use serde::Serialize;

use super::Facts;

/// Framework's USB vendor id.
pub const FRAMEWORK_USB_VENDOR: u16 = 0x32ac;

/// The CPU's maker, from `/proc/cpuinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuVendor {
    /// `GenuineIntel`.
    Intel,
    /// `AuthenticAMD`.
    Amd,
    /// Anything else, as written.
    Other(String),
}

impl CpuVendor {
    /// "an AMD processor", for messages.
    pub fn phrase(&self) -> String {
        match self {
            Self::Intel => "an Intel processor".into(),
            Self::Amd => "an AMD processor".into(),
            Self::Other(v) => format!("a `{v}` processor"),
        }
    }
}

/// A recognised machine model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Model {
    /// The model, e.g. `Framework Laptop 13`.
    pub name: &'static str,
    /// The mainboard generation, e.g. `AMD Ryzen 7040 Series`.
    pub generation: &'static str,
    /// The hardware profile for it.
    pub profile: &'static str,
    /// The CPU maker this mainboard has.
    #[serde(skip)]
    pub cpu: Cpu,
}

/// The CPU maker a model implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpu {
    /// Intel.
    Intel,
    /// AMD.
    Amd,
}

/// Framework's `product_name` strings, the model and generation each names, and the profile.
pub const FRAMEWORK_MODELS: &[(&str, Model)] = &[
    (
        "Laptop",
        m(
            "Framework Laptop 13",
            "11th Gen Intel Core",
            "framework-13-intel",
            Cpu::Intel,
        ),
    ),
    (
        "Laptop (12th Gen Intel Core)",
        m(
            "Framework Laptop 13",
            "12th Gen Intel Core",
            "framework-13-intel",
            Cpu::Intel,
        ),
    ),
    (
        "Laptop (13th Gen Intel Core)",
        m(
            "Framework Laptop 13",
            "13th Gen Intel Core",
            "framework-13-intel",
            Cpu::Intel,
        ),
    ),
    (
        "Laptop 13 (Intel Core Ultra Series 1)",
        m(
            "Framework Laptop 13",
            "Intel Core Ultra Series 1",
            "framework-13-intel",
            Cpu::Intel,
        ),
    ),
    (
        "Laptop 13 (AMD Ryzen 7040Series)",
        m(
            "Framework Laptop 13",
            "AMD Ryzen 7040 Series",
            "framework-13-amd",
            Cpu::Amd,
        ),
    ),
    (
        "Laptop 13 (AMD Ryzen 7040 Series)",
        m(
            "Framework Laptop 13",
            "AMD Ryzen 7040 Series",
            "framework-13-amd",
            Cpu::Amd,
        ),
    ),
    (
        "Laptop 13 (AMD Ryzen AI 300 Series)",
        m(
            "Framework Laptop 13",
            "AMD Ryzen AI 300 Series",
            "framework-13-amd",
            Cpu::Amd,
        ),
    ),
    (
        "Laptop 16 (AMD Ryzen 7040 Series)",
        m(
            "Framework Laptop 16",
            "AMD Ryzen 7040 Series",
            "framework-16",
            Cpu::Amd,
        ),
    ),
    (
        "Laptop 16 (AMD Ryzen AI 300 Series)",
        m(
            "Framework Laptop 16",
            "AMD Ryzen AI 300 Series",
            "framework-16",
            Cpu::Amd,
        ),
    ),
    (
        "Laptop 12 (13th Gen Intel Core)",
        m(
            "Framework Laptop 12",
            "13th Gen Intel Core",
            "framework-12",
            Cpu::Intel,
        ),
    ),
];

const fn m(name: &'static str, generation: &'static str, profile: &'static str, cpu: Cpu) -> Model {
    Model {
        name,
        generation,
        profile,
        cpu,
    }
}

/// What kind of module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    /// A Laptop 16 input module (keyboard, numpad, macropad).
    InputModule,
    /// The Laptop 16 LED Matrix input module.
    LedMatrix,
    /// An expansion card that identifies itself (HDMI, DisplayPort, audio).
    ExpansionCard,
    /// A graphics module in the Laptop 16 expansion bay.
    ExpansionBayGpu,
    /// Another device with Framework's USB vendor id.
    Other,
}

/// A module found on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Module {
    /// What it is.
    pub kind: ModuleKind,
    /// Its name, e.g. `Laptop 16 Keyboard Module - ANSI`.
    pub name: String,
    /// Where it was seen: `usb 3-4.2 (32ac:0012)` or `pci 0000:03:00.0 (1002:7480)`.
    pub seen: String,
}

/// The machine, as detected, and the profile that fits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detected {
    /// DMI `sys_vendor`.
    pub vendor: Option<String>,
    /// DMI `product_name`.
    pub product: Option<String>,
    /// The recognised model, if any.
    pub model: Option<Model>,
    /// The CPU maker.
    pub cpu_vendor: Option<CpuVendor>,
    /// Modules that identified themselves.
    pub modules: Vec<Module>,
    /// The profile that fits: a Framework model's, or `generic`.
    pub profile: &'static str,
    /// Why, one line each, for the user.
    pub reasons: Vec<String>,
}

/// The profile for hardware Lumina does not recognise.
pub const GENERIC: &str = "generic";

/// Known USB modules by Framework product id: (id, kind, name).
const USB_MODULES: &[(u16, ModuleKind, &str)] = &[
    (
        0x0012,
        ModuleKind::InputModule,
        "Laptop 16 Keyboard Module - ANSI",
    ),
    (0x0013, ModuleKind::InputModule, "Laptop 16 RGB Macropad"),
    (0x0014, ModuleKind::InputModule, "Laptop 16 Numpad Module"),
    (
        0x0018,
        ModuleKind::InputModule,
        "Laptop 16 Keyboard Module - ISO",
    ),
    (
        0x0019,
        ModuleKind::InputModule,
        "Laptop 16 Keyboard Module - JIS",
    ),
    (0x0020, ModuleKind::LedMatrix, "LED Matrix Input Module"),
    (0x0002, ModuleKind::ExpansionCard, "HDMI Expansion Card"),
    (
        0x0003,
        ModuleKind::ExpansionCard,
        "DisplayPort Expansion Card",
    ),
    (0x0010, ModuleKind::ExpansionCard, "Audio Expansion Card"),
];

/// Decide what the machine is and which profile fits.
pub fn identify(facts: &Facts) -> Detected {
    let vendor = facts.dmi.get("sys_vendor").cloned();
    let product = facts.dmi.get("product_name").cloned();
    let cpu_vendor = facts.cpu_vendor_id.as_deref().map(|v| match v {
        "GenuineIntel" => CpuVendor::Intel,
        "AuthenticAMD" => CpuVendor::Amd,
        other => CpuVendor::Other(other.to_owned()),
    });
    let mut reasons = Vec::new();
    let framework = vendor.as_deref() == Some("Framework");
    let model = if framework {
        product.as_deref().and_then(|p| {
            FRAMEWORK_MODELS
                .iter()
                .find(|(name, _)| *name == p)
                .map(|(_, m)| *m)
        })
    } else {
        None
    };
    match (&vendor, &product, &model) {
        (_, Some(p), Some(m)) => reasons.push(format!(
            "DMI says `Framework` `{p}`: {} ({})",
            m.name, m.generation
        )),
        (Some(_), Some(p), None) if framework => reasons.push(format!(
            "a Framework machine whose model `{p}` this Lumina does not know: the generic \
             profile applies"
        )),
        (Some(v), Some(p), None) => reasons.push(format!(
            "DMI says `{v}` `{p}`: no hardware profile for it, the generic profile applies"
        )),
        _ => reasons.push(
            "no DMI vendor and model to go by (a virtual machine or container?): the generic \
             profile applies"
                .into(),
        ),
    }
    if let (Some(m), Some(c)) = (&model, &cpu_vendor) {
        let expected = match m.cpu {
            Cpu::Intel => CpuVendor::Intel,
            Cpu::Amd => CpuVendor::Amd,
        };
        if *c != expected {
            reasons.push(format!(
                "note: `/proc/cpuinfo` names {}, but this mainboard has {}",
                c.phrase(),
                expected.phrase()
            ));
        }
    }
    let mut modules = Vec::new();
    for d in &facts.usb {
        if d.vendor != FRAMEWORK_USB_VENDOR {
            continue;
        }
        let seen = format!("usb {} ({:04x}:{:04x})", d.port, d.vendor, d.product);
        let (kind, name) = match USB_MODULES.iter().find(|(id, _, _)| *id == d.product) {
            Some((_, kind, name)) => (*kind, (*name).to_owned()),
            None => (
                ModuleKind::Other,
                d.product_name
                    .clone()
                    .unwrap_or_else(|| "a Framework USB device".into()),
            ),
        };
        reasons.push(format!("{name} at {seen}"));
        modules.push(Module { kind, name, seen });
    }
    if model.is_some_and(|m| m.name == "Framework Laptop 16") {
        for d in &facts.pci {
            // A display controller (class 0x03xxxx) that is not the one the firmware booted
            // on: the graphics module in the expansion bay.
            if d.class >> 16 == 0x03 && d.boot_vga == Some(false) {
                let seen = format!("pci {} ({:04x}:{:04x})", d.address, d.vendor, d.device);
                let name = "graphics module in the expansion bay".to_owned();
                reasons.push(format!("{name} at {seen}"));
                modules.push(Module {
                    kind: ModuleKind::ExpansionBayGpu,
                    name,
                    seen,
                });
            }
        }
    }
    Detected {
        vendor,
        product,
        profile: model.map_or(GENERIC, |m| m.profile),
        model,
        cpu_vendor,
        modules,
        reasons,
    }
}
