//! The promotion planner: which upstream changes Lumina-Stable publishes now, which it holds,
//! and why. Pure: no I/O, no clock (the caller passes `now`), the same answer for the same
//! input whatever its order.
//!
//! # Model
//!
//! The input is the published set (one package per name), the *changes* seen upstream (a
//! [`Candidate`] is a new version, or a package new upstream; a [`Removal`] is a published
//! package upstream dropped), the time each was first seen, and a [`Policy`]. Changes are
//! grouped into *units* by pkgbase: split packages of one build move together, all or none.
//! The planner decides, per unit, *accept* (the new versions replace the old) or *hold* (the
//! published versions stay).
//!
//! # Rules
//!
//! 1. Pre-checks, per change: a new version that is not available ([`plan_available`]: its
//!    file or signature failed verification, or was not fetched yet), a manual hold (by
//!    package name or pkgbase), a module constraint the new version does not meet, or an age
//!    below `min_age` holds the unit. An expedited unit (any member's name or its pkgbase in
//!    [`Policy::expedited`]) skips the age check only.
//! 2. Closure: every run-time dependency of every package in the resulting set resolves
//!    inside it (by name, provision, versioned constraint or soname, with pacman's
//!    satisfaction rules, [`crate::depend`]). The planner starts from "every unit that passed
//!    the pre-checks is accepted" and repairs violations until none is left:
//!    - a *new* package with an unresolved dependency is held
//!      ([`HoldReason::UnsatisfiedDependency`]): the update waits for what it needs;
//!    - a package that stays at its published version and lost a dependency it had (an
//!      accepted change took the provider away, dropped a provision, bumped a soname or moved
//!      past a version constraint) forces that change to be held
//!      ([`HoldReason::SonameGroupIncomplete`] for a soname, naming every package still
//!      needing the old one; [`HoldReason::BreaksDependents`] otherwise).
//!
//!    Holding a unit brings its old versions back and takes its new ones away, which can
//!    break other packages in turn; the planner re-checks exactly the packages that can be
//!    affected (the returned old versions, and the dependents of every name the withdrawn
//!    new versions provided) until nothing changes: a fixed point. Units only go from
//!    accepted to held there, so it terminates, in the worst case at the published set.
//!    Repairs that are forced (an unchanged package lost a dependency) are made before
//!    optional ones (a new version lacks one), and ties are broken by package name, so the
//!    result is deterministic.
//!
//!    A hold made early can turn out unneeded: `a 2` needs `b<2` and is held because `b 2`
//!    is accepted, then a later repair holds `b 2` after all. So at the fixed point every
//!    unit held by a closure repair (never one held by a pre-check) gets a second chance:
//!    if its new versions fit the current set without breaking anything, it is accepted
//!    (which needs no re-check); otherwise its reason is recomputed against the current set.
//!    This repeats until no unit is accepted. Every reason in the plan is therefore true of
//!    the set the plan publishes.
//!
//!    A soname bump needs no special case: a library whose new version provides
//!    `libfoo.so=4-64` instead of `=3-64` is accepted only if every package that still
//!    depends on `=3-64` is replaced by a rebuild in the same plan; otherwise the library is
//!    held, and its rebuilds, which need `=4-64`, are held with it.
//! 3. A published package whose dependency did not resolve even before this plan is
//!    reported in [`PromotionPlan::broken`] and blames no change.
//! 4. A change held for longer than `max_age` since it was first seen is overdue.
//!
//! Packages new upstream go through the same rules as updates, including the age: a new
//! package can carry `replaces` entries that pacman acts on at the next `-Syu`, so it is not
//! exempt from the quarantine. A candidate whose version equals the published one in the
//! same repository is no change and is ignored; any other version (even an older one:
//! upstream reverted) is a change, and moving to another repository is one too.
//!
//! # Cost
//!
//! Linear in the size of the input plus the re-checks the repairs cause: providers and
//! dependents are indexed once by name, and a package is re-checked only when a provider of
//! one of its dependencies changed; a second chance looks only at held units and the
//! dependents of their names. 15,000 packages with a 3% delta take about 20 ms (release).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::depend::{Comparison, Depend, VersionRequirement, satisfies};
use crate::error::Error;
use crate::model::{Candidate, Package, Removal, RepoPackage};
use crate::vercmp::vercmp;

/// The maintainers' rules for promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How long a version must have been seen upstream before it may be published.
    pub min_age: Duration,
    /// How long a change may be held, since first seen, before it is reported overdue.
    pub max_age: Duration,
    /// Manual holds: package name or pkgbase, and the maintainer's reason.
    pub holds: BTreeMap<String, String>,
    /// Package names or pkgbases whose changes skip `min_age` (not the other checks).
    pub expedited: BTreeSet<String>,
    /// Module constraints: a package's new version must meet its requirement (`hyprland`:
    /// `<0.50`), or the change is held.
    pub module_constraints: BTreeMap<String, VersionRequirement>,
}

impl Default for Policy {
    /// `min_age` 24 hours, `max_age` 48 hours, no holds, expedites or constraints.
    fn default() -> Self {
        Self {
            min_age: Duration::from_secs(24 * 3600),
            max_age: Duration::from_secs(48 * 3600),
            holds: BTreeMap::new(),
            expedited: BTreeSet::new(),
            module_constraints: BTreeMap::new(),
        }
    }
}

/// What the planner works on.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The currently published set: at most one package per name across all repositories.
    pub published: &'a [RepoPackage],
    /// New versions, or new packages, seen upstream: at most one per name.
    pub candidates: &'a [Candidate],
    /// Published packages upstream no longer ships.
    pub removals: &'a [Removal],
    /// The time of the plan, in seconds since the Unix epoch.
    pub now: u64,
}

/// The planner's answer. Every change of the input appears exactly once, in `promote`,
/// `remove` or `held`; all lists are sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromotionPlan {
    /// New versions and new packages to publish, sorted by repository and name.
    pub promote: Vec<Promotion>,
    /// Published packages to drop, sorted by repository and name.
    pub remove: Vec<Removed>,
    /// Changes held back, sorted by name; the published version (if any) stays.
    pub held: Vec<Held>,
    /// The members of `held` held for longer than `max_age` since first seen.
    pub overdue: Vec<Held>,
    /// Dependencies of packages that stay published and did not resolve before this plan
    /// either; sorted by name. Not caused by any change, so nothing is held for them.
    pub broken: Vec<Broken>,
}

/// A package to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Promotion {
    /// The repository it goes into.
    pub repo: String,
    /// The new package.
    pub pkg: Package,
    /// The version it replaces, if the name was published.
    pub previous: Option<Previous>,
}

/// The published version a promotion replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Previous {
    /// Its repository (differs from the promotion's when upstream moved the package).
    pub repo: String,
    /// Its version.
    pub version: String,
}

/// A published package to drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// Its repository.
    pub repo: String,
    /// Its name.
    pub name: String,
    /// Its published version.
    pub version: String,
}

/// A change held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    /// The repository of the change (the candidate's, or the removed package's).
    pub repo: String,
    /// The package name.
    pub name: String,
    /// The held version; `None` when the change is a removal.
    pub version: Option<String>,
    /// The version that stays published; `None` for a package new upstream.
    pub published_version: Option<String>,
    /// When the change was first seen upstream (seconds since the Unix epoch).
    pub first_seen: u64,
    /// How long ago that was.
    #[serde(serialize_with = "as_secs")]
    pub age: Duration,
    /// Why it is held.
    pub reason: HoldReason,
}

/// Why a change is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HoldReason {
    /// Seen for less than `min_age`.
    TooYoung {
        /// Time since first seen.
        #[serde(serialize_with = "as_secs")]
        age: Duration,
        /// The policy's minimum.
        #[serde(serialize_with = "as_secs")]
        min_age: Duration,
    },
    /// The new version depends on something the resulting set does not provide.
    UnsatisfiedDependency {
        /// The dependency, as written (`libx>=2`).
        dep: String,
    },
    /// The library's soname changed and packages still need the old one.
    SonameGroupIncomplete {
        /// The old soname relation still needed (`libfoo.so=3-64`).
        soname: String,
        /// The packages that need it and are not being replaced by rebuilds.
        missing: Vec<String>,
    },
    /// Another package of the same pkgbase is held; split packages move together.
    SplitSiblingHeld {
        /// The sibling whose hold this follows.
        sibling: String,
    },
    /// The new version does not meet a module constraint.
    ModuleConstraint {
        /// The constraint (`hyprland<0.50`).
        constraint: String,
    },
    /// The new version's file or signature is not in the pool: sync rejected it (a wrong
    /// SHA-256, a bad signature, ...) or has not fetched it yet. Nothing overrides this.
    NotVerified {
        /// What is wrong, as sync reported it.
        problem: String,
    },
    /// A maintainer held the package.
    ManualHold {
        /// The maintainer's reason.
        reason: String,
    },
    /// The change would take away a dependency of packages that stay published.
    BreaksDependents {
        /// The dependency that would no longer resolve (`libx<2`).
        dep: String,
        /// The packages that need it.
        dependents: Vec<String>,
    },
}

/// A dependency of a published package that resolves neither before nor after the plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Broken {
    /// The package's repository.
    pub repo: String,
    /// The package.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The dependency, as written.
    pub dep: String,
}

impl PromotionPlan {
    /// The published set after this plan: `published` without the replaced and removed
    /// packages, plus the promotions; sorted by repository and name.
    #[must_use]
    pub fn apply(&self, published: &[RepoPackage]) -> Vec<RepoPackage> {
        let gone: HashSet<&str> = self
            .promote
            .iter()
            .map(|p| p.pkg.name.as_str())
            .chain(self.remove.iter().map(|r| r.name.as_str()))
            .collect();
        let mut result: Vec<RepoPackage> = published
            .iter()
            .filter(|p| !gone.contains(p.pkg.name.as_str()))
            .cloned()
            .chain(self.promote.iter().map(|p| RepoPackage {
                repo: p.repo.clone(),
                pkg: p.pkg.clone(),
            }))
            .collect();
        result.sort_by(|a, b| (&a.repo, &a.pkg.name).cmp(&(&b.repo, &b.pkg.name)));
        result
    }
}

/// Plans a promotion.
///
/// # Errors
///
/// - [`Error::DuplicatePublished`] if two published packages share a name.
/// - [`Error::DuplicateCandidate`] if two candidates share a name.
/// - [`Error::DuplicateRemoval`] if a removal is listed twice.
/// - [`Error::CandidateRemoved`] if a name is both a candidate and a removal.
/// - [`Error::RemovalNotPublished`] if a removal names a package that is not published.
pub fn plan(input: &PlanInput<'_>, policy: &Policy) -> Result<PromotionPlan, Error> {
    plan_available(input, policy, &BTreeMap::new())
}

/// Plans a promotion in which the candidates named in `unavailable` (package name ->
/// problem) cannot be published whatever the policy says: each is held with
/// [`HoldReason::NotVerified`] (its split siblings with it), which expediting does not
/// skip, and what depends on it waits as for any held change. A name that is not a
/// candidate is ignored.
///
/// # Errors
/// As [`plan`].
pub fn plan_available(
    input: &PlanInput<'_>,
    policy: &Policy,
    unavailable: &BTreeMap<String, String>,
) -> Result<PromotionPlan, Error> {
    let mut solver = Solver::new(input, policy, unavailable)?;
    loop {
        while let Some(instance) = solver.queue.pop_first() {
            solver.check(instance);
        }
        if !solver.second_chance() {
            break;
        }
    }
    let mut plan = solver.finish();
    plan.overdue = plan
        .held
        .iter()
        .filter(|held| held.age > policy.max_age)
        .cloned()
        .collect();
    Ok(plan)
}

/// Every dependency in `packages` that no package of `packages` satisfies, sorted by name,
/// each (package, dependency) once.
///
/// The check a published tree must pass: after a plan, this equals the plan's
/// [`PromotionPlan::broken`].
#[must_use]
pub fn unresolved(packages: &[RepoPackage]) -> Vec<Broken> {
    let mut providers: HashMap<&str, Vec<&Package>> = HashMap::new();
    for package in packages {
        providers
            .entry(&package.pkg.name)
            .or_default()
            .push(&package.pkg);
        for provision in &package.pkg.provides {
            providers
                .entry(&provision.name)
                .or_default()
                .push(&package.pkg);
        }
    }
    let mut broken: Vec<Broken> = packages
        .iter()
        .flat_map(|package| {
            package
                .pkg
                .depends
                .iter()
                .filter(|dep| {
                    !providers
                        .get(dep.name.as_str())
                        .is_some_and(|ps| ps.iter().any(|p| p.satisfies(dep)))
                })
                .map(|dep| Broken {
                    repo: package.repo.clone(),
                    name: package.pkg.name.clone(),
                    version: package.pkg.version.clone(),
                    dep: dep.to_string(),
                })
        })
        .collect();
    broken.sort();
    broken.dedup();
    broken
}

/// Whether a package instance is a published version or a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Published,
    Candidate,
}

/// One version of one package: published or new. Instance ids put every published version
/// before every new one, each group sorted by name; the work queue pops the smallest id
/// first, so forced repairs (on published versions) come before optional ones.
#[derive(Debug, Clone, Copy)]
struct Instance<'a> {
    repo: &'a str,
    pkg: &'a Package,
    origin: Origin,
    /// The change this version is the old or new side of.
    change: Option<usize>,
}

/// One package's change: old version out (if any), new version in (if any).
#[derive(Debug)]
struct Change<'a> {
    name: &'a str,
    base: &'a str,
    published: Option<usize>,
    candidate: Option<usize>,
    first_seen: u64,
    unit: usize,
    reason: Option<HoldReason>,
}

/// The changes of one pkgbase.
#[derive(Debug)]
struct Unit {
    changes: Vec<usize>,
    held: bool,
    /// Held by a pre-check (hold, constraint, age): final, never retried.
    prechecked: bool,
}

/// Something that can satisfy a dependency on `name`: a package by its own name (with its
/// version) or by a provision (with the version of an `=` provision).
#[derive(Debug, Clone, Copy)]
struct Provider<'a> {
    instance: usize,
    name: &'a str,
    version: Option<&'a str>,
}

#[derive(Debug)]
struct Solver<'a> {
    now: u64,
    instances: Vec<Instance<'a>>,
    changes: Vec<Change<'a>>,
    units: Vec<Unit>,
    providers: HashMap<&'a str, Vec<Provider<'a>>>,
    /// Dependency name to the instances depending on it.
    dependents: HashMap<&'a str, Vec<usize>>,
    active: Vec<bool>,
    queue: BTreeSet<usize>,
    /// (instance, index into its `depends`) found unresolved with no change to blame.
    broken: BTreeSet<(usize, usize)>,
}

/// A change before ids are assigned.
struct ChangeSpec<'a> {
    name: &'a str,
    published: Option<usize>,
    candidate: Option<&'a Candidate>,
    first_seen: u64,
}

impl<'a> Solver<'a> {
    fn new(
        input: &PlanInput<'a>,
        policy: &Policy,
        unavailable: &BTreeMap<String, String>,
    ) -> Result<Self, Error> {
        let mut published: Vec<&'a RepoPackage> = input.published.iter().collect();
        published.sort_by(|a, b| (&a.pkg.name, &a.repo).cmp(&(&b.pkg.name, &b.repo)));
        if let Some(pair) = published
            .windows(2)
            .find(|pair| pair[0].pkg.name == pair[1].pkg.name)
        {
            return Err(Error::DuplicatePublished {
                name: pair[0].pkg.name.clone(),
                first: pair[0].repo.clone(),
                second: pair[1].repo.clone(),
            });
        }
        let mut candidates: Vec<&'a Candidate> = input.candidates.iter().collect();
        candidates
            .sort_by(|a, b| (&a.pkg.name, &a.pkg.version).cmp(&(&b.pkg.name, &b.pkg.version)));
        if let Some(pair) = candidates
            .windows(2)
            .find(|pair| pair[0].pkg.name == pair[1].pkg.name)
        {
            return Err(Error::DuplicateCandidate {
                name: pair[0].pkg.name.clone(),
                first: pair[0].pkg.version.clone(),
                second: pair[1].pkg.version.clone(),
            });
        }
        let mut removals: Vec<&'a Removal> = input.removals.iter().collect();
        removals.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = removals
            .windows(2)
            .find(|pair| pair[0].name == pair[1].name)
        {
            return Err(Error::DuplicateRemoval {
                name: pair[0].name.clone(),
            });
        }

        let mut instances: Vec<Instance<'a>> = published
            .iter()
            .map(|p| Instance {
                repo: &p.repo,
                pkg: &p.pkg,
                origin: Origin::Published,
                change: None,
            })
            .collect();
        let by_name: HashMap<&str, usize> = instances
            .iter()
            .enumerate()
            .map(|(id, instance)| (instance.pkg.name.as_str(), id))
            .collect();

        let removed: HashSet<&str> = removals.iter().map(|r| r.name.as_str()).collect();
        let mut specs = Vec::with_capacity(candidates.len() + removals.len());
        for candidate in candidates {
            let name = candidate.pkg.name.as_str();
            if removed.contains(name) {
                return Err(Error::CandidateRemoved {
                    name: name.to_owned(),
                    version: candidate.pkg.version.clone(),
                });
            }
            let previous = by_name.get(name).copied();
            if let Some(old) = previous.map(|id| instances[id])
                && old.repo == candidate.repo
                && vercmp(&old.pkg.version, &candidate.pkg.version).is_eq()
            {
                continue;
            }
            specs.push(ChangeSpec {
                name,
                published: previous,
                candidate: Some(candidate),
                first_seen: candidate.first_seen,
            });
        }
        for removal in removals {
            let Some(&id) = by_name.get(removal.name.as_str()) else {
                return Err(Error::RemovalNotPublished {
                    name: removal.name.clone(),
                });
            };
            specs.push(ChangeSpec {
                name: &removal.name,
                published: Some(id),
                candidate: None,
                first_seen: removal.first_seen,
            });
        }
        specs.sort_by(|a, b| a.name.cmp(b.name));

        let mut changes = Vec::with_capacity(specs.len());
        let mut bases: BTreeMap<&'a str, Vec<usize>> = BTreeMap::new();
        for spec in specs {
            let id = changes.len();
            let candidate = spec.candidate.map(|candidate| {
                instances.push(Instance {
                    repo: &candidate.repo,
                    pkg: &candidate.pkg,
                    origin: Origin::Candidate,
                    change: Some(id),
                });
                instances.len() - 1
            });
            if let Some(old) = spec.published {
                instances[old].change = Some(id);
            }
            // The pkgbase of the new version decides; a removal keeps the published one's.
            let base = match (spec.candidate, spec.published) {
                (Some(candidate), _) => candidate.pkg.base.as_str(),
                (None, Some(old)) => instances[old].pkg.base.as_str(),
                (None, None) => spec.name,
            };
            bases.entry(base).or_default().push(id);
            changes.push(Change {
                name: spec.name,
                base,
                published: spec.published,
                candidate,
                first_seen: spec.first_seen,
                unit: 0,
                reason: None,
            });
        }
        let mut units = Vec::with_capacity(bases.len());
        for members in bases.into_values() {
            for &change in &members {
                changes[change].unit = units.len();
            }
            units.push(Unit {
                changes: members,
                held: false,
                prechecked: false,
            });
        }

        let mut solver = Self {
            now: input.now,
            active: Vec::new(),
            queue: BTreeSet::new(),
            broken: BTreeSet::new(),
            providers: HashMap::new(),
            dependents: HashMap::new(),
            instances,
            changes,
            units,
        };
        solver.precheck(policy, unavailable);
        solver.index();
        solver.active = solver
            .instances
            .iter()
            .map(|instance| {
                let held = instance
                    .change
                    .is_some_and(|change| solver.units[solver.changes[change].unit].held);
                match instance.origin {
                    Origin::Published => instance.change.is_none() || held,
                    Origin::Candidate => !held,
                }
            })
            .collect();
        solver.queue = (0..solver.instances.len())
            .filter(|&id| solver.active[id])
            .collect();
        Ok(solver)
    }

    /// Applies availability, holds, module constraints and the age rule; holds whole
    /// units.
    fn precheck(&mut self, policy: &Policy, unavailable: &BTreeMap<String, String>) {
        for unit in &mut self.units {
            let expedited = unit.changes.iter().any(|&c| {
                let change = &self.changes[c];
                policy.expedited.contains(change.name) || policy.expedited.contains(change.base)
            });
            let mut cause: Option<&str> = None;
            for &c in &unit.changes {
                let change = &self.changes[c];
                let new = change.candidate.map(|id| self.instances[id].pkg);
                let age = Duration::from_secs(self.now.saturating_sub(change.first_seen));
                let reason = if let Some(problem) = new
                    .is_some()
                    .then(|| unavailable.get(change.name))
                    .flatten()
                {
                    Some(HoldReason::NotVerified {
                        problem: problem.clone(),
                    })
                } else if let Some(reason) = policy
                    .holds
                    .get(change.name)
                    .or_else(|| policy.holds.get(change.base))
                {
                    Some(HoldReason::ManualHold {
                        reason: reason.clone(),
                    })
                } else if let Some((new, requirement)) = new.and_then(|new| {
                    policy
                        .module_constraints
                        .get(change.name)
                        .map(|requirement| (new, requirement))
                }) && !requirement.is_satisfied_by(&new.version)
                {
                    Some(HoldReason::ModuleConstraint {
                        constraint: format!("{}{requirement}", change.name),
                    })
                } else if !expedited && age < policy.min_age {
                    Some(HoldReason::TooYoung {
                        age,
                        min_age: policy.min_age,
                    })
                } else {
                    None
                };
                if let Some(reason) = reason {
                    cause.get_or_insert(change.name);
                    self.changes[c].reason = Some(reason);
                }
            }
            if let Some(cause) = cause {
                unit.held = true;
                unit.prechecked = true;
                for &c in &unit.changes {
                    self.changes[c]
                        .reason
                        .get_or_insert_with(|| HoldReason::SplitSiblingHeld {
                            sibling: cause.to_owned(),
                        });
                }
            }
        }
    }

    /// Indexes every instance's names and dependencies once.
    fn index(&mut self) {
        for (id, instance) in self.instances.iter().enumerate() {
            let pkg = instance.pkg;
            self.providers.entry(&pkg.name).or_default().push(Provider {
                instance: id,
                name: &pkg.name,
                version: Some(&pkg.version),
            });
            for provision in &pkg.provides {
                let version = match &provision.requirement {
                    Some(VersionRequirement {
                        comparison: Comparison::Equal,
                        version,
                    }) => Some(version.as_str()),
                    _ => None,
                };
                self.providers
                    .entry(&provision.name)
                    .or_default()
                    .push(Provider {
                        instance: id,
                        name: &provision.name,
                        version,
                    });
            }
            for dep in &pkg.depends {
                let dependents = self.dependents.entry(&dep.name).or_default();
                if dependents.last() != Some(&id) {
                    dependents.push(id);
                }
            }
        }
    }

    fn is_satisfied(&self, dep: &Depend) -> bool {
        self.providers
            .get(dep.name.as_str())
            .is_some_and(|providers| {
                providers
                    .iter()
                    .any(|p| self.active[p.instance] && satisfies(p.name, p.version, dep))
            })
    }

    /// Checks one instance's dependencies and repairs what it finds broken.
    fn check(&mut self, id: usize) {
        if !self.active[id] {
            return;
        }
        let instance = self.instances[id];
        for (index, dep) in instance.pkg.depends.iter().enumerate() {
            if self.is_satisfied(dep) {
                continue;
            }
            match (instance.origin, instance.change) {
                (Origin::Candidate, Some(change)) => {
                    let dep = dep.to_string();
                    self.hold(change, HoldReason::UnsatisfiedDependency { dep });
                    return;
                }
                _ => self.blame(id, index),
            }
        }
    }

    /// A version that stays published lost its dependency `index`: hold the changes that
    /// took it away, or record it as broken before this plan if none did.
    fn blame(&mut self, id: usize, index: usize) {
        let dep = &self.instances[id].pkg.depends[index];
        let mut culprits: Vec<usize> = self
            .providers
            .get(dep.name.as_str())
            .into_iter()
            .flatten()
            .filter(|p| {
                let instance = &self.instances[p.instance];
                instance.origin == Origin::Published
                    && !self.active[p.instance]
                    && satisfies(p.name, p.version, dep)
            })
            .filter_map(|p| self.instances[p.instance].change)
            .collect();
        culprits.sort_unstable();
        culprits.dedup();
        if culprits.is_empty() {
            self.broken.insert((id, index));
            return;
        }
        for change in culprits {
            let reason = self.breakage(change, dep);
            self.hold(change, reason);
        }
    }

    /// Why `change` may not go through: withdrawing its published version leaves `dep`
    /// unresolved. Names every package left in that state, except those whose own
    /// replacement would move along ([`Self::replacement_would_fit`]).
    fn breakage(&self, change: usize, dep: &Depend) -> HoldReason {
        let old = self.changes[change]
            .published
            .map(|id| self.instances[id].pkg);
        let mut needing: Vec<String> = self
            .dependents
            .get(dep.name.as_str())
            .into_iter()
            .flatten()
            .filter(|&&id| self.active[id] && !self.replacement_would_fit(id))
            .map(|&id| self.instances[id].pkg)
            .filter(|pkg| {
                pkg.depends.iter().any(|d| {
                    d.name == dep.name
                        && !self.is_satisfied(d)
                        && old.is_some_and(|old| old.satisfies(d))
                })
            })
            .map(|pkg| pkg.name.clone())
            .collect();
        needing.sort();
        needing.dedup();
        if dep.is_soname() {
            HoldReason::SonameGroupIncomplete {
                soname: dep.to_string(),
                missing: needing,
            }
        } else {
            HoldReason::BreaksDependents {
                dep: dep.to_string(),
                dependents: needing,
            }
        }
    }

    /// Whether the published version `id` stays only because its replacement waits for the
    /// change being judged: the replacement's unit was held by a closure repair (not a
    /// pre-check) and all its new versions' dependencies resolve in the current set. Such a
    /// package is not "missing" from a soname group: it would move with the library.
    fn replacement_would_fit(&self, id: usize) -> bool {
        let Some(change) = self.instances[id].change else {
            return false;
        };
        let unit = &self.units[self.changes[change].unit];
        unit.held
            && !unit.prechecked
            && unit.changes.iter().all(|&member| {
                self.changes[member].candidate.is_none_or(|new| {
                    self.instances[new]
                        .pkg
                        .depends
                        .iter()
                        .all(|d| self.is_satisfied(d))
                })
            })
    }

    /// After a fixed point, retries every unit held by a closure repair (never one held by a
    /// pre-check): a later repair may have brought back what it needed. A unit that now fits
    /// is accepted; the others get the reason that is true of the current set. Returns
    /// whether any unit was accepted.
    ///
    /// Accepting a unit that fits cannot break anything (its new versions' dependencies
    /// resolve, and nothing loses a dependency), so no re-check is queued; units only go
    /// from held to accepted here, so the outer loop ends.
    fn second_chance(&mut self) -> bool {
        let mut accepted = false;
        for unit in 0..self.units.len() {
            if !self.units[unit].held || self.units[unit].prechecked {
                continue;
            }
            self.swap(unit, true);
            match self.misfit(unit) {
                None => {
                    self.units[unit].held = false;
                    for index in 0..self.units[unit].changes.len() {
                        let change = self.units[unit].changes[index];
                        self.changes[change].reason = None;
                    }
                    accepted = true;
                }
                Some((cause, reason)) => {
                    self.swap(unit, false);
                    self.set_reasons(unit, cause, reason);
                }
            }
        }
        accepted
    }

    /// The first problem with `unit` accepted (its new versions active): a new version's
    /// dependency unresolved, or a dependency its old versions satisfied now unresolved.
    fn misfit(&self, unit: usize) -> Option<(usize, HoldReason)> {
        let members = &self.units[unit].changes;
        for &change in members {
            let Some(new) = self.changes[change].candidate else {
                continue;
            };
            if let Some(dep) = self.instances[new]
                .pkg
                .depends
                .iter()
                .find(|dep| !self.is_satisfied(dep))
            {
                let dep = dep.to_string();
                return Some((change, HoldReason::UnsatisfiedDependency { dep }));
            }
        }
        for &change in members {
            let Some(old) = self.changes[change].published else {
                continue;
            };
            let old = self.instances[old].pkg;
            let names = std::iter::once(old.name.as_str())
                .chain(old.provides.iter().map(|p| p.name.as_str()));
            for name in names {
                for &dependent in self.dependents.get(name).into_iter().flatten() {
                    if !self.active[dependent] {
                        continue;
                    }
                    if let Some(dep) = self.instances[dependent]
                        .pkg
                        .depends
                        .iter()
                        .find(|d| d.name == name && !self.is_satisfied(d) && old.satisfies(d))
                    {
                        return Some((change, self.breakage(change, dep)));
                    }
                }
            }
        }
        None
    }

    /// Makes the new versions of `unit` active (`accept`) or its old ones (`!accept`).
    fn swap(&mut self, unit: usize, accept: bool) {
        for index in 0..self.units[unit].changes.len() {
            let change = &self.changes[self.units[unit].changes[index]];
            if let Some(new) = change.candidate {
                self.active[new] = accept;
            }
            if let Some(old) = change.published {
                self.active[old] = !accept;
            }
        }
    }

    /// Gives `cause` its reason and every other member of `unit` "split sibling held".
    fn set_reasons(&mut self, unit: usize, cause: usize, reason: HoldReason) {
        let cause_name = self.changes[cause].name;
        let mut reason = Some(reason);
        for index in 0..self.units[unit].changes.len() {
            let change = self.units[unit].changes[index];
            let own = if change == cause { reason.take() } else { None };
            self.changes[change].reason =
                Some(own.unwrap_or_else(|| HoldReason::SplitSiblingHeld {
                    sibling: cause_name.to_owned(),
                }));
        }
    }

    /// Holds the unit of `cause` (which gets `reason`; its siblings follow it), swaps its
    /// versions back and queues everything that swap can affect.
    fn hold(&mut self, cause: usize, reason: HoldReason) {
        let unit = self.changes[cause].unit;
        if self.units[unit].held {
            return;
        }
        self.units[unit].held = true;
        self.set_reasons(unit, cause, reason);
        for index in 0..self.units[unit].changes.len() {
            let c = self.units[unit].changes[index];
            if let Some(new) = self.changes[c].candidate {
                self.active[new] = false;
                self.queue_dependents(new);
            }
            if let Some(old) = self.changes[c].published {
                self.active[old] = true;
                self.queue.insert(old);
            }
        }
    }

    /// Queues the active dependents of every name `id` provides.
    fn queue_dependents(&mut self, id: usize) {
        let pkg = self.instances[id].pkg;
        let names =
            std::iter::once(pkg.name.as_str()).chain(pkg.provides.iter().map(|p| p.name.as_str()));
        for name in names {
            for &dependent in self.dependents.get(name).into_iter().flatten() {
                if self.active[dependent] {
                    self.queue.insert(dependent);
                }
            }
        }
    }

    fn finish(self) -> PromotionPlan {
        let mut plan = PromotionPlan {
            promote: Vec::new(),
            remove: Vec::new(),
            held: Vec::new(),
            overdue: Vec::new(),
            broken: Vec::new(),
        };
        for change in &self.changes {
            let old = change.published.map(|id| self.instances[id]);
            let new = change.candidate.map(|id| self.instances[id]);
            if !self.units[change.unit].held {
                match (new, old) {
                    (Some(new), old) => plan.promote.push(Promotion {
                        repo: new.repo.to_owned(),
                        pkg: new.pkg.clone(),
                        previous: old.map(|old| Previous {
                            repo: old.repo.to_owned(),
                            version: old.pkg.version.clone(),
                        }),
                    }),
                    (None, Some(old)) => plan.remove.push(Removed {
                        repo: old.repo.to_owned(),
                        name: old.pkg.name.clone(),
                        version: old.pkg.version.clone(),
                    }),
                    (None, None) => {}
                }
                continue;
            }
            let Some(reason) = change.reason.clone() else {
                continue;
            };
            let Some(repo) = new.or(old).map(|instance| instance.repo) else {
                continue;
            };
            plan.held.push(Held {
                repo: repo.to_owned(),
                name: change.name.to_owned(),
                version: new.map(|new| new.pkg.version.clone()),
                published_version: old.map(|old| old.pkg.version.clone()),
                first_seen: change.first_seen,
                age: Duration::from_secs(self.now.saturating_sub(change.first_seen)),
                reason,
            });
        }
        // A second chance may have accepted a new version that mends an old breakage.
        plan.broken = self
            .broken
            .iter()
            .filter(|&&(id, _)| self.active[id])
            .map(|&(id, index)| (self.instances[id], &self.instances[id].pkg.depends[index]))
            .filter(|(_, dep)| !self.is_satisfied(dep))
            .map(|(instance, dep)| Broken {
                repo: instance.repo.to_owned(),
                name: instance.pkg.name.clone(),
                version: instance.pkg.version.clone(),
                dep: dep.to_string(),
            })
            .collect();
        plan.promote
            .sort_by(|a, b| (&a.repo, &a.pkg.name).cmp(&(&b.repo, &b.pkg.name)));
        plan.remove
            .sort_by(|a, b| (&a.repo, &a.name).cmp(&(&b.repo, &b.name)));
        plan.held.sort_by(|a, b| a.name.cmp(&b.name));
        plan.broken.sort();
        plan.broken.dedup();
        plan
    }
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooYoung { age, min_age } => write!(
                f,
                "too young: first seen {} ago, needs {}",
                HumanDuration(*age),
                HumanDuration(*min_age)
            ),
            Self::UnsatisfiedDependency { dep } => write!(f, "unsatisfied dependency `{dep}`"),
            Self::SonameGroupIncomplete { soname, missing } => write!(
                f,
                "soname group incomplete: `{soname}` is still needed by {}",
                Backticked(missing)
            ),
            Self::SplitSiblingHeld { sibling } => write!(f, "split sibling `{sibling}` is held"),
            Self::ModuleConstraint { constraint } => write!(f, "module constraint `{constraint}`"),
            Self::NotVerified { problem } => write!(f, "not verified: {problem}"),
            Self::ManualHold { reason } => write!(f, "manual hold: {reason}"),
            Self::BreaksDependents { dep, dependents } => write!(
                f,
                "would leave `{dep}` unresolved for {}",
                Backticked(dependents)
            ),
        }
    }
}

/// `a`, `b`, `c`
struct Backticked<'a>(&'a [String]);

impl fmt::Display for Backticked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, name) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{name}`")?;
        }
        Ok(())
    }
}

/// `2d 3h`, `5h 12m`, `40m`, `0m`.
struct HumanDuration(Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let minutes = self.0.as_secs() / 60;
        let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
        match (days, hours) {
            (0, 0) => write!(f, "{minutes}m"),
            (0, _) => write!(f, "{hours}h {minutes}m"),
            _ => write!(f, "{days}d {hours}h"),
        }
    }
}

fn as_secs<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

#[cfg(test)]
mod tests;
