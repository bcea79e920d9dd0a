//! One run from its seed: the scenario drawn, then played step by step with the invariants
//! checked after each, then the end checked.

use super::*;

/// [`run_with`], with every actor's outcome in the trace when `verbose`.
pub fn run_traced(seed: u64, mutation: Mutation, verbose: bool) -> Report {
    let mut rng = Rng::new(seed);
    let rates = FaultRates {
        store_fail: rng.below(30),
        store_lose_reply: rng.below(20),
        capacity: rng.below(400),
        describe_lag: rng.below(300),
        dns_fail: rng.below(100),
    };
    let mut world = World::new(&mut rng, rates, mutation);
    // Mixed versions: the env starts on the older build and is upgraded before or when calm, or
    // starts on the newer one and is rolled back for a while.
    let versions = match rng.below(1000) {
        0..=149 => Some((true, rng.between(30, CALM_AT + 1))),
        150..=249 => Some((false, rng.between(30, CALM_AT - 30))),
        _ => None,
    };
    world.older_env = versions.is_some_and(|(older_first, _)| older_first);
    let handler = actors::handler(&world);
    let t0 = world.now();
    let crash_pm = rng.below(40);
    let mut sim = Sim {
        rng,
        world,
        handler,
        timeline: BTreeMap::new(),
        seq: 0,
        in_flight: Vec::new(),
        crash_pm,
        tokens: 0,
        report: Report { seed, mixed: versions.is_some(), ..Report::default() },
        t0,
        verbose,
    };
    // The operator applies at the start, now and then while things go wrong, and while calm.
    sim.at(0, Timed::Apply);
    for _ in 0..sim.rng.between(1, 3) {
        sim.sometime(30, CALM_AT, Timed::Apply);
    }
    for at in [CALM_AT + 30, CALM_AT + 180, CALM_AT + 330] {
        sim.at(at, Timed::Apply);
    }
    sim.at(60, Timed::Watchdog);
    sim.at(10, Timed::Settle);
    sim.at(20, Timed::Write);
    sim.at(21, Timed::Ship);
    sim.at(CALM_AT, Timed::Calm);
    match versions {
        // Upgraded (at the latest when calm).
        Some((true, at)) if at < CALM_AT => sim.at(at, Timed::Version(false)),
        // Rolled back (and forward again when calm).
        Some((false, at)) => sim.at(at, Timed::Version(true)),
        _ => {}
    }
    // One or two interruptions: mostly warned, sometimes not.
    for _ in 0..sim.rng.between(1, 2) {
        let at = sim.rng.between(60, CALM_AT - 30);
        let warned = !sim.rng.chance(250);
        sim.at(at, Timed::Interrupt(warned));
    }
    for _ in 0..sim.rng.below(3) {
        sim.sometime(60, CALM_AT - 30, Timed::KillStandby);
    }
    for _ in 0..sim.rng.below(3) {
        sim.sometime(60, CALM_AT - 30, Timed::Relocate);
    }
    if sim.rng.chance(150) {
        sim.sometime(30, CALM_AT, Timed::Stray);
    }
    // Now and then a compromised instance forges the primary record, once or a few times.
    if sim.rng.chance(150) {
        for _ in 0..sim.rng.between(1, 3) {
            sim.sometime(30, CALM_AT, Timed::Forge);
        }
    }
    // Now and then the primary's server crashes, or its agent dies, with the instance running.
    if sim.rng.chance(120) {
        sim.sometime(60, CALM_AT - 60, Timed::Crash);
    }
    if sim.rng.chance(120) {
        sim.sometime(60, CALM_AT - 60, Timed::AgentDies);
    }
    // Now and then the operator keeps the primary, often while a relocation hands it off.
    if sim.rng.chance(150) {
        sim.sometime(60, CALM_AT, Timed::Keep);
    }
    // Now and then the primary is cut off from the bucket for a while (its agent and shipper reach
    // nothing; its server still takes the application's writes); every cut heals when calm.
    if sim.rng.chance(300) {
        let at = sim.rng.between(40, CALM_AT - 40);
        sim.at(at, Timed::Partition(true));
        let heal = at + sim.rng.between(10, 400);
        if heal < CALM_AT {
            sim.at(heal, Timed::Partition(false));
        }
    }
    while sim.report.steps < MAX_STEPS {
        if !sim.step() {
            break;
        }
        sim.report.steps += 1;
        let broken = after_step(&sim.world);
        if !broken.is_empty() {
            sim.report.violation = Some((sim.report.steps, broken));
            break;
        }
    }
    if sim.report.violation.is_none() {
        let end = if sim.report.steps >= MAX_STEPS {
            vec![Violation::new(Invariant::Converges, format!("still running after {MAX_STEPS} steps"))]
        } else {
            at_end(&sim.world)
        };
        if !end.is_empty() {
            sim.report.violation = Some((sim.report.steps, end));
        }
    }
    sim.report.faults_injected = sim.world.faults.injected.load(Ordering::SeqCst);
    sim.report.lagged_describes = sim.world.faults.lagged.load(Ordering::SeqCst);
    sim.report
}
