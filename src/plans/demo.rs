//! A deterministic demo data set (`plans-api seed-demo`, the benchmarks): every operator gets the
//! same ladder of plans, mostly hotspot (what captive portals list), with prices that vary from
//! operator to operator.

use super::{ConnectionType, NewPlan};

/// One rung of the ladder: name, type, base price in cents, duration in minutes.
const LADDER: [(&str, ConnectionType, i32, i32); 10] = [
    ("30 Minutes Unlimited", ConnectionType::Hotspot, 500, 30),
    ("1 Hour Unlimited", ConnectionType::Hotspot, 1_000, 60),
    ("3 Hours Unlimited", ConnectionType::Hotspot, 2_500, 180),
    ("12 Hours Unlimited", ConnectionType::Hotspot, 5_000, 720),
    ("1 Day Unlimited", ConnectionType::Hotspot, 8_000, 1_440),
    ("1 Week Unlimited", ConnectionType::Hotspot, 40_000, 10_080),
    (
        "Home 5 Mbps Monthly",
        ConnectionType::Pppoe,
        150_000,
        43_200,
    ),
    (
        "Home 10 Mbps Monthly",
        ConnectionType::Pppoe,
        250_000,
        43_200,
    ),
    (
        "Home 20 Mbps Monthly",
        ConnectionType::Pppoe,
        400_000,
        43_200,
    ),
    (
        "Business Static IP Monthly",
        ConnectionType::Static,
        900_000,
        43_200,
    ),
];

/// Plan `index` (0-based) of operator `user_id`: the same every time.
pub fn demo_plan(user_id: i32, index: u32) -> NewPlan {
    let rung = index as usize % LADDER.len();
    let (name, connection_type, base_price, duration_minutes) = LADDER[rung];
    // Operators price within ±30% of the base, in steps of 10%, so lists are not all alike.
    let markup = 70 + (user_id.rem_euclid(7) * 10);
    let round = index as usize / LADDER.len();
    let name = if round == 0 {
        name.to_owned()
    } else {
        format!("{name} #{}", round + 1)
    };
    NewPlan {
        user_id,
        name,
        connection_type,
        price_cents: base_price * markup / 100,
        duration_minutes,
    }
}

/// `plans_per_user` plans for each of the operators `1..=users`, ordered by operator then index
/// (so ids come out in that order on an empty table).
pub fn demo_plans(users: u32, plans_per_user: u32) -> Vec<NewPlan> {
    (1..=users)
        .flat_map(|user| {
            let user_id = i32::try_from(user).unwrap_or(i32::MAX);
            (0..plans_per_user).map(move |index| demo_plan(user_id, index))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::validation::check_new_plan;

    #[test]
    fn is_deterministic_and_valid() {
        let plans = demo_plans(20, 25);
        assert_eq!(plans.len(), 500);
        assert_eq!(plans, demo_plans(20, 25));
        for plan in plans {
            assert_eq!(check_new_plan(plan.clone()), Ok(plan));
        }
    }

    #[test]
    fn mixes_types_and_prices() {
        let plans = demo_plans(7, 10);
        let hotspot = plans
            .iter()
            .filter(|p| p.connection_type == ConnectionType::Hotspot)
            .count();
        assert_eq!(hotspot, 42);
        assert!(
            plans
                .iter()
                .any(|p| p.connection_type == ConnectionType::Static)
        );
        let hour_prices: std::collections::HashSet<i32> = plans
            .iter()
            .filter(|p| p.name == "1 Hour Unlimited")
            .map(|p| p.price_cents)
            .collect();
        assert_eq!(hour_prices.len(), 7);
        assert_eq!(demo_plan(1, 11).name, "1 Hour Unlimited #2");
    }
}
