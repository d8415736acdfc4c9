//! Scenario tests of the planner, each a situation a maintainer relies on, plus a
//! 15,000-package run and a property test over random little worlds. Every scenario also
//! checks the closure invariant: after the plan, what is unresolved is exactly what the plan
//! reports as broken before it.

use std::time::Instant;

use proptest::prelude::*;

use super::*;

const HOUR: u64 = 3600;
const NOW: u64 = 1_750_000_000;

/// Test-only shorthand for building packages.
trait Build {
    fn deps(self, deps: &[&str]) -> Self;
    fn provides(self, provides: &[&str]) -> Self;
    fn base(self, base: &str) -> Self;
}

impl Build for Package {
    fn deps(mut self, deps: &[&str]) -> Self {
        self.depends = deps.iter().map(|d| d.parse().unwrap()).collect();
        self
    }
    fn provides(mut self, provides: &[&str]) -> Self {
        self.provides = provides.iter().map(|d| d.parse().unwrap()).collect();
        self
    }
    fn base(mut self, base: &str) -> Self {
        self.base = base.to_owned();
        self
    }
}

fn pkg(name: &str, version: &str) -> Package {
    Package::new(name, version)
}

fn published(pkgs: impl IntoIterator<Item = Package>) -> Vec<RepoPackage> {
    pkgs.into_iter()
        .map(|pkg| RepoPackage {
            repo: "extra".to_owned(),
            pkg,
        })
        .collect()
}

/// A candidate first seen `hours` ago.
fn seen(pkg: Package, hours: u64) -> Candidate {
    Candidate {
        repo: "extra".to_owned(),
        pkg,
        first_seen: NOW - hours * HOUR,
    }
}

struct Scenario {
    published: Vec<RepoPackage>,
    candidates: Vec<Candidate>,
    removals: Vec<Removal>,
    policy: Policy,
}

impl Scenario {
    fn new(published_pkgs: Vec<Package>, candidates: Vec<Candidate>) -> Self {
        Self {
            published: published(published_pkgs),
            candidates,
            removals: Vec::new(),
            policy: Policy::default(),
        }
    }

    fn plan(&self) -> PromotionPlan {
        let input = PlanInput {
            published: &self.published,
            candidates: &self.candidates,
            removals: &self.removals,
            now: NOW,
        };
        let plan = plan(&input, &self.policy).unwrap();
        // Whatever the scenario: the result is closed except for what was broken before.
        assert_eq!(unresolved(&plan.apply(&self.published)), plan.broken);
        plan
    }
}

fn promoted(plan: &PromotionPlan) -> Vec<String> {
    plan.promote
        .iter()
        .map(|p| format!("{} {}", p.pkg.name, p.pkg.version))
        .collect()
}

fn held(plan: &PromotionPlan) -> Vec<(&str, HoldReason)> {
    plan.held
        .iter()
        .map(|h| (h.name.as_str(), h.reason.clone()))
        .collect()
}

fn too_young(hours: u64) -> HoldReason {
    HoldReason::TooYoung {
        age: Duration::from_secs(hours * HOUR),
        min_age: Duration::from_secs(24 * HOUR),
    }
}

fn unsatisfied(dep: &str) -> HoldReason {
    HoldReason::UnsatisfiedDependency {
        dep: dep.to_owned(),
    }
}

fn sibling(name: &str) -> HoldReason {
    HoldReason::SplitSiblingHeld {
        sibling: name.to_owned(),
    }
}

#[test]
fn young_held_old_promoted() {
    let plan = Scenario::new(
        vec![pkg("a", "1-1"), pkg("b", "1-1")],
        vec![seen(pkg("a", "2-1"), 30), seen(pkg("b", "2-1"), 3)],
    )
    .plan();
    assert_eq!(promoted(&plan), ["a 2-1"]);
    assert_eq!(held(&plan), [("b", too_young(3))]);
    assert_eq!(plan.held[0].published_version.as_deref(), Some("1-1"));
    assert_eq!(plan.promote[0].previous.as_ref().unwrap().version, "1-1");
    assert!(plan.overdue.is_empty());
}

#[test]
fn exactly_min_age_is_old_enough() {
    let plan = Scenario::new(vec![pkg("a", "1-1")], vec![seen(pkg("a", "2-1"), 24)]).plan();
    assert_eq!(promoted(&plan), ["a 2-1"]);
}

#[test]
fn update_needing_a_package_not_yet_promotable_is_held_naming_it() {
    // a 2 needs a new package c, which upstream added only 2 hours ago.
    let plan = Scenario::new(
        vec![pkg("a", "1-1")],
        vec![
            seen(pkg("a", "2-1").deps(&["c"]), 30),
            seen(pkg("c", "1-1"), 2),
        ],
    )
    .plan();
    assert!(plan.promote.is_empty());
    assert_eq!(held(&plan), [("a", unsatisfied("c")), ("c", too_young(2))]);
    assert_eq!(plan.held[1].published_version, None);
}

#[test]
fn versioned_constraint_unmet_while_the_new_version_is_too_young() {
    let plan = Scenario::new(
        vec![pkg("libx", "1.0-1"), pkg("app", "1-1").deps(&["libx"])],
        vec![
            seen(pkg("app", "2-1").deps(&["libx>=2"]), 30),
            seen(pkg("libx", "2.0-1"), 5),
        ],
    )
    .plan();
    assert!(plan.promote.is_empty());
    assert_eq!(
        held(&plan),
        [("app", unsatisfied("libx>=2")), ("libx", too_young(5))]
    );
}

#[test]
fn versioned_constraint_met_by_a_promoted_dependency() {
    let plan = Scenario::new(
        vec![pkg("libx", "1.0-1"), pkg("app", "1-1").deps(&["libx"])],
        vec![
            seen(pkg("app", "2-1").deps(&["libx>=2"]), 30),
            seen(pkg("libx", "2.0-1"), 26),
        ],
    )
    .plan();
    assert_eq!(promoted(&plan), ["app 2-1", "libx 2.0-1"]);
}

#[test]
fn dependency_satisfied_via_provides() {
    let scenario = Scenario::new(
        vec![pkg("jre17-openjdk", "17.0.12-1").provides(&["java-runtime=17"])],
        vec![seen(pkg("app", "1-1").deps(&["java-runtime>=17"]), 30)],
    );
    assert_eq!(promoted(&scenario.plan()), ["app 1-1"]);
}

#[test]
fn unversioned_provision_does_not_satisfy_a_versioned_dependency() {
    let scenario = Scenario::new(
        vec![pkg("jre-any", "1-1").provides(&["java-runtime"])],
        vec![seen(pkg("app", "1-1").deps(&["java-runtime>=17"]), 30)],
    );
    assert_eq!(
        held(&scenario.plan()),
        [("app", unsatisfied("java-runtime>=17"))]
    );
}

#[test]
fn dropping_a_provision_others_need_is_held() {
    let plan = Scenario::new(
        vec![
            pkg("jdk", "1-1").provides(&["java-environment=17"]),
            pkg("maven", "1-1").deps(&["java-environment"]),
        ],
        vec![seen(pkg("jdk", "2-1"), 30)],
    )
    .plan();
    assert_eq!(
        held(&plan),
        [(
            "jdk",
            HoldReason::BreaksDependents {
                dep: "java-environment".to_owned(),
                dependents: vec!["maven".to_owned()],
            }
        )]
    );
}

#[test]
fn split_packages_move_together() {
    let split = |name: &str, version: &str| pkg(name, version).base("foo");
    let published = vec![split("foo", "1-1"), split("foo-docs", "1-1")];
    let plan = Scenario::new(
        published.clone(),
        vec![
            seen(split("foo", "2-1"), 30),
            seen(split("foo-docs", "2-1"), 30),
        ],
    )
    .plan();
    assert_eq!(promoted(&plan), ["foo 2-1", "foo-docs 2-1"]);

    // One sibling too young: the whole base waits.
    let plan = Scenario::new(
        published,
        vec![
            seen(split("foo", "2-1"), 30),
            seen(split("foo-docs", "2-1"), 3),
        ],
    )
    .plan();
    assert!(plan.promote.is_empty());
    assert_eq!(
        held(&plan),
        [("foo", sibling("foo-docs")), ("foo-docs", too_young(3))]
    );
}

#[test]
fn split_sibling_held_by_a_dependency() {
    let split = |name: &str, version: &str| pkg(name, version).base("foo");
    let plan = Scenario::new(
        vec![
            split("foo", "1-1"),
            split("foo-libs", "1-1"),
            pkg("bar", "1-1"),
        ],
        vec![
            seen(split("foo", "2-1").deps(&["bar>=2"]), 30),
            seen(split("foo-libs", "2-1"), 30),
            seen(pkg("bar", "2-1"), 1),
        ],
    )
    .plan();
    assert!(plan.promote.is_empty());
    assert_eq!(
        held(&plan),
        [
            ("bar", too_young(1)),
            ("foo", unsatisfied("bar>=2")),
            ("foo-libs", sibling("foo")),
        ]
    );
}

/// libfoo 1 provides `libfoo.so=3-64`; app1, app2 (and optionally app3) link against it.
fn soname_world(with_app3: bool) -> Vec<Package> {
    let mut world = vec![
        pkg("libfoo", "1.0-1").provides(&["libfoo.so=3-64"]),
        pkg("app1", "1-1").deps(&["libfoo.so=3-64"]),
        pkg("app2", "1-1").deps(&["libfoo", "libfoo.so=3-64"]),
    ];
    if with_app3 {
        world.push(pkg("app3", "1-1").deps(&["libfoo.so=3-64"]));
    }
    world
}

fn rebuilt(name: &str) -> Package {
    pkg(name, "1-2").deps(&["libfoo.so=4-64"])
}

fn libfoo2() -> Package {
    pkg("libfoo", "2.0-1").provides(&["libfoo.so=4-64"])
}

#[test]
fn soname_bump_moves_with_its_rebuilds() {
    let scenario = Scenario::new(
        soname_world(false),
        vec![
            seen(libfoo2(), 30),
            seen(rebuilt("app1"), 30),
            seen(rebuilt("app2"), 28),
        ],
    );
    let plan = scenario.plan();
    assert_eq!(promoted(&plan), ["app1 1-2", "app2 1-2", "libfoo 2.0-1"]);
    assert!(plan.held.is_empty());
    assert!(unresolved(&plan.apply(&scenario.published)).is_empty());
}

#[test]
fn soname_bump_with_a_rebuild_too_young_holds_the_library() {
    let plan = Scenario::new(
        soname_world(false),
        vec![
            seen(libfoo2(), 30),
            seen(rebuilt("app1"), 30),
            seen(rebuilt("app2"), 3),
        ],
    )
    .plan();
    assert!(plan.promote.is_empty());
    assert_eq!(
        held(&plan),
        [
            ("app1", unsatisfied("libfoo.so=4-64")),
            ("app2", too_young(3)),
            (
                "libfoo",
                HoldReason::SonameGroupIncomplete {
                    soname: "libfoo.so=3-64".to_owned(),
                    missing: vec!["app2".to_owned()],
                }
            ),
        ]
    );
}

#[test]
fn soname_bump_with_a_dependent_not_rebuilt_names_every_missing_one() {
    let plan = Scenario::new(
        soname_world(true),
        vec![
            seen(libfoo2(), 30),
            seen(rebuilt("app1"), 30),
            seen(rebuilt("app2"), 3),
        ],
    )
    .plan();
    assert!(plan.promote.is_empty());
    let libfoo = plan.held.iter().find(|h| h.name == "libfoo").unwrap();
    assert_eq!(
        libfoo.reason,
        HoldReason::SonameGroupIncomplete {
            soname: "libfoo.so=3-64".to_owned(),
            missing: vec!["app2".to_owned(), "app3".to_owned()],
        }
    );
    assert_eq!(
        libfoo.reason.to_string(),
        "soname group incomplete: `libfoo.so=3-64` is still needed by `app2`, `app3`"
    );
}

#[test]
fn soname_v2_bump_is_a_soname_group_too() {
    let plan = Scenario::new(
        vec![
            pkg("libfoo", "1-1").provides(&["lib:libfoo.so.3"]),
            pkg("app", "1-1").deps(&["lib:libfoo.so.3"]),
        ],
        vec![seen(
            pkg("libfoo", "2-1").provides(&["lib:libfoo.so.4"]),
            30,
        )],
    )
    .plan();
    assert_eq!(
        held(&plan),
        [(
            "libfoo",
            HoldReason::SonameGroupIncomplete {
                soname: "lib:libfoo.so.3".to_owned(),
                missing: vec!["app".to_owned()],
            }
        )]
    );
}

#[test]
fn chain_reaction_reaches_a_fixed_point() {
    // c 2 is too young, so b 2 (needs c>=2) waits, so a 2 (needs b>=2) waits.
    // Holding x 2 (needs y>=2, too young) brings back x 1, which needs z<2: so z 2 must
    // wait, and w 2, which needs z>=2, with it. d is unrelated and moves.
    let plan = Scenario::new(
        vec![
            pkg("a", "1-1").deps(&["b"]),
            pkg("b", "1-1").deps(&["c"]),
            pkg("c", "1-1"),
            pkg("d", "1-1"),
            pkg("w", "1-1").deps(&["z"]),
            pkg("x", "1-1").deps(&["z<2"]),
            pkg("y", "1-1"),
            pkg("z", "1-1"),
        ],
        vec![
            seen(pkg("a", "2-1").deps(&["b>=2"]), 40),
            seen(pkg("b", "2-1").deps(&["c>=2"]), 40),
            seen(pkg("c", "2-1"), 1),
            seen(pkg("d", "2-1"), 40),
            seen(pkg("w", "2-1").deps(&["z>=2"]), 40),
            seen(pkg("x", "2-1").deps(&["y>=2", "z"]), 40),
            seen(pkg("y", "2-1"), 2),
            seen(pkg("z", "2-1"), 40),
        ],
    )
    .plan();
    assert_eq!(promoted(&plan), ["d 2-1"]);
    assert_eq!(
        held(&plan),
        [
            ("a", unsatisfied("b>=2")),
            ("b", unsatisfied("c>=2")),
            ("c", too_young(1)),
            ("w", unsatisfied("z>=2")),
            ("x", unsatisfied("y>=2")),
            ("y", too_young(2)),
            (
                "z",
                HoldReason::BreaksDependents {
                    dep: "z<2".to_owned(),
                    dependents: vec!["x".to_owned()],
                }
            ),
        ]
    );
}

#[test]
fn a_hold_made_unneeded_by_a_later_repair_is_retried() {
    // a 2 needs b<2, but b 2 is accepted at first, so a 2 is held. Later c 2 is held
    // (d 2 is too young), which brings back c 1, which needs b<2: b 2 must wait after
    // all. With b 1 staying, a 2 fits, and the second chance promotes it; b's reason
    // names everyone that needs b<2 now.
    let plan = Scenario::new(
        vec![
            pkg("a", "1-1"),
            pkg("b", "1-1"),
            pkg("c", "1-1").deps(&["b<2"]),
            pkg("d", "1-1"),
        ],
        vec![
            seen(pkg("a", "2-1").deps(&["b<2"]), 30),
            seen(pkg("b", "2-1"), 30),
            seen(pkg("c", "2-1").deps(&["d>=2"]), 30),
            seen(pkg("d", "2-1"), 3),
        ],
    )
    .plan();
    assert_eq!(promoted(&plan), ["a 2-1"]);
    assert_eq!(
        held(&plan),
        [
            (
                "b",
                HoldReason::BreaksDependents {
                    dep: "b<2".to_owned(),
                    dependents: vec!["a".to_owned(), "c".to_owned()],
                }
            ),
            ("c", unsatisfied("d>=2")),
            ("d", too_young(3)),
        ]
    );
}

#[test]
fn module_constraint() {
    let mut scenario = Scenario::new(
        vec![pkg("hyprland", "0.49.0-1")],
        vec![seen(pkg("hyprland", "0.50.0-1"), 30)],
    );
    scenario
        .policy
        .module_constraints
        .insert("hyprland".to_owned(), "<0.50".parse().unwrap());
    let plan = scenario.plan();
    assert_eq!(
        held(&plan),
        [(
            "hyprland",
            HoldReason::ModuleConstraint {
                constraint: "hyprland<0.50".to_owned()
            }
        )]
    );
    assert_eq!(
        plan.held[0].reason.to_string(),
        "module constraint `hyprland<0.50`"
    );

    scenario.candidates = vec![seen(pkg("hyprland", "0.49.1-1"), 30)];
    assert_eq!(promoted(&scenario.plan()), ["hyprland 0.49.1-1"]);
}

#[test]
fn manual_hold_by_name_or_pkgbase() {
    let mut scenario = Scenario::new(
        vec![
            pkg("linux", "6.9-1"),
            pkg("linux-headers", "6.9-1").base("linux"),
        ],
        vec![
            seen(pkg("linux", "6.10-1"), 30),
            seen(pkg("linux-headers", "6.10-1").base("linux"), 30),
        ],
    );
    scenario
        .policy
        .holds
        .insert("linux".to_owned(), "waiting for nvidia".to_owned());
    let plan = scenario.plan();
    let manual = HoldReason::ManualHold {
        reason: "waiting for nvidia".to_owned(),
    };
    // `linux` is both a package and the pkgbase: both members are held by hand.
    assert_eq!(
        held(&plan),
        [("linux", manual.clone()), ("linux-headers", manual)]
    );
    assert_eq!(
        plan.held[0].reason.to_string(),
        "manual hold: waiting for nvidia"
    );
}

#[test]
fn expedite_skips_the_age_but_not_the_checks() {
    let mut scenario = Scenario::new(
        vec![
            pkg("openssl", "3.3.0-1"),
            pkg("curl", "8.8-1").deps(&["openssl"]),
        ],
        vec![
            seen(pkg("openssl", "3.3.1-1"), 1),
            seen(pkg("curl", "8.9-1").deps(&["openssl", "libpsl>=0.21"]), 1),
            seen(pkg("libpsl", "0.21.5-1"), 1),
        ],
    );
    scenario.policy.expedited = ["openssl", "curl"].map(str::to_owned).into();
    let plan = scenario.plan();
    assert_eq!(promoted(&plan), ["openssl 3.3.1-1"]);
    assert_eq!(
        held(&plan),
        [
            ("curl", unsatisfied("libpsl>=0.21")),
            ("libpsl", too_young(1))
        ]
    );

    // Expediting does not override a module constraint either.
    scenario
        .policy
        .module_constraints
        .insert("openssl".to_owned(), "<3.3.1".parse().unwrap());
    assert!(scenario.plan().held.iter().any(
        |h| h.name == "openssl" && matches!(h.reason, HoldReason::ModuleConstraint { .. })
    ));
}

#[test]
fn a_candidate_that_failed_verification_is_held_and_so_is_what_needs_it() {
    // libx 2 has a bad signature upstream; its split sibling, and app 2 which needs it,
    // wait with it. Expediting does not skip verification.
    let mut scenario = Scenario::new(
        vec![
            pkg("libx", "1-1"),
            pkg("libx-docs", "1-1").base("libx"),
            pkg("app", "1-1").deps(&["libx"]),
        ],
        vec![
            seen(pkg("libx", "2-1"), 30),
            seen(pkg("libx-docs", "2-1").base("libx"), 30),
            seen(pkg("app", "2-1").deps(&["libx>=2"]), 30),
            seen(pkg("other", "1-1"), 30),
        ],
    );
    scenario.policy.expedited = ["libx".to_owned()].into();
    let problem = "signature: made by an unknown key `ABCD`";
    let unavailable: BTreeMap<String, String> = [("libx".to_owned(), problem.to_owned())].into();
    let input = PlanInput {
        published: &scenario.published,
        candidates: &scenario.candidates,
        removals: &scenario.removals,
        now: NOW,
    };
    let plan = plan_available(&input, &scenario.policy, &unavailable).unwrap();
    assert_eq!(unresolved(&plan.apply(&scenario.published)), plan.broken);
    assert_eq!(promoted(&plan), ["other 1-1"]);
    let not_verified = HoldReason::NotVerified {
        problem: problem.to_owned(),
    };
    assert_eq!(
        held(&plan),
        [
            ("app", unsatisfied("libx>=2")),
            ("libx", not_verified.clone()),
            ("libx-docs", sibling("libx")),
        ]
    );
    assert_eq!(not_verified.to_string(), format!("not verified: {problem}"));
    assert_eq!(
        serde_json::to_value(&not_verified).unwrap(),
        serde_json::json!({"kind": "not_verified", "problem": problem})
    );
    // Without the problem, the same input promotes everything.
    assert_eq!(scenario.plan().promote.len(), 4);
}

#[test]
fn overdue_is_reported() {
    let mut scenario = Scenario::new(
        vec![pkg("a", "1-1"), pkg("b", "1-1")],
        vec![seen(pkg("a", "2-1"), 50), seen(pkg("b", "2-1"), 30)],
    );
    scenario.policy.holds = [("a", "x"), ("b", "y")]
        .map(|(n, r)| (n.to_owned(), r.to_owned()))
        .into();
    let plan = scenario.plan();
    assert_eq!(plan.held.len(), 2);
    assert_eq!(plan.overdue.len(), 1);
    assert_eq!(plan.overdue[0].name, "a");
    assert_eq!(plan.overdue[0].age, Duration::from_secs(50 * HOUR));
}

#[test]
fn new_packages_are_added_when_their_dependencies_resolve() {
    let plan = Scenario::new(
        vec![pkg("glibc", "2.39-1")],
        vec![
            seen(pkg("tool", "1-1").deps(&["glibc>=2.39"]), 30),
            seen(pkg("other", "1-1").deps(&["missing-lib"]), 30),
        ],
    )
    .plan();
    assert_eq!(promoted(&plan), ["tool 1-1"]);
    assert!(plan.promote[0].previous.is_none());
    assert_eq!(held(&plan), [("other", unsatisfied("missing-lib"))]);
}

#[test]
fn removals_wait_for_their_dependents() {
    let mut scenario = Scenario::new(
        vec![
            pkg("orphan", "1-1"),
            pkg("oldlib", "1-1"),
            pkg("user", "1-1").deps(&["oldlib"]),
        ],
        Vec::new(),
    );
    scenario.removals = ["orphan", "oldlib"]
        .map(|name| Removal {
            name: name.to_owned(),
            first_seen: NOW - 30 * HOUR,
        })
        .into();
    let plan = scenario.plan();
    assert_eq!(
        plan.remove,
        [Removed {
            repo: "extra".to_owned(),
            name: "orphan".to_owned(),
            version: "1-1".to_owned(),
        }]
    );
    assert_eq!(
        held(&plan),
        [(
            "oldlib",
            HoldReason::BreaksDependents {
                dep: "oldlib".to_owned(),
                dependents: vec!["user".to_owned()],
            }
        )]
    );
    assert_eq!(plan.held[0].version, None);

    // Once `user` is rebuilt without it, the removal goes through with the rebuild.
    scenario.candidates = vec![seen(pkg("user", "1-2"), 30)];
    let plan = scenario.plan();
    assert_eq!(plan.remove.len(), 2);
    assert_eq!(promoted(&plan), ["user 1-2"]);
}

#[test]
fn a_replacement_provides_what_a_removed_package_was_needed_for() {
    let mut scenario = Scenario::new(
        vec![pkg("foo", "1-1"), pkg("user", "1-1").deps(&["foo"])],
        vec![seen(
            pkg("foo-ng", "1-1").provides(&["foo=1"]).deps(&[]),
            30,
        )],
    );
    scenario.removals = vec![Removal {
        name: "foo".to_owned(),
        first_seen: NOW - 30 * HOUR,
    }];
    let plan = scenario.plan();
    assert_eq!(promoted(&plan), ["foo-ng 1-1"]);
    assert_eq!(plan.remove.len(), 1);
}

#[test]
fn breakage_from_before_blames_no_one() {
    let plan = Scenario::new(
        vec![pkg("broken", "1-1").deps(&["gone"]), pkg("a", "1-1")],
        vec![seen(pkg("a", "2-1"), 30)],
    )
    .plan();
    assert_eq!(promoted(&plan), ["a 2-1"]);
    assert_eq!(
        plan.broken,
        [Broken {
            repo: "extra".to_owned(),
            name: "broken".to_owned(),
            version: "1-1".to_owned(),
            dep: "gone".to_owned(),
        }]
    );
}

#[test]
fn same_version_is_no_change_but_a_repository_move_is() {
    let mut scenario = Scenario::new(
        vec![pkg("a", "1-1"), pkg("b", "1-1")],
        vec![seen(pkg("a", "1-1"), 1), seen(pkg("b", "1-1"), 30)],
    );
    scenario.candidates[1].repo = "core".to_owned();
    let plan = scenario.plan();
    assert!(plan.held.is_empty(), "{plan:?}");
    assert_eq!(plan.promote.len(), 1);
    assert_eq!(plan.promote[0].repo, "core");
    assert_eq!(plan.promote[0].previous.as_ref().unwrap().repo, "extra");
    let after = plan.apply(&scenario.published);
    assert_eq!(
        after
            .iter()
            .map(|p| (p.repo.as_str(), p.pkg.name.as_str()))
            .collect::<Vec<_>>(),
        [("core", "b"), ("extra", "a")]
    );
}

#[test]
fn inconsistent_input_is_an_error() {
    let run = |published: Vec<RepoPackage>, candidates: Vec<Candidate>, removals: Vec<Removal>| {
        let input = PlanInput {
            published: &published,
            candidates: &candidates,
            removals: &removals,
            now: NOW,
        };
        plan(&input, &Policy::default()).unwrap_err().to_string()
    };
    let removal = |name: &str| Removal {
        name: name.to_owned(),
        first_seen: NOW,
    };
    let mut twice = published([pkg("a", "1-1"), pkg("a", "1-1")]);
    twice[1].repo = "core".to_owned();
    assert_eq!(
        run(twice, vec![], vec![]),
        "package `a` is published twice, in `core` and `extra`"
    );
    assert_eq!(
        run(
            vec![],
            vec![seen(pkg("a", "2-1"), 1), seen(pkg("a", "3-1"), 1)],
            vec![]
        ),
        "package `a` has two candidates, `2-1` and `3-1`"
    );
    assert_eq!(
        run(
            published([pkg("a", "1-1")]),
            vec![],
            vec![removal("a"), removal("a")]
        ),
        "package `a` is listed for removal twice"
    );
    assert_eq!(
        run(
            published([pkg("a", "1-1")]),
            vec![seen(pkg("a", "2-1"), 1)],
            vec![removal("a")]
        ),
        "package `a` is both a candidate (`2-1`) and listed for removal"
    );
    assert_eq!(
        run(vec![], vec![], vec![removal("a")]),
        "package `a` is listed for removal but is not published"
    );
}

#[test]
fn hostile_versions_do_not_crash_the_planner() {
    let huge = "99999999999999999999999999999999-1";
    let plan = Scenario::new(
        vec![pkg("a", "1-1"), pkg("b", "1-1").deps(&["a>=1"])],
        vec![
            seen(pkg("a", huge), 30),
            seen(pkg("b", "2-1").deps(&[&format!("a>={huge}")]), 30),
        ],
    )
    .plan();
    assert_eq!(plan.promote.len(), 2);
}

#[test]
fn reasons_render_for_humans_and_json() {
    assert_eq!(
        too_young(3).to_string(),
        "too young: first seen 3h 0m ago, needs 1d 0h"
    );
    assert_eq!(
        HoldReason::BreaksDependents {
            dep: "libx<2".to_owned(),
            dependents: vec!["a".to_owned(), "b".to_owned()],
        }
        .to_string(),
        "would leave `libx<2` unresolved for `a`, `b`"
    );
    assert_eq!(sibling("foo").to_string(), "split sibling `foo` is held");
    assert_eq!(
        serde_json::to_value(too_young(3)).unwrap(),
        serde_json::json!({"kind": "too_young", "age": 10800, "min_age": 86400})
    );
    assert_eq!(
        serde_json::to_value(unsatisfied("c")).unwrap(),
        serde_json::json!({"kind": "unsatisfied_dependency", "dep": "c"})
    );
}

/// 15,000 packages shaped like Arch's: a dependency tree, split bases, sonames, and a 3%
/// delta with some too-young versions and one incomplete soname bump.
#[test]
fn fifteen_thousand_packages_with_a_three_percent_delta() {
    const COUNT: usize = 15_000;
    let name = |i: usize| format!("p{i:05}");
    let base_of = |i: usize| if i % 10 == 1 { name(i - 1) } else { name(i) };
    let make = |i: usize, release: u32| {
        let mut deps = Vec::new();
        if i > 0 {
            deps.push(name(i / 2));
        }
        if i > 2 {
            deps.push(format!("{}>=1.0", name(i / 3)));
        }
        if i >= 100 && (1..4).contains(&(i % 100)) {
            deps.push(format!("lib{}.so=1-64", name(i / 100 * 100)));
        }
        let mut package = pkg(&name(i), &format!("1.{release}-1")).base(&base_of(i));
        package.depends = deps.iter().map(|d| d.parse().unwrap()).collect();
        if i.is_multiple_of(100) {
            package.provides = vec![format!("lib{}.so=1-64", name(i)).parse().unwrap()];
        }
        package
    };
    let published_pkgs: Vec<Package> = (0..COUNT).map(|i| make(i, 0)).collect();

    // 3%: every 33rd package gets a new version (and its split sibling with it); every
    // 5th of those is too young.
    let mut candidates = Vec::new();
    let mut expected_promoted = BTreeSet::new();
    let mut expected_held = BTreeSet::new();
    for i in (0..COUNT).step_by(33).filter(|i| !i.is_multiple_of(100)) {
        let young = (i / 33) % 5 == 0;
        let siblings: Vec<usize> = match i % 10 {
            0 => vec![i, i + 1],
            1 => vec![i - 1, i],
            _ => vec![i],
        };
        for s in siblings {
            if candidates.iter().any(|c: &Candidate| c.pkg.name == name(s)) {
                continue;
            }
            candidates.push(seen(make(s, 1), if young { 2 } else { 30 }));
            if young {
                expected_held.insert(name(s));
            } else {
                expected_promoted.insert(name(s));
            }
        }
    }
    // The soname bump of p07700: p07701 rebuilt and old enough, p07702 rebuilt but too
    // young, p07703 not rebuilt. Library and both rebuilds are held.
    let mut lib = make(7700, 1);
    lib.provides = vec!["libp07700.so=2-64".parse().unwrap()];
    let rebuild = |i: usize| {
        let mut package = make(i, 1);
        package.depends.retain(|d| !d.is_soname());
        package.depends.push("libp07700.so=2-64".parse().unwrap());
        package
    };
    for (package, hours) in [(lib, 30), (rebuild(7701), 30), (rebuild(7702), 2)] {
        expected_promoted.remove(&package.name);
        expected_held.insert(package.name.clone());
        candidates.retain(|c| c.pkg.name != package.name);
        candidates.push(seen(package, hours));
    }
    // p07700 and p07701 are split siblings (one base): they move or wait together.
    assert!(candidates.len() > COUNT * 3 / 100, "{}", candidates.len());

    let scenario = Scenario {
        published: published(published_pkgs),
        candidates,
        removals: Vec::new(),
        policy: Policy::default(),
    };
    let start = Instant::now();
    let input = PlanInput {
        published: &scenario.published,
        candidates: &scenario.candidates,
        removals: &scenario.removals,
        now: NOW,
    };
    let plan = plan(&input, &scenario.policy).unwrap();
    eprintln!(
        "planned {} packages, {} candidates in {:?}",
        COUNT,
        scenario.candidates.len(),
        start.elapsed()
    );

    let promoted: BTreeSet<String> = plan.promote.iter().map(|p| p.pkg.name.clone()).collect();
    let held: BTreeSet<String> = plan.held.iter().map(|h| h.name.clone()).collect();
    assert_eq!(promoted, expected_promoted);
    assert_eq!(held, expected_held);
    let lib = plan.held.iter().find(|h| h.name == "p07700").unwrap();
    assert_eq!(
        lib.reason,
        HoldReason::SonameGroupIncomplete {
            soname: "libp07700.so=1-64".to_owned(),
            missing: vec!["p07702".to_owned(), "p07703".to_owned()],
        }
    );
    assert!(plan.broken.is_empty());
    assert!(unresolved(&plan.apply(&scenario.published)).is_empty());
}

/// A random little world: 10 packages, bases shared at random, random dependencies and
/// provisions (some versioned), random candidates, removals, ages, holds and expedites.
fn random_world(seed: u64) -> Scenario {
    let mut state = seed | 1;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let names: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    let relation = |next: &mut dyn FnMut(u64) -> u64| {
        let target = if next(4) == 0 {
            format!("v{}", next(3))
        } else {
            names[usize::try_from(next(10)).unwrap()].clone()
        };
        let requirement = ["", ">=1", "<2", ">=2", "=2", "=1-1"][usize::try_from(next(6)).unwrap()];
        format!("{target}{requirement}")
    };
    let make = |name: &str, version: &str, next: &mut dyn FnMut(u64) -> u64| {
        let deps: Vec<String> = (0..next(3)).map(|_| relation(next)).collect();
        let mut package = pkg(name, version).base(&format!("b{}", next(6)));
        package.depends = deps
            .iter()
            .filter(|d| !d.starts_with(name))
            .map(|d| d.parse().unwrap())
            .collect();
        if next(3) == 0 {
            let provision = [
                format!("v{}", next(3)),
                format!("v{}={}", next(3), 1 + next(2)),
            ];
            package.provides = vec![
                provision[usize::try_from(next(2)).unwrap()]
                    .parse()
                    .unwrap(),
            ];
        }
        package
    };
    let mut published_pkgs = Vec::new();
    let mut candidates = Vec::new();
    let mut removals = Vec::new();
    for name in &names {
        let is_published = next(5) != 0;
        if is_published {
            published_pkgs.push(make(name, "1-1", &mut next));
        }
        match next(4) {
            0 | 1 => candidates.push(seen(
                make(name, "2-1", &mut next),
                [1, 30, 60][usize::try_from(next(3)).unwrap()],
            )),
            2 if is_published => removals.push(Removal {
                name: name.clone(),
                first_seen: NOW - 30 * HOUR,
            }),
            _ => {}
        }
    }
    let mut policy = Policy::default();
    if next(3) == 0 {
        policy
            .holds
            .insert(format!("n{}", next(10)), "test".to_owned());
    }
    if next(3) == 0 {
        policy.expedited.insert(format!("b{}", next(6)));
    }
    if next(3) == 0 {
        policy
            .module_constraints
            .insert(format!("n{}", next(10)), "<2".parse().unwrap());
    }
    Scenario {
        published: published(published_pkgs),
        candidates,
        removals,
        policy,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn plans_keep_every_rule(seed in any::<u64>()) {
        let scenario = random_world(seed);
        // `Scenario::plan` asserts closure: unresolved after == broken.
        let plan = scenario.plan();

        // Every change lands in exactly one list.
        let mut decided: Vec<&str> = plan.promote.iter().map(|p| p.pkg.name.as_str())
            .chain(plan.remove.iter().map(|r| r.name.as_str()))
            .chain(plan.held.iter().map(|h| h.name.as_str()))
            .collect();
        decided.sort_unstable();
        let before = decided.len();
        decided.dedup();
        prop_assert_eq!(before, decided.len());

        // Split packages move together: no base is both moving and held.
        let moving: BTreeSet<&str> = plan.promote.iter().map(|p| p.pkg.base.as_str()).collect();
        for held in &plan.held {
            if let Some(candidate) = scenario.candidates.iter().find(|c| c.pkg.name == held.name) {
                prop_assert!(!moving.contains(candidate.pkg.base.as_str()), "{:?}", plan);
            }
        }

        // Promoted versions are old enough or expedited, not held by hand, and meet
        // their module constraints.
        for promotion in &plan.promote {
            let candidate = scenario.candidates.iter().find(|c| c.pkg.name == promotion.pkg.name).unwrap();
            let old_enough = NOW - candidate.first_seen >= scenario.policy.min_age.as_secs();
            let expedited = scenario.policy.expedited.contains(&candidate.pkg.base)
                || scenario.policy.expedited.contains(&candidate.pkg.name);
            prop_assert!(old_enough || expedited);
            prop_assert!(!scenario.policy.holds.contains_key(&candidate.pkg.name));
            if let Some(requirement) = scenario.policy.module_constraints.get(&candidate.pkg.name) {
                prop_assert!(requirement.is_satisfied_by(&candidate.pkg.version));
            }
        }

        // No unit held only by closure repairs could move on its own: publishing it
        // alone would leave something unresolved that was not broken before.
        let base_of = |name: &str| {
            scenario.candidates.iter().find(|c| c.pkg.name == name).map(|c| &c.pkg.base)
                .or_else(|| scenario.published.iter().find(|p| p.pkg.name == name).map(|p| &p.pkg.base))
                .cloned()
                .unwrap_or_default()
        };
        let mut units: BTreeMap<String, Vec<&Held>> = BTreeMap::new();
        for held in &plan.held {
            units.entry(base_of(&held.name)).or_default().push(held);
        }
        for members in units.values() {
            if members.iter().any(|h| matches!(h.reason,
                HoldReason::TooYoung { .. } | HoldReason::ManualHold { .. } | HoldReason::ModuleConstraint { .. }))
            {
                continue;
            }
            let mut set = plan.apply(&scenario.published);
            for held in members {
                set.retain(|p| p.pkg.name != held.name);
                if let Some(candidate) = scenario.candidates.iter().find(|c| c.pkg.name == held.name) {
                    set.push(RepoPackage { repo: candidate.repo.clone(), pkg: candidate.pkg.clone() });
                }
            }
            let after = unresolved(&set);
            prop_assert!(after.iter().any(|b| !plan.broken.contains(b)), "{:?} could move: {:?}", members, plan);
        }

        // The order of the input does not matter.
        let mut reversed = Scenario {
            published: scenario.published.clone(),
            candidates: scenario.candidates.clone(),
            removals: scenario.removals.clone(),
            policy: scenario.policy.clone(),
        };
        reversed.published.reverse();
        reversed.candidates.reverse();
        reversed.removals.reverse();
        prop_assert_eq!(reversed.plan(), plan);
    }
}
