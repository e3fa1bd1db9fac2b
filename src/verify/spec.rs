//! What verify expects: the cluster the inventory describes.

pub(crate) use crate::cluster::Vars;
pub use crate::cluster::{
    from_vars, Cluster as Spec, ClusterError as SpecError, Director, HostVars, Method, RealServer,
};
