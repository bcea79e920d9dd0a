//! Database instances on EC2 as a seam: look at an instance, launch one where a plan says, tag it,
//! terminate it. The handler launches standbys through it, agents tag and retire themselves, apply
//! launches the first primary. [`Ec2Instances`] is the real one; [`MemoryInstances`] its twin, which
//! refuses capacity or fails the way EC2 does.
//!
//! May use: `sdk`, `spotctl_core`.

mod ec2;
mod instances;
#[cfg(any(test, feature = "testing"))]
mod memory;

pub(crate) use ec2::security_group_id;
pub use ec2::{check_roles, describe_all, launch, view_of, Described, Ec2Instances};
pub use instances::{ComputeError, InstanceView, Instances, LaunchRequest};
#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryInstances;
