//! Detection on captured trees (`lumina-core/tests/fixtures/sysroot/`): each model yields its
//! profile, its modules and a reason the user can check against `dmidecode`.

use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> Detected {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sysroot")
        .join(name);
    assert!(dir.is_dir(), "no fixture {}", dir.display());
    identify(&read(&dir).unwrap())
}

#[test]
fn every_framework_model_gets_its_profile() {
    for (fixture_name, profile, model, generation) in [
        (
            "framework-13-intel-11th",
            "framework-13-intel",
            "Framework Laptop 13",
            "11th Gen Intel Core",
        ),
        (
            "framework-13-intel-12th",
            "framework-13-intel",
            "Framework Laptop 13",
            "12th Gen Intel Core",
        ),
        (
            "framework-13-intel-ultra1",
            "framework-13-intel",
            "Framework Laptop 13",
            "Intel Core Ultra Series 1",
        ),
        (
            "framework-13-amd-7040",
            "framework-13-amd",
            "Framework Laptop 13",
            "AMD Ryzen 7040 Series",
        ),
        (
            "framework-13-amd-ai300",
            "framework-13-amd",
            "Framework Laptop 13",
            "AMD Ryzen AI 300 Series",
        ),
        (
            "framework-16-amd-7040",
            "framework-16",
            "Framework Laptop 16",
            "AMD Ryzen 7040 Series",
        ),
        (
            "framework-12-intel",
            "framework-12",
            "Framework Laptop 12",
            "13th Gen Intel Core",
        ),
    ] {
        let d = fixture(fixture_name);
        assert_eq!(d.profile, profile, "{fixture_name}: {d:#?}");
        let m = d.model.unwrap();
        assert_eq!(
            (m.name, m.generation),
            (model, generation),
            "{fixture_name}"
        );
        assert!(
            d.reasons[0].starts_with("DMI says `Framework` `"),
            "{fixture_name}: {:?}",
            d.reasons
        );
        // The fixtures' CPUs match their mainboards: no note about a mismatch.
        assert!(
            !d.reasons.iter().any(|r| r.starts_with("note:")),
            "{:?}",
            d.reasons
        );
    }
}

#[test]
fn the_cpu_vendor_comes_from_proc_cpuinfo() {
    assert_eq!(
        fixture("framework-13-amd-7040").cpu_vendor,
        Some(CpuVendor::Amd)
    );
    assert_eq!(
        fixture("framework-12-intel").cpu_vendor,
        Some(CpuVendor::Intel)
    );
    assert_eq!(fixture("container").cpu_vendor, Some(CpuVendor::Intel));
}

#[test]
fn laptop_16_modules_are_found_over_usb_and_the_bay_gpu_over_pci() {
    let d = fixture("framework-16-amd-7040");
    let found: Vec<(ModuleKind, &str, &str)> = d
        .modules
        .iter()
        .map(|m| (m.kind, m.name.as_str(), m.seen.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                ModuleKind::LedMatrix,
                "LED Matrix Input Module",
                "usb 1-3.3 (32ac:0020)"
            ),
            (
                ModuleKind::InputModule,
                "Laptop 16 Keyboard Module - ANSI",
                "usb 1-4.2 (32ac:0012)"
            ),
            (
                ModuleKind::InputModule,
                "Laptop 16 Numpad Module",
                "usb 1-4.3 (32ac:0014)"
            ),
            (
                ModuleKind::ExpansionBayGpu,
                "graphics module in the expansion bay",
                "pci 0000:03:00.0 (1002:7480)"
            ),
        ]
    );
    // The boot display (the integrated GPU) and the host bridge are not modules.
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("Keyboard Module - ANSI"))
    );
}

#[test]
fn expansion_cards_that_identify_themselves_are_reported() {
    let d = fixture("framework-13-amd-7040");
    assert_eq!(d.modules.len(), 1);
    assert_eq!(d.modules[0].kind, ModuleKind::ExpansionCard);
    assert_eq!(d.modules[0].name, "HDMI Expansion Card");
    let d = fixture("framework-13-intel-12th");
    assert_eq!(d.modules[0].name, "Audio Expansion Card");
}

#[test]
fn other_machines_get_the_generic_profile_and_say_why() {
    for (name, reason) in [
        (
            "thinkpad-t14-gen3",
            "DMI says `LENOVO` `21AH00BHUS`: no hardware profile for it, the generic profile applies",
        ),
        (
            "asus-desktop",
            "DMI says `System manufacturer` `System Product Name`: no hardware profile for it, \
             the generic profile applies",
        ),
        (
            "qemu-vm",
            "DMI says `QEMU` `Standard PC (Q35 + ICH9, 2009)`: no hardware profile for it, the \
             generic profile applies",
        ),
        (
            "framework-desktop",
            "a Framework machine whose model `Desktop (AMD Ryzen AI Max 300 Series)` this \
             Lumina does not know: the generic profile applies",
        ),
        (
            "container",
            "no DMI vendor and model to go by (a virtual machine or container?): the generic \
             profile applies",
        ),
    ] {
        let d = fixture(name);
        assert_eq!(d.profile, "generic", "{name}");
        assert_eq!(d.model, None, "{name}");
        assert_eq!(d.reasons, [reason], "{name}");
        assert!(d.modules.is_empty(), "{name}: {:?}", d.modules);
    }
}

#[test]
fn a_discrete_gpu_outside_a_laptop_16_is_not_an_expansion_bay() {
    // The ASUS desktop's only GPU is a discrete one; it is the boot display, and the machine
    // has no bay anyway.
    assert!(fixture("asus-desktop").modules.is_empty());
}

#[test]
fn a_cpu_that_contradicts_the_mainboard_is_noted() {
    let mut facts = read(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sysroot/framework-16-amd-7040"),
    )
    .unwrap();
    facts.cpu_vendor_id = Some("GenuineIntel".into());
    let d = identify(&facts);
    assert_eq!(d.profile, "framework-16");
    assert!(
        d.reasons.contains(
            &"note: `/proc/cpuinfo` names an Intel processor, but this mainboard has an AMD \
             processor"
                .to_owned()
        ),
        "{:?}",
        d.reasons
    );
}

#[test]
fn cpuinfo_vendor_reads_the_first_processor() {
    assert_eq!(
        cpuinfo_vendor(
            "processor\t: 0\nvendor_id\t: AuthenticAMD\n\nprocessor\t: 1\nvendor_id\t: x\n"
        ),
        Some("AuthenticAMD".into())
    );
    assert_eq!(cpuinfo_vendor("processor : 0\n"), None);
}
