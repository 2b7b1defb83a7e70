//! [`PlanKey`]: the `plans*` cache keyspace, one key per filter shape, and which keys a plan
//! belongs to (what a write of it must invalidate).

use std::fmt;

use super::{ConnectionType, PlanFilter};

/// A key of the `plans*` keyspace: one per filter shape.
///
/// `plans`, `plans:user_{id}`, `plans:type_{hotspot|pppoe|static}`, `plans:user_{id}:type_{…}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanKey(PlanFilter);

impl PlanKey {
    pub fn for_filter(filter: PlanFilter) -> Self {
        Self(filter)
    }

    pub fn filter(&self) -> PlanFilter {
        self.0
    }

    /// The four keys whose lists contain (or would contain) a plan of this owner and type:
    /// exactly what a write of it must invalidate. Other tenants' and other types' keys stay warm.
    pub fn affected_by(user_id: i32, connection_type: ConnectionType) -> [PlanKey; 4] {
        let (user_id, connection_type) = (Some(user_id), Some(connection_type));
        [
            PlanFilter::default(),
            PlanFilter {
                user_id,
                connection_type: None,
            },
            PlanFilter {
                user_id: None,
                connection_type,
            },
            PlanFilter {
                user_id,
                connection_type,
            },
        ]
        .map(PlanKey)
    }
}

pub(super) fn type_slug(connection_type: ConnectionType) -> &'static str {
    match connection_type {
        ConnectionType::Hotspot => "hotspot",
        ConnectionType::Pppoe => "pppoe",
        ConnectionType::Static => "static",
    }
}

impl fmt::Display for PlanKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("plans")?;
        if let Some(user_id) = self.0.user_id {
            write!(f, ":user_{user_id}")?;
        }
        if let Some(connection_type) = self.0.connection_type {
            write!(f, ":type_{}", type_slug(connection_type))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user_id: Option<i32>, connection_type: Option<ConnectionType>) -> String {
        PlanKey::for_filter(PlanFilter {
            user_id,
            connection_type,
        })
        .to_string()
    }

    #[test]
    fn keys_follow_the_contract_keyspace() {
        assert_eq!(key(None, None), "plans");
        assert_eq!(key(Some(1), None), "plans:user_1");
        assert_eq!(
            key(None, Some(ConnectionType::Hotspot)),
            "plans:type_hotspot"
        );
        assert_eq!(key(None, Some(ConnectionType::Pppoe)), "plans:type_pppoe");
        assert_eq!(
            key(Some(1), Some(ConnectionType::Static)),
            "plans:user_1:type_static"
        );
    }

    #[test]
    fn a_plan_affects_exactly_its_four_keys() {
        let keys: Vec<String> = PlanKey::affected_by(3, ConnectionType::Pppoe)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            keys,
            [
                "plans",
                "plans:user_3",
                "plans:type_pppoe",
                "plans:user_3:type_pppoe"
            ]
        );
    }
}
