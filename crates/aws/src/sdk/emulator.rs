//! The one switch for an emulator that cannot evaluate policy conditions (moto): it is read here
//! and nowhere else, honoured only when an endpoint is set, and announced on stderr every time.
//! ARD.md, "Trust boundaries", says what it changes and why.

use super::Aws;
use spotctl_core::desired::PolicyMode;

/// Set to `1` (the test support does, next to `AWS_ENDPOINT_URL`) when the endpoint evaluates no
/// policy condition: the state bucket's policy is then applied without its conditional Deny
/// statements, which such an endpoint would apply to every request.
pub const UNENFORCED_CONDITIONS: &str = "SPOTCTL_EMULATOR_UNENFORCED_CONDITIONS";

/// The bucket policy mode for this run: whole, unless the switch is set and an endpoint is too.
pub fn policy_mode(aws: &Aws) -> PolicyMode {
    let asked = std::env::var(UNENFORCED_CONDITIONS).is_ok_and(|v| v == "1");
    match (asked, aws.endpoint_url()) {
        (true, Some(endpoint)) => {
            eprintln!(
                "warning: {UNENFORCED_CONDITIONS}=1 with endpoint {endpoint}: the state bucket's policy \
                 leaves out its conditional Deny statements (TLS only, conditional writes, who writes \
                 which keys), which this emulator would apply to every request"
            );
            PolicyMode::EmulatorWithoutConditionalDenies
        }
        (true, None) => {
            eprintln!(
                "warning: {UNENFORCED_CONDITIONS} is ignored without AWS_ENDPOINT_URL: against AWS the \
                 bucket policy is always whole"
            );
            PolicyMode::Enforced
        }
        (false, _) => PolicyMode::Enforced,
    }
}
