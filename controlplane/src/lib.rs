//! Sluice control plane (in progress).
