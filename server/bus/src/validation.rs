//! Request validation reported as AWS reports it: every problem of a
//! request in one `ValidationException`, in AWS's words ("2 validation
//! errors detected: Value 'x' at 'name' failed to satisfy constraint: …;
//! Value …").

use crate::{BusError, BusResult};

/// The name pattern of buses, rules, connections, archives… (AWS's text).
pub(crate) const NAME_PATTERN: &str = r"[\.\-_A-Za-z0-9]+";
/// The name pattern of event buses, which may contain `/`.
pub(crate) const BUS_NAME_PATTERN: &str = r"[/\.\-_A-Za-z0-9]+";

/// The problems found in one request, in the order they were found.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<String>);

impl Violations {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records that `value` (shown as `null` when absent) at `field` breaks
    /// `constraint` ("Member must …").
    pub(crate) fn push(&mut self, value: Option<&str>, field: &str, constraint: &str) {
        let shown = value.map_or_else(|| "null".to_string(), |v| format!("'{v}'"));
        self.0.push(format!(
            "Value {shown} at '{field}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Checks a resource name: AWS's pattern (with `/` when `allow_slash`)
    /// and length from 1 to `max` characters, reporting each problem.
    pub(crate) fn name(&mut self, field: &str, value: &str, max: usize, allow_slash: bool) {
        let ok_char = |c: char| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') || (allow_slash && c == '/')
        };
        if value.is_empty() || !value.chars().all(ok_char) {
            let pattern = if allow_slash {
                BUS_NAME_PATTERN
            } else {
                NAME_PATTERN
            };
            self.push(
                Some(value),
                field,
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
        if value.is_empty() {
            self.push(
                Some(value),
                field,
                "Member must have length greater than or equal to 1",
            );
        } else if value.chars().count() > max {
            self.push(
                Some(value),
                field,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// Checks that `value` is one of `allowed` (listed in AWS's order).
    pub(crate) fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.push(
                Some(value),
                field,
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
        }
    }

    /// `Ok` when nothing was found, else the `ValidationException` listing
    /// every problem.
    pub(crate) fn into_result(self) -> BusResult<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(BusError::Validation(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(BusError::Validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

/// Whether `arn` is a connection ARN as AWS's pattern for
/// `ConnectionArn` accepts it:
/// `arn:aws[-partition]:events:REGION:[ACCOUNT]:connection/NAME/ID`.
pub(crate) fn is_connection_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(":events:") else {
        return false;
    };
    if !partition
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '-')
    {
        return false;
    }
    let Some((region, rest)) = rest.split_once(':') else {
        return false;
    };
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return false;
    }
    let Some((account, rest)) = rest.split_once(":connection/") else {
        return false;
    };
    if !(account.is_empty() || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
    {
        return false;
    }
    let Some((name, id)) = rest.split_once('/') else {
        return false;
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !id.is_empty()
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_listed_in_aws_words() {
        let mut v = Violations::new();
        let long = "This should fail with two errors 123467890123412341234123412341234";
        v.name("name", long, 64, false);
        v.one_of(
            "authorizationType",
            "INVALID",
            &["BASIC", "OAUTH_CLIENT_CREDENTIALS", "API_KEY"],
        );
        assert_eq!(
            v.into_result().unwrap_err().message(),
            format!(
                "3 validation errors detected: Value '{long}' at 'name' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+; \
                 Value '{long}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 64; \
                 Value 'INVALID' at 'authorizationType' failed to satisfy constraint: \
                 Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]"
            )
        );
        let mut one = Violations::new();
        one.push(None, "name", "Member must not be null");
        assert_eq!(
            one.into_result().unwrap_err().message(),
            "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
        );
        assert!(Violations::new().into_result().is_ok());
    }

    #[test]
    fn connection_arns_follow_aws_pattern() {
        for ok in [
            "arn:aws:events:us-east-1:000000000000:connection/c/0b6f-11aa",
            "arn:aws-cn:events:cn-north-1::connection/a.b_c/x",
        ] {
            assert!(is_connection_arn(ok), "{ok}");
        }
        for bad in [
            "invalid-connection-arn",
            "arn:aws:events:us-east-1:0000:connection/c/x",
            "arn:aws:events:us-east-1:000000000000:connection/c",
            "arn:aws:events:us-east-1:000000000000:api-destination/c/x",
            "arn:aws:events:us-east-1:000000000000:connection/c/x/y",
        ] {
            assert!(!is_connection_arn(bad), "{bad}");
        }
    }
}
