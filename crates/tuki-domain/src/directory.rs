//! The directory: who works in Tuki and for whom.

use crate::{string_enum, ValidationError};

string_enum! {
    /// What a user may do: administrators run the desk, agents of any tier work
    /// tickets, customers (external customers and employees of an internal
    /// department alike) report and follow their own requests.
    Role { Admin = "admin", Agent = "agent", Customer = "customer" }
}

impl Role {
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Agent)
    }
}

string_enum! {
    /// Language of a user's pages and mail.
    Language { Fi = "fi", En = "en" }
}

string_enum! {
    /// An organisation is a customer company or an internal department whose
    /// staff the desk serves.
    OrgKind { Customer = "customer", Internal = "internal" }
}

string_enum! {
    /// How a group is laid out: one central team, a virtual team spread over
    /// places, or a local team bound to a site.
    GroupForm { Central = "central", Virtual = "virtual", Local = "local" }
}

/// Support tier of a group: 1 first line, 2 specialists, 3 engineers, system
/// administrators and equipment specialists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tier(u8);

impl Tier {
    pub const FIRST: Tier = Tier(1);

    pub fn new(field: &str, value: i64) -> Result<Self, ValidationError> {
        match value {
            1..=3 => Ok(Tier(value as u8)),
            _ => Err(ValidationError::new(field, "must be 1, 2 or 3")),
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse("role", r.as_str()).unwrap(), *r);
        }
        let err = Role::parse("role", "root").unwrap_err();
        assert_eq!(err.field, "role");
        assert_eq!(err.message, "must be one of: admin, agent, customer");
    }

    #[test]
    fn tiers() {
        assert!(Tier::new("tier", 0).is_err());
        assert_eq!(Tier::new("tier", 3).unwrap().get(), 3);
        assert!(Tier::new("tier", 4).is_err());
    }
}
